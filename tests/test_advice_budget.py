"""Whether a longer budget pays: logit KD at the patient budget against the realistic one, per pair,
and a new data set's gain predicted from the other pairs (autodistill.advice.budget)."""

from __future__ import annotations

import pandas as pd
import pytest

from autodistill.advice import budget
from autodistill.advice.budget import budget_gains, patient_runs, predicted_budget


def _run(dataset: str, fidelity: str, ratio: float, seconds: float, *, student: str = "tiny", **extra) -> dict:
    epochs = 20 if fidelity == "patient" else 2
    return {
        "dataset": dataset, "teacher_name": "minilm-l6", "student_name": student, "split_version": 2,
        "fidelity": fidelity, "ratio": ratio, "wall_time_s": seconds, "epochs": epochs, "inter_loss": "none",
        "augmentation": "", "mixup": False, **extra,
    }  # fmt: skip


def _pairs(gains: dict[str, float], student: str = "tiny") -> pd.DataFrame:
    rows = []
    for name, gain in gains.items():
        rows += [
            _run(name, "realistic", 0.90, 20.0, student=student),
            _run(name, "realistic", 0.92, 20.0, student=student),
        ]
        rows += [_run(name, "patient", 0.91 + gain, 200.0, student=student)]
        rows += [_run(name, "patient", 0.99, 900.0, student=student, inter_loss="mi")]  # not logit KD: ignored
    return pd.DataFrame(rows)


def test_a_pairs_gain_is_the_patient_mean_dev_ratio_less_the_realistic_one() -> None:
    gains = budget_gains(_pairs({"a": 0.02, "b": -0.01}))
    assert gains.set_index("dataset")["gain"].to_dict() == pytest.approx({"a": 0.02, "b": -0.01})
    assert (gains["times"] == 10.0).all() and (gains["epochs"] == 20).all()
    one_budget = _pairs({"c": 0.0}).query("fidelity == 'realistic'")
    assert budget_gains(one_budget).empty and budget_gains(one_budget).columns[0] == "dataset"  # both budgets


def test_the_prediction_reads_other_data_sets_whose_students_started_alike() -> None:
    gains = budget_gains(_pairs({"a": 0.02, "b": 0.01, "c": 0.03}), _pairs({"d": -0.5}, "tiny-gd"))
    assert predicted_budget(gains, "a", "tiny") is None  # two other pairs are too few
    found = predicted_budget(gains, "new", "tiny")
    assert found is not None and found.gain.support == 3 and found.gain.mean == pytest.approx(0.02)
    assert found.gain.low < 0.02 < found.gain.high and found.times == 10.0 and found.epochs == 20
    assert predicted_budget(gains, "new", "tiny-gd") is None  # the pretrained student's pair is alone


def test_the_shipped_patient_runs_hold_logit_kd_at_both_budgets_for_the_study_pairs() -> None:
    runs = patient_runs()
    assert set(runs["fidelity"]) == {"patient"} and (runs["epochs"] == 20).all()
    assert patient_runs(budget.PATIENT_STORE.with_name("missing.sqlite")).empty
