"""``autodistill search``: picks first, TPE with pruning over epochs, every trial stored, resumable, budgets."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import toy_frame

from autodistill.bridge import make_budget
from autodistill.search import SearchRequest, params_of, run_search
from autodistill.space import Pipeline, SearchSpace, logit_kd
from autodistill.store.database import RunStore
from autodistill.sweep import Outcome, Trial
from engine import AutodistillError, DataColumns, EpochCallback, RunResult, TaskData, TaskSpec, TaskType, paths

EPOCHS = 3
BUDGET = make_budget(epochs=EPOCHS, batch_size=16, max_length=16)
VERSION = "glove50-tfidf.v1+bilstm"
TASK = TaskData(
    TaskSpec("toy-a", TaskType.CLASSIFICATION, "Is this toy review positive?", ("neg", "pos")),
    toy_frame(96, 0),
    toy_frame(32, 1),
    toy_frame(32, 2),
)
MI = Pipeline(mapping="skip", inter_loss="mi", alpha=0.9, pred_loss="ce")
MSE = Pipeline(mapping="last", inter_loss="mse", alpha=None, pred_loss="ce")


#: The dev examples a fake trial is scored on: few, as a small user file's dev split holds.
DEV_EXAMPLES = 40


def fake_trial(
    trial: Trial, threads: int | None = None, task: TaskData | None = None, on_epoch: EpochCallback | None = None
) -> Outcome:
    """A cheap trial (importable by Ray workers) that learns linearly over its epochs: MI-α to 0.9, others to
    0.5; it tells ``on_epoch`` each epoch and stops where told, as the engine does."""
    assert trial.config is not None
    top = 0.9 if trial.config.inter_loss == "mi" else 0.5
    history, stopped = [], None
    for epoch in range(1, EPOCHS + 1):
        history.append({"epoch": epoch, "accuracy": top * epoch / EPOCHS})
        if on_epoch is not None and on_epoch(epoch, top * epoch / EPOCHS) and epoch < EPOCHS:
            stopped = epoch
            break
    folder = paths.subdir("fake-runs", trial.trial_id)
    (folder / "student").mkdir(exist_ok=True)
    (folder / "student" / "config.json").write_text("{}")
    score = history[-1]["accuracy"]
    result = RunResult(
        run_id=trial.trial_id, kind="distill", dataset=trial.dataset, task_kind="classification",
        metric="accuracy", config=trial.engine.model_dump(mode="json"), student_score=score, teacher_score=1.0,
        ratio=score, student_dev_metrics={"accuracy": score}, teacher_dev_metrics={"accuracy": 1.0},
        student_params=4_400_000, teacher_params=22_700_000, student_layers=2, student_hidden=128,
        teacher_layers=6, teacher_hidden=384, train_examples=96, best_epoch=len(history), train_seconds=1.0,
        wall_seconds=2.0, examples_per_second=96.0, teacher_latency_ms=1.0, student_latency_ms=0.5,
        output_dir=str(folder), history=history, test_ratio=score - 0.01, pruned_after_epoch=stopped,
        scored_examples={"dev": DEV_EXAMPLES},
    )  # fmt: skip
    return Outcome(trial.trial_id, result, None, 2.0)


def _search(store: RunStore, tmp_path: Path, picks: list[Pipeline] | None = None, **changes: object):
    request = SearchRequest(**{"dataset": "toy-a", "student": "tiny", "budget": BUDGET, "trials": 4, **changes})
    return run_search(
        request, TASK, store, featurizer_version=VERSION, picks=lambda: picks or [], trial_fn=fake_trial,
        out=tmp_path / "best",
    )  # fmt: skip


def _never() -> list[Pipeline]:
    raise AssertionError("a resumed search must not ask the predictor again")


def test_picks_run_first_then_the_sampler_and_every_trial_lands_in_the_store(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = _search(store, tmp_path, picks=[MSE, MI], trials=5, pruner="none")
        logged = store.trials()
        runs = store.runs(source="ours")
    assert [t.params for t in report.trials[:2]] == [params_of(MSE), params_of(MI)]
    assert [t.user_attrs.get("pick") for t in report.trials[:3]] == [1, 2, None]
    assert set(logged["trial_id"]) == {t.user_attrs["trial_id"] for t in report.trials}
    assert len(runs) == len(logged) and (logged["kind"] == "distill").all()
    # the best on dev is MI-α, reported with its test ratio, its student exported
    assert report.best_pipeline is not None and report.best_pipeline.inter_loss == "mi"
    assert report.best is not None and report.best.user_attrs["test_ratio"] == pytest.approx(0.89)
    assert report.best.user_attrs["dev_ratio"] == report.best.value == pytest.approx(0.9)
    assert "one_answer" not in report.best.user_attrs and not report.notes, "students that learned: no warning"
    assert report.exported == tmp_path / "best" and (report.exported / "config.json").exists()
    assert report.dev_resolution == (DEV_EXAMPLES, pytest.approx(np.sqrt(0.9 * 0.1 / DEV_EXAMPLES)))
    from cli import render

    with render.console.capture() as said:
        render.search(report, tmp_path / "runs.sqlite")
    assert "dev holds 40 examples: a trial's dev ratio is known there to about +-0.047" in " ".join(said.get().split())
    assert "5 trials run now, 5 in the study" in said.get()
    with render.console.capture() as said:
        render.search(dataclasses.replace(report, ran=1), tmp_path / "runs.sqlite")
    assert "1 trial run now, 5 in the study" in said.get()


def _guessing(trial: Trial, *args: object, **kwargs: object) -> Outcome:
    """``fake_trial`` whose student answered '2' to every dev example."""
    outcome = fake_trial(trial, *args, **kwargs)  # type: ignore[arg-type]
    return dataclasses.replace(outcome, result=dataclasses.replace(outcome.result, one_answer="2"))


def test_a_trial_whose_student_guessed_one_answer_says_so(tmp_path: Path) -> None:
    """Drug reviews: every trial's student guessed the majority, and the table read as if they had learned."""
    request = SearchRequest(dataset="toy-a", student="tiny", budget=BUDGET, trials=1, pruner="none")
    said: list[str] = []
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = run_search(
            request, TASK, store, featurizer_version=VERSION, trial_fn=_guessing, out=tmp_path / "best",
            on_status=said.append,
        )  # fmt: skip
    assert report.best is not None and report.best.user_attrs["one_answer"] == "2"
    assert said[-1].endswith("dev ratio 0.500 (answers '2' to every dev example)")
    assert report.notes == [
        "warning: the best trial's student answers '2' to every dev example: its score is what that answer alone "
        "scores, not what it learned; more --epochs per trial, or the advice's longer budget"
    ]


