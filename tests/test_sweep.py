"""Sweeps (paper §4's random search): a fixed trial list, resumable, failures logged, three backends."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import toy_frame

import engine
from autodistill import sweep
from autodistill.bridge import engine_config, make_budget, space_for
from autodistill.space import DEFAULT_SPACE, Pipeline, SearchSpace
from autodistill.store.database import RunStore
from engine import AutodistillError, RunResult, TaskData, TaskSpec, TaskType, parse_config

BUDGET = make_budget(epochs=1, batch_size=16, max_length=16)
VERSION = "glove50-tfidf.v1+bilstm"


def _task(name: str, task_type: TaskType = TaskType.CLASSIFICATION) -> TaskData:
    labels = ("neg", "pos") if task_type == TaskType.CLASSIFICATION else ()
    spec = TaskSpec(name, task_type, "Is this toy review positive or negative?", labels)
    return TaskData(spec, toy_frame(96, 0), toy_frame(32, 1), toy_frame(32, 2))


TASKS = {"toy-a": _task("toy-a"), "toy-b": _task("toy-b")}


def fake_result(trial: sweep.Trial, ratio: float) -> RunResult:
    """A RunResult shaped like the engine's, for a trial that was never trained."""
    return RunResult(
        run_id=trial.trial_id,
        kind=trial.kind,
        dataset=trial.dataset,
        task_kind="classification",
        metric="accuracy",
        config=trial.engine.model_dump(mode="json"),
        student_score=0.9 * ratio,
        teacher_score=0.9,
        ratio=ratio,
        student_dev_metrics={},
        teacher_dev_metrics={},
        student_params=4_400_000,
        teacher_params=22_700_000,
        student_layers=2,
        student_hidden=128,
        teacher_layers=6,
        teacher_hidden=384,
        train_examples=96,
        best_epoch=1,
        train_seconds=0.1,
        wall_seconds=0.1,
        examples_per_second=960.0,
        teacher_latency_ms=1.0,
        student_latency_ms=0.5,
        output_dir="/nowhere",
        scored_examples={"dev": 48},
        device="cuda:Fake GPU",
        phases={"teacher": 40.0, "teacher cache": 2.5, "training": 0.1},
        speed_probe_seconds=0.06,
    )


