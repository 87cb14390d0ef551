"""The standard error of a metric on a test split of n examples (engine.data.resolution)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.data.resolution import low_resolution, metric_standard_error, ratio_standard_error


def test_accuracy_error_is_the_binomial_one_and_matches_simulation():
    assert metric_standard_error("accuracy", 0.8, 400) == pytest.approx(0.02)
    draws = np.random.default_rng(0).binomial(2500, 0.9, size=4000) / 2500
    assert metric_standard_error("accuracy", 0.9, 2500) == pytest.approx(draws.std(), rel=0.05)


def test_correlation_error_goes_through_fisher_z():
    assert metric_standard_error("pearson", 0.0, 103) == pytest.approx(0.1)
    assert metric_standard_error("spearman", 0.5, 1003) == pytest.approx(0.75 * math.sqrt(1.06 / 1000))
    rng = np.random.default_rng(1)
    rs = []
    for _ in range(2000):
        x = rng.standard_normal(300)
        rs.append(np.corrcoef(x, 0.6 * x + 0.8 * rng.standard_normal(300))[0, 1])
    assert metric_standard_error("pearson", 0.6, 300) == pytest.approx(np.std(rs), rel=0.08)
    assert math.isnan(metric_standard_error("spearman", 0.5, 3))


def test_ratio_error_is_in_units_of_the_teacher_and_small_tests_are_low_resolution():
    assert ratio_standard_error("accuracy", 0.5, 100) == pytest.approx(0.05 / 0.5)
    assert ratio_standard_error("f1", 0.8, 400, ratio=0.625) == pytest.approx(0.025 / 0.8)
    assert math.isnan(ratio_standard_error("accuracy", 0.0, 100))
    assert low_resolution(999) and not low_resolution(1000)
