"""The project's own study runs, shipped in ``meta_data/study/`` so that ``recommend`` works on first use.

The authors' 1,239 runs carry GLUE features that cannot be recomputed for a new
data set, so a predictor for *new* data sets must learn from runs of our own
engine on data sets our featurizer reads. Those runs take hours of CPU to
collect; we collect them once (``autodistill sweep`` over the catalog) and
commit them as text:

- ``runs.csv``: the store's runs table, one row per distillation run, dev and test scores
  side by side (``dev_score``, ``test_score``, ``test_ratio``; old runs "dev only"), with
  each run's fidelity, seed, device, dev examples per epoch and CPU time (the cost model's);
- ``trials.csv``: the sweep's trial log (no-KD baselines, failures, budgets);
- ``features.jsonl``: each data set's features (Table 7), one JSON object per line,
  vocabularies included because the IDF of a data set featurized later counts them;
- ``test_predictions.jsonl.xz``: per-example test predictions of the runs and no-KD baselines that
  have them (``key``: the run id, a baseline's trial id), one JSON object per line (xz: a data set's
  references repeat on every line, and xz's window spans lines);
- ``schema.json``: the runs-store schema the rows were written in, so that a study
  shipped before a change of vocabulary is read in today's (absent: schema 2, when
  ``pkd`` still meant the per-token loss).

No model file is committed: the predictor is trained from these rows the first
time ``recommend`` needs it and cached by content (:mod:`autodistill.predictor.model`).
Import is idempotent (runs and trials keep their ids; existing ones are skipped).
"""

from __future__ import annotations

import contextlib
import json
import lzma
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from autodistill.space import legacy
from autodistill.store.database import (
    DatasetFeatures,
    RunRecord,
    RunStore,
    earlier_row_columns,
    export_frame,
    nullable,
    record_from_row,
    trial_from_row,
)
from autodistill.store.reference import PAPER_FEATURIZER, REFERENCE_DIR, import_reference
from autodistill.store.schema import CHEAP_CAP, PKD_CLS_SCHEMA, SCHEMA_VERSION
from engine import AutodistillError, ExamplePredictions, choices_error, paths

STUDY_DIR = paths.META_DATA / "study"
RUNS_FILE = "runs.csv"
TRIALS_FILE = "trials.csv"
FEATURES_FILE = "features.jsonl"
SCHEMA_FILE = "schema.json"
PREDICTIONS_FILE = "test_predictions.jsonl.xz"
#: The schema of a shipped study written before :data:`SCHEMA_FILE` was.
UNMARKED_SCHEMA = 2
IDS = {"trial_id": str, "run_id": str}


def export_study(store: RunStore, folder: Path = STUDY_DIR) -> dict[str, int]:
    """Write the store's own runs, trials and the features their data sets need; return the counts."""
    runs = store.runs(source="ours")
    if runs.empty:
        raise AutodistillError(f"the runs store {store.path} has no runs of ours to export; run `autodistill sweep`")
    _refuse_dropping_shipped(runs, folder)
    trials = store.trials(source="ours")
    folder.mkdir(parents=True, exist_ok=True)
    export_frame(runs).to_csv(folder / RUNS_FILE, index=False)
    trials.to_csv(folder / TRIALS_FILE, index=False)
    (folder / SCHEMA_FILE).write_text(json.dumps({"schema_version": SCHEMA_VERSION}) + "\n")
    datasets, versions = set(runs["dataset"]), sorted(set(runs["featurizer_version"]))
    features = [f for version in versions for f in store.features(version) if f.dataset in datasets]
    with (folder / FEATURES_FILE).open("w") as out:
        for f in features:
            row = asdict(f)
            row["vocabulary"] = sorted(f.vocabulary)
            out.write(json.dumps(row, sort_keys=True) + "\n")
    predictions = store.test_predictions([*runs["run_id"], *trials["trial_id"]])
    with lzma.open(folder / PREDICTIONS_FILE, "wt") as out:
        for key in predictions:
            out.write(json.dumps({"key": key, **json.loads(predictions[key].to_json())}) + "\n")
    return {"runs": len(runs), "trials": len(trials), "features": len(features), "test predictions": len(predictions)}


def _refuse_dropping_shipped(runs: pd.DataFrame, folder: Path) -> None:
    """An export replaces the folder's runs: refuse when the store lacks some of them (a store that
    never imported the shipped study would silently throw the shipped runs away)."""
    path = folder / RUNS_FILE
    if not path.exists():
        return
    shipped = set(pd.read_csv(path, usecols=["run_id"], dtype={"run_id": str})["run_id"])
    missing = shipped - set(runs["run_id"].astype(str))
    if missing:
        raise AutodistillError(
            f"the runs store lacks {len(missing)} of the {len(shipped)} runs in {path}, which the export would "
            f"drop; import them first (`autodistill runs import --from study`), or export to another --folder"
        )


def shipped_versions(folder: Path = STUDY_DIR) -> set[str]:
    """The featurizer versions of the shipped runs (empty when nothing is shipped)."""
    path = folder / RUNS_FILE
    if not path.exists():
        return set()
    return set(pd.read_csv(path, usecols=["featurizer_version"])["featurizer_version"])


def _read_features(path: Path) -> list[DatasetFeatures]:
    features = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        row["context_embedding"] = tuple(row["context_embedding"])
        row["task_embedding"] = tuple(row["task_embedding"])
        row["vocabulary"] = frozenset(row["vocabulary"])
        features.append(DatasetFeatures(**row))
    return features


