"""The order of a recommendation's picks: pick 1 by the advice's rules, the rest by predicted gain per minute.

:func:`advise` takes the space as :mod:`autodistill.advice.recommend` weighed it (:class:`Scored`) and the
evidence its models read, prices the picks and puts them in order. The rules for pick 1 go in this order
(docs/recommend.md says them to users): a lead over logit KD measured on the data set's own runs, else the
verdict on predicted gains (:mod:`autodistill.advice.verdict`); training longer where the patient study backs it
and its interval lies higher; the student trained alone where its own runs, its probe or its prediction say so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from autodistill.advice.evidence import Evidence
from autodistill.advice.gain import LEVEL, GainEstimate, OwnLead, measured_estimate
from autodistill.advice.probe import Probe
from autodistill.advice.recommendation import Pick
from autodistill.advice.verdict import decide
from autodistill.space import Pipeline
from engine import AutodistillError


@dataclass(frozen=True)
class Scored:
    """The space weighed for a target: how many candidates, the picks, where logit KD stands, and
    the line that says why the first pick is first."""

    candidates: int
    picks: tuple[Pick, ...]
    logit_kd: Pick
    verdict: str = ""
    #: The data set's own leads over logit KD (:func:`autodistill.advice.gain.own_leads`), each with its pick.
    own: tuple[tuple[OwnLead, Pick], ...] = ()
    #: ``finetune`` where the advice is to train the student alone (:mod:`autodistill.advice.alone`).
    command: str = "run"
    #: The student trained alone against logit KD: measured on the data set's own runs, else predicted.
    alone: GainEstimate | None = None
    #: The best list configuration at the study's patient budget (:mod:`autodistill.advice.budget`).
    patient: Pick | None = None
    #: One run of the student alone here, read against the other pairs' cut (:mod:`autodistill.advice.probe`).
    probe: Probe | None = None


def advise(scored: Scored, evidence: Evidence, top: int, minutes: float | None, longer: Pick | None) -> Scored:
    """Price the picks and logit KD, and keep what fits ``minutes``.
    First goes the largest lead over logit KD beyond the noise on the data set's own runs, where the
    store holds some (:func:`autodistill.advice.gain.own_leads`: measured here, it outweighs any
    prediction), else the verdict's pipeline (:func:`autodistill.advice.verdict.decide`), unless
    training longer (``longer``, :func:`~autodistill.advice.budget.longer_pick`) is backed and its
    interval lies higher, or the student trained alone leads (:func:`_alone_first`); the rest follow
    by predicted gain per minute (:func:`_worth`), the longer budget among them. A pick fits ``minutes``
    where the top of its predicted range does (:func:`_longest`). A longer budget over ``minutes`` is
    kept aside (rank 0), so that the output can say what it would buy."""
    logit = _priced(scored.logit_kd, evidence)
    _check_minutes(minutes, evidence, logit)

    def within(pick: Pick) -> bool:
        return minutes is None or _longest(pick) <= minutes

    own = [(lead, _own_pick(lead, _priced(p, evidence))) for lead, p in scored.own]
    own = [(lead, p) for lead, p in own if within(p)]
    measured = {_runs(p) for _, p in own}
    picks = [p for p in (_priced(p, evidence) for p in scored.picks) if within(p) and _runs(p) not in measured]
    first, line = _first(logit, own, picks, evidence, minutes)
    fits = [*picks, *(p for _, p in own)]
    picked = longer is not None and within(longer)  # over the budget, it is said (rank 0), not picked
    if picked:
        fits.append(longer)
        if evidence.patient is not None and evidence.patient.backed and _low(longer) > _low(first):
            first, line = longer, evidence.patient.line
    beaten = [lead.gain for lead, _ in own] + ([_gain(first)] if first is longer else [])
    first, line, command, shown = _alone_first(first, line, logit, evidence, beaten, bool(own))
    rest = sorted((p for p in fits if _runs(p) != _runs(first)), key=_worth)[: top - 1]
    if picked and all(_runs(p) != _runs(longer) for p in [first, *rest]):
        rest.append(longer)  # past the top: still a pick, so that `--pick` runs it
    ranked = tuple(replace(p, rank=k) for k, p in enumerate([first, *rest], start=1))
    if picked:
        longer = next(p for p in ranked if _runs(p) == _runs(longer))
    return replace(
        scored, picks=ranked, logit_kd=logit, verdict=line, command=command, alone=shown, patient=longer,
        probe=evidence.probe,
    )  # fmt: skip


def _check_minutes(minutes: float | None, evidence: Evidence, logit: Pick) -> None:
    """A ``--budget`` the advice can keep: minutes it can predict, and room for logit KD at least."""
    if minutes is not None and evidence.cost is None:
        raise AutodistillError(
            "--budget needs predicted minutes, and the store holds too few timed runs on this machine's "
            "kind of device to predict them"
        )
    if minutes is not None and _longest(logit) > minutes:
        raise AutodistillError(
            f"--budget {minutes:g} min is below the cheapest pipeline's predicted time: logit KD, "
            f"{logit.minutes:.1f} min here and up to {_longest(logit):.1f}; give at least that, or a smaller "
            "--max-train-examples/--epochs"
        )


def _longest(pick: Pick) -> float:
    """The minutes ``--budget`` holds a pick to: the top of its predicted range where the cost model gives
    one, else its point estimate. Held out by family, more than half of the runs took longer than their
    point estimate and under a tenth longer than their range's top (``benchmarks/advice_heldout.py``)."""
    if pick.minutes_range is not None:
        return pick.minutes_range[1]
    return pick.minutes or 0.0


