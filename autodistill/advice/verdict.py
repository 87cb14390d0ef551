"""The top pick: logit KD, unless the evidence says another pipeline beats it.

Logit KD is cheap and, on the study's data sets, rarely beaten; a pipeline that costs many times
more is worth recommending first only when its predicted gain over logit KD clears its
uncertainty (the whole interval of :mod:`autodistill.advice.gain` above zero). One line says
which case holds and why, so the user sees the evidence behind the first pick.
"""

from __future__ import annotations

from dataclasses import dataclass

from autodistill.advice.gain import LEVEL, GainEstimate
from autodistill.space import Pipeline


@dataclass(frozen=True)
class Verdict:
    """The top pick, the strongest challenger to logit KD with its estimate, and the line that says why."""

    top: Pipeline
    challenger: Pipeline
    estimate: GainEstimate
    line: str

    @property
    def logit_kd_first(self) -> bool:
        return self.top is not self.challenger


def decide(logit: Pipeline, candidates: list[Pipeline], estimates: list[GainEstimate]) -> Verdict:
    """Logit KD first unless the candidate whose interval lies highest clears zero (then it goes first)."""
    if not candidates:
        raise ValueError("decide needs at least one candidate besides logit KD")
    best = max(range(len(candidates)), key=lambda k: (estimates[k].low, estimates[k].mean))
    challenger, estimate = candidates[best], estimates[best]
    evidence = (
        f"{challenger.label}: {estimate.mean:+.3f} over logit KD, {LEVEL:.0%} interval "
        f"{estimate.low:+.3f} to {estimate.high:+.3f}; {estimate.evidence}"
    )
    if estimate.clears:
        return Verdict(challenger, challenger, estimate, f"beats logit KD on the evidence: {evidence}")
    return Verdict(
        logit,
        challenger,
        estimate,
        f"logit KD first: no pipeline's predicted gain clears its uncertainty (best: {evidence})",
    )
