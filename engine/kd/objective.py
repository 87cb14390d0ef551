"""Training objectives: which terms of Distiller's Eq. 1 a run optimises.

    L = Σ_ij m_ij l^inter(H_i^T, H_j^S)                       (intermediate)
      + β1 l^pred(f^T(x), f^S(x)) + γ1 l^pred(y, f^S(x))       (original examples)
      + β2 l^pred(f^T(x̂), f^S(x̂)) + γ2 l^pred(ŷ, f^S(x̂))      (augmented examples)

The prediction-layer pair β·l^pred(teacher, student) + γ·l^pred(y, student) is
written once, :class:`PredictionTerms`; the original and augmented examples and
the teacher teams (:mod:`engine.teachers.team`) all use it. :class:`SupervisedObjective`
is γ1 alone (teacher fine-tuning, the no-KD student baseline).
:class:`DistillationObjective` is the whole equation; each term lives in its own
component (``engine.kd.mapping``, ``engine.kd.losses``), this module only adds them
up with the configured weights. What differs by task type comes from the task head
(:mod:`engine.tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from engine.augment.mixup import check_mixup_model, mix_inputs, mix_targets
from engine.augment.policy import AugmentPolicy
from engine.config import DistillConfig
from engine.errors import AutodistillError
from engine.kd.losses import LABEL_LOSSES, PRED_LOSSES, build_inter_loss, check_pred_loss
from engine.kd.losses.prediction import DistillLoss, LabelLoss
from engine.kd.mapping import build_mapping
from engine.kd.projection import HiddenProjection
from engine.kd.sampled_cache import SampleRows
from engine.kd.teacher_cache import TeacherCache, TeacherOutputs, teacher_forward
from engine.models.batch import Batch, model_inputs
from engine.tasks import TaskHead, task_head
from engine.tasks.spec import TaskSpec


@dataclass(frozen=True)
class PredictionTerms:
    """β·l^pred(f^T(x), f^S(x)) + γ·l^pred(y, f^S(x)) of Eq. 1 for one batch of examples.

    ``kd_loss`` compares student and teacher logits (``PRED_LOSSES``), ``label_loss``
    the student's logits and the ground truth (``LABEL_LOSSES``); the task head says
    which positions and targets each compares. Losses average over a task's head
    outputs (span start and end, as BERT's SQuAD head does).
    """

    spec: TaskSpec
    kd_loss: DistillLoss
    label_loss: LabelLoss
    temperature: float = 1.0

    @property
    def head(self) -> TaskHead:
        return task_head(self.spec)

    def distill(
        self, student: list[Tensor], teacher: list[Tensor], batch: Batch, kd_loss: DistillLoss | None = None
    ) -> Tensor:
        """l^pred(f^T(x), f^S(x)); ``kd_loss`` overrides the configured one (AutoSKDBERT's θ step)."""
        loss = kd_loss or self.kd_loss
        student, mask = self.head.kd_view(student, batch)
        teacher, _ = self.head.kd_view(teacher, batch)
        terms = [
            loss(s.float(), t.float(), temperature=self.temperature, mask=mask)
            for s, t in zip(student, teacher, strict=True)
        ]
        return sum(terms) / len(terms)

    def supervise(self, student: list[Tensor], targets: Tensor, batch: Batch) -> Tensor:
        """l^pred(y, f^S(x)) against labels, or mixup's soft targets."""
        student, wanted, mask = self.head.label_view(student, targets, self.spec, batch)
        terms = [
            self.label_loss(s.float(), y, task_type=self.spec.task_type, mask=mask)
            for s, y in zip(student, wanted, strict=True)
        ]
        return sum(terms) / len(terms)

    def __call__(
        self,
        student: list[Tensor],
        teacher: list[Tensor],
        targets: Tensor,
        batch: Batch,
        *,
        beta: float,
        gamma: float,
        suffix: str = "",
        kd_loss: DistillLoss | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """The weighted pair and its parts to log (``kd``/``gt``, plus ``suffix``)."""
        total = torch.zeros((), device=batch["attention_mask"].device)
        logs: dict[str, float] = {}
        if beta:
            kd = self.distill(student, teacher, batch, kd_loss)
            total, logs["kd" + suffix] = total + beta * kd, float(kd.detach())
        if gamma:
            gt = self.supervise(student, targets, batch)
            total, logs["gt" + suffix] = total + gamma * gt, float(gt.detach())
        return total, logs


def prediction_terms(spec: TaskSpec, pred_loss: str | None, temperature: float = 1.0) -> PredictionTerms:
    """The configured l^pred pair (None: the task head's natural loss), refusing CE on a regression task
    before training."""
    pred_loss = pred_loss or task_head(spec).natural_loss
    check_pred_loss(pred_loss, spec.task_type)
    return PredictionTerms(spec, PRED_LOSSES.get(pred_loss), LABEL_LOSSES.get(pred_loss), temperature)


class SupervisedObjective:
    """γ1·l^pred(y, f(x)) with γ1 = 1: plain fine-tuning, no teacher."""

    def __init__(self, spec: TaskSpec) -> None:
        self.terms = prediction_terms(spec, task_head(spec).natural_loss)

    def trainable_modules(self) -> list[nn.Module]:
        return []

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        logits = self.terms.head.logits(student(**model_inputs(student, batch)))
        loss = self.terms.supervise(logits, batch["labels"], batch)
        return loss, {"gt": float(loss.detach())}


class DistillationObjective:
    """Eq. 1 for one batch of original examples.

    Teacher outputs for original examples come from the :class:`TeacherCache` when
    one is given, else from a live teacher forward. The augmented-example terms
    (β2, γ2) need an augmentation policy (``augmentation``); with none configured they are zero,
    as the paper's defaults make them. With one, every batch must carry its augmented
    copies as ``aug_*`` tensors (the trainer callback
    :class:`engine.augment.training.AugmentedCopies` adds them). The teacher's logits on them come
    from ``aug_cache`` when the copies are cached ones (their batches carry ``aug_index``,
    see :mod:`engine.augment.copies`), else from a live forward; mixup always needs the
    live one, since it mixes embeddings.
    """

    def __init__(
        self,
        spec: TaskSpec,
        config: DistillConfig,
        teacher: nn.Module,
        *,
        student_layers: int,
        student_width: int,
        cache: TeacherCache | SampleRows | None = None,
        augmentation: AugmentPolicy | None = None,
    ) -> None:
        self.spec, self.config, self.teacher, self.cache = spec, config, teacher, cache
        self.aug_cache: TeacherCache | None = None
        self.terms = prediction_terms(spec, config.pred_loss, config.temperature)
        self.augmentation = augmentation
        self.mixup_rounds = augmentation.mixup_rounds if augmentation is not None else 0
        if self.mixup_rounds:
            check_mixup_model(teacher, "teacher")
        self.beta1, self.gamma1, self.beta2, self.gamma2 = config.weights
        self.mapping = self.projection = self.inter_loss = None
        if config.mapping is not None and config.inter_loss is not None:
            self._build_intermediate(config, teacher.config, student_layers, student_width)

    def _build_intermediate(self, config: DistillConfig, teacher_config, student_layers: int, width: int) -> None:
        """m_ij, the student-to-teacher width projection and l^inter (the first line of Eq. 1)."""
        self.mapping = build_mapping(
            config.mapping, num_student_layers=student_layers, num_teacher_layers=teacher_config.num_hidden_layers
        )
        self.projection = HiddenProjection(student_layers, width, teacher_config.hidden_size)
        self.inter_loss = build_inter_loss(
            config.inter_loss, hidden_size=teacher_config.hidden_size, alpha=config.alpha, critic=config.critic
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

    def prefetch(self, indices: np.ndarray, device: torch.device) -> None:
        """Let the teacher cache start moving the next batch's outputs to ``device``."""
        if self.cache is not None:
            self.cache.prefetch(indices, device, self.mapping.teacher_layers if self.mapping is not None else ())

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        outputs = student(**model_inputs(student, batch), output_hidden_states=self.mapping is not None)
        teacher = self.teacher_outputs(batch)
        loss, logs = self.terms(
            self.terms.head.logits(outputs),
            teacher.logits,
            batch["labels"],
            batch,
            beta=self.beta1,
            gamma=self.gamma1,
        )
        if self.mapping is not None:
            inter = self.mapping.loss(
                self.projection(outputs.hidden_states), teacher.hidden_states, batch["attention_mask"], self.inter_loss
            )
            loss = loss + self.config.inter_weight * inter
            logs["inter"] = float(inter.detach())
        if self.augmentation is not None:
            aug_loss, aug_logs = self.augmented_terms(student, batch)
            loss = loss + aug_loss
            logs.update(aug_logs)
        return loss, logs

    def augmented_terms(self, student: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """β2 l^pred(f^T(x̂), f^S(x̂)) + γ2 l^pred(ŷ, f^S(x̂)) of Eq. 1, on the batch's ``aug_*`` copies."""
        if "aug_input_ids" not in batch:
            raise AutodistillError(
                "an augmentation policy is configured but this batch came without augmented examples; "
                "give the trainer the engine.augment.training.AugmentedCopies callback"
            )
        device = batch["input_ids"].device
        size = batch["aug_input_ids"].shape[0]
        if size == 0 or not (self.beta2 or self.gamma2):
            return torch.zeros((), device=device), {"aug_examples": float(size)}
        inputs = {k[4:]: v.to(device) for k, v in batch.items() if k.startswith("aug_")}
        targets, width, index = inputs.pop("labels"), inputs["input_ids"].shape[1], inputs.pop("index", None)
        student_inputs = teacher_inputs = inputs
        if self.mixup_rounds and "mix_perm" in batch:
            perm, lam = batch["mix_perm"].to(device), batch["mix_lambda"].to(device)
            student_inputs = mix_inputs(student, inputs, perm, lam)
            with torch.no_grad():
                teacher_inputs = mix_inputs(self.teacher, inputs, perm, lam)
            targets = mix_targets(targets, self.spec, perm, lam, width)
        if self.aug_cache is not None and index is not None and teacher_inputs is inputs:
            teacher_logits = self.aug_cache.lookup(index, width, device, ()).logits
        else:
            with torch.no_grad():
                self.teacher.eval()
                teacher_logits = self.terms.head.logits(self.teacher(**model_inputs(self.teacher, teacher_inputs)))
        student_logits = self.terms.head.logits(student(**model_inputs(student, student_inputs)))
        loss, logs = self.terms(
            student_logits,
            teacher_logits,
            targets,
            {"attention_mask": student_inputs["attention_mask"]},
            beta=self.beta2,
            gamma=self.gamma2,
            suffix="_aug",
        )
        return loss, {"aug_examples": float(size), **logs}
