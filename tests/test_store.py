"""The runs store: typed rows in, the same rows out, atomically, from many processes at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from autodistill.space import Pipeline
from autodistill.store.database import (
    SCHEMA_VERSION,
    DatasetFeatures,
    ModelDescriptor,
    RunRecord,
    RunStore,
    TrialRecord,
    trial_from_row,
)
from autodistill.store.reference import PAPER_FEATURIZER, import_reference
from autodistill.store.schema import BUDGET_COLUMNS, TEST_COLUMNS, TRIAL_COLUMNS_V3
from engine import AutodistillError, recorded_sizes

TEACHER = ModelDescriptor("minilm-l6", 6, 384, 22_700_000)
STUDENT = ModelDescriptor("minilm-l3", 3, 384, 17_400_000)
# fork keeps the children cheap; each child opens its own connection after the fork.
FORK = multiprocessing.get_context("fork")


def _run(run_id: str | None = None, **changes: object) -> RunRecord:
    values: dict[str, object] = {
        "dataset": "bbc-news",
        "task_kind": "classification",
        "config": Pipeline(augment=("ra", "ca", "mixup")),
        "teacher": TEACHER,
        "student": STUDENT,
        "student_score": 0.9,
        "teacher_score": 0.95,
        "wall_time_s": 12.5,
        "featurizer_version": "v-test",
        "full_config": {"pipeline": {"inter_loss": "mi"}, "epochs": 3, "lr": 5e-5},
        # Fixed, so that two calls a second apart build equal records.
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    values.update(changes)
    if run_id is not None:
        values["run_id"] = run_id
    return RunRecord(**values)  # type: ignore[arg-type]


def test_a_run_comes_back_as_it_went_in(tmp_path: Path) -> None:
    record = _run("r1")
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.add_run(record)
        assert store.run("r1") == record
        row = store.runs().iloc[0]
    assert row["augmentation"] == "ra>ca" and bool(row["mixup"])
    assert row["ratio"] == pytest.approx(0.9 / 0.95)
    assert row["student_params"] == 17_400_000 and row["source"] == "ours"


def test_ratio_needs_a_positive_teacher_score() -> None:
    with pytest.raises(AutodistillError, match="ratio"):
        _run(teacher_score=0.0)


def test_run_ids_are_unique_unless_skipping(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.add_run(_run("r1"))
        with pytest.raises(AutodistillError, match="unique"):
            store.add_run(_run("r1"))
        assert store.add_runs([_run("r1"), _run("r2")], skip_existing=True) == 1
        assert len(store.runs()) == 2


def test_a_failed_batch_writes_nothing(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(AutodistillError):
            store.add_runs([_run("a"), _run("b"), _run("a")])
        assert store.runs().empty


def test_other_files_are_refused_in_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite"
    text.write_text("just some notes\n" * 100)
    with pytest.raises(AutodistillError, match="not a runs store") as info:
        RunStore(text)
    assert "\n" not in str(info.value)
    assert text.read_text() == "just some notes\n" * 100
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (x)")
    with pytest.raises(AutodistillError, match="not a runs store"):
        RunStore(other)


def test_features_are_keyed_by_data_set_and_featurizer_version(tmp_path: Path) -> None:
    features = DatasetFeatures(
        "bbc-news", "v1", "classification", 1800, 5, 0.9, "bilstm", (0.1, 0.2), (0.3,), frozenset({"a"})
    )
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.put_features(features)
        store.put_features(DatasetFeatures("bbc-news", "v2", "classification", 1800, 5, 0.8, "linear", (1.0,), (2.0,)))
        store.put_features(features)  # replacing is idempotent
        assert store.features("v1") == [features]
        assert [f.baseline_score for f in store.features("v2")] == [0.8]
        assert sorted(store.featurizer_versions()) == ["v1", "v2"]


def test_export_by_extension(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.add_runs([_run("r1"), _run("r2")])
        assert len(pd.read_csv(store.export(tmp_path / "runs.csv"))) == 2
        assert len(pd.read_parquet(store.export(tmp_path / "runs.parquet"))) == 2
        with pytest.raises(AutodistillError, match=r"\.csv, \.parquet"):
            store.export(tmp_path / "runs.xlsx")


# -- crashes and concurrency ------------------------------------------------------------------------


def _write_then_hang(path: Path, started: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    store = RunStore(path)
    with store.transaction():
        store.add_run(_run("half-written"))
        started.set()
        signal.pause()  # killed here, inside the open transaction


def test_a_writer_killed_mid_transaction_leaves_no_row(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()
    started = FORK.Event()
    writer = FORK.Process(target=_write_then_hang, args=(path, started))
    writer.start()
    assert started.wait(30)
    os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
    writer.join()
    with RunStore(path) as store:
        assert store.runs().empty
        store.add_run(_run("after"))  # and the lock the dead writer held is gone
        assert list(store.runs()["run_id"]) == ["after"]


def _write_many(path: Path, prefix: str, count: int, go: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    go.wait(30)
    with RunStore(path, timeout_s=60) as store:
        for i in range(count):
            store.add_run(_run(f"{prefix}-{i:03d}"))


def test_concurrent_writers_all_land(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    go = FORK.Event()
    writers = [FORK.Process(target=_write_many, args=(path, p, 60, go)) for p in ("a", "b", "c")]
    for w in writers:
        w.start()
    go.set()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    with RunStore(path) as store:
        assert len(store.runs()) == 180


# -- the authors' runs ------------------------------------------------------------------------------------


def test_reference_import_maps_the_papers_columns_and_is_idempotent(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        assert import_reference(store) == 1239
        assert import_reference(store) == 0
        runs = store.runs(source="paper")
        features = store.features(PAPER_FEATURIZER)
    assert len(runs) == 1239
    assert runs.groupby("dataset").size().to_dict() == {
        "cola": 180,
        "mnli": 57,
        "mrpc": 231,
        "qnli": 141,
        "qqp": 93,
        "rte": 271,
        "sst-2": 109,
        "stsb": 157,
    }
    assert runs.loc[runs["inter_loss"] != "mi", "alpha"].isna().all()
    # Their code passed α through a sigmoid: the α stored is the weight it ran with, the row as published.
    mi = runs[runs["inter_loss"] == "mi"]
    recorded = [json.loads(c)["paper_row"]["alpha"] for c in mi["config_json"]]
    assert set(zip(recorded, mi["alpha"], strict=True)) == {
        (0.0, 0.5),
        (0.1, 0.524979),
        (0.5, 0.622459),
        (0.7, 0.668188),
        (0.9, 0.71095),
        (1.0, 0.731059),
    }
    # The file's first augmented row has contextual = 2, random = 1: random runs first.
    assert "ra>ca" in set(runs["augmentation"])
    assert {f.dataset for f in features} >= {"boolq", "cloth", "cola"}
    cola = next(f for f in features if f.dataset == "cola")
    assert len(cola.context_embedding) == len(cola.task_embedding) == 50
    assert (cola.n_examples, cola.n_labels, cola.baseline_score) == (8551, 2, 0.0)


def test_the_shipped_study_round_trips_runs_trials_and_features(tmp_path: Path) -> None:
    from autodistill.store.database import TrialRecord
    from autodistill.store.shipped import export_study, import_study
    from engine import ExamplePredictions

    config = Pipeline(mapping="emd", inter_loss="mse", alpha=None, pred_loss="mse", aug_p=0.1)
    plain = _run("12e4", config=config, wall_time_s=None)
    features = DatasetFeatures(
        "bbc-news", "v-test", "classification", 1701, 5, 0.8, "bilstm", (0.5,) * 50, (0.25,) * 50,
        frozenset({"sport", "vote"}),
    )  # fmt: skip
    finished = TrialRecord("t1", "distill", "bbc-news", "minilm-l3", "done", {"epochs": 3}, {"mapping": "skip"}, "2001")
    failed = TrialRecord("t2", "finetune", "bbc-news", "tiny", "failed", {"epochs": 3}, {}, error="ValueError: x")
    predicted = ExamplePredictions("classification", "accuracy", [2, 0, 1], [2, 1, 1])
    with RunStore(tmp_path / "collected.sqlite") as store:
        store.add_runs([plain, _run("2001")])
        store.put_features(features)
        store.record_trial(finished)
        store.record_trial(failed)
        store.put_test_predictions({"2001": predicted})
        counts = export_study(store, tmp_path / "study")
        assert counts == {"runs": 2, "trials": 2, "features": 1, "test predictions": 1}
    with RunStore(tmp_path / "fresh.sqlite") as fresh:
        assert import_study(fresh, tmp_path / "study") == 2
        assert import_study(fresh, tmp_path / "study") == 0  # idempotent
        assert fresh.run("12e4") == plain and fresh.run("2001") == _run("2001")  # a numeric-looking id stays text
        assert fresh.features("v-test") == [features]
        assert fresh.test_predictions() == {"2001": predicted} and fresh.predicted_runs() == {"2001"}
        assert fresh.test_predictions(["12e4"]) == {}
        trials = fresh.trials().set_index("trial_id")
    assert trials.loc["t1", "run_id"] == "2001" and pd.isna(trials.loc["t1", "error"])
    assert trials.loc["t2", "error"] == "ValueError: x" and pd.isna(trials.loc["t2", "ratio"])


def test_an_empty_store_has_nothing_to_ship(tmp_path: Path) -> None:
    from autodistill.store.shipped import export_study

    with RunStore(tmp_path / "empty.sqlite") as store, pytest.raises(AutodistillError, match="autodistill sweep"):
        export_study(store, tmp_path / "study")


def test_an_export_refuses_to_drop_runs_the_folder_already_ships(tmp_path: Path) -> None:
    from autodistill.store.shipped import export_study, import_study

    with RunStore(tmp_path / "first.sqlite") as store:
        store.add_run(_run("r1"))
        export_study(store, tmp_path / "study")
    with RunStore(tmp_path / "second.sqlite") as other:
        other.add_run(_run("r2"))
        with pytest.raises(AutodistillError, match=r"lacks 1 of the 1 runs.*runs import --from study"):
            export_study(other, tmp_path / "study")
        import_study(other, tmp_path / "study")
        assert export_study(other, tmp_path / "study")["runs"] == 2


def test_a_study_shipped_in_the_first_vocabulary_imports_in_the_engines(tmp_path: Path) -> None:
    """meta_data/study/runs.csv names text augmenters by long names; they become operation names on import."""
    from autodistill.store.shipped import RUNS_FILE, export_study, import_study

    with RunStore(tmp_path / "collected.sqlite") as store:
        store.add_run(_run("r1"))
        export_study(store, tmp_path / "study")
    csv = tmp_path / "study" / RUNS_FILE
    csv.write_text(csv.read_text().replace("ra>ca", "random>contextual"))
    with RunStore(tmp_path / "fresh.sqlite") as fresh:
        import_study(fresh, tmp_path / "study")
        assert fresh.run("r1") == _run("r1")


def test_a_schema_1_store_is_renamed_once_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with RunStore(path) as store:
        store.add_run(_run("r1"))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET augmentation = 'random>contextual'")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with RunStore(path) as store:
        assert store.runs()["augmentation"].tolist() == ["ra>ca"]
        assert store.run("r1") == _run("r1")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def _as_schema_2(path: Path) -> None:
    """Turn a current store back into schema 2's shape: no test or budget columns."""
    with sqlite3.connect(path) as conn:
        for column in (*TEST_COLUMNS, *BUDGET_COLUMNS):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        for column in (*TRIAL_COLUMNS_V3, "pruned_after_epoch"):
            conn.execute(f"ALTER TABLE trials DROP COLUMN {column}")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def test_a_schema_2_store_keeps_its_runs_as_dev_only_and_learns_their_budget(tmp_path: Path) -> None:
    """Runs scored before the test split keep NULL test scores; their budget comes back from config_json."""
    path = tmp_path / "v2.sqlite"
    budget = {"budget": {"seed": 42, "epochs": 8, "max_length": 48}, "train_examples": 192}
    with RunStore(path) as store:
        store.add_runs([_run("cheap", full_config=budget), _run("paper", source="paper")])
        store.record_trial(TrialRecord("t1", "finetune", "bbc-news", "tiny", "done", {}, {}, ratio=0.5))
    _as_schema_2(path)
    with RunStore(path) as store:
        runs = store.runs().set_index("run_id")
        trial = store.trials().iloc[0]
    assert runs["test_score"].isna().all() and runs["test_ratio"].isna().all()
    assert runs.loc["cheap", ["fidelity", "seed", "train_examples", "epochs", "max_length"]].tolist() == [
        "cheap", 42, 192, 8, 48,
    ]  # fmt: skip
    assert pd.isna(runs.loc["paper", "fidelity"]) and pd.isna(runs.loc["paper", "seed"])
    assert trial["ratio"] == 0.5 and pd.isna(trial["test_ratio"]) and pd.isna(trial["dev_curve"])
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_exports_name_dev_and_test_scores_and_mark_dev_only_runs(tmp_path: Path) -> None:
    from autodistill.store.shipped import RUNS_FILE, export_study, import_study

    tested = _run("t", test_score=0.8, teacher_test_score=0.9, test_ratio=0.8 / 0.9, fidelity="realistic", seed=1)
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.add_runs([tested, _run("d")])
        written = pd.read_csv(store.export(tmp_path / "runs.csv")).set_index("run_id")
        export_study(store, tmp_path / "study")
    shipped = pd.read_csv(tmp_path / "study" / RUNS_FILE).set_index("run_id")
    for frame in (written, shipped):
        assert {"dev_score", "teacher_dev_score", "dev_ratio", "test_score", "test_ratio", "fidelity", "seed"} <= set(
            frame.columns
        )
        assert frame.loc["t", "scored_on"] == "test" and frame.loc["d", "scored_on"] == "dev only"
        assert frame.loc["t", "dev_score"] == 0.9 and frame.loc["t", "test_score"] == 0.8
    with RunStore(tmp_path / "fresh.sqlite") as fresh:
        import_study(fresh, tmp_path / "study")
        assert fresh.run("t") == tested and fresh.run("d") == _run("d")


