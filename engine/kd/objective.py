"""Training objectives: which terms of Distiller's Eq. 1 a run optimises.

    L = Σ_ij m_ij l^inter(H_i^T, H_j^S)                       (intermediate)
      + β1 l^pred(f^T(x), f^S(x)) + γ1 l^pred(y, f^S(x))       (original examples)
      + β2 l^pred(f^T(x̂), f^S(x̂)) + γ2 l^pred(ŷ, f^S(x̂))      (augmented examples)

:class:`SupervisedObjective` is γ1 alone (teacher fine-tuning, the no-KD student
baseline). :class:`DistillationObjective` is the whole equation; each term lives
in its own component (``engine.kd.mapping``, ``engine.kd.losses``), this module only
adds them up with the configured weights.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.augment.mixup import check_mixup_model, mix_inputs, mix_targets
from engine.augment.policy import AugmentPolicy
from engine.config import DistillConfig
from engine.data.schema import TaskSpec, TaskType
from engine.errors import AutodistillError
from engine.kd.losses import LABEL_LOSSES, PRED_LOSSES, build_inter_loss, check_pred_loss
from engine.kd.mapping import build_mapping
from engine.kd.projection import HiddenProjection
from engine.kd.teacher_cache import TeacherCache, TeacherOutputs, teacher_forward
from engine.training.trainer import Batch, model_inputs


def prediction_heads(outputs: object, spec: TaskSpec) -> list[torch.Tensor]:
    """The prediction layer's logits as a list: [logits], or [start, end] for spans."""
    if spec.task_type is TaskType.SPAN:
        return [outputs.start_logits, outputs.end_logits]
    return [outputs.logits]


def logit_list(logits: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
    return list(logits) if isinstance(logits, tuple) else [logits]


def label_targets(labels: torch.Tensor, spec: TaskSpec) -> list[torch.Tensor]:
    """Per-head targets; regression targets standardized with the task's label scale."""
    if spec.task_type is TaskType.SPAN:
        return [labels[:, 0], labels[:, 1]]
    if spec.label_scale is not None:
        mean, std = spec.label_scale
        return [(labels - mean) / std]
    return [labels]


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
        loss = mean_over_heads(
            self.label_loss,
            prediction_heads(outputs, self.spec),
            label_targets(batch["labels"], self.spec),
            self.spec,
            batch,
        )
        return loss, {"gt": float(loss.detach())}


def mean_over_heads(
    fn, logits: list[torch.Tensor], targets: list[torch.Tensor], spec: TaskSpec, batch: Batch
) -> torch.Tensor:
    """Average a label loss over heads (span start and end, as BERT's SQuAD head does)."""
    mask = batch["attention_mask"].bool() if spec.task_type is TaskType.SPAN else None
    total = sum(fn(lg.float(), t, task_type=spec.task_type, mask=mask) for lg, t in zip(logits, targets, strict=True))
    return total / len(logits)


class DistillationObjective:
    """Eq. 1 for one batch of original examples.

    Teacher outputs for original examples come from the :class:`TeacherCache` when
    one is given, else from a live teacher forward. The augmented-example terms
    (β2, γ2) need an augmentation policy (``augmentation``); with none configured they are zero,
    as the paper's defaults make them. With one, every batch must come with its
    augmented copies (:meth:`stage_augmented`, done by
    :class:`engine.augment.training.AugmentingTrainer`); their teacher outputs are
    always computed live (the cache only holds original examples).
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
        augmentation: AugmentPolicy | None = None,
    ) -> None:
        check_pred_loss(config.pred_loss, spec.task_type)
        self.spec, self.config, self.teacher, self.cache = spec, config, teacher, cache
        self.augmentation = augmentation
        self.mixup_rounds = augmentation.mixup_rounds if augmentation is not None else 0
        self.staged: Batch | None = None
        if self.mixup_rounds:
            check_mixup_model(teacher, "teacher")
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
            return self.cache.lookup(batch["index"], batch["input_ids"].shape[1], batch["input_ids"].device, layers)
        with torch.no_grad():
            self.teacher.eval()
            return teacher_forward(self.teacher, batch, self.spec)

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = student(**model_inputs(student, batch), output_hidden_states=self.mapping is not None)
        teacher = self.teacher_outputs(batch)
        student_logits = prediction_heads(outputs, self.spec)
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
                for s, t in zip(student_logits, logit_list(teacher.logits), strict=True)
            ) / len(student_logits)
            loss = loss + self.beta1 * kd
            logs["kd"] = float(kd.detach())
        if self.gamma1:
            gt = mean_over_heads(
                self.label_loss, student_logits, label_targets(batch["labels"], self.spec), self.spec, batch
            )
            loss = loss + self.gamma1 * gt
            logs["gt"] = float(gt.detach())
        if self.augmentation is not None:
            aug_loss, aug_logs = self.augmented_terms(student, batch["input_ids"].device)
            loss = loss + aug_loss
            logs.update(aug_logs)
        return loss, logs

    def stage_augmented(self, augmented: Batch) -> None:
        """Hand over the next batch's augmented copies (``aug_*`` tensors, mixup's plan)."""
        self.staged = augmented

    def augmented_terms(self, student: nn.Module, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        """β2 l^pred(f^T(x̂), f^S(x̂)) + γ2 l^pred(ŷ, f^S(x̂)) of Eq. 1, teacher run live on x̂."""
        if self.staged is None:
            raise AutodistillError(
                "an augmentation policy is configured but this batch came without augmented examples; "
                "train with engine.augment.training.AugmentingTrainer"
            )
        aug, self.staged = self.staged, None
        zero = torch.zeros((), device=device)
        size = aug["aug_input_ids"].shape[0]
        if size == 0 or not (self.beta2 or self.gamma2):
            return zero, {"aug_examples": float(size)}
        inputs = {k[4:]: v.to(device) for k, v in aug.items() if k.startswith("aug_")}
        targets, width = inputs.pop("labels"), inputs["input_ids"].shape[1]
        student_inputs = teacher_inputs = inputs
        if self.mixup_rounds and "mix_perm" in aug:
            perm, lam = aug["mix_perm"].to(device), aug["mix_lambda"].to(device)
            student_inputs = mix_inputs(student, inputs, perm, lam)
            with torch.no_grad():
                teacher_inputs = mix_inputs(self.teacher, inputs, perm, lam)
            targets = mix_targets(targets, self.spec, perm, lam, width, self.spec.num_labels)
        with torch.no_grad():
            self.teacher.eval()
            teacher_out = self.teacher(**model_inputs(self.teacher, teacher_inputs))
        student_logits = prediction_heads(student(**model_inputs(student, student_inputs)), self.spec)
        mask_batch = {"attention_mask": student_inputs["attention_mask"]}
        mask = mask_batch["attention_mask"].bool() if self.spec.task_type is TaskType.SPAN else None
        loss, logs = zero, {"aug_examples": float(size)}
        if self.beta2:
            kd = sum(
                self.pred_loss(s.float(), t.float(), temperature=self.config.temperature, mask=mask)
                for s, t in zip(student_logits, prediction_heads(teacher_out, self.spec), strict=True)
            ) / len(student_logits)
            loss = loss + self.beta2 * kd
            logs["kd_aug"] = float(kd.detach())
        if self.gamma2:
            gt = mean_over_heads(
                self.label_loss, student_logits, label_targets(targets, self.spec), self.spec, mask_batch
            )
            loss = loss + self.gamma2 * gt
            logs["gt_aug"] = float(gt.detach())
        return loss, logs
