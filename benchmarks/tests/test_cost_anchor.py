"""The cost-anchor benchmark's anchor: logit KD's median time in the run's own setting, nothing else."""

from __future__ import annotations

import math

import pandas as pd

from benchmarks.cost_anchor import anchored_runs


def _run(dataset: str, inter: str, mapping: str, wall: float, epochs: int = 3) -> dict[str, object]:
    return {
        "dataset": dataset, "student_name": "tiny", "device": "cpu", "split_version": 2, "max_length": 128,
        "train_examples": 2000, "epochs": epochs, "inter_loss": inter, "alpha": 0.711 if inter == "mi" else None,
        "mapping": mapping, "pred_loss": "ce", "augmentation": "", "mixup": False, "repeated_aug": 1,
        "wall_time_s": wall,
    }  # fmt: skip


def test_the_anchor_is_logit_kds_median_time_in_the_same_setting() -> None:
    runs = pd.DataFrame(
        [
            _run("a", "none", "none", 10.0),
            _run("a", "none", "none", 14.0),
            _run("a", "none", "none", 30.0),
            _run("a", "mse", "skip", 50.0),
            _run("a", "mse", "skip", 60.0, epochs=5),  # another budget: no logit KD ran it
            _run("b", "mi", "skip", 70.0),
        ]
    )
    anchored = anchored_runs(runs)
    assert anchored["anchor"].iloc[:4].tolist() == [14.0] * 4
    assert math.isnan(anchored["anchor"].iloc[4]) and math.isnan(anchored["anchor"].iloc[5])
    assert anchored["logit"].tolist() == [True, True, True, False, False, False]