def test_the_shipped_study_imports_its_dev_only_runs_at_the_cheap_fidelity_and_its_new_ones_with_test(
    tmp_path: Path,
) -> None:
    """meta_data/study/runs.csv begins with runs that predate schema 3 (dev only, the cheap budget, seed
    42); study v2's runs after them carry test scores, their fidelity and their seed."""
    from autodistill.store.shipped import STUDY_DIR, import_study

    with RunStore(tmp_path / "shipped.sqlite") as store:
        import_study(store, STUDY_DIR)
        runs = store.runs(source="ours")
    old, new = runs[runs["test_score"].isna()], runs[runs["test_score"].notna()]
    assert len(old) >= 340
    assert set(old["fidelity"]) == {"cheap"} and set(old["seed"]) == {42} and set(old["max_length"]) == {48}
    assert old["train_examples"].between(1, 192).all()
    assert set(new["fidelity"]) <= {"cheap", "realistic", "realistic-lr2e-3"} and new["seed"].notna().all()
    assert new["test_ratio"].notna().all()


def test_a_schema_3_store_gains_the_pruned_column_on_open_and_keeps_its_trials(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    trial = {"kind": "distill", "dataset": "toy", "student_name": "tiny", "budget": {}, "config": {}}
    with RunStore(path) as store:
        store.record_trial(TrialRecord(trial_id="old", status="done", **trial))
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE trials DROP COLUMN pruned_after_epoch")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with RunStore(path) as store:
        store.record_trial(TrialRecord(trial_id="new", status="done", pruned_after_epoch=2, **trial))
        logged = {row["trial_id"]: trial_from_row(row) for row in store.trials().to_dict("records")}
    assert logged["old"].pruned_after_epoch is None and logged["new"].pruned_after_epoch == 2


def _pkd_run(run_id: str, source: str = "ours") -> RunRecord:
    pipeline = Pipeline(inter_loss="pkd", alpha=None)
    full = {"pipeline": pipeline.to_dict(), "engine": {"inter_loss": "pkd", "mapping": "skip"}}
    return _run(run_id, config=pipeline, source=source, full_config=full)


def test_a_store_from_before_cls_pkd_names_our_per_token_pkd_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with RunStore(path) as store:
        store.add_runs([_pkd_run("ours-1"), _pkd_run("paper-1", source="paper"), _run("mi-1")])
        trial = TrialRecord("t1", "distill", "bbc-news", "tiny", "done", {}, {"inter_loss": "pkd"}, run_id="ours-1")
        store.record_trial(trial)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with RunStore(path) as store:
        runs = store.runs().set_index("run_id")["inter_loss"].to_dict()
        assert runs == {"ours-1": "pkd-tokens", "paper-1": "pkd", "mi-1": "mi"}  # ids kept, the authors' pkd too
        ours = store.run("ours-1").full_config
        assert ours["pipeline"]["inter_loss"] == ours["engine"]["inter_loss"] == "pkd-tokens"
        assert store.run("paper-1").full_config["engine"]["inter_loss"] == "pkd"
        assert store.trials()["config_json"].tolist() == ['{"inter_loss": "pkd-tokens"}']
    with RunStore(path) as store:  # once only: a pkd run stored today is the [CLS] loss and stays so
        store.add_run(_pkd_run("ours-2"))
    with RunStore(path) as store:
        assert store.run("ours-2").config.inter_loss == "pkd"


def test_a_shipped_study_without_its_schema_reads_pkd_as_per_token(tmp_path: Path) -> None:
    from autodistill.store.shipped import SCHEMA_FILE, export_study, import_study

    with RunStore(tmp_path / "collected.sqlite") as store:
        store.add_run(_pkd_run("r1"))
        export_study(store, tmp_path / "study")
    with RunStore(tmp_path / "today.sqlite") as fresh:
        import_study(fresh, tmp_path / "study")
        assert fresh.run("r1").config.inter_loss == "pkd"  # shipped with its schema: the [CLS] loss
    (tmp_path / "study" / SCHEMA_FILE).unlink()
    with RunStore(tmp_path / "old.sqlite") as fresh:
        import_study(fresh, tmp_path / "study")
        assert fresh.run("r1").config.inter_loss == "pkd-tokens"


def test_the_shipped_per_token_pkd_runs_keep_their_run_and_trial_ids() -> None:
    """Their ids hashed ``pkd`` when it was computed per token; as ``pkd-tokens`` they hash the same."""
    from autodistill.store.shipped import STUDY_DIR, shipped_store
    from autodistill.sweep.plan import trial_id
    from engine import DistillConfig
    from engine.pipelines.result import run_id

    with shipped_store(STUDY_DIR) as store:
        runs = store.runs(source="ours")
        trials = store.trials().set_index("run_id")["trial_id"]
    pkd = runs[runs["inter_loss"].isin(["pkd", "pkd-tokens"])]
    assert (pkd["inter_loss"] == "pkd-tokens").sum() == 59  # the [CLS] pkd run came after
    for row in pkd.to_dict("records"):
        # configs stored before split versions existed name none: the store's column says which they ran on
        stored = {**json.loads(row["config_json"])["engine"], "split_version": row["split_version"]}
        engine = DistillConfig.model_validate(stored)
        assert run_id(engine, "distill") == row["run_id"]
        assert trial_id("distill", engine, Pipeline.from_engine(engine)) == trials[row["run_id"]]
        other = "pkd" if row["inter_loss"] == "pkd-tokens" else "pkd-tokens"
        assert run_id(engine.model_copy(update={"inter_loss": other}), "distill") != row["run_id"]


def test_a_store_from_before_holds_the_alpha_the_authors_ran_with_once_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    recorded = Pipeline(inter_loss="mi", alpha=0.9)
    full = {"pipeline": recorded.to_dict(), "paper_row": {"alpha": 0.9}}
    with RunStore(path) as store:
        store.add_runs(
            [_run("paper-1", source="paper", config=recorded, full_config=full), _run("ours-1", config=recorded)]
        )
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    for _ in range(2):  # the second open changes nothing
        with RunStore(path) as store:
            paper, ours = store.run("paper-1"), store.run("ours-1")
            assert paper.config.alpha == paper.full_config["pipeline"]["alpha"] == 0.71095
            assert paper.full_config["paper_row"]["alpha"] == 0.9
            assert ours.config.alpha == 0.9  # our engine's α is the weight itself


def _budgeted(run_id: str, max_eval_examples: int | None, **changes: object) -> RunRecord:
    """A run of ours whose config_json keeps its budget, as the sweep stores them."""
    return _run(run_id, full_config={"budget": {"max_eval_examples": max_eval_examples, "epochs": 3}}, **changes)


def test_a_schema_6_store_learns_each_runs_device_and_dev_examples_on_open(tmp_path: Path) -> None:
    """Runs of ours from before schema 7 ran on CPU; each scored its budget's cap of dev examples, never
    more than its split version's dev split holds (bbc-news v1: 212; sotu-party v2: 1,500, read whole)."""
    path = tmp_path / "v6.sqlite"
    with RunStore(path) as store:
        store.add_runs([
            _budgeted("capped", 200),
            _budgeted("small", 1000),
            _budgeted("whole", None, dataset="sotu-party", split_version=2),
            _run("no-budget"),
            _budgeted("file", 200, dataset="my-own.csv"),
            _run("paper", source="paper"),
        ])  # fmt: skip
    with sqlite3.connect(path) as conn:
        for column in ("device", "eval_examples"):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    with RunStore(path) as store:
        runs = store.runs().set_index("run_id")
    assert runs["eval_examples"].fillna(-1).astype(int).to_dict() == {
        "capped": 200, "small": 212, "whole": 1500, "no-budget": -1, "file": -1, "paper": -1,
    }  # fmt: skip
    assert runs["device"].fillna("unknown").to_dict() == {
        "capped": "cpu", "small": "cpu", "whole": "cpu", "no-budget": "cpu", "file": "cpu", "paper": "unknown",
    }  # fmt: skip
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_device_and_dev_examples_survive_export_and_import(tmp_path: Path) -> None:
    from autodistill.store.shipped import RUNS_FILE, export_study, import_study

    gpu = _budgeted("gpu", None, device="cuda:NVIDIA H100 80GB HBM3", eval_examples=5000, split_version=2)
    unknown = _run("unknown")
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.add_runs([gpu, unknown])
        written = pd.read_csv(store.export(tmp_path / "runs.csv")).set_index("run_id")
        export_study(store, tmp_path / "study")
    shipped = pd.read_csv(tmp_path / "study" / RUNS_FILE).set_index("run_id")
    for frame in (written, shipped):
        assert frame.loc["gpu", "device"] == "cuda:NVIDIA H100 80GB HBM3" and frame.loc["gpu", "eval_examples"] == 5000
        assert pd.isna(frame.loc["unknown", "device"]) and pd.isna(frame.loc["unknown", "eval_examples"])
    with RunStore(tmp_path / "fresh.sqlite") as fresh:
        import_study(fresh, tmp_path / "study")
        assert fresh.run("gpu") == gpu and fresh.run("unknown") == unknown


def test_a_study_exported_before_schema_7_gets_device_and_dev_examples_on_import(tmp_path: Path) -> None:
    from autodistill.store.shipped import RUNS_FILE, SCHEMA_FILE, export_study, import_study

    with RunStore(tmp_path / "collected.sqlite") as store:
        store.add_runs([_budgeted("r1", 1000), _budgeted("r2", 200, dataset="sotu-party", split_version=2)])
        export_study(store, tmp_path / "study")
    csv = tmp_path / "study" / RUNS_FILE
    pd.read_csv(csv).drop(columns=["device", "eval_examples"]).to_csv(csv, index=False)
    (tmp_path / "study" / SCHEMA_FILE).write_text(json.dumps({"schema_version": 6}))
    with RunStore(tmp_path / "fresh.sqlite") as fresh:
        import_study(fresh, tmp_path / "study")
        assert (fresh.run("r1").device, fresh.run("r1").eval_examples) == ("cpu", 212)
        assert (fresh.run("r2").device, fresh.run("r2").eval_examples) == ("cpu", 200)


def test_a_schema_7_store_gains_cpu_time_columns_unknown_for_its_runs_and_keeps_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "v7.sqlite"
    with RunStore(path) as store:
        store.add_runs([_run("old")])
    with sqlite3.connect(path) as conn:
        for column in ("cpu_time_s", "cpu_threads"):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    timed = _run("timed", wall_time_s=100.0, cpu_time_s=52.5, cpu_threads=1)
    with RunStore(path) as store:
        store.add_runs([timed])
        assert (store.run("old").cpu_time_s, store.run("old").cpu_threads) == (None, None)
        assert store.run("timed") == timed
        store.export(tmp_path / "runs.csv")
    written = pd.read_csv(tmp_path / "runs.csv").set_index("run_id")
    assert written.loc["timed", "cpu_time_s"] == 52.5 and pd.isna(written.loc["old", "cpu_time_s"])
    from autodistill.store.shipped import export_study, import_study

    with RunStore(path) as store:
        export_study(store, tmp_path / "study")
    with RunStore(tmp_path / "fresh.sqlite") as fresh:
        import_study(fresh, tmp_path / "study")
        assert fresh.run("timed") == timed and fresh.run("old").cpu_time_s is None


@pytest.mark.parametrize(("column", "before"), [("teacher_cache_s", 8), ("teacher_s", 9), ("speed_probe_s", 10)])
def test_a_store_older_than_a_seconds_column_gains_it_unknown_for_its_runs(
    tmp_path: Path, column: str, before: int
) -> None:
    path = tmp_path / f"v{before}.sqlite"
    with RunStore(path) as store:
        store.add_runs([_run("old")])
    with sqlite3.connect(path) as conn:
        conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        conn.execute(f"UPDATE meta SET value = '{before}' WHERE key = 'schema_version'")
    timed = _run("timed", wall_time_s=900.0, **{column: 41.5})
    with RunStore(path) as store:
        store.add_runs([timed])
        assert getattr(store.run("old"), column) is None and store.run("timed") == timed
        store.export(tmp_path / "runs.csv")
    written = pd.read_csv(tmp_path / "runs.csv").set_index("run_id")
    assert written.loc["timed", column] == 41.5 and pd.isna(written.loc["old", column])


def test_the_shipped_study_names_its_devices_and_scored_at_most_its_budgets_dev_examples(tmp_path: Path) -> None:
    """meta_data/study/runs.csv as committed: the MPNet-base sweep trained on an H100, the MiniLM runs on
    CPU or GPUs (H200s, another H100), one kind of device per data set, split version, student and seed
    (a teacher and its students together; later seeds of a few configurations ran on the other kind,
    with a teacher fine-tuned there);
    cheap runs scored at most 200 dev examples per epoch, realistic ones on the first splits at most 1,000
    (their split's dev size where smaller), and on the sized splits the whole dev split."""
    from autodistill.store.shipped import STUDY_DIR, import_study

    with RunStore(tmp_path / "shipped.sqlite") as store:
        import_study(store, STUDY_DIR)
        runs = store.runs(source="ours")
    gpu = runs["teacher_name"] == "mpnet-base"
    assert set(runs.loc[gpu, "device"]) == {"cuda:NVIDIA H100"}
    assert set(runs.loc[~gpu, "device"]) == {"cpu", "cuda:NVIDIA H200", "cuda:NVIDIA H100 80GB HBM3"}
    kind = runs["device"].str.partition(":")[0]
    seeds = [runs["dataset"], runs["split_version"], runs["student_name"], runs["seed"]]
    assert (kind[~gpu].groupby(seeds).nunique() == 1).all()
    assert runs["eval_examples"].notna().all()
    cheap, first = runs["fidelity"] == "cheap", runs["split_version"].fillna(1) == 1
    assert runs.loc[cheap, "eval_examples"].max() == 200 and runs.loc[~cheap & first, "eval_examples"].max() == 1000
    sized = runs[~first]
    versions = zip(sized["dataset"], sized["split_version"], strict=True)
    dev = [recorded_sizes()[name][str(int(v))]["dev"] for name, v in versions]
    assert (sized["eval_examples"] == dev).all()
    assert set(runs.loc[~cheap & (runs["dataset"] == "bbc-news"), "eval_examples"]) == {212}  # v1's dev split


def test_test_predictions_are_written_at_the_float32_digits_a_model_gives() -> None:
    import json

    import numpy as np

    from engine import ExamplePredictions

    raw = [float(np.float32(v)) for v in (0.7, -1.8144140243530273, 3e-9)]  # a model's outputs, as Python floats
    found = ExamplePredictions("regression", "spearman", raw, [raw[1], raw[0], raw[2]])
    back = ExamplePredictions(**json.loads(found.to_json()))
    assert back.predictions[0] == 0.7 and np.array_equal(np.float32(back.predictions), np.float32(raw))
    assert np.array_equal(np.float32(back.references), np.float32(found.references))