def fake_trial(trial: sweep.Trial, threads: int | None = None, task: TaskData | None = None) -> sweep.Outcome:
    """A trivially cheap trial (importable by worker processes): PKD 'crashes', MI-α distils best."""
    log = os.environ.get("FAKE_TRIAL_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(f"{trial.trial_id} {os.getpid()} {threads}\n")
    if trial.config is not None and trial.config.inter_loss == "pkd":
        return sweep.Outcome(trial.trial_id, None, "RuntimeError: PKD exploded (at fake.py:1)", 0.01)
    ratio = 0.8 + 0.1 * (trial.config is not None and trial.config.inter_loss == "mi")
    return sweep.Outcome(trial.trial_id, fake_result(trial, ratio), None, 0.01)


def _plan(n: int = 4, seed: int = 0, tasks: dict[str, TaskData] = TASKS) -> list[sweep.Trial]:
    return sweep.plan(tasks, ["tiny", "layers=0,2,4"], n, seed=seed, budget=BUDGET)


# -- the bridge ---------------------------------------------------------------------------------------


def test_every_configuration_of_the_space_survives_the_trip_through_the_engine_config() -> None:
    for config in list(DEFAULT_SPACE.configurations())[::7]:
        engine = engine_config(config, "toy", teacher="minilm-l6", student="tiny", budget=BUDGET)
        assert Pipeline.from_engine(engine) == config
    config = Pipeline(mapping="emd", alpha=0.1, pred_loss="mse", augment=("bt", "ra", "mixup"), aug_p=0.5)
    config = replace(config, repeated_aug=4)
    engine = engine_config(
        config,
        "toy",
        teacher="minilm-l6",
        student="tiny",
        budget=BUDGET,
    )
    assert engine.augment == ("bt", "ra", "mixup") and engine.alpha == 0.1
    assert (engine.aug_p, engine.repeated_aug, engine.train.epochs) == (0.5, 4, 1)


def test_fields_that_act_on_nothing_keep_the_engines_defaults_so_run_ids_stay() -> None:
    plain = engine_config(Pipeline(inter_loss="cos", alpha=None), "toy", teacher="minilm-l6", student="tiny",
                          budget=BUDGET)  # fmt: skip
    default = parse_config({"dataset": "toy", "teacher": "minilm-l6", "student": "tiny", "inter_loss": "cos",
                            "pred_loss": "ce", "train": BUDGET.model_dump(exclude_unset=True)})  # fmt: skip
    assert plain == default


def test_logit_only_kd_reads_back_as_the_none_pipeline_and_round_trips() -> None:
    config = parse_config({"dataset": "toy", "mapping": None, "inter_loss": None, "pred_loss": "ce"})
    point = Pipeline.from_engine(config)
    assert (point.inter_loss, point.mapping, point.alpha, point.inter_level) == ("none", "none", None, "none")
    assert point.engine_fields()["inter_loss"] is None and point.engine_fields()["mapping"] is None
    with pytest.raises(AutodistillError, match="both inter_loss and mapping"):
        Pipeline(inter_loss="none", alpha=None, mapping="skip")


def test_regression_tasks_are_never_given_a_cross_entropy_prediction_loss() -> None:
    assert space_for(TaskType.REGRESSION).pred_losses == ("mse",)
    trials = _plan(n=12, tasks={"toy-reg": _task("toy-reg", TaskType.REGRESSION)})
    assert {t.engine.pred_loss for t in trials if t.kind == "distill"} == {"mse"}


def test_token_tagging_tasks_are_never_given_text_augmentation() -> None:
    space = space_for(TaskType.TOKEN)
    assert space.augmenters == () and space.pred_losses == DEFAULT_SPACE.pred_losses
    points = list(space.configurations())
    assert not any(p.text_augment for p in points) and any(p.mixup for p in points)
    assert space_for(TaskType.CLASSIFICATION).augmenters == DEFAULT_SPACE.augmenters


def test_a_bad_budget_is_one_line() -> None:
    with pytest.raises(AutodistillError, match="budget: epochs") as info:
        make_budget(epochs=0)
    assert "\n" not in str(info.value)


# -- planning -----------------------------------------------------------------------------------------


def test_students_with_layer_lists_are_split_correctly() -> None:
    assert sweep.parse_students("tiny,layers=0,2,4,mini") == ["tiny", "layers=0,2,4", "mini"]


def test_the_trial_list_is_a_function_of_seed_data_sets_students_and_n() -> None:
    first = _plan()
    assert [t.trial_id for t in first] == [t.trial_id for t in _plan()]
    assert [t.trial_id for t in first] != [t.trial_id for t in _plan(seed=1)]
    kinds = [t.kind for t in first if t.dataset == "toy-a"]
    assert kinds == ["finetune"] * 2 + ["distill"] * 8  # a baseline per student, then 4 configs x 2 students
    # Raising n or adding a data set keeps every trial planned before.
    more = {t.trial_id for t in _plan(n=6, tasks={**TASKS, "toy-c": _task("toy-c")})}
    assert {t.trial_id for t in first} <= more
    configs = [t.config for t in first if t.dataset == "toy-a" and t.student == "tiny" and t.config]
    assert len(set(configs)) == 4  # distinct draws


def test_a_files_column_flags_reach_every_trial_and_tell_its_trials_apart() -> None:
    columns = engine.DataColumns(text_col="review", label_col="rating")
    named = sweep.plan(TASKS, ["tiny"], 2, budget=BUDGET, columns=columns)
    assert all(t.engine.columns == columns for t in named), "the baselines read the file as the distillations do"
    plain = sweep.plan(TASKS, ["tiny"], 2, budget=BUDGET)
    assert all(t.engine.columns is None for t in plain)
    assert not {t.trial_id for t in named} & {t.trial_id for t in plain}


# -- running ------------------------------------------------------------------------------------------


def test_a_finished_trial_is_told_by_its_pipeline_outcome_and_minutes(tmp_path: Path) -> None:
    from autodistill.sweep.runner import finished_line

    trials = _plan()
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = sweep.run_trials(
            trials, store, featurizer_version=VERSION, workers=0, show_progress=False, trial_fn=fake_trial
        )
    lines = {t.trial_id: finished_line(t, report.records[t.trial_id]) for t in trials}
    failed = next(t for t in trials if t.config is not None and t.config.inter_loss == "pkd")
    alone = next(t for t in trials if t.kind == "finetune")
    assert lines[failed.trial_id].startswith(f"{failed.dataset} {failed.student} {failed.config.key}: failed")
    assert f"{alone.student} no-KD: ratio " in lines[alone.trial_id]
    told = finished_line(alone, report.records[alone.trial_id], "pos")  # a student that learned the counts only
    assert "(answers 'pos' to every dev example) in " in told
    timed = [t for t in trials if report.records[t.trial_id].wall_time_s is not None]
    assert timed and all(lines[t.trial_id].endswith((" s", " min")) for t in timed)
    record = report.records[alone.trial_id]
    assert finished_line(alone, replace(record, wall_time_s=2.4)).endswith(" in 2 s"), "not 0.0 min"
    assert finished_line(alone, replace(record, wall_time_s=90.0)).endswith(" in 1.5 min")


def test_one_trial_a_data_set_goes_first_only_where_that_keeps_every_worker_busy() -> None:
    from autodistill.sweep.runner import phases

    trials = _plan()
    first, rest = phases(trials, workers=2)
    assert sorted(t.dataset for t in first) == ["toy-a", "toy-b"] and len(first) + len(rest) == len(trials)
    one_data_set = [t for t in trials if t.dataset == "toy-a"]
    assert phases(one_data_set, workers=2) == [one_data_set], "a second worker would idle through a warm-up"
    assert phases(trials, workers=3) == [trials] and phases(trials, workers=1) == [trials]


def test_a_sweep_on_a_pipe_logs_one_unbroken_line_per_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "30")  # narrower than any line: a log read later must not wrap one in two
    trials = _plan()
    with RunStore(tmp_path / "runs.sqlite") as store:
        sweep.run_trials(trials, store, featurizer_version=VERSION, workers=0, trial_fn=fake_trial)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(trials) and all(line.startswith("sweep ") for line in lines)


