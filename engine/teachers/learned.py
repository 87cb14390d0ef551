"""AutoSKDBERT: learn the categorical distribution Cat(θ) a teacher is sampled from.

The paper's pieces, one function or class each:

* :func:`unrolled_gradient`      the bilevel θ-gradient with a one-step unroll (Eq. 5; Eq. 7 for SSWO)
* :func:`select_teachers`        teacher selection between the phases (Eq. 8)
* :class:`CategoricalDistribution`  θ with its own Adam (§3.2.1), sampling, candidates
* :class:`LearnedPolicy`         Algorithm 1 as a teacher policy (registry key ``learned``)
* :class:`ThetaStep`             Algorithm 1's θ step, a trainer callback the policy hands the run
* :func:`retrain_candidates`     evaluation: retrain the student with candidate θs (§3.3)

How θ is represented. θ is kept as raw non-negative weights, one per teacher; a
teacher is drawn with probability θ_i / Σθ. SSWO (§2.4.1) scales the sampled
teacher's logits by its raw weight θ_i and updates that one weight only, so each
weight has its own Adam moments and step count: an unsampled weight is not moved
by momentum or weight decay. CR mixes all active teachers, Σ θ_j f^Tj, and updates
every active weight. Weights are clamped at 0 after each update. Teacher selection
(Eq. 8) drops the m smallest weights and renormalises the rest by their p-norm;
phase 2 then starts a fresh Adam on θ^(2).

Algorithm 1 as run here, with N the run's objective calls on each process, read from
the trainer's own schedule (:class:`engine.training.schedule.Schedule`: the process's
shard, ``min_steps`` epochs included): phase 1 is steps 0..⌈N/2⌉-1; selection happens
before step ⌈N/2⌉; phase 2 runs to the end. Every step first updates θ on a batch of
the distribution-optimisation half (with the student's current batch as L_train of
the unroll): the trainer's ``on_batch_begin`` event, heard by :class:`ThetaStep`. Then
the student step (Eq. 3, θ frozen) trains on the target θ_i f^Ti (SSWO) or Σ θ_j f^Tj
(CR), formed by the objective from the members and weights the θ step chose.
``candidates`` normalised distributions are saved at evenly spaced phase-2 steps,
the last at the final step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from accelerate.utils import extract_model_from_parallel
from torch import Tensor, nn
from torch.func import functional_call

from engine.errors import AutodistillError
from engine.kd.losses.prediction import DistillLoss
from engine.models.batch import Batch, model_inputs
from engine.registry import Registry
from engine.tasks.encoding import collate
from engine.teachers.objective import TEACHER_POLICIES, TeamObjective, sample_teacher, uniform
from engine.training import distributed
from engine.training.callbacks import TrainerCallback, TrainerState

#: ε of Eq. 8: keeps the renormalisation finite when every kept weight is zero.
SELECTION_EPS = 1e-12

# --------------------------------------------------------------------------- losses differentiable in θ


def _upcast(x: Tensor) -> Tensor:
    """At least float32 (as the registry losses compute); float64 stays float64."""
    return x if x.dtype == torch.float64 else x.float()


def _masked_log_softmax(logits: Tensor, mask: Tensor | None) -> Tensor:
    logits = _upcast(logits)
    if mask is not None:
        logits = logits.masked_fill(~mask.bool(), torch.finfo(logits.dtype).min)
    return logits.log_softmax(-1)


SOFT_TARGET_LOSSES: Registry[DistillLoss] = Registry("prediction loss of learned mode")


@SOFT_TARGET_LOSSES.register("ce")
def soft_target_kl(
    student_logits: Tensor, target_logits: Tensor, *, temperature: float = 1.0, mask: Tensor | None = None
) -> Tensor:
    """KL(softmax(t/T) ‖ softmax(s/T))·T², the θ step's version of ``PRED_LOSSES["ce"]``.

    The registry's soft cross-entropy is this plus the teacher's entropy T²·H(softmax(t/T)):
    the same gradient for the student, but with a differentiable target that entropy
    term would reward any θ that merely sharpens a teacher. L_d is "the difference
    between" teacher and student (§2.1), so the θ step differentiates the KL.
    """
    log_target = _masked_log_softmax(target_logits / temperature, mask)
    terms = log_target.exp() * (log_target - _masked_log_softmax(student_logits / temperature, mask))
    if mask is not None:
        terms = terms.masked_fill(~mask.bool(), 0.0)  # keeps 0·log(0) out of the double backward
    return terms.sum(-1).mean() * temperature**2


@SOFT_TARGET_LOSSES.register("mse")
def soft_target_mse(
    student_logits: Tensor, target_logits: Tensor, *, temperature: float = 1.0, mask: Tensor | None = None
) -> Tensor:
    """``PRED_LOSSES["mse"]`` with the target left differentiable (the θ step's version)."""
    squared = (_upcast(student_logits) - _upcast(target_logits)) ** 2
    return squared.mean() if mask is None else squared[mask.bool()].mean()


# --------------------------------------------------------------------------- the formulas


def unrolled_gradient(
    train_loss: Callable[[dict[str, Tensor], Tensor], Tensor],
    val_loss: Callable[[dict[str, Tensor], Tensor], Tensor],
    params: dict[str, Tensor],
    weights: Tensor,
    lr: float,
) -> Tensor:
    """Eq. 5 (Eq. 7 for SSWO): ∇_θ L_val(w − α∇_w L_train(w, θ), θ).

    The one-step unroll w' = w − α∇_w L_train(w, θ) stands in for w*(θ); the gradient
    is exact through it (second order: it includes −α ∇²_{θ,w} L_train · ∇_w' L_val),
    not DARTS's finite-difference approximation. ``lr`` = 0 gives the first-order
    gradient ∂_θ L_val(w, θ). ``weights`` are the θ entries being optimised (the
    sampled one for SSWO, the active ones for CR); the losses take (params, weights).
    """
    weights = weights.detach().requires_grad_(True)
    adapted = params
    if lr > 0:
        names = list(params)
        inner = train_loss(params, weights)
        grads = torch.autograd.grad(inner, [params[n] for n in names], create_graph=True, allow_unused=True)
        adapted = {n: params[n] if g is None else params[n] - lr * g for n, g in zip(names, grads, strict=True)}
    outer = val_loss(adapted, weights)
    (grad,) = torch.autograd.grad(outer, weights, allow_unused=True)
    return torch.zeros_like(weights) if grad is None else grad.detach()


def teacher_mask(theta: Tensor, m: int) -> Tensor:
    """mask(m_smallest(θ, m)) of Eq. 8: 0 at the m smallest weights (ties: lower index first), 1 elsewhere."""
    if not 0 <= m < theta.numel():
        raise AutodistillError(f"cannot drop m={m} of {theta.numel()} teachers; need 0 <= m < {theta.numel()}")
    order = torch.argsort(theta.detach().cpu(), stable=True)
    mask = torch.ones(theta.numel(), dtype=torch.bool)
    mask[order[:m]] = False
    return mask.to(theta.device)


def select_teachers(theta: Tensor, m: int, p: float = 1.0, eps: float = SELECTION_EPS) -> Tensor:
    """Eq. 8, teacher selection: θ^(2) = θ^(1)⊙mask / max(‖θ^(1)⊙mask‖_p, ε).

    The m smallest weights (the ineffective teachers) are zeroed and the rest
    renormalised by their p-norm (p = 1 in the paper: θ^(2) sums to one).
    """
    kept = theta * teacher_mask(theta, m).to(theta.dtype)
    return kept / torch.linalg.vector_norm(kept, ord=p).clamp_min(eps)


def candidate_steps(phase2_steps: int, count: int) -> list[int]:
    """Phase-2 step counts (1-based) after which a candidate is saved: ``count``
    evenly spaced points, the last at the end (every step if phase 2 is shorter)."""
    if phase2_steps <= 0:
        return []
    return sorted({max(1, round(k * phase2_steps / count)) for k in range(1, count + 1)})


# --------------------------------------------------------------------------- Cat(θ)


class CategoricalDistribution(nn.Module):
    """Cat(θ) over a team: raw weights, an active mask, per-weight Adam state.

    Everything lives in buffers and extra state (no parameters), so the trainer's
    checkpoint carries θ, its optimiser and the saved candidates, and the
    student's optimiser never sees θ.
    """

    def __init__(
        self,
        theta: Sequence[float],
        *,
        lr: float,
        weight_decay: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        n = len(theta)
        self.lr, self.weight_decay, self.betas, self.adam_eps = lr, weight_decay, betas, eps
        self.register_buffer("theta", torch.tensor(list(theta), dtype=torch.float32))
        self.register_buffer("active", torch.ones(n, dtype=torch.bool))
        self.register_buffer("exp_avg", torch.zeros(n))
        self.register_buffer("exp_avg_sq", torch.zeros(n))
        self.register_buffer("updates", torch.zeros(n, dtype=torch.long))
        self.candidates: list[dict[str, Any]] = []
        self.phase1_theta: list[float] | None = None
        self.selected_theta: list[float] | None = None

    def probabilities(self) -> Tensor:
        """θ / Σθ over the active teachers in float64 (uniform over them if every weight is 0)."""
        weights = self.theta.double().clamp_min(0) * self.active
        if float(weights.sum()) <= SELECTION_EPS:
            weights = self.active.double()
        return weights / weights.sum()

    def sample(self) -> int:
        return sample_teacher(self.probabilities())

    @torch.no_grad()
    def update(self, indices: Sequence[int], grad: Tensor) -> None:
        """One Adam step (L2 weight decay, as the paper's optimiser) on θ[indices] only."""
        idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.theta.device)
        theta = self.theta[idx]
        g = grad.to(theta) + self.weight_decay * theta
        beta1, beta2 = self.betas
        self.updates[idx] += 1
        steps = self.updates[idx].float()
        m = beta1 * self.exp_avg[idx] + (1 - beta1) * g
        v = beta2 * self.exp_avg_sq[idx] + (1 - beta2) * g * g
        self.exp_avg[idx], self.exp_avg_sq[idx] = m, v
        m_hat, v_hat = m / (1 - beta1**steps), v / (1 - beta2**steps)
        self.theta[idx] = (theta - self.lr * m_hat / (v_hat.sqrt() + self.adam_eps)).clamp_min(0)

    @torch.no_grad()
    def select(self, m: int, p: float) -> list[int]:
        """Teacher selection (Eq. 8) between the phases; returns the dropped teachers.

        Phase 2 optimises θ^(2) with a fresh Adam."""
        self.phase1_theta = self.theta.tolist()
        mask = teacher_mask(self.theta, m)
        self.theta.copy_(select_teachers(self.theta, m, p))
        self.active &= mask
        self.selected_theta = self.theta.tolist()
        for buffer in (self.exp_avg, self.exp_avg_sq, self.updates):
            buffer.zero_()
        return [i for i, kept in enumerate(mask.tolist()) if not kept]

    def save_candidate(self, step: int) -> None:
        self.candidates.append({"step": step, "theta": self.probabilities().tolist()})

    def get_extra_state(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "phase1": self.phase1_theta, "selected": self.selected_theta}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.candidates = list(state["candidates"])
        self.phase1_theta, self.selected_theta = state["phase1"], state["selected"]


# --------------------------------------------------------------------------- Algorithm 1

#: The batch keys through which the θ step hands the objective the members it chose and their θ.
MEMBERS, WEIGHTS = "team_members", "team_weights"


def mix(weights: Tensor, logits: list[list[Tensor]]) -> list[Tensor]:
    """θ_i f^Ti (SSWO, one member) or Σ_j θ_j f^Tj (CR), head by head."""
    return [sum(weights[k] * logits[k][h] for k in range(len(logits))) for h in range(len(logits[0]))]


@TEACHER_POLICIES.register("learned")
class LearnedPolicy(nn.Module):
    """AutoSKDBERT's two-phase optimisation (Algorithm 1) as a teacher policy.

    Each step n has two halves. The outer one, the θ step, is the trainer callback
    :class:`ThetaStep` (from :meth:`callbacks`): the loss computation stays free of side
    effects, and the θ update is one more event of the one training loop. The inner one is
    :meth:`signal`: the student's target for Eq. 3 from the members and weights the θ step
    put into the batch (θ frozen). The module holds the whole state of Cat(θ) and its
    counters, because the trainer checkpoints the objective's modules and not its callbacks.
    """

    def __init__(self, objective: TeamObjective) -> None:
        super().__init__()
        team = objective.team
        if objective.val is None or objective.total_steps is None:
            raise AutodistillError("learned mode needs the student half and the distribution-optimisation half")
        if objective.total_steps < 2:
            raise AutodistillError(
                f"learned mode needs at least 2 training steps (one per phase), got {objective.total_steps}; "
                "raise epochs or lower batch_size"
            )
        self.objective = objective
        self.team, self.sswo = team, team.update == "sswo"
        self.soft_loss = SOFT_TARGET_LOSSES.get(objective.config.pred_loss or objective.head.natural_loss)
        self.unroll_lr = team.theta_lr if team.unroll_lr is None else team.unroll_lr
        self.total = objective.total_steps
        self.phase1 = math.ceil(self.total / 2)
        self.saves = set(candidate_steps(self.total - self.phase1, team.candidates))
        self.distribution = CategoricalDistribution(
            team.theta or uniform(objective.size), lr=team.theta_lr, weight_decay=team.theta_weight_decay
        )
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("val_epoch", torch.zeros((), dtype=torch.long))
        self.register_buffer("val_batch", torch.zeros((), dtype=torch.long))
        self.dropped: list[int] = []

    def trainable_modules(self) -> list[nn.Module]:
        return [self]

    def callbacks(self, student: nn.Module) -> list[TrainerCallback]:
        return [ThetaStep(self, student)]

    def get_extra_state(self) -> dict[str, Any]:
        return {"dropped": self.dropped}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.dropped = list(state["dropped"])

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        """The target θ_i f^Ti (SSWO) or Σ θ_j f^Tj (CR) of the θ step's members and weights."""
        if MEMBERS not in batch:
            raise AutodistillError(
                "a learned team's batch came without the θ step's teachers; give the trainer the "
                "policy's callbacks (engine.teachers.learned.ThetaStep)"
            )
        members, weights = batch[MEMBERS].tolist(), batch[WEIGHTS]
        target = mix(weights, [self.objective.member_logits(i, batch) for i in members])
        logs = {"phase": 1.0 if int(self.step) <= self.phase1 else 2.0}  # ``step`` counts this step's θ update
        if self.sswo:
            logs.update(teacher=float(members[0]), theta=float(weights[0]))
        return target, logs

    def report(self) -> dict:
        dist = self.distribution
        return {
            "update": self.team.update,
            "steps": self.total,
            "phase1_steps": self.phase1,
            "theta": dist.probabilities().tolist(),
            "phase1_theta": dist.phase1_theta,
            "selected_theta": dist.selected_theta,
            "dropped": [self.team.teachers[i] for i in self.dropped],
            "candidates": dist.candidates,
        }


class ThetaStep(TrainerCallback):
    """Algorithm 1's outer step, before the objective sees each batch: at n = ⌈N/2⌉ teacher
    selection (Eq. 8); the members of step n (one sampled for SSWO, every active one for CR);
    a θ update by the unrolled gradient (Eq. 5/7) on the next batch of the distribution-
    optimisation half; the candidates of phase 2. The members and their updated θ go into the
    batch (:data:`MEMBERS`, :data:`WEIGHTS`), where :meth:`LearnedPolicy.signal` reads them.

    The trainer's mixed precision wraps the objective only, so under bf16 or fp16 this step
    computes in fp32 (the student's own step stays in the run's precision).
    """

    def __init__(self, policy: LearnedPolicy, student: nn.Module) -> None:
        self.policy, self.student = policy, student

    def on_batch_begin(self, state: TrainerState, position: int, batch: Batch) -> None:
        policy = self.policy
        dist, step = policy.distribution, int(policy.step)
        if step == policy.phase1 and dist.selected_theta is None:
            policy.dropped = dist.select(policy.team.drop_m, policy.team.p)
        active = [i for i, a in enumerate(dist.active.tolist()) if a]
        members = [dist.sample()] if policy.sswo else active
        logits = [policy.objective.member_logits(i, batch) for i in members]
        # Each process saw its own shard: θ takes the mean gradient, so it stays one distribution.
        dist.update(members, distributed.average(self.theta_gradient(batch, members, logits)))
        policy.step += 1
        if step >= policy.phase1 and (step + 1 - policy.phase1) in policy.saves:
            dist.save_candidate(step + 1)
        batch[MEMBERS], batch[WEIGHTS] = torch.tensor(members), dist.theta[members].detach()

    def _next_val_batch(self, device: torch.device) -> Batch:
        """The next batch of the θ half: a seeded order per pass, resumable by position."""
        policy = self.policy
        val, size = policy.objective.val, policy.objective.config.train.batch_size
        per_pass = math.ceil(len(val) / size)
        if int(policy.val_batch) >= per_pass:
            policy.val_epoch += 1
            policy.val_batch.zero_()
        seed = policy.objective.config.train.seed
        order = np.random.default_rng([seed, 51, int(policy.val_epoch)]).permutation(len(val))
        b = int(policy.val_batch)
        policy.val_batch += 1
        batch = collate(val, order[b * size : (b + 1) * size], policy.objective.pad_id)
        return {k: v.to(device) for k, v in batch.items()}

    def theta_gradient(self, batch: Batch, members: list[int], train_logits: list[list[Tensor]]) -> Tensor:
        """Eq. 5/7 for ``members``: the student's current ``batch`` is L_train of the unroll, the
        θ half's next batch L_val (its KD loss, or its labels' loss with ``theta_loss: labels``)."""
        module = extract_model_from_parallel(self.student)  # unwrap DistributedDataParallel
        policy, objective = self.policy, self.policy.objective
        params = {name: p for name, p in module.named_parameters() if p.requires_grad}
        val_batch = self._next_val_batch(batch["input_ids"].device)
        val_logits = [objective.member_logits(i, val_batch, "val") for i in members]

        def loss_on(
            data: Batch, logits: list[list[Tensor]], labels_only: bool = False
        ) -> Callable[[dict[str, Tensor], Tensor], Tensor]:
            def loss(weights_of_student: dict[str, Tensor], weights: Tensor) -> Tensor:
                out = functional_call(module, weights_of_student, args=(), kwargs=model_inputs(module, data))
                heads = objective.head.logits(out)
                if labels_only:
                    return objective.label_loss_only(heads, data)
                return objective.loss(heads, mix(weights, logits), data, kd_loss=policy.soft_loss)[0]

            return loss

        weights = policy.distribution.theta[members]
        val_loss = loss_on(val_batch, val_logits, labels_only=policy.team.theta_loss == "labels")
        return unrolled_gradient(loss_on(batch, train_logits), val_loss, params, weights, policy.unroll_lr)


__all__ = [
    "MEMBERS",
    "SOFT_TARGET_LOSSES",
    "WEIGHTS",
    "CategoricalDistribution",
    "LearnedPolicy",
    "ThetaStep",
    "candidate_steps",
    "select_teachers",
    "teacher_mask",
    "unrolled_gradient",
]
