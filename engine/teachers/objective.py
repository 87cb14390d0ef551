"""Prediction-layer KD from a teacher team, and the registry of teacher policies.

A *teacher policy* turns the team's logits into the one target the student
distils from at a step (prediction-layer KD only, as in AutoSKDBERT):

* ``single``  one member, ``team.pick`` (ordinary single-teacher KD);
* ``average`` the mean of all members' logits (AvgKD, Hinton et al. 2015);
* ``sample``  one member drawn per step from a fixed Cat(θ) (stochastic KD, AutoSKDBERT §2.1);
* ``learned`` AutoSKDBERT: Cat(θ) learned by bilevel optimisation (:mod:`engine.teachers.learned`).

The first three live in :mod:`engine.teachers.policies`. Every member's logits come
from its own :class:`~engine.kd.teacher_cache.TeacherCache`, so a step costs one
student forward whatever the team's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from engine.config import DistillConfig
from engine.errors import AutodistillError
from engine.kd.objective import prediction_terms
from engine.kd.teacher_cache import TeacherOutputs
from engine.models.batch import Batch, model_inputs
from engine.registry import Registry
from engine.tasks import task_head
from engine.tasks.encoding import EncodedSplit
from engine.tasks.spec import TaskSpec
from engine.training import distributed
from engine.training.callbacks import TrainerCallback
from engine.training.schedule import Schedule


class LogitSource(Protocol):
    """Where a member's logits come from: a :class:`TeacherCache` (or a stand-in in tests)."""

    def lookup(
        self, index: Tensor, width: int, device: torch.device | str, layers: tuple[int, ...]
    ) -> TeacherOutputs: ...


class TeacherPolicy(Protocol):
    """Forms each step's teacher signal from the team (one registry entry per mode)."""

    def trainable_modules(self) -> list[nn.Module]:
        """State the trainer checkpoints with the run (Cat(θ) and its optimiser for ``learned``)."""
        ...

    def callbacks(self, student: nn.Module) -> list[TrainerCallback]:
        """What the policy does at the trainer's events, outside the loss (``learned``: its θ step)."""
        ...

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        """The teacher logits (one tensor per head) the student distils from at this step."""
        ...

    def report(self) -> dict:
        """What to record in the run's result (θ, candidates, ...)."""
        ...


TEACHER_POLICIES: Registry[type] = Registry("teacher policy")


class TeamObjective:
    """Prediction-layer KD from a teacher team (AutoSKDBERT Eq. 1/3, plus Distiller's γ1 term):

        L = β1 · l^pred(g(f^T1..n(x)), f^S(x)) + γ1 · l^pred(y, f^S(x))

    where g is the teacher policy's signal. Implements the trainer's ``Objective``.
    ``train_index``/``val_index`` map the examples of the student's split and of the
    distribution-optimisation split to rows of the members' caches.
    """

    def __init__(
        self,
        spec: TaskSpec,
        config: DistillConfig,
        caches: Sequence[LogitSource],
        *,
        pad_id: int,
        train_index: np.ndarray | None = None,
        val: EncodedSplit | None = None,
        val_index: np.ndarray | None = None,
    ) -> None:
        if config.team is None:
            raise AutodistillError("a team objective needs config.team")
        self.spec, self.config, self.team = spec, config, config.team
        self.terms = prediction_terms(spec, config.pred_loss, config.temperature)
        self.head = task_head(spec)
        self.caches, self.pad_id = list(caches), pad_id
        if len(self.caches) != len(self.team.teachers):
            raise AutodistillError(f"{len(self.caches)} teacher caches for {len(self.team.teachers)} teachers")
        self.beta1, self.gamma1 = config.weights[:2]
        self.index = {"train": train_index, "val": val_index}
        self.val = val
        #: Objective calls in the whole run on each process (N of Algorithm 1), when the student
        #: split is known: the trainer's own schedule, with its shards and ``min_steps`` epochs.
        self.total_steps = (
            Schedule.of(len(train_index), config.train, distributed.state().num_processes).total_calls
            if train_index is not None
            else None
        )
        self.policy: TeacherPolicy = TEACHER_POLICIES.get(self.team.mode)(self)

    @property
    def size(self) -> int:
        return len(self.caches)

    def trainable_modules(self) -> list[nn.Module]:
        return self.policy.trainable_modules()

    def member_logits(self, member: int, batch: Batch, split: str = "train") -> list[Tensor]:
        """Member ``member``'s cached logits for ``batch`` (of the student or the θ split)."""
        index = batch["index"].cpu()
        mapping = self.index[split]
        if mapping is not None:
            index = torch.as_tensor(mapping, dtype=torch.long)[index]
        out = self.caches[member].lookup(index, batch["input_ids"].shape[1], batch["input_ids"].device, ())
        return out.logits

    def loss(
        self, student_logits: list[Tensor], target: list[Tensor], batch: Batch, *, kd_loss=None
    ) -> tuple[Tensor, dict[str, float]]:
        """β1·l^pred(target, student) + γ1·l^pred(y, student) for one batch.

        ``kd_loss`` replaces the registry loss; the θ step passes a version that
        keeps the target differentiable (:data:`engine.teachers.learned.SOFT_TARGET_LOSSES`).
        """
        return self.terms(
            student_logits, target, batch["labels"], batch, beta=self.beta1, gamma=self.gamma1, kd_loss=kd_loss
        )

    def label_loss_only(self, student_logits: list[Tensor], batch: Batch) -> Tensor:
        """The task's own loss against ground truth (CE, or MSE for regression)."""
        natural = prediction_terms(self.spec, self.head.natural_loss)
        return natural.supervise(student_logits, batch["labels"], batch)

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        target, logs = self.policy.signal(student, batch)
        outputs = student(**model_inputs(student, batch))
        loss, parts = self.loss(self.head.logits(outputs), [t.detach() for t in target], batch)
        return loss, {**logs, **parts}


def uniform(n: int) -> tuple[float, ...]:
    return tuple(1.0 / n for _ in range(n))


def sample_teacher(probabilities: Tensor) -> int:
    """One draw from Cat(θ). Uses torch's global generator, which the trainer
    checkpoints, so a resumed run draws the same teachers as an uninterrupted one.
    With several processes every one draws (their generators stay in step) and all
    take the main process's draw, so a step distils from one teacher everywhere."""
    return distributed.from_main(int(torch.multinomial(probabilities.detach().float().cpu(), 1).item()))
