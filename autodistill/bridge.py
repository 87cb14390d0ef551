"""Where the meta layer meets the engine: the only translation between their types.

AutoDistiller reasons about points of the Distiller search space
(:class:`~autodistill.space.DistillerConfig`: the four components of Eq. 1 and
the augmentation knobs); the engine runs typed
:class:`~engine.config.DistillConfig` objects and reports a
:class:`~engine.pipelines.run.RunResult`; the runs store keeps
:class:`~autodistill.store.RunRecord` rows. This module converts between them
and nothing else does:

* :func:`engine_config` — a space point + data set + teacher/student + per-trial
  budget (a :class:`~engine.config.TrainSettings`) → the engine config. Text
  augmenters map to the engine's operation names (``contextual`` → ``ca``,
  ``random`` → ``ra``, ``backtranslation`` → ``bt``) in stack order, then
  ``mixup`` last; ``alpha`` is passed for MI-α only, ``aug_p`` and
  ``repeated_aug`` only when text is augmented (they act on nothing else).
* :func:`distiller_config` — the inverse, for an engine config that is a point of
  the space (logit-only KD, say, is not).
* :func:`record_from_result` — a finished distillation's result → a store row,
  with the engine config and the budget kept in ``full_config``.
* :func:`space_for` — the part of the space a task can run: a regression head has
  one output, so cross-entropy prediction loss is out there.

The engine itself is only ever called through :func:`engine.pipelines.run.run` and
:func:`engine.pipelines.run.finetune` with these configs (see :mod:`autodistill.sweep`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from autodistill.space import (
    DEFAULT_AUG_P,
    DEFAULT_REPEATED_AUG,
    DEFAULT_SPACE,
    DistillerConfig,
    SearchSpace,
)
from autodistill.store import ModelDescriptor, RunRecord
from engine.config import DataColumns, DistillConfig, TrainSettings, parse_config
from engine.data.schema import TaskType
from engine.errors import AutodistillError

if TYPE_CHECKING:
    from engine.pipelines.run import RunResult

#: Search-space augmenter name -> the engine's augmentation operation name.
ENGINE_OPS: dict[str, str] = {"contextual": "ca", "random": "ra", "backtranslation": "bt"}
SPACE_AUGMENTERS: dict[str, str] = {op: name for name, op in ENGINE_OPS.items()}

#: The training fields a per-trial budget may set (the rest keep the engine's defaults).
BUDGET_FIELDS = ("epochs", "batch_size", "lr", "max_length", "max_train_examples", "max_eval_examples", "seed")


def make_budget(**overrides: Any) -> TrainSettings:
    """A per-trial budget: the engine's training defaults with the given (non-None) fields replaced."""
    unknown = sorted(set(overrides) - set(BUDGET_FIELDS))
    if unknown:
        raise AutodistillError(f"unknown budget field {unknown[0]!r}; choose from: {', '.join(BUDGET_FIELDS)}")
    try:
        return TrainSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AutodistillError(f"budget: {first['loc'][0]}: {first['msg']} (got {first['input']!r})") from None


def space_for(task_type: TaskType | str, space: SearchSpace = DEFAULT_SPACE) -> SearchSpace:
    """The configurations a task of this type can run: regression has no classes, so no CE prediction loss."""
    if TaskType(task_type) is TaskType.REGRESSION:
        return replace(space, pred_losses=tuple(p for p in space.pred_losses if p != "ce"))
    return space


