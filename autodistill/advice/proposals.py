"""The pipelines advice weighs, in the one order it knows: predicted gain over logit KD.

Every configuration of the space is estimated by the gain model (:mod:`autodistill.advice.gain`,
fitted on dev ratios of other data sets' runs). Configurations that differ only in ``aug_p`` or
``repeated_aug`` are one pipeline, represented by its best-estimated variant. The proposals are then
taken greedily, each differing from every one before it in at least :data:`MIN_DIFFERENT` of the four
components: five picks are five different ideas, not one stack of augmenters in five orders (the
model reads which operations a stack holds, not their order, so such picks would tie).

No second model orders anything: the paper's percentile ranker, whose order over one setting's
pipelines barely agreed with the gain model's and whose top picks did not beat logit KD on held-out
families, is evaluated as a predictor (``autodistill evaluate``) but advises nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autodistill.advice.gain import GainEstimate, GainModel
from autodistill.space import Pipeline

#: Two proposals differ in at least this many of the four components.
MIN_DIFFERENT = 2


def components(config: Pipeline) -> tuple[str, str, str, str]:
    """The four components of Eq. 1 as one pipeline: intermediate loss (α folded in), mapping,
    prediction loss, augmentation policy."""
    return (config.inter_level, config.mapping, config.pred_loss, config.policy)


def _differences(a: Pipeline, b: Pipeline) -> int:
    """In how many of the four components two pipelines differ."""
    return sum(x != y for x, y in zip(components(a), components(b), strict=True))


@dataclass(frozen=True)
class Proposal:
    """One distinct pipeline (its best-estimated variant) with its predicted gain over logit KD."""

    config: Pipeline
    gain: GainEstimate


@dataclass(frozen=True)
class Proposals:
    """Every distinct pipeline of the weighed configurations, highest predicted gain first."""

    ranked: tuple[Proposal, ...]

    def top(self, n: int) -> list[Proposal]:
        """The ``n`` best, each differing from every better one in :data:`MIN_DIFFERENT`+ components."""
        chosen: list[Proposal] = []
        for proposal in self.ranked:
            if len(chosen) == n:
                break
            if all(_differences(proposal.config, other.config) >= MIN_DIFFERENT for other in chosen):
                chosen.append(proposal)
        return chosen

    def place(self, gain: float) -> int:
        """Where a pipeline predicted to gain ``gain`` stands among them (1 = first): logit KD, which
        gains 0 over itself, stands behind every pipeline predicted to beat it."""
        return 1 + sum(p.gain.mean > gain for p in self.ranked)


def propose(model: GainModel, configs: Sequence[Pipeline]) -> Proposals:
    """``configs`` (logit KD left out: it is the zero every gain is measured from) as distinct
    pipelines ordered by predicted gain, ties by the lower end of the interval, then the space's order."""
    weighed = [c for c in configs if not c.logit_only]
    estimates = model.estimate(weighed)
    order = sorted(range(len(weighed)), key=lambda k: (-estimates[k].mean, -estimates[k].low, k))
    seen: set[tuple[str, str, str, str]] = set()
    ranked = []
    for k in order:
        key = components(weighed[k])
        if key not in seen:
            seen.add(key)
            ranked.append(Proposal(weighed[k], estimates[k]))
    return Proposals(tuple(ranked))