def test_a_trial_behind_at_its_first_epoch_is_pruned_stored_in_the_log_but_not_as_a_run(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = _search(store, tmp_path, picks=[MI, MSE], trials=2, pruner="halving")
        logged = store.trials().set_index("trial_id")
        runs = store.runs(source="ours")
    first, second = report.trials
    assert first.state.name == "COMPLETE" and second.state.name == "PRUNED"
    assert second.user_attrs["epochs"] == 1 and logged.loc[second.user_attrs["trial_id"], "pruned_after_epoch"] == 1
    assert list(runs["inter_loss"]) == ["mi"]  # the predictor learns from whole runs only


def test_hyperband_prunes_over_the_same_epochs(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = _search(store, tmp_path, picks=[MI], trials=4, pruner="hyperband")
    assert {t.state.name for t in report.trials} <= {"COMPLETE", "PRUNED"} and len(report.trials) == 4
    assert report.best_pipeline == MI


def test_a_search_resumes_and_refuses_another_data_set_or_student(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        _search(store, tmp_path, picks=[MI], trials=1, study="mine")
        again = run_search(
            SearchRequest(dataset="toy-a", student="tiny", budget=BUDGET, trials=2, study="mine"), TASK, store,
            featurizer_version=VERSION, picks=_never, trial_fn=fake_trial, out=tmp_path / "best",
        )  # fmt: skip
        assert again.ran == 1 and len(again.trials) == 2
        for changes, message in (
            ({"dataset": "toy-b"}, "made for data set 'toy-a', not 'toy-b'"),
            ({"student": "mini"}, "made for student 'tiny', not 'mini'"),
            ({"columns": DataColumns(metric="f1")}, "made for columns None, not {'metric': 'f1'}"),  # another score
        ):
            with pytest.raises(AutodistillError, match=message):
                _search(store, tmp_path, study="mine", **changes)
        with pytest.raises(AutodistillError, match="made for another search space"):  # e.g. an older release's
            run_search(
                SearchRequest(dataset="toy-a", student="tiny", budget=BUDGET, trials=2, study="mine"), TASK, store,
                featurizer_version=VERSION, picks=_never, trial_fn=fake_trial, space=SearchSpace(),
            )  # fmt: skip


def test_a_time_budget_too_small_for_one_trial_says_the_minimum(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        _search(store, tmp_path, trials=1, pruner="none")  # one whole trial of 2 s, stored
        with pytest.raises(AutodistillError, match=r"too small for one trial: one takes about 2 s .*--time-budget 2 "):
            _search(store, tmp_path, trials=None, time_budget=1.0, study="another")
        with pytest.raises(AutodistillError, match="give a budget"):
            _search(store, tmp_path, trials=None)


def test_the_ray_backend_runs_the_search_on_ray_tune(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune.search.optuna")
    paths_for_workers = os.pathsep.join([str(Path(__file__).parent), str(Path(__file__).parents[1])])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": paths_for_workers, "AUTODISTILL_HOME": str(paths.home())}},
    )
    try:
        with RunStore(tmp_path / "runs.sqlite") as store:
            report = _search(store, tmp_path, picks=[MI], trials=3, backend="ray")
            logged = store.trials()
        assert report.ran == 3 and len(report.trials) == 3 and len(logged) == len(set(logged["trial_id"]))
        stopped = {t.user_attrs["trial_id"]: t.user_attrs["epochs"] for t in report.trials if t.state.name == "PRUNED"}
        assert (
            stopped
            == logged.dropna(subset=["pruned_after_epoch"]).set_index("trial_id")["pruned_after_epoch"].to_dict()
        )
        assert report.trials[0].params == params_of(MI) or any(t.params == params_of(MI) for t in report.trials)
        assert report.best_pipeline is not None and report.best_pipeline.inter_loss == "mi"
        # ASHA stopped the trials behind MI-α at epoch 1; this process finished them as pruned runs
        assert stopped and set(stopped.values()) == {1}
        assert [t.user_attrs.get("pick") for t in report.trials].count(1) == 1
    finally:
        ray.shutdown()


def test_the_command_refuses_a_search_without_a_budget_or_with_an_unknown_pruner(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cli

    for args, message in (
        ([], "give a budget: --trials N, --time-budget SECONDS, or both"),
        (["--trials", "2", "--pruner", "median"], "unknown pruner 'median'"),
        (["--trials", "2", "--workers", "2"], "a local search runs one trial at a time"),
    ):
        with pytest.raises(SystemExit):
            cli.app(["search", "--dataset", "bbc-news", *args])
        assert message in capsys.readouterr().err.replace("\n", " ")


def test_a_repeated_pipeline_spends_no_trial_and_a_converged_sampler_stops(tmp_path: Path) -> None:
    one_point = SearchSpace(inter_losses=("mse",), mappings=("skip",), pred_losses=("ce",), augmenters=(),
                            max_stack=0, mixup=(False,))  # fmt: skip
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = run_search(
            SearchRequest(dataset="toy-a", student="tiny", budget=BUDGET, trials=3), TASK, store,
            featurizer_version=VERSION, space=one_point, trial_fn=fake_trial, out=tmp_path / "best",
        )  # fmt: skip
        assert len(store.trials()) == 1
    assert len(report.trials) == 11 and len({t.user_attrs["trial_id"] for t in report.trials}) == 1
    assert "the sampler proposed 10 pipelines in a row it had run" in " ".join(report.notes)


def test_logit_kd_is_a_point_the_sampler_can_be_given_and_asks_only_its_prediction_loss_for(tmp_path: Path) -> None:
    logit = logit_kd("ce")
    assert params_of(logit) == {"inter_loss": "none", "pred_loss": "ce"}
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = _search(store, tmp_path, picks=[logit, MI], trials=3, pruner="none")
    first = report.trials[0]
    assert first.params == params_of(logit) and first.user_attrs["pipeline"] == "none / none / ce / none"
    # its run is the default the best is set against (fake trials: logit KD reaches 0.5 of the teacher, MI-α 0.9)
    assert report.reference == (
        "logit KD, the default: dev ratio 0.500 at this budget (1 run in the store); the best trial is +0.400 from it"
    )


def test_a_search_without_a_logit_kd_run_at_its_budget_says_there_is_none_to_compare_with(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        report = _search(store, tmp_path, picks=[MI], trials=1, pruner="none")
    assert report.reference is not None and report.reference.startswith("logit KD, the default: no run at this")


def test_a_pick_outside_the_search_space_is_named_not_run_as_another_pipeline(tmp_path: Path) -> None:
    logit = logit_kd("ce")
    mixed = Pipeline(mapping="none", inter_loss="none", alpha=None, pred_loss="ce", augment=("mixup",))
    said: list[str] = []
    with RunStore(tmp_path / "runs.sqlite") as store:
        request = SearchRequest(dataset="toy-a", student="tiny", budget=BUDGET, trials=2, pruner="none")
        report = run_search(
            request, TASK, store, featurizer_version=VERSION, picks=lambda: [logit, mixed, logit, MI],
            trial_fn=fake_trial, out=tmp_path / "best", on_status=said.append,
        )  # fmt: skip
    assert [(t.params, t.user_attrs.get("pick")) for t in report.trials] == [(params_of(logit), 1), (params_of(MI), 4)]
    assert said[0].startswith("pick 2 (logit KD + mixup) is outside the search's space"), "named as recommend names it"


def test_a_file_with_its_own_column_names_is_searched_as_recommend_reads_it(tmp_path: Path) -> None:
    from autodistill.search.request import make_trial
    from engine import DataColumns

    path = tmp_path / "reviews.csv"
    toy_frame(60, 0).rename(columns={"text": "review", "label": "stars"}).to_csv(path, index=False)
    columns = DataColumns(text_col="review", label_col="stars")
    request = SearchRequest(dataset=str(path), student="tiny", budget=BUDGET, trials=1, columns=columns)
    trial = make_trial(request, Pipeline())
    assert trial.engine.columns == columns and trial.dataset == str(path)  # every trial's run reads it alike
    import hashlib
    import json
    from dataclasses import asdict

    from autodistill.search.request import search_key

    default = search_key(SearchRequest(dataset=str(path), student="tiny", budget=BUDGET, trials=1), SearchSpace())
    before = {field: value for field, value in asdict(default).items() if field != "columns"}  # keys had no columns
    digest = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:8]
    assert default.columns is None and default.default_name().endswith(digest), "a study keeps its name"
    assert search_key(request, SearchSpace()).columns == {"text_col": "review", "label_col": "stars"}


def test_the_advices_longer_budget_pick_is_passed_over_and_the_next_pick_runs_in_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pick for 20 epochs trains past a trial's budget: the search asks for one more pick instead."""
    from types import SimpleNamespace

    from autodistill.search import recommended_picks

    third = Pipeline(mapping="emd", inter_loss="cos", alpha=None, pred_loss="ce")
    longer = SimpleNamespace(rank=1, config=MI, engine={"train": {"epochs": 20}})

    def recommend(*_args: object, top: int, **_kwargs: object) -> SimpleNamespace:
        rest = [SimpleNamespace(rank=k, config=c, engine={}) for k, c in enumerate([MSE, third][: top - 1], start=2)]
        return SimpleNamespace(picks=[longer, *rest], patient=longer, logit_kd=SimpleNamespace(config=logit_kd("ce")))

    monkeypatch.setattr("autodistill.advice.recommend.recommend", recommend)
    said: list[str] = []
    request = SearchRequest(dataset="toy-a", student="tiny", budget=BUDGET)
    with RunStore(tmp_path / "runs.sqlite") as store:
        picks = recommended_picks(TASK, store, request, 2, said.append)
    assert picks == [MSE, third], "two picks at the search's budget, not one"
    assert "for 20 epochs trains past a trial's budget" in said[0]
    assert not any("logit KD, the default" in line for line in said), "two picks: the default is not added"


def test_where_no_pipeline_beats_logit_kd_at_a_trials_budget_logit_kd_runs_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drug reviews: the advice's one pick trained for 20 epochs, so the search ran no pick, and had no logit KD
    run at its budget to read its best against. The default runs instead."""
    from types import SimpleNamespace

    from autodistill.search import recommended_picks

    longer = SimpleNamespace(rank=1, config=logit_kd("ce"), engine={"train": {"epochs": 20}})
    default = SimpleNamespace(rank=1, config=logit_kd("ce"), engine={})

    def recommend(*_args: object, **_kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(picks=[longer], patient=longer, logit_kd=default)

    monkeypatch.setattr("autodistill.advice.recommend.recommend", recommend)
    said: list[str] = []
    with RunStore(tmp_path / "runs.sqlite") as store:
        request = SearchRequest(dataset="toy-a", student="tiny", budget=BUDGET)
        picks = recommended_picks(TASK, store, request, 3, said.append)
    assert picks == [logit_kd("ce")]
    assert said[-1] == (
        "logit KD, the default, runs among the picks: no other pipeline is predicted to beat it at a trial's budget"
    )