def test_finished_trials_are_not_rerun_and_failures_are_logged(tmp_path: Path) -> None:
    trials = _plan()
    failing = sum(1 for t in trials if t.config is not None and t.config.inter_loss == "pkd")
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = sweep.run_trials(
            trials, store, featurizer_version=VERSION, workers=0, show_progress=False, trial_fn=fake_trial
        )
        assert report.ran == len(trials) and report.skipped == 0
        assert len(report.failed) == failing
        assert all(r.error == "RuntimeError: PKD exploded (at fake.py:1)" for r in report.failed)
        runs = store.runs(source="ours")
        assert len(runs) == sum(1 for t in trials if t.kind == "distill") - failing  # baselines are trials, not runs
        assert set(runs["featurizer_version"]) == {VERSION}
        assert set(runs["device"]) == {"cuda:Fake GPU"} and set(runs["eval_examples"]) == {48}  # as the runs recorded
        assert set(runs["teacher_cache_s"]) == {2.5} and set(runs["teacher_s"]) == {40.0}
        assert set(runs["speed_probe_s"]) == {0.06}
        assert store.predicted_runs() == set(), "results that wrote no predictions store none"
        logged = store.trials().set_index("trial_id")
        assert (logged.loc[[t.trial_id for t in trials if t.kind == "finetune"], "status"] == "done").all()
        again = sweep.run_trials(
            trials, store, featurizer_version=VERSION, workers=0, show_progress=False, trial_fn=fake_trial
        )
        assert again.ran == 0 and again.skipped == len(trials)
        retried = sweep.run_trials(
            trials,
            store,
            featurizer_version=VERSION,
            workers=0,
            show_progress=False,
            trial_fn=fake_trial,
            retry_failed=True,
        )
        assert retried.ran == failing
        summary = report.summary()
    assert list(summary["dataset"]) == ["toy-a", "toy-a", "toy-b", "toy-b"]
    assert summary["no-KD"].tolist() == pytest.approx([0.8] * 4)
    assert summary["best KD"].tolist() == pytest.approx([0.9] * 4)
    from cli import render

    with render.console.capture() as said:
        render.sweep(report, tmp_path / "runs.sqlite")
    lines = said.get().splitlines()
    assert all(len(line) <= 80 for line in lines), "the table fits 80 columns"
    assert any(line.startswith("│ toy-a ") for line in lines) and "best KD on toy-b with " in said.get()


