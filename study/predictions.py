"""Collect the study's per-example test predictions into its store, for paired comparisons.

A run started by this version writes its test predictions and a sweep stores them with the run; a run
stored before keeps its student in the home, so its predictions can be had without training again
(``engine.run_predictions`` scores the student once more and checks it gets the recorded score). This
walks the store's runs that have none, finds each one's folder in the home and stores what it gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from tqdm import tqdm

from autodistill.store.database import RunStore
from engine import AutodistillError, run_folder, run_predictions

#: How many runs' predictions are stored per write (a long walk loses at most this many when stopped).
BATCH = 20


def missing_predictions(store: RunStore, datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """The store's runs of ours with a test ratio but no test predictions (on ``datasets``, if given)."""
    runs = store.runs(source="ours").dropna(subset=["test_ratio"])
    if datasets:
        unknown = sorted(set(datasets) - set(runs["dataset"]))
        if unknown:
            raise AutodistillError(f"the store has no tested runs on {', '.join(unknown)}")
        runs = runs[runs["dataset"].isin(datasets)]
    return runs[~runs["run_id"].isin(store.predicted_runs())]


def collect_test_predictions(
    store: RunStore, datasets: Sequence[str] | None = None, on_status: Callable[[str], None] = print
) -> dict[str, int]:
    """Store the test predictions of every run :func:`missing_predictions` lists whose folder the home
    still holds; return how many were ``stored``, had ``no folder`` here, or were ``refused`` (a run that
    kept no student, or whose student no longer scores what it recorded: named, one line each)."""
    todo = missing_predictions(store, datasets)
    counts = {"stored": 0, "no folder": 0, "refused": 0}
    found = {}
    for dataset, run_id in tqdm(todo[["dataset", "run_id"]].itertuples(index=False), total=len(todo), unit="run"):
        folder = run_folder(dataset, "distill", run_id)
        if not folder.exists():
            counts["no folder"] += 1
            continue
        try:
            found[run_id] = run_predictions(folder)
        except AutodistillError as error:
            counts["refused"] += 1
            on_status(f"skipped {run_id}: {error}")
        if len(found) >= BATCH:
            counts["stored"] += _store(store, found)
    counts["stored"] += _store(store, found)
    return counts


def _store(store: RunStore, found: dict) -> int:
    """Write and forget what was found so far."""
    store.put_test_predictions(found)
    stored = len(found)
    found.clear()
    return stored
