"""The runs store: the SQLite file of runs, trials and data-set features, and the runs shipped with the project."""
