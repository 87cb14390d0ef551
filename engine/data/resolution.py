"""How finely a test split of ``n`` examples resolves a score: the standard error of the metric.

A test split is one sample of the examples a model could meet; a score measured on it is off
by about one standard error, however many seeds are averaged, since every seed sees the same
split. The data cards state it at the teacher's score and the noise model of the meta layer
adds it to the seed spread.

* accuracy and other means of per-example scores in [0, 1] (span F1, a tag sequence's share
  of words tagged right): ``sqrt(p (1 - p) / n)`` with ``n`` the examples. For F1 and tagging
  this is an approximation from above: a per-example score in [0, 1] with mean ``p`` varies at
  most as a Bernoulli does, and counting examples, not words, allows for the words of one
  sentence being tagged right or wrong together.
  Where the per-example terms are at hand (a run's test predictions, labelled rows given to
  ``predict``), :func:`parts_standard_error` measures it instead: on a tagger's sentences it is
  several times smaller than the bound.
* Pearson and Spearman correlation: through Fisher's z, whose standard error is
  ``sqrt(1 / (n - 3))`` (Spearman: ``sqrt(1.06 / (n - 3))``, Fieller, Hartley and Pearson 1957),
  taken back to the correlation's scale at ``r`` by the delta method: ``(1 - r**2) * se_z``.
"""

from __future__ import annotations

import math

import numpy as np

#: Test splits smaller than this resolve a test ratio no better than about +-0.03 at an accuracy
#: near 0.5: a data set whose source cannot give more is kept, but left out of pass/fail claims.
LOW_RESOLUTION_TEST = 1000
#: Fisher-z variance factor per correlation (Spearman's rank correlation is a little noisier).
FISHER_FACTOR = {"pearson": 1.0, "spearman": 1.06}


def metric_standard_error(metric: str, score: float, n: int) -> float:
    """The standard error of ``metric`` measured at ``score`` on ``n`` test examples (NaN when ``n``
    is too small to say)."""
    if metric in FISHER_FACTOR:
        if n <= 3:
            return math.nan
        r = min(abs(score), 1.0)
        return (1 - r * r) * math.sqrt(FISHER_FACTOR[metric] / (n - 3))
    if n < 1:
        return math.nan
    p = min(max(score, 0.0), 1.0)
    return math.sqrt(p * (1 - p) / n)


def parts_standard_error(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """The standard error of a metric that is one sum over another, ``sum(numerators) / sum(denominators)``
    (a tagger's words tagged right over its words, span F1 over its questions), from each example's terms:
    the ratio estimator's linearisation, examples drawn independently, so that the words of one sentence,
    tagged right or wrong together, are one draw. NaN under two examples."""
    n = len(numerators)
    total = float(np.sum(denominators))
    if n < 2 or not total > 0:
        return math.nan
    value = float(np.sum(numerators)) / total
    residuals = np.asarray(numerators, dtype=float) - value * np.asarray(denominators, dtype=float)
    return math.sqrt(float(np.sum(residuals**2)) * n / (n - 1)) / total


def ratio_standard_error(metric: str, teacher_score: float, n: int, ratio: float = 1.0) -> float:
    """The standard error of a test ratio (student / teacher) that comes from the test split alone,
    for a student at ``ratio`` of a teacher scoring ``teacher_score``: the metric's standard error at
    the student's score, in units of the teacher's."""
    if not teacher_score > 0:
        return math.nan
    return metric_standard_error(metric, ratio * teacher_score, n) / teacher_score


def low_resolution(test_examples: int) -> bool:
    """Whether a test split is too small for the study's pass/fail claims."""
    return test_examples < LOW_RESOLUTION_TEST
