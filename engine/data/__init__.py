"""Data: the offline catalog, local files and hub data sets, all loaded as :class:`TaskData`.

>>> from engine.data import list_datasets, load_task
>>> [spec.name for spec in list_datasets()]          # the packaged, human-labelled data sets
>>> task = load_task("bbc-news")                      # prepared once, then read from the cache
>>> task = load_task("reviews.csv", label_col="stars")  # seeded stratified split of a local file
"""

from engine.data.cards import show
from engine.data.catalog import card_path, list_datasets, prepare
from engine.data.loaders import load_task
from engine.data.schema import SPLITS, TaskData, TaskSpec, TaskType

__all__ = [
    "SPLITS",
    "TaskData",
    "TaskSpec",
    "TaskType",
    "card_path",
    "list_datasets",
    "load_task",
    "prepare",
    "show",
]
