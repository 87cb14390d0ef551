"""Intermediate losses l^inter of Eq. 1 (§3.3): how far a student hidden state is from its teacher's.

Every loss is an ``nn.Module`` whose ``forward(h_student, h_teacher, mask)`` takes
hidden states [B, T, H] of one width (the student already projected, see
:mod:`engine.kd.projection`) and an attention mask [B, T], and returns a scalar.

The fixed distances of Appendix B (MSE, L2, Cos) and CE are computed per
token and averaged over all unpadded tokens of the batch, each token weighing the
same (so a longer sentence counts more, as in TinyBERT's masked MSE). PKD is
BERT-PKD's (Sun et al., 2019), as the Distiller authors' code computes it too: on the
first ([CLS]) position only, one vector per example, averaged over the batch;
``pkd-tokens`` is the same distance per token, what ``pkd`` meant in this project's
first study runs (they keep their meaning under that name). Padded tokens
are dropped *before* any arithmetic, so they add neither value nor gradient: a NaN
at a padded position cannot leak in through a multiply-by-zero mask. The teacher is
a fixed target and gets no gradient. MI-α (:mod:`engine.kd.losses.mi`) registers itself
here under ``"mi"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import AutodistillError
from engine.registry import Registry

Distance = Callable[[Tensor, Tensor], Tensor]


class InterLossBuilder(Protocol):
    def __call__(self, *, hidden_size: int, alpha: float, critic: str) -> nn.Module: ...


INTER_LOSSES: Registry[InterLossBuilder] = Registry("intermediate loss")


def build_inter_loss(name: str, *, hidden_size: int, alpha: float = 0.9, critic: str = "transformer") -> nn.Module:
    """The intermediate loss ``name``; ``alpha`` and ``critic`` matter only for ``"mi"``.

    Defaults are the paper's controlled setting as written (App. G: MI-α with α = 0.9 and
    a Transformer critic); the authors' code used that 0.9 as a logit, the weight
    sigmoid(0.9) = 0.711 (``configs/recipes/mi-alpha.yaml``). A loss with parameters (MI-α's critics) must have its
    ``parameters()`` in the optimizer.
    """
    return INTER_LOSSES.get(name)(hidden_size=hidden_size, alpha=alpha, critic=critic)


def check_mask(h_student: Tensor, h_teacher: Tensor, mask: Tensor) -> Tensor:
    """Validate shapes and return the mask as bool; refuse a batch with no real token."""
    if h_student.shape != h_teacher.shape:
        raise AutodistillError(
            f"student hidden states {tuple(h_student.shape)} and teacher's {tuple(h_teacher.shape)} "
            "differ; project the student to the teacher's width first (engine.kd.projection)"
        )
    if mask.shape != h_student.shape[:-1]:
        raise AutodistillError(
            f"attention mask {tuple(mask.shape)} does not match hidden states {tuple(h_student.shape)}"
        )
    mask = mask.bool()
    if not mask.any():
        raise AutodistillError("intermediate loss got an empty or all-padding batch (no unpadded token)")
    return mask


class TokenDistanceLoss(nn.Module):
    """Mean of a per-token distance over the unpadded tokens of a batch."""

    def __init__(self, distance: Distance) -> None:
        super().__init__()
        self.distance = distance

    def forward(self, h_student: Tensor, h_teacher: Tensor, mask: Tensor) -> Tensor:
        mask = check_mask(h_student, h_teacher, mask)
        return self.distance(h_student[mask], h_teacher.detach()[mask]).mean()

    def extra_repr(self) -> str:
        return self.distance.__name__


def _token_distance(name: str, *, listed: bool = True) -> Callable[[Distance], Distance]:
    """Register a distance ``(x [n, H], y [n, H]) -> [n]`` as intermediate loss ``name``."""

    def add(distance: Distance) -> Distance:
        def build(*, hidden_size: int, alpha: float, critic: str) -> nn.Module:
            return TokenDistanceLoss(distance)  # a fixed distance has no width, α or critic

        INTER_LOSSES.register(name, listed=listed)(build)
        return distance

    return add


@_token_distance("mse")
def mse_distance(x: Tensor, y: Tensor) -> Tensor:
    """||x - y||² / H (App. B's MSE divided by the width, i.e. a true mean squared error).

    The constant 1/H changes neither the minimiser nor Theorem 3.1 (f = -||x - y||²/H
    is as valid a critic), and keeps the loss on the scale of the prediction terms
    whatever the width, as TinyBERT's MSE does.
    """
    return (x - y).pow(2).mean(-1)


@_token_distance("l2")
def l2_distance(x: Tensor, y: Tensor) -> Tensor:
    """||x - y|| (App. B's L2 loss)."""
    return torch.linalg.vector_norm(x - y, dim=-1)


@_token_distance("cos")
def cos_distance(x: Tensor, y: Tensor) -> Tensor:
    """1 - cos(x, y) (App. B: maximising cosine similarity)."""
    return 1 - F.cosine_similarity(x, y, dim=-1)


@_token_distance("pkd-tokens", listed=False)  # what `pkd` meant in earlier runs: they still read
def pkd_distance(x: Tensor, y: Tensor) -> Tensor:
    """|| x/||x|| - y/||y|| ||² (App. B's PKD loss, Sun et al. 2019) per row: per token as
    ``pkd-tokens``, on the [CLS] rows as ``pkd`` (:class:`ClsDistanceLoss`)."""
    return (F.normalize(x, dim=-1) - F.normalize(y, dim=-1)).pow(2).sum(-1)


class ClsDistanceLoss(nn.Module):
    """Mean of a distance between the first-position ([CLS]) vectors of each example.

    BERT-PKD distils only [CLS]: the student's per-layer summary of the input is made to
    point the way the teacher's does (the norm is divided out), leaving the other
    positions free. The first position is a real token in every example (its mask is
    checked), so padding never enters.
    """

    def __init__(self, distance: Distance) -> None:
        super().__init__()
        self.distance = distance

    def forward(self, h_student: Tensor, h_teacher: Tensor, mask: Tensor) -> Tensor:
        mask = check_mask(h_student, h_teacher, mask)
        if not mask[:, 0].all():
            raise AutodistillError("PKD reads the first ([CLS]) position, but it is padding in some example")
        return self.distance(h_student[:, 0], h_teacher.detach()[:, 0]).mean()

    def extra_repr(self) -> str:
        return f"{self.distance.__name__} on [CLS]"


@INTER_LOSSES.register("pkd")
def _build_pkd(*, hidden_size: int, alpha: float, critic: str) -> nn.Module:
    return ClsDistanceLoss(pkd_distance)


@_token_distance("ce")
def ce_distance(x: Tensor, y: Tensor) -> Tensor:
    """H(softmax(y), softmax(x)) over the hidden dimension, at temperature 1.

    Each hidden vector is read as logits over its H features: the student matches
    the teacher's relative feature magnitudes, not their absolute values.
    """
    return -(y.softmax(-1) * x.log_softmax(-1)).sum(-1)
