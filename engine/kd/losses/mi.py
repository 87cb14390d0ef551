"""MI-α (§3.3): intermediate distillation by maximising the interpolated MI lower bound I_α.

I_α is the multi-sample bound of Poole et al. (2019, "On Variational Bounds of
Mutual Information"), with critics f(x, y) and q(y):

    I(X; Y) ≥ 1 + E_{p(x_{1:K}) p(y|x_1)} [ log( e^{f(x_1, y)} / (α m(y; x_{1:K}) + (1-α) q(y)) ) ]
                - E_{p(x_{1:K}) p(y)}     [      e^{f(x_1, y)} / (α m(y; x_{1:K}) + (1-α) q(y))   ]

with m(y; x_{1:K}) = (1/K) Σ_k e^{f(x_k, y)}. (The paper's typeset formula puts a log
on the second term too; Poole et al.'s bound, and this code, do not.) α = 0 is the
single-sample TUBA bound with baseline q (unbiased, high variance); α = 1 is
InfoNCE (low variance, capped at log K); increasing α trades variance for bias.

Here x is the student's (pooled) hidden sequence, y the teacher's, and the other
examples of the minibatch play z_{1:K}. The loss is -I_α; the critics train
jointly with the student on that same loss.

A batch of one example (the last batch of an epoch whose per-process size is
≡ 1 mod the batch size) has K = 0: no negatives, so m(y; x_{1:K}) is undefined and
the marginal term, which needs a y drawn apart from its x, has no sample. Such a
batch contributes no MI-α term: the loss is 0 with no gradient, and
:attr:`MIAlphaLoss.skipped` counts it. Negatives kept from the previous batch were
the alternative, and were rejected: their student states come from an earlier
student (not draws from the current p(x)), their re-encoding would cost a second
batch of critic passes, and the paper takes z_{1:K} from the same minibatch
(K + 1 = batch size, §3.3). Skipping loses the intermediate signal of one example
per epoch at most; its prediction-layer terms of Eq. 1 still train it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from engine.errors import AutodistillError
from engine.kd.losses.intermediate import INTER_LOSSES, check_mask
from engine.registry import Registry

logger = logging.getLogger(__name__)


def check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise AutodistillError(f"MI-α needs alpha in [0, 1], got {alpha!r} (the paper uses 0.1, 0.5 or 0.9)")


def _log_mean_exp_leave_one_out(scores: Tensor) -> Tensor:
    """L[i, j] = log( mean_{k ≠ i} exp(scores[k, j]) ), exactly and without overflow.

    The sum over k ≠ i is the sum over k < i plus the sum over k > i, both read off
    running log-sum-exps, instead of the cancellation-prone log(total - own term).
    """
    b = scores.shape[0]
    pad = scores.new_full((1, b), -math.inf)
    below = torch.cat([pad, scores.logcumsumexp(0)[:-1]])
    above = torch.cat([scores.flip(0).logcumsumexp(0).flip(0)[1:], pad])
    return torch.logaddexp(below, above) - math.log(b - 1)


def interpolated_bound(scores: Tensor, log_q: Tensor, alpha: float) -> Tensor:
    """I_α of Poole et al. (2019) from a minibatch (§3.3), with K = B - 1.

    ``scores[i, j] = f(x_i, y_j)`` for B paired samples (x_i, y_i) ~ p(x, y) and
    ``log_q[j] = log q(y_j)``. Each y_j is scored against K = B - 1 of the x's: for the
    joint term every set {x_k : k ≠ i} with i ≠ j (it contains y_j's partner x_j);
    for the marginal term, pairs (x_i, y_j) with i ≠ j against {x_k : k ≠ j}, which
    holds no sample dependent on y_j. Everything stays in log-space until the
    marginal term's final exp, which for α > 0 is bounded by (B - 1)/α.
    """
    check_alpha(alpha)
    b = scores.shape[0]
    if scores.shape != (b, b) or log_q.shape != (b,):
        raise AutodistillError(
            f"I_α needs scores [B, B] and log q [B], got {tuple(scores.shape)} and {tuple(log_q.shape)}"
        )
    if b < 2:
        raise AutodistillError("MI-α needs a batch of at least 2 examples (the others are its negatives)")
    scores, log_q = scores.float(), log_q.float()
    if alpha == 0:
        log_base = log_q.expand(b, b)
    else:
        log_m = _log_mean_exp_leave_one_out(scores)
        log_base = log_m if alpha == 1 else torch.logaddexp(math.log(alpha) + log_m, math.log1p(-alpha) + log_q)
    # log_base[i, j] = log( α m(y_j; {x_k : k ≠ i}) + (1-α) q(y_j) )
    off_diagonal = ~torch.eye(b, dtype=torch.bool, device=scores.device)
    joint = (scores.diagonal() - log_base)[off_diagonal].mean()
    marginal_log = (scores - log_base.diagonal())[off_diagonal]
    marginal = (marginal_log.logsumexp(0) - math.log(marginal_log.numel())).exp()
    return 1 + joint - marginal


def _masked_mean(h: Tensor, mask: Tensor) -> Tensor:
    """[B, T, D] -> [B, D], averaging the unpadded tokens of each sequence."""
    weights = mask.unsqueeze(-1).to(h.dtype)
    return (h * weights).sum(1) / weights.sum(1)


CRITICS: Registry[Callable[[int], nn.Module]] = Registry("MI critic")


@CRITICS.register("transformer")
class TransformerCritic(nn.Module):
    """Sequence encoder of App. G: a 2-layer Transformer (FFN 256, 8 heads), mean-pooled.

    The paper does not give the model width; inputs are projected to 256 (divisible
    by the 8 heads and small beside BERT widths). No positional encoding: the
    hidden states already carry position. No dropout: the critic is an estimator.
    """

    width = 256

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.embed = nn.Linear(hidden_size, self.width)
        layer = nn.TransformerEncoderLayer(self.width, nhead=8, dim_feedforward=256, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        return _masked_mean(self.encoder(self.embed(h), src_key_padding_mask=~mask), mask)


@CRITICS.register("mlp")
class MLPCritic(nn.Module):
    """The paper's MLP alternative (Table 4): 4 layers of width 512 per token, mean-pooled."""

    width = 512

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        w = self.width
        self.net = nn.Sequential(
            nn.Linear(hidden_size, w),
            nn.ReLU(),
            nn.Linear(w, w),
            nn.ReLU(),
            nn.Linear(w, w),
            nn.ReLU(),
            nn.Linear(w, w),
        )

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        return _masked_mean(self.net(h), mask)


@INTER_LOSSES.register("mi")
class MIAlphaLoss(nn.Module):
    """-I_α between student (x) and teacher (y) hidden sequences: the MI-α loss of §3.3.

    The critic is separable, f(x, y) = <g(x), h(y)> / sqrt(D), with g and h two
    encoders of the chosen kind (student and teacher states live in different
    spaces), and log q(y) a linear read-out of h(y). Separable scores cost 2B
    encoder passes for the B × B score matrix instead of B² pair passes. A mapping
    hands one instance every layer pair, so the critics are shared across pairs.
    """

    def __init__(self, *, hidden_size: int, alpha: float = 0.9, critic: str = "transformer") -> None:
        super().__init__()
        check_alpha(alpha)
        encoder = CRITICS.get(critic)
        self.alpha = alpha
        self.encode_student = encoder(hidden_size)
        self.encode_teacher = encoder(hidden_size)
        self.log_q = nn.Linear(self.encode_teacher.width, 1)
        #: Calls skipped because their batch held one example (see the module docstring).
        self.skipped = 0

    def forward(self, h_student: Tensor, h_teacher: Tensor, mask: Tensor) -> Tensor:
        return self.pairwise([h_student], [h_teacher], mask)[0, 0]

    def pairwise(self, students: Sequence[Tensor], teachers: Sequence[Tensor], mask: Tensor) -> Tensor:
        """-I_α for every (student, teacher) state pair, as a [len(students), len(teachers)] matrix.

        The critics are shared, so each state is encoded once, all layers of a side in
        one batched pass, instead of once per pair: the EMD mapping scores N x M pairs
        from N + M encodings.
        """
        mask = check_mask(students[0], teachers[0], mask)
        if not mask.any(1).all():
            raise AutodistillError("MI-α got a sequence with no unpadded token")
        if mask.shape[0] < 2:
            return self._skip(len(students), len(teachers), students[0])
        g = self._encode(self.encode_student, students, mask)
        h = self._encode(self.encode_teacher, [t.detach() for t in teachers], mask)
        log_q = self.log_q(h).squeeze(-1)
        batch, scale = mask.shape[0], math.sqrt(g.shape[-1])
        losses = [
            -interpolated_bound(g_s @ h_t.T / scale, q_t, self.alpha)
            for g_s in g.split(batch)
            for h_t, q_t in zip(h.split(batch), log_q.split(batch), strict=True)
        ]
        return torch.stack(losses).view(len(students), len(teachers))

    def _skip(self, rows: int, columns: int, like: Tensor) -> Tensor:
        """The zero loss of a batch of one: it has no negatives, so no I_α (module docstring)."""
        if self.skipped == 0:
            logger.info("MI-α skips a batch of one example (no negatives); its prediction-layer terms still train")
        self.skipped += 1
        return like.new_zeros(rows, columns, dtype=torch.float32)

    @staticmethod
    def _encode(encoder: nn.Module, states: Sequence[Tensor], mask: Tensor) -> Tensor:
        """Encode L states [B, T, D] stacked as one [L·B, T, D] batch -> [L·B, width]."""
        masks = mask.repeat(len(states), 1)
        return encoder(torch.cat(list(states)).masked_fill(~masks.unsqueeze(-1), 0), masks)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
