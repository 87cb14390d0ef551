"""Whether to distil at all, read off one run of the student alone on the target data set (the probe).

Held out by family, the other data sets' mean gain of no-KD over logit KD never clears its interval
(:func:`autodistill.advice.alone.predicted_alone`), so the advice distilled even where the student
alone won by 0.015 to 0.17 test ratio. One thing known after a single cheap run ranks those pairs: the
student alone's dev ratio to its teacher. A student that already nearly matches the teacher has
little to learn from it and follows its mistakes. The rule is a threshold on that ratio. It is
chosen on the other pairs' dev ratios as the cut that picks the better of the two defaults best
(train alone at or above it, logit KD below). ``benchmarks/alone_probe.py`` checks it held out by
family and on families the study never ran.

The probe is the lowest seed's no-KD run at the recommendation's budget, as the store holds it: a
sweep's or trial's baseline, or the run :func:`autodistill.advice.trial.alone_trial` makes for
``recommend``. (The study's realistic fidelity has a no-KD probe of its own, a longer run that finds
the plateau epochs, :func:`autodistill.sweep.study_plan.probe_trial`; it is matched by its budget
and is not this one.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import ValidationError

from autodistill.advice.alone import normalised
from autodistill.advice.gain import GainEstimate, new_draw_estimate
from engine import DistillConfig, default_output_dir

#: Fewer (data set, student) pairs than this with a probe and logit KD, and the probe decides nothing.
MIN_PAIRS = 8
#: A dev score at or above this is the most every headline metric gives (accuracy, F1, MCC, correlations).
PERFECT = 1.0 - 1e-9


def probe_threshold(pairs: pd.DataFrame) -> float | None:
    """The probe threshold (no-KD at or above it, logit KD below) with the best mean dev ratio over
    ``pairs``; None (never train alone) where no threshold beats distilling everywhere."""
    candidates = [np.inf, *np.sort(pairs["probe"].unique())]

    def chosen(threshold: float) -> float:
        return float(np.where(pairs["probe"] >= threshold, pairs["alone"], pairs["logit"]).mean())

    best = max(candidates, key=chosen)
    return None if np.isinf(best) else float(best)


@dataclass(frozen=True)
class Probe:
    """The target's probe beside the threshold the other pairs set."""

    ratio: float  # the student alone's dev ratio to the teacher in the probe run
    threshold: float | None  # None: on the other pairs, no cut did better than distilling everywhere
    pairs: int
    #: No-KD's dev gain over logit KD on the other pairs whose probe reached the threshold (None: fewer than two).
    above: GainEstimate | None
    #: The answer the probe's student gave every dev example, where it gave one only: its ratio is then the
    #: label counts' and says nothing of what the student learns (None: it learned, or its run is elsewhere).
    one_answer: str | None = None
    #: Whether the probe's student scored the most its metric gives (1.0) on dev: no pipeline can then show
    #: a gain over it there, whatever the other pairs predict.
    perfect: bool = False

    @property
    def learned_the_most(self) -> bool:
        """Whether the student alone scored the most there is on dev, by learning (not one answer)."""
        return self.perfect and self.one_answer is None

    @property
    def says_alone(self) -> bool:
        return self.threshold is not None and self.ratio >= self.threshold and self.one_answer is None

    @property
    def summary(self) -> str:
        """The probe against its cut in a few words."""
        if self.learned_the_most:
            return "one run alone scored the most there is on dev (1.000): no pipeline can show a gain there"
        if self.one_answer is not None:
            return f"one run alone answered {self.one_answer!r} to every dev example ({self.ratio:.3f} of the teacher)"
        if self.threshold is None:
            return f"one run alone reached {self.ratio:.3f} of the teacher (no cut: {self.pairs} pairs)"
        side = "at or above" if self.says_alone else "below"
        return f"one run alone reached {self.ratio:.3f} of the teacher, {side} the cut {self.threshold:.3f}"

    @property
    def line(self) -> str:
        """What the verdict says where the probe decides (the gain above the cut is shown beside it)."""
        if self.learned_the_most:
            return f"train the student alone (no KD): {self.summary}"
        return (
            f"train the student alone (no KD): one run of it reached {self.ratio:.3f} of the teacher's dev score "
            f"here, at or above the cut ({self.threshold:.3f}) the store's {self.pairs} (data set, student) pairs set"
        )


def own_probe(
    baselines: pd.DataFrame, dataset: str, teacher: str, student: str, budget: dict[str, int]
) -> float | None:
    """The target's probe: the lowest seed's no-KD dev ratio among its stored baselines of this teacher
    and student at ``budget``'s epochs and length, on the latest splits; None where it has none. The
    training cap is not matched, as the data set's own runs are read at their budget class elsewhere
    (:func:`autodistill.advice.gain.own_leads`): a study baseline capped at 2,000 training examples
    serves as the probe of a run on more of the same data set."""
    row = probe_row(baselines, dataset, teacher, student, budget)
    return None if row is None else float(row["ratio"])


def probe_answer(row: pd.Series | None) -> str | None:
    """The answer the probe's run (:func:`probe_row`) gave every dev example, where it gave one only, as
    its run folder in this home records it (``RunResult.one_answer``); None where its answers differ or
    its folder is not here (a shipped study's baseline)."""
    if row is None or not isinstance(row.get("config_json"), str):
        return None
    try:
        folder = default_output_dir(DistillConfig.model_validate_json(row["config_json"]), "finetune")
    except ValidationError:  # a config stored by an older version: its folder cannot be named, nor read here
        return None
    result = folder / "result.json"  # the field alone: a result written by an older version may hold others
    return json.loads(result.read_text()).get("one_answer") if result.exists() else None


def probe_row(
    baselines: pd.DataFrame, dataset: str, teacher: str, student: str, budget: dict[str, int]
) -> pd.Series | None:
    """The stored baseline :func:`own_probe` reads its ratio from (None where there is none)."""
    mine = baselines[
        (baselines["dataset"] == dataset)
        & (baselines["teacher_name"] == teacher)
        & (baselines["student_name"] == student)
        & (baselines["epochs"] == budget["epochs"])
        & (baselines["max_length"] == budget["max_length"])
    ]
    if mine.empty:
        return None
    mine = normalised(mine)
    latest = mine[mine["split_version"] == mine["split_version"].max()]
    return latest.sort_values("seed").iloc[0]


def read_probe(pairs: pd.DataFrame, ratio: float | None) -> Probe | None:
    """The probe ``ratio`` against the threshold ``pairs`` (other data sets',
    :func:`autodistill.advice.alone.default_pairs`) set; None without a probe or with fewer than
    :data:`MIN_PAIRS` pairs."""
    if ratio is None or len(pairs) < MIN_PAIRS:
        return None
    threshold = probe_threshold(pairs)
    if threshold is None:
        return Probe(ratio, None, len(pairs), None)
    above = pairs[pairs["probe"] >= threshold]
    gains = above["alone"] - above["logit"]
    return Probe(ratio, threshold, len(pairs), new_draw_estimate(gains) if len(gains) > 1 else None)
