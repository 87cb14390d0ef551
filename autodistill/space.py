"""The Distiller search space (paper §3, Appendix H) as typed data.

A :class:`DistillerConfig` is one point of the space: the four configurable
components of Eq. 1 (intermediate loss, layer mapping, prediction loss,
augmentation policy) plus the two augmentation knobs the authors varied in their
runs (``aug_p``, ``repeated_aug``). A :class:`SearchSpace` lists the allowed
values, draws random configurations (the paper's §4 random search) and
enumerates every configuration (what AutoDistiller scores to recommend one).

Names follow the authors' published run data so that their 1,239 runs and ours
share one vocabulary:

* intermediate losses: ``mse``, ``l2``, ``cos``, ``pkd``, ``ce``, ``mi`` (MI-α).
  Appendix H lists MSE, L2, Cos, PKD and MI-α; ``ce`` is absent there but used in
  the authors' runs and Table 5, so it is part of the space. ``l2`` is in
  Appendix H but absent from their runs.
* α of MI-α: Appendix H samples 0.1, 0.5 and 0.9; the authors' runs also hold
  0.0, 0.7 and 1.0, so any α in [0, 1] is a valid config, and α is ``None``
  for every other loss (it means nothing there).
* layer mappings: ``skip``, ``last``, ``emd`` (§3.3.1); prediction losses ``ce``,
  ``mse`` (§3.2).
* augmentation policy (§3.1, Algorithm 1): an ordered stack of distinct text
  augmenters drawn from ``contextual`` (CA), ``random`` (RA, EDA-style) and
  ``backtranslation`` (BT), applied in order, followed by ``mixup`` on the
  embeddings when enabled. Mixup always comes last because it acts on
  embeddings, not text.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from engine.errors import AutodistillError, choices_error

INTER_LOSSES: tuple[str, ...] = ("mse", "l2", "cos", "pkd", "ce", "mi")
MI_ALPHAS: tuple[float, ...] = (0.1, 0.5, 0.9)
MAPPINGS: tuple[str, ...] = ("skip", "last", "emd")
PRED_LOSSES: tuple[str, ...] = ("ce", "mse")
TEXT_AUGMENTERS: tuple[str, ...] = ("contextual", "random", "backtranslation")
AUG_PS: tuple[float, ...] = (0.1, 0.3, 0.5)
REPEATED_AUGS: tuple[int, ...] = (1, 4)

#: ``aug_p`` and ``repeated_aug`` of a config without text augmentation: the
#: authors' defaults, which their runs record even where nothing is augmented.
DEFAULT_AUG_P = 0.3
DEFAULT_REPEATED_AUG = 1

#: The separator of an augmentation stack in its one-string form, e.g.
#: ``"random>contextual"`` = random augmentation first, then contextual.
STACK_SEP = ">"


def inter_level(loss: str, alpha: float | None) -> str:
    """The intermediate loss with α folded in (``"mi-0.9"``), the paper's Table 9 reading."""
    return f"mi-{alpha:g}" if loss == "mi" else loss


def policy_name(stack: str, mixup: bool) -> str:
    """An augmentation policy as one level: ``"random>contextual+mixup"``, ``"mixup"``, ``"none"``."""
    parts = ([stack] if stack else []) + (["mixup"] if mixup else [])
    return "+".join(parts) or "none"


