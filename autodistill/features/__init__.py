"""A data set's features (paper Table 7): what the predictor knows about a data set it has not seen."""
