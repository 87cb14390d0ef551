"""What a user runs by hand is kept in the home's runs store and listed; the study never reads it."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
import engine
from autodistill import list_runs, open_store
from autodistill.bridge import baseline_config, engine_config
from autodistill.space.defaults import FIXED_DEFAULTS
from autodistill.store import schema
from autodistill.store.database import RunStore
from autodistill.sweep.execute import Outcome
from autodistill.sweep.plan import Trial
from autodistill.sweep.runner import record_outcome
from engine import FinetunedModel, TrainSettings, paths
from tests.test_sweep import fake_result

runner = CliRunner()


def _result(config, output_dir=None, kind: str = "distill"):
    """The engine's result as a run gives it: its task's prediction loss resolved, and the data set by the
    name it loads under (a file's stem), as the task names it."""
    pipeline = FIXED_DEFAULTS["logit"] if kind == "distill" else None
    config = config.model_copy(update={"pred_loss": config.pred_loss or "ce"})
    result = fake_result(Trial.make(kind, config, config.student, pipeline), 0.95)
    return replace(result, dataset=Path(config.dataset).stem)


def _teacher(teacher, task, settings=None, *, show_progress=True) -> FinetunedModel:
    return FinetunedModel(teacher, task.spec.name, Path("/cache/minilm-l6__toy"), "accuracy", 0.9, {}, 12.0, 1.0, {})


def test_run_finetune_and_teacher_train_are_listed_as_the_users(monkeypatch: pytest.MonkeyPatch, reviews_csv) -> None:
    monkeypatch.setattr(engine, "run", _result)
    monkeypatch.setattr(engine, "finetune", lambda config, output_dir=None: _result(config, kind="finetune"))
    monkeypatch.setattr(engine, "finetune_teacher", _teacher)
    for command in ("run", "finetune", "run"):  # the same run twice is one row
        result = runner.invoke(cli.typer_app, [command, "--dataset", str(reviews_csv)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    result = runner.invoke(cli.typer_app, ["teacher", "train", "--dataset", str(reviews_csv)], catch_exceptions=False)
    assert result.exit_code == 0 and "note:" not in result.output, result.output
    other = runner.invoke(cli.typer_app, ["teacher", "train", "-d", str(reviews_csv), "--epochs", "5"])
    assert (
        "fine-tune minilm-l6 with the teacher's own settings, not epochs=5, so they do not use this one; a team "
        "member named minilm-l6:epochs=5 does" in " ".join(other.output.split())
    )
    longer = runner.invoke(cli.typer_app, ["teacher", "train", "-d", str(reviews_csv), "--max-length", "256"])
    assert " ".join(longer.output.split()).endswith("not max_length=256, so they do not use this one")

    with open_store(read_only=True) as store:
        listed = list_runs(store)
        assert sorted(listed["kind"]) == ["distill", "finetune", "teacher"]
        assert set(listed["source"]) == {"user"}
        assert listed.set_index("kind").loc["teacher", "student_name"] == "minilm-l6"
        assert store.trials(source="ours").empty, "the study's readers see none of it"
        assert store.runs(source="ours").empty and len(store.runs(source="user")) == 1
    assert set(listed["dataset"]) == {str(reviews_csv.resolve()), "reviews"}, "the trials' name, and the runs'"
    shown = runner.invoke(cli.typer_app, ["runs", "list"], catch_exceptions=False).output
    assert shown.count(" user ") == 3
    monkeypatch.chdir(reviews_csv.parent)  # the file named as typed beside it
    shown = runner.invoke(cli.typer_app, ["runs", "list", "--dataset", reviews_csv.name], catch_exceptions=False)
    assert shown.exit_code == 0 and shown.output.count(" user ") == 3


def test_a_run_is_still_a_success_where_the_store_cannot_be_written(
    monkeypatch: pytest.MonkeyPatch, reviews_csv
) -> None:
    monkeypatch.setattr(engine, "run", _result)
    paths.home().mkdir(parents=True, exist_ok=True)
    (paths.home() / "runs.sqlite").write_text("not a database")
    result = runner.invoke(cli.typer_app, ["run", "--dataset", str(reviews_csv)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "not logged in the runs store:" in result.output and "not a runs store" in result.output


MODELS = {"teacher": "minilm-l6", "student": "tiny", "budget": TrainSettings(epochs=1)}


def _record(store: RunStore, trial: Trial, source: str = "ours") -> None:
    record_outcome(store, trial, Outcome(trial.trial_id, fake_result(trial, 0.9), None, 1.0), "v", source=source)


def test_a_sweep_store_lists_its_baselines_beside_its_runs(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        _record(store, Trial.make("distill", engine_config(FIXED_DEFAULTS["logit"], "toy", **MODELS), "tiny",
                                  FIXED_DEFAULTS["logit"], fidelity="patient"))  # fmt: skip
        _record(store, Trial.make("finetune", baseline_config("toy", **MODELS), "tiny", fidelity="patient"))
        listed = list_runs(store, fidelity="patient")
    assert sorted(listed["kind"]) == ["distill", "finetune"] and set(listed["source"]) == {"ours"}


def test_a_store_of_the_schema_before_user_rows_keeps_every_row_and_admits_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = (
        schema.SCHEMA.replace(",\n    source TEXT NOT NULL DEFAULT 'ours' CHECK (source IN ('ours', 'user'))\n", "\n")
        .replace("('ours', 'paper', 'user')", "('ours', 'paper')")
        .replace("('distill', 'finetune', 'teacher')", "('distill', 'finetune')")
    )
    assert "'user'" not in old and "teacher')" not in old
    with sqlite3.connect(path) as conn:
        conn.executescript(old)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [("format", schema.STORE_FORMAT), ("schema_version", "11")])
    with RunStore(path) as store:
        _record(store, Trial.make("finetune", baseline_config("toy", **MODELS), "tiny", fidelity="patient"))
    with sqlite3.connect(path) as conn:  # the old rows are kept; the old checks would refuse a user's row
        conn.execute("UPDATE meta SET value = '11' WHERE key = 'schema_version'")
        conn.executescript(old.replace("CREATE TABLE IF NOT EXISTS trials", "CREATE TABLE trials_before_migration"))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO trials_before_migration (trial_id, kind) VALUES ('x', 'teacher')")
        conn.execute("DROP TABLE trials_before_migration")
    with RunStore(path) as store:
        _record(store, Trial.make("distill", engine_config(FIXED_DEFAULTS["logit"], "toy", **MODELS), "tiny",
                                  FIXED_DEFAULTS["logit"]), source="user")  # fmt: skip
        assert sorted(store.trials()["source"]) == ["ours", "user"]
        assert list(store.runs()["source"]) == ["user"]
    indexes = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert "runs_by_dataset" in indexes and not any(name.endswith("_before") for name in indexes)


@pytest.fixture
def reviews_csv(tmp_path: Path) -> Path:
    from tests.conftest import toy_frame

    path = tmp_path / "reviews.csv"
    toy_frame(120, 0).to_csv(path, index=False)
    return path
