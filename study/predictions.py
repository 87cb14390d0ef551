"""Collect the study's per-example test predictions into its store, for paired comparisons.

A run started by this version writes its test predictions and a sweep stores them with the run; a run
stored before keeps its student in the home, so its predictions can be had without training again
(``engine.run_predictions`` scores the student once more and checks it gets the recorded score). This
walks the store's runs and no-KD baselines that have none, finds each one's folder in the home and
stores what it gives (a baseline under its trial id: it has no runs row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from autodistill import RunStore
from engine import AutodistillError, DistillConfig, ExamplePredictions, default_output_dir, run_folder, run_predictions

#: How many runs' predictions are stored per write (a long walk loses at most this many when stopped).
BATCH = 20


def missing_predictions(store: RunStore, datasets: Sequence[str] | None = None) -> dict[str, Path]:
    """Where the home keeps each run of ours with a test ratio, and each finished no-KD baseline with
    one, that has no test predictions in the store (on ``datasets``, if given): key -> run folder."""
    runs = store.runs(source="ours").dropna(subset=["test_ratio"])
    trials = store.trials(status="done")
    baselines = trials[(trials["kind"] == "finetune") & trials["test_ratio"].notna()]
    if datasets:
        unknown = sorted(set(datasets) - set(runs["dataset"]) - set(baselines["dataset"]))
        if unknown:
            raise AutodistillError(f"the store has no tested runs on {', '.join(unknown)}")
        runs, baselines = runs[runs["dataset"].isin(datasets)], baselines[baselines["dataset"].isin(datasets)]
    stored = store.predicted_runs()
    folders = {r: run_folder(d, "distill", r) for d, r in zip(runs["dataset"], runs["run_id"], strict=True)}
    for trial_id, config, version in baselines[["trial_id", "config_json", "split_version"]].itertuples(index=False):
        engine_config = DistillConfig.model_validate(json.loads(config))
        folders[trial_id] = default_output_dir(
            engine_config.model_copy(update={"split_version": int(version)}), "finetune"
        )
    return {key: folder for key, folder in folders.items() if key not in stored}


def collect_test_predictions(
    store: RunStore, datasets: Sequence[str] | None = None, on_status: Callable[[str], None] = print
) -> dict[str, int]:
    """Store the test predictions of everything :func:`missing_predictions` lists whose folder the home
    still holds; return how many were ``stored``, had ``no folder`` here, or were ``refused`` (a run that
    kept no student, or whose student no longer scores what it recorded: named, one line each)."""
    todo = missing_predictions(store, datasets)
    counts = {"stored": 0, "no folder": 0, "refused": 0}
    found: dict[str, ExamplePredictions] = {}
    for key, folder in tqdm(todo.items(), total=len(todo), unit="run"):
        if not folder.exists():
            counts["no folder"] += 1
            continue
        try:
            found[key] = run_predictions(folder)
        except AutodistillError as error:
            counts["refused"] += 1
            on_status(f"skipped {key}: {error}")
        if len(found) >= BATCH:
            counts["stored"] += _store(store, found)
    counts["stored"] += _store(store, found)
    return counts


def _store(store: RunStore, found: dict[str, ExamplePredictions]) -> int:
    """Write and forget what was found so far."""
    store.put_test_predictions(found)
    stored = len(found)
    found.clear()
    return stored
