"""Stored runs read in the space's terms: which configuration each ran, and which ran logit KD.

One key and one predicate for every reader of runs (the advice's gain and cost models, the study's
noise and headroom tables, the held-out evaluation), so a configuration is named and logit KD is
recognised the same way everywhere; both follow :class:`~autodistill.space.Pipeline`.
"""

from __future__ import annotations

import pandas as pd

from autodistill.space import (
    DEFAULT_AUG_P,
    DEFAULT_REPEATED_AUG,
    LOGIT_ONLY,
    STACK_SEP,
    configuration_key,
    logit_kd,
    pred_losses,
    text_augmenters,
)


def configurations(runs: pd.DataFrame) -> pd.Series:
    """Each stored run's configuration as :func:`~autodistill.space.configuration_key` writes it (the key
    a candidate point's :attr:`~autodistill.space.Pipeline.key` matches). Frames without the knobs'
    columns hold the values a run without text augmentation records."""
    aug_p = runs["aug_p"] if "aug_p" in runs else pd.Series(DEFAULT_AUG_P, index=runs.index)
    repeats = runs["repeated_aug"] if "repeated_aug" in runs else pd.Series(DEFAULT_REPEATED_AUG, index=runs.index)
    parts = zip(
        runs["inter_loss"], runs["alpha"], runs["mapping"], runs["pred_loss"], runs["augmentation"], runs["mixup"],
        aug_p, repeats, strict=True,
    )  # fmt: skip
    keys = [
        configuration_key(inter, _alpha(alpha), mapping, pred, _stack(stack), bool(mixup), float(p), int(repeat))
        for inter, alpha, mapping, pred, stack, mixup, p, repeat in parts
    ]
    return pd.Series(keys, index=runs.index, dtype=object)


def _alpha(value: object) -> float | None:
    return None if pd.isna(value) else float(value)  # type: ignore[arg-type]


def _stack(value: object) -> str:
    """A stored augmentation stack (empty cells read back as NaN or None)."""
    return value if isinstance(value, str) else ""


def is_logit_kd(runs: pd.DataFrame) -> pd.Series:
    """Stored runs of logit KD (:attr:`~autodistill.space.Pipeline.logit_only` without augmentation):
    no intermediate term, no text augmentation, no mixup, either prediction loss."""
    plain = runs["augmentation"].fillna("").astype(str) == ""
    return runs["inter_loss"].fillna(LOGIT_ONLY).eq(LOGIT_ONLY) & plain & ~runs["mixup"].fillna(False).astype(bool)


def logit_kd_keys() -> set[str]:
    """The keys logit KD's runs have (one per prediction loss): for frames that keep only the key."""
    return {logit_kd(loss).key for loss in pred_losses()}


def operation_flags(augmentation: pd.Series) -> dict[str, pd.Series]:
    """Per text operation of the engine, whether each stored stack (``"ra>ca"``; empty or missing: none)
    uses it, as 0/1: the augmentation as the gain and cost models read it."""
    stacks = augmentation.fillna("").astype(str).str.split(STACK_SEP)
    return {op: stacks.map(lambda ops, op=op: op in ops).astype(float) for op in text_augmenters()}
