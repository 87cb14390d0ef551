"""Split versions travel with runs: run and trial ids, the runs store (schema 6) and its export."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from autodistill.store.database import RunRecord, RunStore, TrialRecord, trial_from_row
from autodistill.sweep.plan import trial_id
from engine import DistillConfig
from engine.pipelines.result import run_id, split_version_of, with_split_version
from tests.test_store import _run


def test_run_ids_of_the_first_splits_stay_and_later_splits_hash_apart():
    unset = DistillConfig(dataset="vader-valence")
    first, second = (DistillConfig(dataset="vader-valence", split_version=v) for v in (1, 2))
    assert split_version_of(unset) == 2 and with_split_version(unset).split_version == 2
    assert run_id(unset, "distill") == run_id(second, "distill") != run_id(first, "distill")
    file_run = DistillConfig(dataset="reviews.csv")
    assert split_version_of(file_run) == 1 and run_id(file_run, "distill") == run_id(
        with_split_version(file_run), "distill"
    )
    old = DistillConfig(dataset="bbc-news")  # one split version: the id a run had before versions existed
    assert run_id(old, "distill") == run_id(DistillConfig(dataset="bbc-news", split_version=1), "distill")


def test_trial_ids_hash_the_split_version_only_past_the_first():
    first, second = (DistillConfig(dataset="vader-valence", split_version=v) for v in (1, 2))
    assert trial_id("finetune", first, None) != trial_id("finetune", second, None)
    assert trial_id("finetune", DistillConfig(dataset="vader-valence"), None) == trial_id("finetune", second, None)


def _as_schema_5(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        for table in ("runs", "trials"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN split_version")
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")


def test_an_older_store_reads_as_split_version_1_and_new_rows_keep_theirs(tmp_path: Path) -> None:
    path = tmp_path / "v5.sqlite"
    trial = {"kind": "distill", "dataset": "toy", "student_name": "tiny", "budget": {}, "config": {}}
    with RunStore(path) as store:
        store.add_run(_run("old"))
        store.record_trial(TrialRecord(trial_id="t-old", status="done", **trial))
    _as_schema_5(path)
    with RunStore(path) as store:
        store.add_run(_run("new", split_version=2))
        store.record_trial(TrialRecord(trial_id="t-new", status="done", split_version=2, **trial))
        versions = store.runs().set_index("run_id")["split_version"].to_dict()
        trials = {row["trial_id"]: trial_from_row(row).split_version for row in store.trials().to_dict("records")}
        assert store.run("new").split_version == 2 and isinstance(store.run("old"), RunRecord)
        store.export(tmp_path / "runs.csv")
    assert versions == {"old": 1, "new": 2} and trials == {"t-old": 1, "t-new": 2}
    exported = pd.read_csv(tmp_path / "runs.csv").set_index("run_id")["split_version"].to_dict()
    assert exported == {"old": 1, "new": 2}


def test_the_shipped_export_carries_a_recorded_split_version_on_every_row():
    from autodistill.store.shipped import RUNS_FILE, STUDY_DIR, TRIALS_FILE
    from engine import recorded_sizes

    sizes = recorded_sizes()
    for name in (RUNS_FILE, TRIALS_FILE):
        frame = pd.read_csv(STUDY_DIR / name, usecols=["dataset", "split_version"])
        assert frame["split_version"].notna().all() and len(frame) > 0
        versions = zip(frame["dataset"], frame["split_version"], strict=True)
        assert all(str(int(v)) in sizes[d] for d, v in versions)  # a version the data set's cards record
