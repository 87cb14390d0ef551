"""Advice: rank the space for a new data set, pick a few different pipelines, and write the recommendation."""
