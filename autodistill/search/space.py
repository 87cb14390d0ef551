"""The Distiller space as Optuna suggestions: one categorical per component, α only for MI-α.

A sampler that learns from this data set's own trials (TPE) asks for a point component
by component, define-by-run, so that conditional choices stay conditional: ``alpha`` is
asked only when the intermediate loss is MI-α, ``aug_p`` and ``repeated_aug`` only when a
text augmentation stack is chosen, and logit-only KD (where the space has it) asks for its
prediction loss alone. The same function serves a local study and Ray
Tune's :class:`~ray.tune.search.optuna.OptunaSearch` (which accepts a define-by-run
function). :func:`params_of` is its inverse, for enqueueing the predictor's picks.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import CategoricalDistribution
from optuna.trial import BaseTrial

from autodistill.space.pipeline import (
    DEFAULT_AUG_P,
    DEFAULT_REPEATED_AUG,
    LOGIT_ONLY,
    STACK_SEP,
    Pipeline,
    SearchSpace,
    augment_of,
    logit_kd,
)

#: The ``stack`` choice of a point without text augmentation.
NO_STACK = "none"


def choices(space: SearchSpace) -> dict[str, tuple[Any, ...]]:
    """Every parameter's choices, as the sampler sees them (a stack is one choice: ``"ra>ca"``)."""
    return {
        "inter_loss": tuple(dict.fromkeys(loss for loss, _ in space.inter_choices())),
        "alpha": space.alphas,
        "mapping": space.mappings,
        "pred_loss": space.pred_losses,
        "stack": tuple(STACK_SEP.join(stack) or NO_STACK for stack in space.stacks()),
        "mixup": space.mixup,
        "aug_p": space.aug_ps,
        "repeated_aug": space.repeated_augs,
    }


def distributions(space: SearchSpace) -> dict[str, CategoricalDistribution]:
    """The Optuna distribution of each parameter (to add trials run elsewhere, e.g. by Ray Tune)."""
    return {name: CategoricalDistribution(list(values)) for name, values in choices(space).items()}


def suggest_pipeline(trial: BaseTrial, space: SearchSpace) -> Pipeline:
    """Ask ``trial`` for one point of ``space``, conditional parameters only where they act."""
    options = choices(space)

    def ask(name: str) -> Any:
        return trial.suggest_categorical(name, list(options[name]))

    loss = ask("inter_loss")
    if loss == LOGIT_ONLY:
        return logit_kd(ask("pred_loss"))
    alpha = ask("alpha") if loss == "mi" else None
    mapping, pred_loss, stack, mixup = ask("mapping"), ask("pred_loss"), ask("stack"), ask("mixup")
    text = () if stack == NO_STACK else tuple(stack.split(STACK_SEP))
    return Pipeline(
        mapping=mapping,
        inter_loss=loss,
        alpha=alpha,
        pred_loss=pred_loss,
        augment=augment_of(text, mixup),
        aug_p=ask("aug_p") if text else DEFAULT_AUG_P,
        repeated_aug=ask("repeated_aug") if text else DEFAULT_REPEATED_AUG,
    )


def params_of(pipeline: Pipeline) -> dict[str, Any]:
    """The parameters :func:`suggest_pipeline` turns into ``pipeline`` (those it would ask for)."""
    if pipeline.logit_only:
        return {"inter_loss": pipeline.inter_loss, "pred_loss": pipeline.pred_loss}
    params: dict[str, Any] = {
        "inter_loss": pipeline.inter_loss,
        "mapping": pipeline.mapping,
        "pred_loss": pipeline.pred_loss,
        "stack": pipeline.stack or NO_STACK,
        "mixup": pipeline.mixup,
    }
    if pipeline.alpha is not None:
        params["alpha"] = pipeline.alpha
    if pipeline.text_augment:
        params.update(aug_p=pipeline.aug_p, repeated_aug=pipeline.repeated_aug)
    return params


def describe(pipeline: Pipeline) -> str:
    """A pipeline as the study and the sweep write it: ``mi-0.9 / skip / ce / ca+mixup``."""
    return f"{pipeline.inter_level} / {pipeline.mapping} / {pipeline.pred_loss} / {pipeline.policy}"