@dataclass(frozen=True)
class DistillerConfig:
    """One Distiller pipeline: the configurable components of Eq. 1."""

    inter_loss: str = "mi"
    alpha: float | None = 0.9
    mapping: str = "skip"
    pred_loss: str = "ce"
    augmenters: tuple[str, ...] = ()
    mixup: bool = False
    aug_p: float = DEFAULT_AUG_P
    repeated_aug: int = DEFAULT_REPEATED_AUG

    def __post_init__(self) -> None:
        if self.inter_loss not in INTER_LOSSES:
            raise choices_error("intermediate loss", self.inter_loss, INTER_LOSSES)
        if self.inter_loss == "mi":
            if self.alpha is None or not 0.0 <= self.alpha <= 1.0:
                raise AutodistillError(f"MI-α needs an alpha in [0, 1], got {self.alpha!r}")
        elif self.alpha is not None:
            raise AutodistillError(
                f"alpha only applies to the 'mi' intermediate loss, not {self.inter_loss!r}; leave it None"
            )
        if self.mapping not in MAPPINGS:
            raise choices_error("layer mapping", self.mapping, MAPPINGS)
        if self.pred_loss not in PRED_LOSSES:
            raise choices_error("prediction loss", self.pred_loss, PRED_LOSSES)
        object.__setattr__(self, "augmenters", tuple(self.augmenters))
        for name in self.augmenters:
            if name not in TEXT_AUGMENTERS:
                raise choices_error("augmenter", name, TEXT_AUGMENTERS)
        if len(set(self.augmenters)) != len(self.augmenters):
            raise AutodistillError(f"augmenters repeat in the stack {self.augmenters!r}; use each once")
        if not 0.0 < self.aug_p <= 1.0:
            raise AutodistillError(f"aug_p is a probability in (0, 1], got {self.aug_p!r}")
        if self.repeated_aug < 1:
            raise AutodistillError(f"repeated_aug counts augmented copies (>= 1), got {self.repeated_aug!r}")

    @property
    def inter_level(self) -> str:
        return inter_level(self.inter_loss, self.alpha)

    @property
    def stack(self) -> str:
        """The text augmentation stack as one string (``""`` when there is none)."""
        return STACK_SEP.join(self.augmenters)

    @property
    def policy(self) -> str:
        return policy_name(self.stack, self.mixup)

    def positions(self) -> dict[str, int]:
        """Position of each text augmenter in the stack (0 = unused, 1 = first), as the authors record it."""
        return {name: self.augmenters.index(name) + 1 if name in self.augmenters else 0 for name in TEXT_AUGMENTERS}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back."""
        data = asdict(self)
        data["augmenters"] = list(self.augmenters)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DistillerConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise choices_error("Distiller config key", sorted(unknown)[0], list(cls.__dataclass_fields__))
        values = dict(data)
        values["augmenters"] = tuple(values.get("augmenters", ()))
        return cls(**values)


def stack_from_positions(positions: Mapping[str, int]) -> tuple[str, ...]:
    """Order augmenters by their 1-based stack positions (0 = unused); positions must be 1..k."""
    used = sorted((pos, name) for name, pos in positions.items() if pos)
    if [pos for pos, _ in used] != list(range(1, len(used) + 1)):
        raise AutodistillError(f"augmentation positions {dict(positions)} are not a stack 1..k")
    return tuple(name for _, name in used)


@dataclass(frozen=True)
class SearchSpace:
    """The allowed values of each component; defaults are Appendix H plus the authors' run values."""

    inter_losses: tuple[str, ...] = INTER_LOSSES
    alphas: tuple[float, ...] = MI_ALPHAS
    mappings: tuple[str, ...] = MAPPINGS
    pred_losses: tuple[str, ...] = PRED_LOSSES
    augmenters: tuple[str, ...] = TEXT_AUGMENTERS
    max_stack: int = len(TEXT_AUGMENTERS)
    mixup: tuple[bool, ...] = (False, True)
    aug_ps: tuple[float, ...] = AUG_PS
    repeated_augs: tuple[int, ...] = REPEATED_AUGS

    def inter_choices(self) -> list[tuple[str, float | None]]:
        """(loss, α) pairs: MI-α once per α, every other loss once with α = None."""
        return [(loss, alpha) for loss in self.inter_losses for alpha in (self.alphas if loss == "mi" else (None,))]

    def stacks(self) -> list[tuple[str, ...]]:
        """Every ordered stack of distinct augmenters up to ``max_stack`` long, the empty one first."""
        return [stack for size in range(self.max_stack + 1) for stack in itertools.permutations(self.augmenters, size)]

    def _aug_knobs(self, stack: tuple[str, ...]) -> list[tuple[float, int]]:
        # aug_p and repeated_aug only act on text augmentation: one default point without it.
        if not stack:
            return [(DEFAULT_AUG_P, DEFAULT_REPEATED_AUG)]
        return list(itertools.product(self.aug_ps, self.repeated_augs))

    def configurations(self) -> Iterator[DistillerConfig]:
        """Every configuration once (aug knobs are fixed to the defaults when nothing is augmented)."""
        for (loss, alpha), mapping, pred in itertools.product(self.inter_choices(), self.mappings, self.pred_losses):
            for stack, mixup in itertools.product(self.stacks(), self.mixup):
                for aug_p, repeats in self._aug_knobs(stack):
                    yield DistillerConfig(loss, alpha, mapping, pred, stack, mixup, aug_p, repeats)

    def sample(self, rng: random.Random) -> DistillerConfig:
        """A random configuration: each component uniform over its choices (the §4 random search).

        The stack is uniform over all ordered stacks, so "no text augmentation" is
        one choice among them rather than half of the draws.
        """
        loss, alpha = rng.choice(self.inter_choices())
        stack = rng.choice(self.stacks())
        aug_p, repeats = rng.choice(self._aug_knobs(stack))
        return DistillerConfig(
            inter_loss=loss,
            alpha=alpha,
            mapping=rng.choice(self.mappings),
            pred_loss=rng.choice(self.pred_losses),
            augmenters=stack,
            mixup=rng.choice(self.mixup),
            aug_p=aug_p,
            repeated_aug=repeats,
        )


DEFAULT_SPACE = SearchSpace()
