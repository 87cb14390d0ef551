"""The Distiller space as Optuna suggestions: one categorical per component, asked where it acts.

A sampler that learns from this data set's own trials (TPE) asks for a point component
by component, define-by-run, so that conditional choices stay conditional: the space's own
rules (:data:`autodistill.space.SPACE_COMPONENTS`) say which components act, and
:meth:`SearchSpace.ask <autodistill.space.SearchSpace.ask>` asks only for those. The same
function serves a local study and Ray Tune's :class:`~ray.tune.search.optuna.OptunaSearch`
(which accepts a define-by-run function). :func:`params_of` is its inverse, for enqueueing
the predictor's picks. Optuna's categorical values are plain scalars, so a text stack is
one string here (``"ra>ca"``, ``"none"``).
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import CategoricalDistribution
from optuna.trial import BaseTrial

from autodistill.space import SPACE_COMPONENTS, STACK_SEP, Pipeline, SearchSpace, acting_values

#: The ``stack`` choice of a point without text augmentation.
NO_STACK = "none"


def _encode(name: str, value: Any) -> Any:
    return (STACK_SEP.join(value) or NO_STACK) if name == "stack" else value


def _decode(name: str, value: Any) -> Any:
    if name != "stack":
        return value
    return () if value == NO_STACK else tuple(value.split(STACK_SEP))


def choices(space: SearchSpace) -> dict[str, tuple[Any, ...]]:
    """Every parameter's choices, as the sampler sees them (a stack is one choice: ``"ra>ca"``)."""
    return {c.name: tuple(_encode(c.name, value) for value in c.choices(space)) for c in SPACE_COMPONENTS}


def distributions(space: SearchSpace) -> dict[str, CategoricalDistribution]:
    """The Optuna distribution of each parameter (to add trials run elsewhere, e.g. by Ray Tune)."""
    return {name: CategoricalDistribution(list(values)) for name, values in choices(space).items()}


def suggest_pipeline(trial: BaseTrial, space: SearchSpace) -> Pipeline:
    """Ask ``trial`` for one point of ``space``, conditional parameters only where they act."""

    def ask(name: str, options: tuple[Any, ...]) -> Any:
        return _decode(name, trial.suggest_categorical(name, [_encode(name, value) for value in options]))

    return space.ask(ask)


def params_of(pipeline: Pipeline) -> dict[str, Any]:
    """The parameters :func:`suggest_pipeline` turns into ``pipeline`` (those it would ask for)."""
    return {name: _encode(name, value) for name, value in acting_values(pipeline).items()}
