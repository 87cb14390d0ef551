"""The search space: which values each component of a pipeline may take, and where it acts.

One declaration, :data:`SPACE_COMPONENTS`, states the space's rules: each component's choices (read
from a :class:`SearchSpace`), and where it acts given the components before it: α only for MI-α;
mapping and augmentation not for logit-only KD; ``aug_p`` and ``repeated_aug`` only with a text
stack. Where a component does not act it takes one fixed value, and no reader asks for it. The
three readers of the space read that declaration and nothing else:

* :meth:`SearchSpace.configurations` enumerates every point (what ``recommend`` scores);
* :meth:`SearchSpace.sample` draws one (the paper's §4 random search), group by group in
  :data:`DRAWS` order;
* :meth:`SearchSpace.ask` builds one from a chooser asked component by component: Optuna's
  define-by-run suggestions (:func:`autodistill.search.space.suggest_pipeline`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autodistill.space.pipeline import (
    AUG_PS,
    DEFAULT_AUG_P,
    DEFAULT_REPEATED_AUG,
    LOGIT_ONLY,
    MI_ALPHAS,
    REPEATED_AUGS,
    Pipeline,
    augment_of,
    mappings,
    pred_losses,
    space_inter_losses,
    text_augmenters,
)

Values = Mapping[str, Any]


@dataclass(frozen=True)
class SearchSpace:
    """The allowed values of each component; defaults are Appendix H plus the authors' run values.

    A component left None takes every name the engine's registry has for it, read when first asked:
    a loss, mapping or augmenter registered in the engine is a choice here without a line in this layer.
    """

    #: None: the engine's intermediate losses that the paper's space holds (:func:`space_inter_losses`).
    inter_losses: tuple[str, ...] | None = None
    alphas: tuple[float, ...] = MI_ALPHAS
    #: None: the engine's layer mappings (:func:`~autodistill.space.pipeline.mappings`).
    mappings: tuple[str, ...] | None = None
    #: None: the engine's prediction losses (:func:`~autodistill.space.pipeline.pred_losses`).
    pred_losses: tuple[str, ...] | None = None
    #: None: the engine's text operations (:func:`~autodistill.space.pipeline.text_augmenters`).
    augmenters: tuple[str, ...] | None = None
    #: None: stacks as long as there are text operations.
    max_stack: int | None = None
    mixup: tuple[bool, ...] = (False, True)
    aug_ps: tuple[float, ...] = AUG_PS
    repeated_augs: tuple[int, ...] = REPEATED_AUGS
    #: Whether logit-only KD is a point too: not in the paper's space, but the default practitioners
    #: reach for (:data:`ADVICE_SPACE`). As the study runs it: no mapping, no augmentation.
    logit_only: bool = False

    def inter_loss_choices(self) -> tuple[str, ...]:
        """The intermediate losses to choose from; logit-only KD last where the space has it."""
        losses = space_inter_losses() if self.inter_losses is None else self.inter_losses
        return (*losses, LOGIT_ONLY) if self.logit_only else losses

    def mapping_choices(self) -> tuple[str, ...]:
        return mappings() if self.mappings is None else self.mappings

    def pred_loss_choices(self) -> tuple[str, ...]:
        return pred_losses() if self.pred_losses is None else self.pred_losses

    def augmenter_choices(self) -> tuple[str, ...]:
        return text_augmenters() if self.augmenters is None else self.augmenters

    def inter_choices(self) -> list[tuple[str, float | None]]:
        """(loss, α) pairs: MI-α once per α, every other loss once with α = None; logit-only KD last."""
        return [(v["inter_loss"], v["alpha"]) for v in _walk(self, _named(("inter_loss", "alpha")), {})]

    def stacks(self) -> list[tuple[str, ...]]:
        """Every ordered stack of distinct text operations up to ``max_stack`` long, the empty one first."""
        ops = self.augmenter_choices()
        longest = len(ops) if self.max_stack is None else self.max_stack
        return [stack for size in range(longest + 1) for stack in itertools.permutations(ops, size)]

    def configurations(self) -> Iterator[Pipeline]:
        """Every point once, components varied in :data:`SPACE_COMPONENTS` order (the last fastest)."""
        return (point(values) for values in _walk(self, SPACE_COMPONENTS, {}))

    def sample(self, rng: random.Random) -> Pipeline:
        """A random point: each group of :data:`DRAWS` uniform over its joint choices (the §4 random search).

        The stack is uniform over all ordered stacks, so "no text augmentation" is
        one choice among them rather than half of the draws. The draws are made in
        a fixed order, so a seed gives the same sweep it always gave.
        """
        values: Values = {}
        for group in DRAWS:
            values = rng.choice(list(_walk(self, _named(group), values)))
        return point(values)

    def ask(self, choose: Callable[[str, tuple[Any, ...]], Any]) -> Pipeline:
        """The point ``choose(name, choices)`` picks, asked for each component where it acts, in order."""
        values: dict[str, Any] = {}
        for component in SPACE_COMPONENTS:
            acts = component.acts(values)
            values[component.name] = choose(component.name, component.choices(self)) if acts else component.fixed
        return point(values)


@dataclass(frozen=True)
class Component:
    """One component of a pipeline as the space varies it."""

    name: str
    #: Its choices in a space.
    choices: Callable[[SearchSpace], tuple[Any, ...]]
    #: Whether it acts, given the values of the components before it.
    acts: Callable[[Values], bool]
    #: Its value where it does not act.
    fixed: Any
    #: How to read it from a point.
    read: Callable[[Pipeline], Any]


def _always(_values: Values) -> bool:
    return True


def _not_logit_only(values: Values) -> bool:
    return values["inter_loss"] != LOGIT_ONLY


def _text_stack(values: Values) -> bool:
    return bool(values["stack"])


#: The space's rules, in the order a point is built (and enumerated: the last varies fastest).
SPACE_COMPONENTS: tuple[Component, ...] = (
    Component("inter_loss", SearchSpace.inter_loss_choices, _always, None, lambda p: p.inter_loss),
    Component("alpha", lambda s: s.alphas, lambda v: v["inter_loss"] == "mi", None, lambda p: p.alpha),
    Component("mapping", SearchSpace.mapping_choices, _not_logit_only, LOGIT_ONLY, lambda p: p.mapping),
    Component("pred_loss", SearchSpace.pred_loss_choices, _always, None, lambda p: p.pred_loss),
    Component("stack", SearchSpace.stacks, _not_logit_only, (), lambda p: p.text_augment),
    Component("mixup", lambda s: s.mixup, _not_logit_only, False, lambda p: p.mixup),
    Component("aug_p", lambda s: s.aug_ps, _text_stack, DEFAULT_AUG_P, lambda p: p.aug_p),
    Component("repeated_aug", lambda s: s.repeated_augs, _text_stack, DEFAULT_REPEATED_AUG, lambda p: p.repeated_aug),
)

#: The order random search draws in, each group uniform over its joint choices: (loss, α) pairs
#: weigh MI-α by its α values. Kept as the first sweeps drew, so a seed's trials keep their ids.
DRAWS: tuple[tuple[str, ...], ...] = (
    ("inter_loss", "alpha"),
    ("stack",),
    ("aug_p", "repeated_aug"),
    ("mapping",),
    ("pred_loss",),
    ("mixup",),
)


def _named(names: Sequence[str]) -> tuple[Component, ...]:
    return tuple(c for c in SPACE_COMPONENTS if c.name in names)


def _walk(space: SearchSpace, components: Sequence[Component], values: Values) -> Iterator[Values]:
    """Every assignment of ``components`` after ``values``: the choices where one acts, else its fixed value."""
    if not components:
        yield values
        return
    first, rest = components[0], components[1:]
    for value in first.choices(space) if first.acts(values) else (first.fixed,):
        yield from _walk(space, rest, {**values, first.name: value})


def point(values: Values) -> Pipeline:
    """The pipeline a value for every component makes (logit-only KD: the fixed values make it)."""
    return Pipeline(
        mapping=values["mapping"],
        inter_loss=values["inter_loss"],
        alpha=values["alpha"],
        pred_loss=values["pred_loss"],
        augment=augment_of(values["stack"], values["mixup"]),
        aug_p=values["aug_p"],
        repeated_aug=values["repeated_aug"],
    )


def acting_values(pipeline: Pipeline) -> dict[str, Any]:
    """The values of the components that act in ``pipeline``: what :meth:`SearchSpace.ask` asks for."""
    values = {c.name: c.read(pipeline) for c in SPACE_COMPONENTS}
    acting: dict[str, Any] = {}
    for component in SPACE_COMPONENTS:
        if component.acts(values):
            acting[component.name] = values[component.name]
    return acting


DEFAULT_SPACE = SearchSpace()
#: What AutoDistiller advises from (``recommend``, the held-out picks, ``search``): the paper's space
#: plus logit-only KD. The study runs logit KD on every data set at both budgets, so the predictor has
#: evidence on it, and it is the fixed default a recommendation has to beat; a predictor that cannot
#: propose it cannot advise "the simple recipe is best here". Only as the study runs it, without
#: augmentation: logit KD with augmentation has no runs to learn from, and a tree model scored such
#: points by extrapolation (a first try proposed logit KD with three stacked text augmenters on most
#: held-out data sets). Random search stays on the paper's space.
ADVICE_SPACE = SearchSpace(logit_only=True)
