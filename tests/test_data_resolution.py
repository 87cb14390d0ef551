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


def test_a_sum_over_a_sum_is_resolved_by_its_examples_spread_not_the_bound() -> None:
    """Bernoulli terms give the binomial error; a tagger's sentences, whose words go right or wrong together
    less than the bound assumes, give what redrawn splits of sentences show, several times below the bound."""
    from engine.data.resolution import parts_standard_error

    right = np.array([1.0] * 80 + [0.0] * 20)
    assert parts_standard_error(right, np.ones(100)) == pytest.approx(math.sqrt(0.16 / 99))
    rng = np.random.default_rng(0)
    words = rng.integers(5, 40, size=(3000, 150))
    tagged = rng.binomial(words, rng.beta(30, 4, size=words.shape))  # each sentence's own accuracy near 0.88
    accuracies = tagged.sum(axis=1) / words.sum(axis=1)  # 3,000 redrawn splits of 150 sentences
    measured = parts_standard_error(tagged[0].astype(float), words[0].astype(float))
    assert measured == pytest.approx(accuracies.std(), rel=0.2)
    assert measured < metric_standard_error("accuracy", float(accuracies[0]), 150) / 2
    assert math.isnan(parts_standard_error(np.array([1.0]), np.array([3.0])))
