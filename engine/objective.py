"""Training objectives: which terms of Distiller's Eq. 1 a run optimises.

:class:`SupervisedObjective` is the γ1 term alone, l^pred(y, f(x)): teacher
fine-tuning and the no-KD student baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.data.schema import TaskSpec, TaskType
from engine.trainer import Batch, model_inputs


def supervised_loss(spec: TaskSpec, outputs: object, labels: torch.Tensor) -> torch.Tensor:
    """Loss against ground truth: CE for classes, MSE for regression, start/end CE for spans."""
    if spec.task_type is TaskType.SPAN:
        start = F.cross_entropy(outputs.start_logits.float(), labels[:, 0])
        end = F.cross_entropy(outputs.end_logits.float(), labels[:, 1])
        return (start + end) / 2
    if spec.task_type is TaskType.REGRESSION:
        return F.mse_loss(outputs.logits[:, 0].float(), labels.float())
    return F.cross_entropy(outputs.logits.float(), labels)


class SupervisedObjective:
    """γ1·l^pred(y, f(x)) with γ1 = 1: plain fine-tuning, no teacher."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    def trainable_modules(self) -> list[nn.Module]:
        return []

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        loss = supervised_loss(self.spec, student(**model_inputs(student, batch)), batch["labels"])
        return loss, {"gt": float(loss.detach())}
