"""The budget as a choice: a fixed-list configuration at the patient budget against logit KD at the
realistic one, per pair, measured on a data set's own runs or predicted from the other pairs
(autodistill.advice.budget)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from autodistill.advice import budget
from autodistill.advice.budget import budget_gains, budget_runs, longer_budget, patient_runs
from autodistill.space import Pipeline
from autodistill.space.defaults import FIXED_DEFAULTS
from autodistill.store.records import pipeline_columns

LOGIT, MI = FIXED_DEFAULTS["logit"], FIXED_DEFAULTS["mi-alpha"]
LOGIT_RA = Pipeline(mapping="none", inter_loss="none", alpha=None, pred_loss="ce", augment=("ra",), aug_p=0.1)
OFF_LIST = Pipeline(mapping="last", inter_loss="cos", alpha=None, pred_loss="ce")


def _run(dataset: str, fidelity: str, config: Pipeline, ratio: float, *, seed: int = 0, **extra) -> dict:
    patient = fidelity == "patient"
    return {
        "run_id": f"{dataset}-{fidelity}-{config.key}-{seed}-{extra.get('student_name', 'tiny')}",
        "dataset": dataset, "teacher_name": "minilm-l6", "student_name": "tiny", "split_version": 2,
        "task_kind": "classification", "fidelity": fidelity, "device": "cpu", "ratio": ratio,
        "wall_time_s": 200.0 if patient else 20.0, "epochs": 20 if patient else 2, **pipeline_columns(config), **extra,
    }  # fmt: skip


def _pair(dataset: str, gains: dict[Pipeline, float], *, spread: float = 0.002, **extra) -> list[dict]:
    """Realistic logit KD at 0.90 and each configuration at the patient budget ``gain`` above it, three seeds."""
    rows = []
    for seed, noise in enumerate((-spread, 0.0, spread)):
        rows.append(_run(dataset, "realistic", LOGIT, 0.90 + noise, seed=seed, **extra))
        rows += [_run(dataset, "patient", c, 0.90 + g + noise, seed=seed, **extra) for c, g in gains.items()]
    return rows


def test_a_pairs_gain_is_each_list_configurations_patient_mean_less_realistic_logit_kd() -> None:
    rows = [*_pair("a", {LOGIT: 0.02, MI: -0.01, OFF_LIST: 0.5}), _run("a", "realistic", MI, 0.99)]
    gains = budget_gains(budget_runs(pd.DataFrame(rows))).set_index("name")
    assert gains["gain"].to_dict() == pytest.approx({"logit": 0.02, "mi-alpha": -0.01})  # off the list: not read
    assert (gains["times"] == 10.0).all() and (gains["epochs"] == 20).all()
    # a run that waited for its cores (a sixth of its wall time on the CPU) or for its teacher's fine-tune
    waiting = _run("a", "realistic", LOGIT, 0.90, seed=7, wall_time_s=80.0, cpu_time_s=15.0)
    fine_tune = _run("a", "realistic", LOGIT, 0.90, seed=8, wall_time_s=90.0, cpu_time_s=20.0, teacher_s=70.0)
    slowed = budget_gains(budget_runs(pd.DataFrame([*rows, waiting, waiting | {"run_id": "w2"}, fine_tune])))
    assert (slowed["times"] == 10.0).all(), "minutes lost to a busy machine are not the pipeline's"
    one_budget = pd.DataFrame(rows).query("fidelity == 'realistic'")
    assert budget_gains(budget_runs(one_budget)).empty


def test_a_regression_run_of_the_list_keeps_its_name_across_prediction_losses() -> None:
    regression = [{**r, "task_kind": "regression", "pred_loss": "mse"} for r in _pair("r", {MI: 0.03})]
    gains = budget_gains(budget_runs(pd.DataFrame(regression)))
    assert gains["name"].tolist() == ["mi-alpha"] and gains["gain"].iloc[0] == pytest.approx(0.03)


def test_a_data_sets_own_runs_measure_the_longer_budget_and_a_lead_beyond_two_se_is_backed() -> None:
    runs = budget_runs(pd.DataFrame(_pair("own", {LOGIT: 0.001, MI: 0.03}) + _pair("x", {LOGIT: -0.2})))
    found = longer_budget(runs, "own", "minilm-l6", "tiny", "classification")
    assert found.measured and found.backed and found.name == "mi-alpha" and found.times == 10.0
    assert found.gain.mean == pytest.approx(0.03) and found.gain.support == 1
    small = budget_runs(pd.DataFrame(_pair("own", {MI: 0.002}, spread=0.01)))
    assert not longer_budget(small, "own", "minilm-l6", "tiny", "classification").backed  # within the seeds' noise


def test_a_new_data_set_is_predicted_from_other_pairs_whose_students_started_alike() -> None:
    rows = [r for name, g in (("a", 0.02), ("b", 0.01), ("c", 0.03)) for r in _pair(name, {LOGIT_RA: g, MI: -0.02})]
    rows += _pair("d", {LOGIT_RA: 0.5}, student_name="tiny-gd")
    runs = budget_runs(pd.DataFrame(rows))
    found = longer_budget(runs, "new", "minilm-l6", "tiny", "classification")
    assert found.name == "logit-ra" and not found.measured and found.gain.support == 3
    assert found.gain.mean == pytest.approx(0.02) and found.gain.low < 0.02 < found.gain.high
    assert found.copies == budget.PATIENT.cached_copies and found.pipeline("classification") == LOGIT_RA
    assert found.students == ("tiny",) and "3 other pairs' runs of tiny " in found.line  # whose evidence it is
    assert longer_budget(runs, "a", "minilm-l6", "tiny", "classification").measured  # its own runs speak
    assert longer_budget(runs, "new", "minilm-l6", "tiny-gd", "classification") is None  # one pair started so
    tagging = longer_budget(runs, "new", "minilm-l6", "tiny", "token")
    assert tagging.name == "mi-alpha", "a tagging task cannot rewrite its text: cached copies are not its to pick"


def test_the_shipped_patient_runs_are_twenty_epochs_and_the_pretrained_students_realistic_runs() -> None:
    runs = patient_runs()
    assert set(runs["fidelity"]) == {"patient", "realistic"}
    assert (runs.loc[runs["fidelity"] == "patient", "epochs"] == 20).all()
    realistic = set(runs.loc[runs["fidelity"] == "realistic", "student_name"])
    assert realistic == {"tiny-gd", "mini-gd"}, "fresh students' realistic runs are the shipped study's"
    assert patient_runs(budget.PATIENT_STORE.with_name("missing.sqlite")).empty


def test_a_configuration_run_on_few_pairs_is_read_against_the_one_run_on_most() -> None:
    # logit KD for 20 epochs ran on six pairs and gains 0.03 on three of them and nothing on the rest;
    # mi-alpha ran only on the three where everything gained, and there it is no better than logit KD.
    gains = {"a": 0.03, "b": 0.032, "c": 0.028, "d": 0.0, "e": 0.002, "f": -0.002}
    rows = [r for name, g in gains.items() for r in _pair(name, {LOGIT: g, **({MI: g} if g > 0.02 else {})})]
    anchored = budget.anchored_estimates(budget_gains(budget_runs(pd.DataFrame(rows))), "classification")
    estimates = anchored.estimates
    assert anchored.anchor == ("logit", 6)
    assert estimates["mi-alpha"].mean == pytest.approx(estimates["logit"].mean) == pytest.approx(0.015)
    assert estimates["mi-alpha"].support == 3 and estimates["mi-alpha"].low < estimates["logit"].low < 0
    found = longer_budget(budget_runs(pd.DataFrame(rows)), "new", "minilm-l6", "tiny", "classification")
    assert found.name == "logit" and not found.backed, "three pairs where all gained do not back mi-alpha alone"
    assert "6 other" in found.evidence and "read beside" not in found.evidence
    others = dataclasses.replace(found, name="mi-alpha", gain=estimates["mi-alpha"])
    assert others.evidence.startswith("3 other") and "read beside logit's 6" in others.evidence


def test_a_gain_seen_on_one_task_type_is_not_carried_whole_to_another() -> None:
    # mi-alpha gains 0.04 over logit KD on three classification pairs and loses 0.02 on three span pairs;
    # logit KD itself gains 0.01 everywhere, so the spread between types is mi-alpha's alone
    def pairs(names: str, kind: str, mi: float) -> list[dict]:
        return [r for n in names for r in _pair(n, {LOGIT: 0.01, MI: 0.01 + mi}, task_kind=kind)]

    gains = budget_gains(budget_runs(pd.DataFrame(pairs("abc", "classification", 0.04) + pairs("def", "span", -0.02))))
    assert set(gains["task_type"]) == {"classification", "span"}
    on_classification = budget.anchored_estimates(gains, "classification")
    assert on_classification.estimates["mi-alpha"].mean == pytest.approx(0.05, abs=1e-3)  # its type's pairs speak
    assert on_classification.same_task == {"logit": 3, "mi-alpha": 3}
    new_type = budget.anchored_estimates(gains, "token").estimates["mi-alpha"]
    assert new_type.mean == pytest.approx(0.02) and new_type.low < 0 < new_type.high, "no type like it ran: unsure"
    alone = budget.anchored_estimates(gains[gains["task_type"] == "classification"], "token").estimates["mi-alpha"]
    assert alone.mean == pytest.approx(0.05) and alone.clears, "with one type seen, nothing measures the spread"
    found = longer_budget(budget_runs(pd.DataFrame(pairs("abc", "classification", 0.04))), "new", "minilm-l6", "tiny",
                          "span")  # fmt: skip
    assert "(none of them on span tasks)" in found.evidence


def test_a_predicted_longer_pick_is_priced_with_the_range_its_pairs_multiples_held() -> None:
    from functools import partial

    from autodistill.advice.budget import longer_pick
    from autodistill.bridge import engine_config
    from engine import TrainSettings

    walls = {"a": 100.0, "b": 200.0, "c": 400.0}  # 5x, 10x and 20x realistic logit KD's 20 s
    rows = [
        r | ({"wall_time_s": walls[name]} if r["fidelity"] == "patient" else {})
        for name in walls
        for r in _pair(name, {LOGIT_RA: 0.02})
    ]
    found = longer_budget(budget_runs(pd.DataFrame(rows)), "new", "minilm-l6", "tiny", "classification")
    assert found.times == 10.0 and found.times_range == pytest.approx((6.0, 18.0))  # the central 80 % of 5, 10, 20
    engine_of = partial(engine_config, dataset="new", teacher="minilm-l6", student="tiny")
    pick = longer_pick(found, engine_of, TrainSettings(), "classification", logit_minutes=0.5)
    assert pick.minutes == 5.0 and pick.minutes_range == pytest.approx((3.0, 9.0))
    assert longer_pick(found, engine_of, TrainSettings(), "classification", logit_minutes=None).minutes_range is None
    # logit KD's own minutes here are unsure too (0.25 to 1.0 around 0.5): both widen the range, in quadrature
    both = longer_pick(found, engine_of, TrainSettings(), "classification", 0.5, logit_range=(0.25, 1.0))
    low, high = np.log(5.0 / both.minutes_range[0]), np.log(both.minutes_range[1] / 5.0)
    assert low == pytest.approx(np.hypot(np.log(2), np.log(10 / 6))) and high == pytest.approx(
        np.hypot(np.log(2), np.log(1.8))
    )
    measured = dataclasses.replace(
        found, times_range=None
    )  # a multiple measured on the data set's own runs: logit KD's alone
    assert longer_pick(measured, engine_of, TrainSettings(), "classification", 0.5, (0.25, 1.0)).minutes_range == (
        pytest.approx((2.5, 10.0))
    )