def shipped_schema(folder: Path) -> int:
    """The runs-store schema a shipped study was written in."""
    path = folder / SCHEMA_FILE
    return int(json.loads(path.read_text())["schema_version"]) if path.exists() else UNMARKED_SCHEMA


def _read_rows(path: Path, schema: int) -> list[dict[str, Any]]:
    """A shipped table's rows in today's vocabulary: a study shipped before ``pkd`` became the
    [CLS] loss has its per-token ``pkd`` renamed ``pkd-tokens`` here, as a store's migration does."""
    rows = pd.read_csv(path, dtype=IDS).to_dict("records")  # hex ids like "12e4..." stay text
    return [legacy.per_token_pkd(row) for row in rows] if schema < PKD_CLS_SCHEMA else rows


def _read_runs(path: Path, schema: int) -> list[RunRecord]:
    """The shipped runs; a file written before the engine's names (``random>contextual``) is renamed
    here, and one written before schema 3 gets its budget columns, and before schema 7 its device and
    dev examples per epoch, as a migrated store does."""
    records = []
    for row in _read_rows(path, schema):
        text = nullable(row["augmentation"])
        budget = {} if "seed" in row else _budget_of(row)
        cost = {} if "device" in row else earlier_row_columns(row)
        records.append(record_from_row({**row, **budget, **cost, "augmentation": legacy.stack(text) if text else text}))
    return records


def _budget_of(row: dict[str, Any]) -> dict[str, Any]:
    """The budget columns of a run exported before schema 3, from its ``config_json`` (as
    :func:`autodistill.store.schema.create_tables` migrates a store)."""
    config = json.loads(row["config_json"])
    budget = config.get("budget", {})
    values = {
        "seed": budget.get("seed"),
        "train_examples": config.get("train_examples"),
        "epochs": budget.get("epochs"),
        "max_length": budget.get("max_length"),
    }
    sizes = (values["train_examples"], values["max_length"])
    cheap = all(size is not None and size <= cap for size, cap in zip(sizes, CHEAP_CAP, strict=True))
    values["fidelity"] = "cheap" if row["source"] == "ours" and cheap else None
    return values


def import_study(store: RunStore, folder: Path = STUDY_DIR, *, predictions: bool = True) -> int:
    """Load the shipped runs, trials and features into ``store``, and the test predictions unless not
    ``predictions`` (they weigh seconds, and only comparisons of runs read them); return how many runs
    were new.

    Features already in the store for a data set are kept (they describe the same
    catalog data); trials already logged are kept, so a local rerun is never overwritten.
    """
    missing = [name for name in (RUNS_FILE, TRIALS_FILE, FEATURES_FILE) if not (folder / name).exists()]
    if missing:
        raise AutodistillError(f"no shipped study in {folder} (missing {', '.join(missing)})")
    schema = shipped_schema(folder)
    records = _read_runs(folder / RUNS_FILE, schema)
    logged = set(store.trials()["trial_id"])
    with store.transaction():
        added = store.add_runs(records, skip_existing=True)
        shipped = _read_features(folder / FEATURES_FILE)
        known = {(f.dataset, v) for v in {s.featurizer_version for s in shipped} for f in store.features(v)}
        for features in shipped:
            if (features.dataset, features.featurizer_version) not in known:
                store.put_features(features)
        for trial in map(trial_from_row, _read_rows(folder / TRIALS_FILE, schema)):
            if trial.trial_id not in logged:
                store.record_trial(trial)
        if predictions:
            store.put_test_predictions(_read_predictions(folder / PREDICTIONS_FILE, store.predicted_runs()))
    return added


def _read_predictions(path: Path, stored: set[str]) -> dict[str, ExamplePredictions]:
    """The shipped test predictions under keys the store has none under (an older study ships no file)."""
    if not path.exists():
        return {}
    found = {}
    with lzma.open(path, "rt") as lines:
        for line in lines:
            row = json.loads(line)
            key = row.pop("key")
            if key not in stored:
                found[key] = ExamplePredictions(**row)
    return found


#: What ``autodistill runs import --from`` reads: the authors' published runs, or this project's study.
ORIGINS = ("paper", "study")


def import_runs(store: RunStore, origin: str = "paper") -> dict[str, Any]:
    """Import published runs into ``store`` (idempotent); return ``added`` (new runs), ``stored``
    (the store's runs of that source now), ``tasks`` (paper: data sets with features) and ``folder``."""
    if origin not in ORIGINS:
        raise choices_error("--from", origin, ORIGINS)
    if origin == "paper":
        added = import_reference(store)
        tasks = len(store.features(PAPER_FEATURIZER))
        return {"added": added, "stored": len(store.runs(source="paper")), "tasks": tasks, "folder": REFERENCE_DIR}
    added = import_study(store, STUDY_DIR)  # read at call time: tests point it elsewhere
    return {"added": added, "stored": len(store.runs(source="ours")), "tasks": None, "folder": STUDY_DIR}


@contextlib.contextmanager
def shipped_store(folder: Path | None = None) -> Iterator[RunStore]:
    """A scratch store holding the shipped study, gone on exit (``autodistill study report --shipped``)."""
    with tempfile.TemporaryDirectory() as scratch, RunStore(Path(scratch) / "study.sqlite") as store:
        import_study(store, folder or STUDY_DIR)
        yield store
