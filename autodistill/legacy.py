"""The meta layer's first vocabulary, read only where data written in it comes in.

Before the search space was written in the engine's terms, text augmenters had
long names (``contextual``, ``random``, ``backtranslation``) and a point was a
dict with ``augmenters`` and a separate ``mixup`` flag. Data in that form still
exists and must keep loading, so it is translated here, once, at the edge where
it is read, and nowhere in the middle of the meta layer:

* the authors' runs (their CSV names its position columns so):
  :mod:`autodistill.reference`;
* the project's shipped study (``meta_data/study/runs.csv``) and stores of
  schema 1: :mod:`autodistill.shipped`, :mod:`autodistill.store_schema`;
* trial ids: a trial id hashes the point in the form the first sweeps logged it,
  so that logged trials (and the shipped study's Figure 4 trials) keep their ids
  (:func:`trial_key`).
"""

from __future__ import annotations

from typing import Any

from autodistill.space import STACK_SEP, Pipeline

#: Long augmenter name of the first vocabulary -> the engine's operation name.
OPERATION: dict[str, str] = {"contextual": "ca", "random": "ra", "backtranslation": "bt"}
LONG_NAME: dict[str, str] = {op: name for name, op in OPERATION.items()}


def stack(text: str) -> str:
    """A stored text stack in engine names (``"random>contextual"`` -> ``"ra>ca"``); engine names pass."""
    return STACK_SEP.join(OPERATION.get(name, name) for name in text.split(STACK_SEP)) if text else text


def trial_key(pipeline: Pipeline) -> dict[str, Any]:
    """The point as the first sweeps hashed it into trial ids (frozen: changing it renames every trial)."""
    return {
        "inter_loss": pipeline.inter_loss,
        "alpha": pipeline.alpha,
        "mapping": pipeline.mapping,
        "pred_loss": pipeline.pred_loss,
        "augmenters": [LONG_NAME[op] for op in pipeline.text_augment],
        "mixup": pipeline.mixup,
        "aug_p": pipeline.aug_p,
        "repeated_aug": pipeline.repeated_aug,
    }