def engine_config(
    config: DistillerConfig,
    dataset: str,
    *,
    teacher: str,
    student: str,
    budget: TrainSettings,
    columns: DataColumns | None = None,
) -> DistillConfig:
    """The engine config that runs Distiller configuration ``config`` (Eq. 1) under ``budget``;
    ``columns``: how to read ``dataset`` when it is a file with its own column names."""
    augment = [ENGINE_OPS[name] for name in config.augmenters] + (["mixup"] if config.mixup else [])
    data: dict[str, Any] = {
        "dataset": dataset,
        "teacher": teacher,
        "student": student,
        "mapping": config.mapping,
        "inter_loss": config.inter_loss,
        "pred_loss": config.pred_loss,
        "augment": augment,
        "train": budget.model_dump(exclude_unset=True),  # unset fields keep the student's defaults (its lr)
    }
    if columns is not None:
        data["columns"] = columns
    if config.inter_loss == "mi":
        data["alpha"] = config.alpha
    if config.augmenters:
        data["aug_p"] = config.aug_p
        data["repeated_aug"] = config.repeated_aug
    return parse_config(data, source="distiller config")


def baseline_config(dataset: str, *, teacher: str, student: str, budget: TrainSettings) -> DistillConfig:
    """The engine config of a student's no-KD baseline (``engine.pipelines.run.finetune``) under ``budget``."""
    return parse_config(
        {"dataset": dataset, "teacher": teacher, "student": student, "train": budget.model_dump(exclude_unset=True)},
        source="baseline config",
    )


def distiller_config(config: DistillConfig | Mapping[str, Any]) -> DistillerConfig:
    """The search-space point an engine config runs; refused (one line) if it is not in the space."""
    if not isinstance(config, DistillConfig):
        config = parse_config(dict(config), source="engine config")
    if config.team is not None:
        raise AutodistillError("a teacher-team run is not a point of the Distiller search space")
    if config.inter_loss is None or config.mapping is None:
        raise AutodistillError("logit-only KD (no intermediate loss) is not a point of the Distiller search space")
    ops = list(config.augment)
    mixup = "mixup" in ops
    if mixup and ops[-1] != "mixup":
        raise AutodistillError(f"augmentation {'+'.join(ops)}: the Distiller space applies mixup last")
    text = tuple(SPACE_AUGMENTERS[op] for op in ops if op != "mixup")
    return DistillerConfig(
        inter_loss=config.inter_loss,
        alpha=config.alpha if config.inter_loss == "mi" else None,
        mapping=config.mapping,
        pred_loss=config.pred_loss,
        augmenters=text,
        mixup=mixup,
        aug_p=config.aug_p if text else DEFAULT_AUG_P,
        repeated_aug=config.repeated_aug if text else DEFAULT_REPEATED_AUG,
    )


def descriptors(result: RunResult) -> tuple[ModelDescriptor, ModelDescriptor]:
    """(teacher, student) sizes as the store and the predictor see them."""
    teacher = ModelDescriptor(
        result.config["teacher"], result.teacher_layers, result.teacher_hidden, result.teacher_params
    )
    student = ModelDescriptor(
        result.config["student"], result.student_layers, result.student_hidden, result.student_params
    )
    return teacher, student


def record_from_result(result: RunResult, *, featurizer_version: str, source: str = "ours") -> RunRecord:
    """The runs-store row of a finished distillation (the run id is the engine's, so reruns collide)."""
    if result.kind != "distill":
        raise AutodistillError(f"only distillation runs go into the runs table, not a {result.kind!r} run")
    if not (result.teacher_score > 0 and math.isfinite(result.ratio)):
        raise AutodistillError(
            f"teacher dev {result.metric} on {result.dataset!r} is {result.teacher_score:.4g}: the distillation "
            "ratio (student / teacher) is undefined; use a larger dev set or a better teacher"
        )
    config = distiller_config(result.config)
    teacher, student = descriptors(result)
    return RunRecord(
        dataset=result.dataset,
        task_kind=result.task_kind,
        config=config,
        teacher=teacher,
        student=student,
        student_score=result.student_score,
        teacher_score=result.teacher_score,
        ratio=result.ratio,
        source=source,
        wall_time_s=result.wall_seconds,
        featurizer_version=featurizer_version,
        full_config={
            "distiller": config.to_dict(),
            "engine": result.config,
            "budget": result.config["train"],
            "metric": result.metric,
            "train_examples": result.train_examples,
            "output_dir": result.output_dir,
        },
        run_id=result.run_id,
    )
