"""Data: the offline catalog, local files and hub data sets, all loaded as :class:`TaskData`.

>>> from engine.data import list_datasets, load_task
>>> [spec.name for spec in list_datasets()]          # the packaged, human-labelled data sets
>>> task = load_task("bbc-news")                      # prepared once, then read from the cache
>>> task = load_task("reviews.csv", label_col="stars")  # seeded stratified split of a local file
"""

import importlib
from typing import Any

from engine.data.cards import show
from engine.data.catalog import card_path, list_datasets, prepare
from engine.data.schema import SPLITS, TaskData

__all__ = [
    "SPLITS",
    "TaskData",
    "card_path",
    "list_datasets",
    "load_task",
    "prepare",
    "show",
]


def __getattr__(name: str) -> Any:
    """``load_task`` on first use (PEP 562): it asks the task heads, which import torch and
    transformers, and what imports only the schema or the catalog (augmentation worker
    processes, ``autodistill data list``) must not pay for them."""
    if name == "load_task":
        return importlib.import_module("engine.data.loaders").load_task
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
