"""The meta layer's first vocabulary, read only where data written in it comes in.

Before the search space was written in the engine's terms, text augmenters had
long names (``contextual``, ``random``, ``backtranslation``) and a point was a
dict with ``augmenters`` and a separate ``mixup`` flag. Data in that form still
exists and must keep loading, so it is translated here, once, at the edge where
it is read, and nowhere in the middle of the meta layer:

* the authors' runs (their CSV names its position columns so, and records MI-α's
  α as the logit their code passed through a sigmoid, :func:`authors_alpha`):
  :mod:`autodistill.store.reference`, and stores of schema < 3 that imported them;
* the project's shipped study (``meta_data/study/runs.csv``) and stores of
  schema 1: :mod:`autodistill.store.shipped`, :mod:`autodistill.store.schema`;
* runs and trials of ours from before ``pkd`` became BERT-PKD's [CLS] loss (stores
  of schema < 3, a shipped study without its schema): their per-token ``pkd`` is
  named ``pkd-tokens`` (:func:`per_token_pkd`), and so is it in recommendation
  files of format 1 (:func:`rename_pkd`);
* trial ids: a trial id hashes the point in the form the first sweeps logged it,
  so that logged trials (and the shipped study's Figure 4 trials) keep their ids
  (:func:`trial_key`); a loss renamed since is hashed under its earlier name, as
  the engine hashes run ids (``engine.HASHED_INTER_LOSS``: the first sweeps' ``pkd``
  was today's ``pkd-tokens``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from autodistill.space.pipeline import STACK_SEP, Pipeline
from engine import HASHED_INTER_LOSS

#: Long augmenter name of the first vocabulary -> the engine's operation name.
OPERATION: dict[str, str] = {"contextual": "ca", "random": "ra", "backtranslation": "bt"}
LONG_NAME: dict[str, str] = {op: name for name, op in OPERATION.items()}


def stack(text: str) -> str:
    """A stored text stack in engine names (``"random>contextual"`` -> ``"ra>ca"``); engine names pass."""
    return STACK_SEP.join(OPERATION.get(name, name) for name in text.split(STACK_SEP)) if text else text


def trial_key(pipeline: Pipeline) -> dict[str, Any]:
    """The point as the first sweeps hashed it into trial ids (frozen: changing it renames every trial)."""
    return {
        "inter_loss": HASHED_INTER_LOSS.get(pipeline.inter_loss, pipeline.inter_loss),
        "alpha": pipeline.alpha,
        "mapping": pipeline.mapping,
        "pred_loss": pipeline.pred_loss,
        "augmenters": [LONG_NAME[op] for op in pipeline.text_augment],
        "mixup": pipeline.mixup,
        "aug_p": pipeline.aug_p,
        "repeated_aug": pipeline.repeated_aug,
    }


def rename_pkd(value: Any) -> Any:
    """A stored JSON value with every ``"inter_loss": "pkd"`` (at any depth) renamed ``pkd-tokens``."""
    if isinstance(value, dict):
        return {k: "pkd-tokens" if k == "inter_loss" and v == "pkd" else rename_pkd(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rename_pkd(v) for v in value]
    return value


def per_token_pkd(row: Mapping[str, Any]) -> dict[str, Any]:
    """A runs or trials row of ours written while ``pkd`` was computed per token, with that loss
    named ``pkd-tokens`` in its column and its stored configs. The authors' runs (source ``paper``)
    pass unchanged: their ``pkd`` is BERT-PKD's [CLS] loss already. Ids are kept: the engine and
    the sweep hash ``pkd-tokens`` as ``pkd``, so they are still these runs' and trials' ids."""
    if row.get("source", "ours") != "ours":
        return dict(row)
    renamed = {**row, "config_json": json.dumps(rename_pkd(json.loads(row["config_json"])), sort_keys=True)}
    if renamed.get("inter_loss") == "pkd":
        renamed["inter_loss"] = "pkd-tokens"
    return renamed


def authors_alpha(recorded: float) -> float:
    """The α MI-α used in a run of the Distiller authors, from the α their CSV records.

    Their code hands the configured α to the bound as a logit (its log-interpolation takes
    log α = -softplus(-α)), so the interpolation weight was sigmoid(α): their 0.1, 0.5 and
    0.9 interpolated with 0.525, 0.622 and 0.711. Our engine uses α as the weight itself, so
    imported runs record sigmoid(α), and an α means the same in their runs and ours.
    """
    return round(1.0 / (1.0 + math.exp(-recorded)), 6)
