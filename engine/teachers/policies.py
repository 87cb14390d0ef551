"""The fixed teacher policies: ``single``, ``average`` and ``sample`` (see
:mod:`engine.teachers.objective`); ``learned`` is :mod:`engine.teachers.learned`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.models.batch import Batch
from engine.teachers.objective import TEACHER_POLICIES, TeamObjective, sample_teacher, uniform
from engine.training.callbacks import TrainerCallback


class FixedPolicy:
    """A policy with nothing to learn: no state for the checkpoint, no trainer event to act on."""

    def trainable_modules(self) -> list[nn.Module]:
        return []

    def callbacks(self, student: nn.Module) -> list[TrainerCallback]:
        return []


@TEACHER_POLICIES.register("single")
class SinglePolicy(FixedPolicy):
    """Ordinary KD from one member, ``team.pick``."""

    def __init__(self, objective: TeamObjective) -> None:
        self.objective, self.pick = objective, objective.team.pick

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        return self.objective.member_logits(self.pick, batch), {}

    def report(self) -> dict:
        return {"pick": self.objective.team.teachers[self.pick]}


@TEACHER_POLICIES.register("average")
class AveragePolicy(FixedPolicy):
    """AvgKD: the mean of all members' logits (one ensemble target per step)."""

    def __init__(self, objective: TeamObjective) -> None:
        self.objective = objective

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        logits = [self.objective.member_logits(i, batch) for i in range(self.objective.size)]
        return [torch.stack(heads).mean(0) for heads in zip(*logits, strict=True)], {}

    def report(self) -> dict:
        return {}


@TEACHER_POLICIES.register("sample")
class SamplePolicy(FixedPolicy):
    """Stochastic KD with a fixed Cat(θ): one member per step, its logits as they are
    (AutoSKDBERT §2.1; how a learned candidate distribution is evaluated, §3.3)."""

    def __init__(self, objective: TeamObjective) -> None:
        self.objective = objective
        self.theta = torch.tensor(objective.team.theta or uniform(objective.size), dtype=torch.float32)

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        member = sample_teacher(self.theta)
        return self.objective.member_logits(member, batch), {"teacher": float(member)}

    def report(self) -> dict:
        return {"theta": self.theta.tolist()}
