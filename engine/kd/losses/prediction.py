"""Prediction-layer losses l^pred of Eq. 1 and Eq. 2 (§3.2).

Two families share the names ``"ce"`` and ``"mse"``:

* :data:`PRED_LOSSES` compare the student's logits with the teacher's
  (the β terms of Eq. 1, and Eq. 2);
* :data:`LABEL_LOSSES` compare them with labels y or ŷ (the γ terms of Eq. 1).

Shapes: ``logits`` is [B, C] for classification (C ≥ 2) and regression (C = 1), or
[B, T] for one end of an answer span (start or end logits over tokens). Span losses
take ``mask`` [B, T], true at positions that may hold the answer; masked positions
get exactly zero probability, in the student and in the target alike. A span task
calls a loss once for the start and once for the end logits and averages the two,
as BERT's SQuAD head does. Every loss averages over the batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.errors import AutodistillError
from engine.registry import Registry
from engine.tasks.head import real_valued

if TYPE_CHECKING:
    pass


class DistillLoss(Protocol):
    def __call__(
        self,
        student_logits: Tensor,
        teacher_logits: Tensor,
        *,
        temperature: float = 1.0,
        mask: Tensor | None = None,
    ) -> Tensor: ...


class LabelLoss(Protocol):
    def __call__(self, logits: Tensor, target: Tensor, *, task_type: str, mask: Tensor | None = None) -> Tensor: ...


PRED_LOSSES: Registry[DistillLoss] = Registry("prediction loss")
LABEL_LOSSES: Registry[LabelLoss] = Registry("prediction loss")


def check_pred_loss(name: str, task_type: str) -> None:
    """Refuse an unknown name, or CE for a regression task, before training starts."""
    PRED_LOSSES.get(name)
    if name == "ce" and real_valued(task_type):
        raise AutodistillError(
            f"prediction loss 'ce' needs classes but this is a {task_type} task (real-valued outputs); use 'mse'"
        )


def _check_pair(student_logits: Tensor, teacher_logits: Tensor) -> None:
    """Unequal shapes would broadcast silently into a wrong loss."""
    if student_logits.shape != teacher_logits.shape:
        raise AutodistillError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} differ in shape"
        )


def _check_mask(logits: Tensor, mask: Tensor | None) -> Tensor | None:
    if mask is None:
        return None
    if mask.shape != logits.shape:
        raise AutodistillError(
            f"mask of shape {tuple(mask.shape)} does not match logits of shape {tuple(logits.shape)}"
        )
    mask = mask.bool()
    if not mask.any(-1).all():
        raise AutodistillError("a span example has no valid position in its mask")
    return mask


def _masked_log_softmax(logits: Tensor, mask: Tensor | None) -> Tensor:
    """log-softmax in float32 where masked positions get (numerically) zero probability.

    Filling with float32's lowest finite value rather than -inf keeps ``0 * log p``
    at 0 instead of NaN; float32 (also under mixed precision) keeps that fill finite.
    """
    logits = logits.float()
    if mask is not None:
        logits = logits.masked_fill(~mask, torch.finfo(torch.float32).min)
    return logits.log_softmax(-1)


def _soft_cross_entropy(logits: Tensor, target_probs: Tensor, mask: Tensor | None) -> Tensor:
    """H(p, softmax(logits)) = -Σ p log q, averaged over the batch."""
    return -(target_probs * _masked_log_softmax(logits, mask)).sum(-1).mean()


@PRED_LOSSES.register("ce")
def distill_ce(
    student_logits: Tensor, teacher_logits: Tensor, *, temperature: float = 1.0, mask: Tensor | None = None
) -> Tensor:
    """Soft cross-entropy H(softmax(t/T), softmax(s/T)) · T² (Eq. 2, Hinton et al. 2015).

    Scaled by T² because the gradient of the softened term shrinks as 1/T²: with the
    scaling, β in Eq. 1 weighs this term the same whatever the temperature, and at
    T = 1 nothing changes. Cross-entropy rather than KL: same gradient, but the
    value includes the teacher's entropy, so it is not zero at a perfect match.
    """
    _check_pair(student_logits, teacher_logits)
    if student_logits.shape[-1] < 2:
        raise AutodistillError(
            "prediction loss 'ce' needs at least 2 outputs per example, got 1 (a regression head); use 'mse'"
        )
    if temperature <= 0:
        raise AutodistillError(f"temperature must be positive, got {temperature!r}")
    mask = _check_mask(student_logits, mask)
    target = _masked_log_softmax(teacher_logits.detach() / temperature, mask).exp()
    return _soft_cross_entropy(student_logits / temperature, target, mask) * temperature**2


@PRED_LOSSES.register("mse")
def distill_mse(
    student_logits: Tensor, teacher_logits: Tensor, *, temperature: float = 1.0, mask: Tensor | None = None
) -> Tensor:
    """Mean squared error between student and teacher logits (Eq. 2), over valid entries.

    ``temperature`` is accepted for a uniform signature; under the T² convention of
    :func:`distill_ce` it cancels, ((s - t)/T)² · T² = (s - t)², so raw logits are compared.
    """
    _check_pair(student_logits, teacher_logits)
    mask = _check_mask(student_logits, mask)
    squared = (student_logits - teacher_logits.detach()) ** 2
    return squared.mean() if mask is None else squared[mask].mean()


def _label_distribution(logits: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
    """Class/position ids [B] become one-hot rows; label distributions [B, C] pass through."""
    if not target.is_floating_point() and target.shape == logits.shape[:-1]:
        if mask is not None and not mask.gather(-1, target.unsqueeze(-1)).all():
            raise AutodistillError("a span label points at a masked (padded) position")
        return F.one_hot(target, logits.shape[-1]).float()
    if target.is_floating_point() and target.shape == logits.shape:
        return target.float()
    raise AutodistillError(
        f"labels of shape {tuple(target.shape)} ({target.dtype}) do not fit logits of shape "
        f"{tuple(logits.shape)}; give integer ids [B] or label distributions [B, C]"
    )


@LABEL_LOSSES.register("ce")
def label_ce(logits: Tensor, target: Tensor, *, task_type: str, mask: Tensor | None = None) -> Tensor:
    """Cross-entropy against ground truth: a class or position id, or a label
    distribution such as mixup's ŷ = λy_i + (1-λ)y_j (§3.1); the γ terms of Eq. 1."""
    check_pred_loss("ce", task_type)
    mask = _check_mask(logits, mask)
    return _soft_cross_entropy(logits, _label_distribution(logits, target, mask), mask)


@LABEL_LOSSES.register("mse")
def label_mse(logits: Tensor, target: Tensor, *, task_type: str, mask: Tensor | None = None) -> Tensor:
    """Squared error against ground truth; the γ terms of Eq. 1.

    Regression: the single output against the float target. Classification and
    span: labels are distributions, not logits, so the student's probabilities are
    compared with them, Σ_c (p_c - y_c)² (the Brier score).
    """
    if real_valued(task_type):
        if logits.shape[-1] != 1 or target.numel() != logits.shape[0]:
            raise AutodistillError(
                f"regression needs logits [B, 1] and targets [B], got {tuple(logits.shape)} and {tuple(target.shape)}"
            )
        return ((logits.squeeze(-1) - target.reshape(-1).to(logits.dtype)) ** 2).mean()
    mask = _check_mask(logits, mask)
    probs = _masked_log_softmax(logits, mask).exp()
    return ((probs - _label_distribution(logits, target, mask)) ** 2).sum(-1).mean()