def test_an_engine_error_becomes_the_trials_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(config, **kwargs):
        raise ValueError("the critic diverged\nsecond line")

    monkeypatch.setattr(engine, "run", broken)
    trial = next(t for t in _plan() if t.kind == "distill")
    outcome = sweep.execute_trial(trial)
    assert outcome.result is None
    assert outcome.error.startswith("ValueError: the critic diverged (at test_sweep.py:")
    assert "\n" not in outcome.error


def test_a_resumed_runs_trial_counts_its_earlier_sittings(monkeypatch: pytest.MonkeyPatch) -> None:
    def resumed(config, **kwargs):
        return SimpleNamespace(wall_seconds=120.0)  # its clock carried over an earlier process's 120 s

    monkeypatch.setattr(engine, "run", resumed)
    trial = next(t for t in _plan() if t.kind == "distill")
    assert sweep.execute_trial(trial).seconds == 120.0


def test_local_worker_processes_split_the_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autodistill.sweep import backends

    log = tmp_path / "ran.txt"
    monkeypatch.setenv("FAKE_TRIAL_LOG", str(log))
    monkeypatch.setattr(backends, "core_share", lambda: 8)  # this process's share of the cores now
    trials = _plan(n=2)
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = sweep.run_trials(
            trials, store, featurizer_version=VERSION, workers=2, show_progress=False, trial_fn=fake_trial
        )
    lines = [line.split() for line in log.read_text().splitlines()]
    assert sorted(line[0] for line in lines) == sorted(t.trial_id for t in trials)
    assert {line[1] for line in lines} != {str(os.getpid())}  # ran in worker processes
    assert {int(line[2]) for line in lines} == {4}
    assert report.ran == len(trials)


def slow_trial(trial: sweep.Trial, threads: int | None = None, task: TaskData | None = None) -> sweep.Outcome:
    time.sleep(300)
    return fake_trial(trial, threads, task)


def _sweep_stopped_midway(tmp_path: Path) -> None:
    """Run one slow trial in a worker until the caller's timer stops the sweep; nothing may be logged."""
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            sweep.run_trials(
                _plan(n=1)[:1], store, featurizer_version=VERSION, workers=1, show_progress=False,
                trial_fn=slow_trial,
            )  # fmt: skip
        assert store.trials().empty  # an interrupted trial is not a failed one: the rerun resumes it


def test_an_interrupt_stops_the_worker_processes_and_logs_nothing(tmp_path: Path) -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 6.0)  # Ctrl-C while the worker runs the trial
    started = time.monotonic()
    try:
        _sweep_stopped_midway(tmp_path)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert multiprocessing.active_children() == []
    assert time.monotonic() - started < 60


def test_ray_backend_on_a_local_ray_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    log = tmp_path / "ran.txt"
    monkeypatch.setenv("FAKE_TRIAL_LOG", str(log))
    tests_dir = str(Path(__file__).parent)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": tests_dir, "FAKE_TRIAL_LOG": str(log)}},
    )
    try:
        trials = _plan(n=1, tasks={"toy-a": TASKS["toy-a"]})
        with RunStore(tmp_path / "runs.sqlite") as store:
            report = sweep.run_trials(
                trials, store, featurizer_version=VERSION, backend="ray", workers=2, show_progress=False,
                trial_fn=fake_trial, tasks={"toy-a": TASKS["toy-a"]},
            )  # fmt: skip
            assert report.ran == len(trials) == 4
            assert len(store.runs(source="ours")) == 2 - len(report.failed)
        pids = {line.split()[1] for line in log.read_text().splitlines()}
        assert str(os.getpid()) not in pids  # Ray workers, not this process
    finally:
        ray.shutdown()


