"""The study's plan: the same fixed configurations everywhere, seeds, plateau epochs, resumable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from test_sweep import _task, fake_result

from autodistill import sweep
from autodistill.space.defaults import FIXED_DEFAULTS, fixed_default
from autodistill.store.database import RunStore
from autodistill.store.shipped import RUNS_FILE, export_study
from autodistill.sweep.study_plan import (
    AUGMENTED_CONFIGS,
    CHEAP,
    PATIENT,
    REALISTIC,
    REPEATED,
    STUDY_CONFIGS,
    fidelity,
    plateau_epochs,
    select_configs,
    study_plan,
)
from autodistill.sweep.study_run import run_study
from engine import PRETRAINED_STUDENTS, AutodistillError, TaskData, TaskSpec, TaskType

TASKS = {"toy-a": _task("toy-a"), "toy-r": _task("toy-r", TaskType.REGRESSION)}
#: The probe's dev curve: it climbs for three epochs, then stays flat.
CURVE = (0.5, 0.7, 0.8, 0.8, 0.805, 0.8)


def _configs(trials: list[sweep.Trial], dataset: str, seed: int) -> set:
    return {t.config for t in trials if t.dataset == dataset and t.kind == "distill" and t.engine.train.seed == seed}


def test_the_fixed_list_is_the_same_on_every_data_set_defaults_included() -> None:
    assert len(STUDY_CONFIGS) >= 10 and len({c.pipeline for c in STUDY_CONFIGS}) == len(STUDY_CONFIGS)
    trials = study_plan(TASKS, ["tiny", "mini"], CHEAP, {}, teacher="minilm-l6")
    classification, regression = _configs(trials, "toy-a", 0), _configs(trials, "toy-r", 0)
    assert classification == {c.pipeline for c in STUDY_CONFIGS}
    assert regression == {c.for_task(TaskType.REGRESSION) for c in STUDY_CONFIGS}
    assert len(regression) == len(STUDY_CONFIGS) - 1  # the prediction-loss contrast coincides with mi-alpha
    for name in FIXED_DEFAULTS:
        assert fixed_default(name) in classification and fixed_default(name, regression=True) in regression
    assert all(t.fidelity == "cheap" for t in trials)


def test_token_tagging_runs_the_list_without_its_text_augmentation_contrast() -> None:
    spec = TaskSpec("toy-t", TaskType.TOKEN, "Tag each word.", ("noun", "verb"))
    toy = TASKS["toy-a"]
    trials = study_plan(
        {"toy-t": TaskData(spec, toy.train, toy.dev, toy.test)}, ["tiny"], CHEAP, {}, teacher="minilm-l6"
    )
    tagged = _configs(trials, "toy-t", 0)
    assert tagged == {c.pipeline for c in STUDY_CONFIGS if not c.pipeline.text_augment}
    assert len(tagged) == len(STUDY_CONFIGS) - 1 and any(c.mixup for c in tagged)  # only tinybert-ra is left out


def test_realistic_runs_probes_first_then_every_configuration_with_every_seed() -> None:
    probes = study_plan(TASKS, ["tiny"], REALISTIC, {}, teacher="minilm-l6")
    assert [(t.kind, t.engine.train.epochs) for t in probes] == [("finetune", REALISTIC.max_epochs)] * 2
    epochs = {("toy-a", "tiny"): 4, ("toy-r", "tiny"): 5}
    trials = study_plan(TASKS, ["tiny"], REALISTIC, epochs, teacher="minilm-l6")
    for dataset, count in (("toy-a", 4), ("toy-r", 5)):
        mine = [t for t in trials if t.dataset == dataset]
        assert {t.engine.train.epochs for t in mine} == {count}
        assert {t.engine.train.max_train_examples for t in mine} == {REALISTIC.max_train_examples}
        assert sorted(t.engine.train.seed for t in mine if t.kind == "finetune") == list(REALISTIC.seeds)
        for seed in REALISTIC.seeds[1:]:
            assert _configs(trials, dataset, seed) == _configs(trials, dataset, REALISTIC.seeds[0])
    assert len(REALISTIC.seeds) >= 3
    assert {t.engine.train.lr for t in trials} == {5e-4}  # the realistic rate, not tiny's own 2e-3
    cheap = study_plan(TASKS, ["tiny"], CHEAP, {}, teacher="minilm-l6")
    assert {t.engine.train.lr for t in cheap} == {2e-3}  # tiny's own rate, not the pretrained-model default


def test_the_patient_budget_trains_20_epochs_caches_its_copies_and_adds_augmented_logit_kd() -> None:
    every = select_configs(None, PATIENT)
    assert every[: len(STUDY_CONFIGS)] == STUDY_CONFIGS and every[len(STUDY_CONFIGS) :] == AUGMENTED_CONFIGS
    trials = study_plan(TASKS, ["tiny", "tiny-gd"], PATIENT, {}, teacher="minilm-l6", configs=every)
    assert {t.engine.train.epochs for t in trials} == {20}, "fixed epochs: no probe first"
    assert {t.engine.train.lr for t in trials if t.student == "tiny"} == {5e-4}
    gd = {t.engine.train.lr for t in trials if t.student == "tiny-gd"}
    assert gd == {PRETRAINED_STUDENTS["tiny-gd"].lr}
    for trial in trials:
        text = trial.config is not None and trial.config.text_augment
        assert (trial.engine.aug_mode, trial.engine.aug_copies) == (("cached", 4) if text else ("fresh", None))
    ra = next(t for t in trials if t.config is not None and t.config.text_augment and t.dataset == "toy-a")
    fresh = ra.engine.model_copy(update={"aug_mode": "fresh", "aug_copies": None})
    assert sweep.Trial.make("distill", fresh, "tiny", ra.config).trial_id != ra.trial_id, "copies are part of the id"
    assert select_configs(["logit-ra"], PATIENT) == AUGMENTED_CONFIGS[:1]
    with pytest.raises(AutodistillError, match="unknown study configuration 'logit-ra'"):
        select_configs(["logit-ra"])  # not in the list of the other budgets


def test_a_fidelity_that_seeds_only_the_defaults_repeats_them_alone() -> None:
    defaults_only = replace(REALISTIC, every_config_seeded=False)
    trials = study_plan(TASKS, ["tiny"], defaults_only, {("toy-a", "tiny"): 4}, teacher="minilm-l6")
    assert _configs(trials, "toy-a", REALISTIC.seeds[1]) == {c.pipeline for c in STUDY_CONFIGS if c.name in REPEATED}


def test_sized_splits_are_read_whole_and_the_first_splits_capped() -> None:
    assert REALISTIC.budget("tiny", seed=0, split_version=1).max_eval_examples == REALISTIC.max_eval_examples
    assert REALISTIC.budget("tiny", seed=0, split_version=2).max_eval_examples is None
    assert CHEAP.budget("tiny", seed=0, split_version=2).max_eval_examples == CHEAP.max_eval_examples


def test_the_layer_subset_is_refused_at_the_realistic_fidelity_and_unknown_configs_listed() -> None:
    with pytest.raises(AutodistillError, match="cheap fidelity only"):
        study_plan(TASKS, ["layers=0,2,4"], REALISTIC, {}, teacher="minilm-l6")
    layers = study_plan({"toy-a": TASKS["toy-a"]}, ["layers=0,2,4"], CHEAP, {}, teacher="minilm-l6")
    assert {(t.engine.train.epochs, t.engine.train.lr) for t in layers} == {(2, 3e-4)}
    with pytest.raises(AutodistillError, match="mse-last, no-kd, pkd"):
        select_configs(["nope"])


def test_no_kd_alone_asks_for_the_baselines_only() -> None:
    assert select_configs(["no-kd"], PATIENT) == ()
    assert select_configs(["no-kd", "logit"]) == STUDY_CONFIGS[:1]
    trials = study_plan(TASKS, ["tiny", "tiny-gd"], PATIENT, {}, teacher="minilm-l6", configs=())
    assert trials and {t.config for t in trials} == {None}, "baselines carry no pipeline"
    assert len(trials) == len(TASKS) * 2 * len(PATIENT.seeds)


@pytest.mark.parametrize(
    ("curve", "epochs", "plateaued"),
    [(CURVE, 3, True), ((0.5, 0.6, 0.7, 0.8), 4, False), ((0.9, 0.5, 0.5), 1, True), ((0.5, 0.8, 0.81), 2, False)],
)
def test_the_plateau_is_the_first_epoch_near_the_best(curve: tuple, epochs: int, plateaued: bool) -> None:
    assert plateau_epochs(curve) == type(plateau_epochs(curve))(epochs, plateaued)


def curve_trial(trial: sweep.Trial, threads: int | None = None, task: TaskData | None = None) -> sweep.Outcome:
    """A finished run with a dev curve as long as its epochs and test scores below its dev ones."""
    result = fake_result(trial, 0.8 + 0.01 * trial.engine.train.seed)
    epochs = trial.engine.train.epochs
    result = replace(
        result,
        history=[{"epoch": e + 1, "accuracy": CURVE[min(e, len(CURVE) - 1)]} for e in range(epochs)],
        student_test_metrics={"accuracy": 0.6},
        teacher_test_metrics={"accuracy": 0.8},
        test_ratio=0.75,
    )
    return sweep.Outcome(trial.trial_id, result, None, 0.01)


def test_the_study_sweep_finds_epochs_resumes_stores_test_scores_and_exports(tmp_path: Path) -> None:
    tasks = {"toy-a": TASKS["toy-a"]}
    configs = select_configs(["logit", "cos"])
    options = {"configs": configs, "workers": 0, "featurize": False, "show_progress": False, "trial_fn": curve_trial}
    with RunStore(tmp_path / "runs.sqlite") as store:
        first = run_study(tasks, ["tiny"], REALISTIC, store, **options)  # type: ignore[arg-type]
        assert first.plateaus[("toy-a", "tiny")].epochs == 3
        # 3 baselines + logit and cos x 3 seeds
        assert first.sweep.ran == 9 and len(store.trials()) == 10
        again = run_study(tasks, ["tiny"], REALISTIC, store, **options)  # type: ignore[arg-type]
        assert again.sweep.ran == 0 and again.sweep.skipped == 9
        runs, trials = store.runs(), store.trials()
        export_study(store, tmp_path / "study")
    assert set(trials["fidelity"]) == {"realistic"} and trials["test_ratio"].notna().all()
    assert set(runs["epochs"]) == {3} and set(runs["fidelity"]) == {"realistic"}
    assert sorted(runs["seed"]) == [0, 0, 1, 1, 2, 2] and (runs["test_ratio"] == 0.75).all()
    shipped = pd.read_csv(tmp_path / "study" / RUNS_FILE)
    wanted = ["dataset", "task_kind", "student_name", "seed", "fidelity", "dev_score", "test_score", "test_ratio"]
    assert set(wanted) <= set(shipped.columns) and len(shipped) == 6
    assert shipped.loc[0, "test_score"] == 0.6 and shipped.loc[0, "dev_score"] != 0.6


def failing_trial(trial: sweep.Trial, threads: int | None = None, task: TaskData | None = None) -> sweep.Outcome:
    return sweep.Outcome(trial.trial_id, None, "RuntimeError: out of memory", 0.01)


def _failing_study(store: RunStore, student: str) -> None:
    """The realistic study of toy-a for ``student``, every trial failing."""
    run_study(
        {"toy-a": TASKS["toy-a"]}, [student], REALISTIC, store, configs=STUDY_CONFIGS, workers=0,
        featurize=False, show_progress=False, trial_fn=failing_trial,
    )  # fmt: skip


def test_a_failed_probe_stops_the_pair_with_one_line(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store, pytest.raises(AutodistillError, match="toy-a/tiny"):
        _failing_study(store, "tiny")


def test_an_unknown_student_stops_the_study_before_any_trial(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(AutodistillError, match="unknown student 'huge'"):
            _failing_study(store, "huge")
        assert store.trials().empty


def test_more_seeds_keep_the_first_three_trials_and_add_the_rest() -> None:
    """A sweep finished with three seeds resumes with the new ones alone: the first trials keep their ids."""
    three = study_plan(TASKS, ["tiny"], REALISTIC, {("toy-a", "tiny"): 4}, teacher="minilm-l6")
    five = study_plan(TASKS, ["tiny"], fidelity("realistic", seeds=5), {("toy-a", "tiny"): 4}, teacher="minilm-l6")
    assert {t.trial_id for t in three} < {t.trial_id for t in five}
    added = {t.engine.train.seed for t in five if t.trial_id not in {x.trial_id for x in three}}
    assert added == {3, 4}
    with pytest.raises(AutodistillError, match="--seeds must be at least 1, got 0"):
        fidelity("realistic", seeds=0)
