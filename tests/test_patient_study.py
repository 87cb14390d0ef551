"""The patient study's initialisation check says which way a lead goes, and whether it is noise."""

from __future__ import annotations

import pytest

from study.patient import _verdict


@pytest.mark.parametrize(
    ("lead", "noise", "verdict"),
    [
        (0.034, 0.013, "better"),
        (-0.008, 0.001, "worse"),
        (0.004, 0.006, "within noise"),
        (0.01, float("nan"), "noise unknown"),
    ],
)
def test_a_lead_is_better_worse_or_within_noise(lead: float, noise: float, verdict: str) -> None:
    assert _verdict(lead, noise) == verdict