def test_bad_backend_choices_are_one_line(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        for kwargs, message in (
            ({"backend": "slurm"}, "unknown sweep backend 'slurm'"),
            ({"address": "10.0.0.1:6379"}, "add --backend ray"),
            ({"workers": -1}, "--workers must be 0"),
        ):
            with pytest.raises(AutodistillError, match=message):
                sweep.run_trials(_plan(n=1), store, featurizer_version=VERSION, show_progress=False, **kwargs)


def test_a_too_small_data_set_is_refused_before_any_trial(tmp_path: Path) -> None:
    small = tmp_path / "tiny.csv"
    toy_frame(30, 0).to_csv(small, index=False)
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(AutodistillError, match="at least 50"):
            sweep.run_sweep([str(small)], ["tiny"], 1, store, show_progress=False, trial_fn=fake_trial)
        assert store.trials().empty


def test_an_unknown_student_is_refused_once_before_any_trial(tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.csv"
    toy_frame(96, 0).to_csv(reviews, index=False)
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(AutodistillError, match="unknown student 'huge'"):
            sweep.run_sweep([str(reviews)], ["tiny", "huge"], 1, store, show_progress=False, trial_fn=fake_trial)
        assert store.trials().empty


@pytest.mark.slow
def test_a_real_sweep_on_the_toy_task_records_engine_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toy_task: TaskData
) -> None:
    import engine.pipelines.run as engine_run
    from engine import TrainSettings

    monkeypatch.setattr(engine_run, "TEACHER_SETTINGS", TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16))
    space = replace(SearchSpace(), augmenters=(), mixup=(False,), inter_losses=("mse",), mappings=("last",))
    budget = make_budget(epochs=1, max_length=16, lr=1e-3)
    trials = sweep.plan({"toy": toy_task}, ["tiny"], 1, budget=budget, space=space, baselines=False)
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = sweep.run_trials(trials, store, featurizer_version=VERSION, workers=0, show_progress=False,
                                  tasks={"toy": toy_task})  # fmt: skip
        assert not report.failed, [r.error for r in report.failed]
        runs = store.runs(source="ours")
        record = store.run(runs["run_id"].iloc[0])
        kept = store.test_predictions()
        assert set(kept) == set(runs["run_id"]), "a stored run keeps its per-example test predictions"
        assert kept[record.run_id].score() == pytest.approx(runs["test_score"].iloc[0])
    assert len(runs) == 1 and runs["student_layers"].iloc[0] == 2 and runs["teacher_layers"].iloc[0] == 6
    assert record.full_config["budget"]["max_length"] == 16 and record.source == "ours"
    assert record.config == trials[0].config and record.run_id == report.records[trials[0].trial_id].run_id


def test_sigterm_stops_a_sweep_like_ctrl_c(tmp_path: Path) -> None:
    import threading

    before = signal.getsignal(signal.SIGTERM)  # Ray, started by an earlier test, installs its own
    stop = threading.Timer(6.0, os.kill, (os.getpid(), signal.SIGTERM))
    stop.start()
    try:
        _sweep_stopped_midway(tmp_path)
    finally:
        stop.cancel()
    assert multiprocessing.active_children() == []
    assert signal.getsignal(signal.SIGTERM) is before  # restored


def test_runs_and_baselines_stored_without_predictions_get_them_from_their_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toy_task: TaskData
) -> None:
    import sqlite3

    import engine.pipelines.run as engine_run
    from engine import TrainSettings
    from study.predictions import collect_test_predictions

    monkeypatch.setattr(engine_run, "TEACHER_SETTINGS", TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16))
    space = replace(SearchSpace(), augmenters=(), mixup=(False,), inter_losses=("mse",), mappings=("last",))
    trials = sweep.plan({"toy": toy_task}, ["tiny"], 1, budget=make_budget(epochs=1, max_length=16), space=space)
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        sweep.run_trials(trials, store, featurizer_version=VERSION, workers=0, show_progress=False,
                         tasks={"toy": toy_task})  # fmt: skip
        kept = set(store.predicted_runs())
    baseline = next(t.trial_id for t in trials if t.kind == "finetune")
    assert len(kept) == 2 and baseline in kept, "the run's under its run id, the baseline's under its trial id"
    with sqlite3.connect(path) as conn:  # as a store filled before predictions were kept
        conn.execute("DELETE FROM test_predictions")
    with RunStore(path) as store:
        assert collect_test_predictions(store) == {"stored": 2, "no folder": 0, "refused": 0}
        assert store.predicted_runs() == kept
        assert collect_test_predictions(store)["stored"] == 0, "nothing left to collect"
