"""Where the meta layer meets the engine: engine configs for trials, store rows from results.

AutoDistiller reasons about points of the Distiller search space
(:class:`~autodistill.space.pipeline.Pipeline`, which already holds
:class:`engine.DistillConfig` field values); the engine runs typed configs and
reports a :class:`engine.RunResult`; the runs store keeps
:class:`~autodistill.store.database.RunRecord` rows. There is no vocabulary to translate,
only the parts of a run that a point does not hold to add:

* :func:`engine_config` — a point + data set + teacher/student + per-trial
  budget (a :class:`engine.TrainSettings`) → the engine config
  (:meth:`Pipeline.engine_fields <autodistill.space.pipeline.Pipeline.engine_fields>`
  says which fields a point sets);
* :func:`record_from_result` — a finished distillation's result → a store row,
  with the engine config and the budget kept in ``full_config``;
* :func:`space_for` — the part of the space a task can run: a regression head has
  one output, so cross-entropy prediction loss is out there; a token-tagging head labels
  words, so text augmentation is out there.

The engine itself is only ever called through :func:`engine.run` and
:func:`engine.finetune` with these configs (see :mod:`autodistill.sweep`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from autodistill.space import DEFAULT_SPACE, Pipeline, SearchSpace
from autodistill.store.database import ModelDescriptor, RunRecord, earlier_run_columns
from engine import (
    AutodistillError,
    DataColumns,
    DistillConfig,
    TrainSettings,
    parse_config,
    real_valued,
    text_augmentable,
)

if TYPE_CHECKING:
    from engine import RunResult

#: The training fields a per-trial budget may set (the rest keep the engine's defaults).
BUDGET_FIELDS = ("epochs", "batch_size", "lr", "max_length", "max_train_examples", "max_eval_examples", "seed")
#: Training fields a budget may also set that change how trials are watched, not what they are:
#: they stay out of a trial's identity (:func:`autodistill.sweep.plan.trial_id` hashes BUDGET_FIELDS).
WATCH_FIELDS = ("report_to",)


def make_budget(**overrides: Any) -> TrainSettings:
    """A per-trial budget: the engine's training defaults with the given (non-None) fields replaced."""
    allowed = BUDGET_FIELDS + WATCH_FIELDS
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise AutodistillError(f"unknown budget field {unknown[0]!r}; choose from: {', '.join(allowed)}")
    try:
        return TrainSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AutodistillError(f"budget: {first['loc'][0]}: {first['msg']} (got {first['input']!r})") from None


def space_for(task_type: str, space: SearchSpace = DEFAULT_SPACE) -> SearchSpace:
    """The configurations a task of this type can run: regression has no classes, so no CE prediction
    loss; token tagging keeps no text augmentation (rewritten words would misalign the per-word tags)."""
    if real_valued(task_type):
        space = replace(space, pred_losses=tuple(p for p in space.pred_loss_choices() if p != "ce"))
    if not text_augmentable(task_type):
        space = replace(space, augmenters=())
    return space


def engine_config(
    config: Pipeline,
    dataset: str,
    *,
    teacher: str,
    student: str,
    budget: TrainSettings,
    columns: DataColumns | None = None,
    cached_copies: int | None = None,
) -> DistillConfig:
    """The engine config that runs pipeline ``config`` (Eq. 1) under ``budget``;
    ``columns``: how to read ``dataset`` when it is a file with its own column names;
    ``cached_copies``: make that many augmented copies once and cache the teacher on them."""
    data: dict[str, Any] = {
        "dataset": dataset,
        "teacher": teacher,
        "student": student,
        **config.engine_fields(),
        "train": budget.model_dump(exclude_unset=True),  # unset fields keep the student's defaults (its lr)
    }
    if columns is not None:
        data["columns"] = columns
    if cached_copies is not None:
        data.update(aug_mode="cached", aug_copies=cached_copies)
    return parse_config(data, source="pipeline config")


def baseline_config(
    dataset: str, *, teacher: str, student: str, budget: TrainSettings, columns: DataColumns | None = None
) -> DistillConfig:
    """The engine config of a student's no-KD baseline (:func:`engine.finetune`) under ``budget``;
    ``columns`` as for :func:`engine_config`."""
    data: dict[str, Any] = {
        "dataset": dataset,
        "teacher": teacher,
        "student": student,
        "train": budget.model_dump(exclude_unset=True),
    }
    if columns is not None:
        data["columns"] = columns
    return parse_config(data, source="baseline config")


def descriptors(result: RunResult) -> tuple[ModelDescriptor, ModelDescriptor]:
    """(teacher, student) sizes as the store and the predictor see them."""
    teacher = ModelDescriptor(
        result.config["teacher"], result.teacher_layers, result.teacher_hidden, result.teacher_params
    )
    student = ModelDescriptor(
        result.config["student"], result.student_layers, result.student_hidden, result.student_params
    )
    return teacher, student


def test_scores(result: RunResult) -> tuple[float | None, float | None, float | None]:
    """(student, teacher, ratio) on the test split; Nones for a run that read no test split."""
    student, teacher = (getattr(result, f"{who}_test_metrics").get(result.metric) for who in ("student", "teacher"))
    ratio = result.test_ratio if result.test_ratio is not None and math.isfinite(result.test_ratio) else None
    return student, teacher, ratio


def _cost_columns(result: RunResult, source: str) -> dict[str, Any]:
    """Where the run trained and the dev examples it scored per epoch, as its result recorded them;
    a result from before it recorded them gets what a migrated store gives such runs."""
    earlier = earlier_run_columns(source, result.dataset, result.split_version, {"budget": result.config["train"]})
    return {
        "device": result.device or earlier["device"],
        "eval_examples": result.scored_examples.get("dev", earlier["eval_examples"]),
    }


def record_from_result(
    result: RunResult, *, featurizer_version: str, source: str = "ours", fidelity: str | None = None
) -> RunRecord:
    """The runs-store row of a finished distillation (the run id is the engine's, so reruns collide);
    ``fidelity``: the study budget it ran at, if any."""
    if result.kind != "distill":
        raise AutodistillError(f"only distillation runs go into the runs table, not a {result.kind!r} run")
    if not (result.teacher_score > 0 and math.isfinite(result.ratio)):
        raise AutodistillError(
            f"teacher dev {result.metric} on {result.dataset!r} is {result.teacher_score:.4g}: the distillation "
            "ratio (student / teacher) is undefined; use a larger dev set or a better teacher"
        )
    config = Pipeline.from_engine(parse_config(dict(result.config), source="run config"))
    teacher, student = descriptors(result)
    test_score, teacher_test, test_ratio = test_scores(result)
    train = result.config["train"]
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
        cpu_time_s=result.cpu_seconds,
        cpu_threads=result.cpu_threads,
        teacher_cache_s=result.teacher_cache_seconds,
        teacher_s=result.teacher_seconds,
        speed_probe_s=result.speed_probe_seconds,
        featurizer_version=featurizer_version,
        full_config={
            "pipeline": config.to_dict(),
            "engine": result.config,
            "budget": result.config["train"],
            "metric": result.metric,
            "train_examples": result.train_examples,
            "output_dir": result.output_dir,
        },
        run_id=result.run_id,
        test_score=test_score,
        teacher_test_score=teacher_test,
        test_ratio=test_ratio,
        fidelity=fidelity,
        split_version=result.split_version,
        **_cost_columns(result, source),
        seed=train["seed"],
        train_examples=result.train_examples,
        epochs=len(result.history) or train["epochs"],  # min_steps may have added epochs
        max_length=train["max_length"],
    )