def _own_pick(lead: OwnLead, pick: Pick) -> Pick:
    """The pick of a lead measured on the data set's own runs, with that lead as its gain."""
    reason = f"this data set's own runs: dev ratio over {lead.seeds} seeds against logit KD's {lead.logit_seeds}"
    return replace(pick, gain=lead.estimate, reason=reason)


def _first(
    logit: Pick, own: list[tuple[OwnLead, Pick]], picks: list[Pick], evidence: Evidence, minutes: float | None
) -> tuple[Pick, str]:
    """Pick 1 at this budget and the line that says why: the largest own lead, else the verdict."""
    challengers = [p for p in picks if p.gain is not None]
    if own:
        lead, pick = own[0]
        return pick, f"beats logit KD on this data set's own runs: {lead.line}"
    if evidence.gains is None:
        line = f"logit KD first: {evidence.missing}, so it is the only advice the store can back"
        return (
            logit,
            line + " (add runs with `autodistill sweep --datasets ... --students ...` on data sets of this kind)",
        )
    if not challengers:
        return logit, f"logit KD first: no other pick is predicted to fit --budget {minutes:g} min"
    verdict = decide(logit.config, [p.config for p in challengers], [p.gain for p in challengers])
    first = challengers[[p.config for p in challengers].index(verdict.top)] if not verdict.logit_kd_first else logit
    return first, verdict.line


def _alone_first(
    first: Pick, line: str, logit: Pick, evidence: Evidence, beaten: list[float], own: bool
) -> tuple[Pick, str, str, GainEstimate | None]:
    """Whether to train the student alone instead: measured on the data set's own runs, where it leads
    every measured gain (``beaten``); else where the probe scored the most there is on dev, or where
    pick 1 is logit KD and the probe reaches its cut (:mod:`autodistill.advice.probe`); else predicted,
    where its interval clears zero and lies above pick 1's. Returns pick 1 (logit KD, what to distil
    instead, when alone wins), the line, the command and the no-KD estimate to show."""
    alone, predicted = evidence.alone, evidence.alone_predicted
    if alone is not None and all(alone.gain > gain for gain in beaten):  # not to distil, if it leads most
        return (
            logit,
            f"{alone.line}; pick 1 is what to distil instead",
            "finetune",
            measured_estimate(alone.gain, alone.se),
        )
    probe = evidence.probe
    if probe is not None and probe.learned_the_most:  # nothing can beat it on dev
        return logit, f"{probe.line}; pick 1 is what to distil instead", "finetune", probe.above or predicted
    if not own and probe is not None and probe.says_alone and _runs(first) == _runs(logit):
        return logit, f"{probe.line}; pick 1 is what to distil instead", "finetune", probe.above or predicted
    if not own and predicted is not None and predicted.clears and predicted.low > _low(first):
        line = (
            f"train the student alone (no KD): {predicted.mean:+.3f} dev ratio over logit KD as "
            f"{predicted.support} other (data set, student) pairs predict it, {LEVEL:.0%} interval "
            f"{predicted.low:+.3f} to {predicted.high:+.3f}; pick 1 is what to distil instead"
        )
        return logit, line, "finetune", predicted
    return first, line, "run", predicted


def _runs(pick: Pick) -> tuple[Pipeline, Any]:
    """What a pick runs: its pipeline and its epochs (one pipeline at two budgets is two picks)."""
    return pick.config, pick.engine.get("train", {}).get("epochs")


def _gain(pick: Pick) -> float:
    """A pick's mean gain over logit KD (logit KD's own, or a gain not known: zero)."""
    return 0.0 if pick.gain is None else pick.gain.mean


def _low(pick: Pick) -> float:
    """The lower end of a pick's gain interval over logit KD (logit KD's own: zero)."""
    return 0.0 if pick.gain is None else pick.gain.low


def _worth(pick: Pick) -> tuple[int, float]:
    """Sort key of picks 2..N, best first: a predicted gain over logit KD per predicted minute where the
    gain is positive (what a minute of a user's machine buys), then the rest by their gain, a costly loss
    last; picks with no minutes predicted after those, by predicted gain."""
    if pick.gain is None or not pick.minutes:
        return (2, 0.0)
    if pick.gain.mean > 0:
        return (0, -pick.gain.mean / pick.minutes)
    return (1, -pick.gain.mean * pick.minutes)


def _priced(pick: Pick, evidence: Evidence) -> Pick:
    """``pick`` with its predicted minutes here and their range."""
    ((minutes, minutes_range),) = evidence.minutes([pick.config])
    return replace(pick, minutes=minutes, minutes_range=minutes_range)
