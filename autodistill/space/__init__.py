"""The pipeline space: its points, its rules, the fixed defaults, and the vocabulary older data was written in."""
