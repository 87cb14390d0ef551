"""The predictor: past runs and data-set features in, a score for each pipeline out (with its model designs)."""
