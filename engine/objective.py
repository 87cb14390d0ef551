"""Training objectives: which terms of Distiller's Eq. 1 a run optimises.

    L = Σ_ij m_ij l^inter(H_i^T, H_j^S)                       (intermediate)
      + β1 l^pred(f^T(x), f^S(x)) + γ1 l^pred(y, f^S(x))       (original examples)
      + β2 l^pred(f^T(x̂), f^S(x̂)) + γ2 l^pred(ŷ, f^S(x̂))      (augmented examples)

:class:`SupervisedObjective` is γ1 alone (teacher fine-tuning, the no-KD student
baseline). :class:`DistillationObjective` is the whole equation; each term lives
in its own component (``engine.mapping``, ``engine.losses``), this module only
adds them up with the configured weights.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.config import DistillConfig
from engine.data.schema import TaskSpec, TaskType
from engine.losses import LABEL_LOSSES, PRED_LOSSES, build_inter_loss, check_pred_loss
from engine.mapping import build_mapping
from engine.projection import HiddenProjection
from engine.teacher_cache import TeacherCache, TeacherOutputs, teacher_forward
from engine.trainer import Batch, model_inputs


def _heads(outputs: object, spec: TaskSpec) -> list[torch.Tensor]:
    """The prediction layer's logits as a list: [logits], or [start, end] for spans."""
    if spec.task_type is TaskType.SPAN:
        return [outputs.start_logits, outputs.end_logits]
    return [outputs.logits]


def _as_list(logits: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
    return list(logits) if isinstance(logits, tuple) else [logits]


def _label_targets(labels: torch.Tensor, spec: TaskSpec) -> list[torch.Tensor]:
    return [labels[:, 0], labels[:, 1]] if spec.task_type is TaskType.SPAN else [labels]


def natural_label_loss(spec: TaskSpec) -> str:
    """Fine-tuning's loss: cross-entropy for classes and spans, MSE for regression."""
    return "mse" if spec.task_type is TaskType.REGRESSION else "ce"


class SupervisedObjective:
    """γ1·l^pred(y, f(x)) with γ1 = 1: plain fine-tuning, no teacher."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.label_loss = LABEL_LOSSES.get(natural_label_loss(spec))

    def trainable_modules(self) -> list[nn.Module]:
        return []

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = student(**model_inputs(student, batch))
        loss = _mean_over_heads(
            self.label_loss,
            _heads(outputs, self.spec),
            _label_targets(batch["labels"], self.spec),
            self.spec,
            batch,
        )
        return loss, {"gt": float(loss.detach())}


def _mean_over_heads(
    fn, logits: list[torch.Tensor], targets: list[torch.Tensor], spec: TaskSpec, batch: Batch
) -> torch.Tensor:
    """Average a label loss over heads (span start and end, as BERT's SQuAD head does)."""
    mask = batch["attention_mask"].bool() if spec.task_type is TaskType.SPAN else None
    total = sum(
        fn(lg.float(), t, task_type=spec.task_type, mask=mask) for lg, t in zip(logits, targets, strict=True)
    )
    return total / len(logits)


class DistillationObjective:
    """Eq. 1 for one batch of original examples.

    Teacher outputs for original examples come from the :class:`TeacherCache` when
    one is given, else from a live teacher forward. The augmented-example terms
    (β2, γ2) need an augmentation policy; with none configured they are zero, as the
    paper's defaults make them.
    """

    def __init__(
        self,
        spec: TaskSpec,
        config: DistillConfig,
        teacher: nn.Module,
        *,
        student_layers: int,
        student_width: int,
        cache: TeacherCache | None = None,
    ) -> None:
        check_pred_loss(config.pred_loss, spec.task_type)
        self.spec, self.config, self.teacher, self.cache = spec, config, teacher, cache
        self.beta1, self.gamma1, self.beta2, self.gamma2 = config.weights
        self.pred_loss = PRED_LOSSES.get(config.pred_loss)
        self.label_loss = LABEL_LOSSES.get(config.pred_loss)
        teacher_config = teacher.config
        self.mapping = self.projection = self.inter_loss = None
        if config.mapping is not None and config.inter_loss is not None:
            self.mapping = build_mapping(
                config.mapping,
                num_student_layers=student_layers,
                num_teacher_layers=teacher_config.num_hidden_layers,
            )
            self.projection = HiddenProjection(student_layers, student_width, teacher_config.hidden_size)
            self.inter_loss = build_inter_loss(
                config.inter_loss,
                hidden_size=teacher_config.hidden_size,
                alpha=config.alpha,
                critic=config.critic,
            )

    def trainable_modules(self) -> list[nn.Module]:
        return [m for m in (self.projection, self.inter_loss) if m is not None]

    def teacher_outputs(self, batch: Batch) -> TeacherOutputs:
        if self.cache is not None:
            layers = self.mapping.teacher_layers if self.mapping is not None else ()
            return self.cache.lookup(
                batch["index"], batch["input_ids"].shape[1], batch["input_ids"].device, layers
            )
        with torch.no_grad():
            self.teacher.eval()
            return teacher_forward(self.teacher, batch, self.spec)

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = student(**model_inputs(student, batch), output_hidden_states=self.mapping is not None)
        teacher = self.teacher_outputs(batch)
        student_logits = _heads(outputs, self.spec)
        mask = batch["attention_mask"].bool() if self.spec.task_type is TaskType.SPAN else None
        logs: dict[str, float] = {}
        loss = torch.zeros((), device=batch["input_ids"].device)
        if self.mapping is not None:
            inter = self.mapping.loss(
                self.projection(outputs.hidden_states),
                teacher.hidden_states,
                batch["attention_mask"],
                self.inter_loss,
            )
            loss = loss + self.config.inter_weight * inter
            logs["inter"] = float(inter.detach())
        if self.beta1:
            kd = sum(
                self.pred_loss(s.float(), t.float(), temperature=self.config.temperature, mask=mask)
                for s, t in zip(student_logits, _as_list(teacher.logits), strict=True)
            ) / len(student_logits)
            loss = loss + self.beta1 * kd
            logs["kd"] = float(kd.detach())
        if self.gamma1:
            gt = _mean_over_heads(
                self.label_loss, student_logits, _label_targets(batch["labels"], self.spec), self.spec, batch
            )
            loss = loss + self.gamma1 * gt
            logs["gt"] = float(gt.detach())
        return loss, logs
