"""The zoo as ``autodistill models list`` shows it: each packaged teacher and each student a teacher
gives, with its size, the weights it starts from, and why one cannot be built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedModel

from engine.errors import AutodistillError
from engine.models.presets import (
    DEFAULT_TEACHER,
    PRETRAINED_STUDENTS,
    STUDENT_PRESETS,
    from_scratch,
    general_record,
    home_general_students,
)
from engine.models.zoo import TEACHER_PRESETS, build_student, count_parameters, load_config, load_task_model
from engine.tasks.spec import TaskSpec, TaskType


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``autodistill models list``."""

    name: str
    role: str
    layers: int
    hidden: int
    params: int
    source: str  # the weights it starts from, in words
    note: str = ""


def describe(model: PreTrainedModel, name: str, role: str, source: str) -> ModelInfo:
    return ModelInfo(
        name=name,
        role=role,
        layers=model.config.num_hidden_layers,
        hidden=model.config.hidden_size,
        params=count_parameters(model),
        source=source,
    )


def _starts_from(student: str, teacher: str) -> str:
    """The weights a listed student starts from, in words: what decides how long it must train."""
    if student in PRETRAINED_STUDENTS:
        return "general-distilled"
    if from_scratch(student):
        return "random"  # its embeddings: a PCA of the teacher's
    return f"{teacher} layers"


def list_models(teacher: str = DEFAULT_TEACHER) -> list[ModelInfo]:
    """The packaged teachers and the students derivable from ``teacher``, with sizes.

    Parameter counts are for a two-class classification head; MPNet is listed only
    when its packages are installed (it is an optional 404 MB download).
    """
    spec = TaskSpec(name="_listing", task_type=TaskType.CLASSIFICATION, description="", label_names=("a", "b"))
    infos = []
    for name in TEACHER_PRESETS:
        try:
            model = load_task_model(name, spec)
        except AutodistillError:
            continue
        infos.append(describe(model, name, "teacher", "pretrained"))
    teacher_layers = load_config(teacher).num_hidden_layers
    subsets = {"layers=" + ",".join(map(str, range(0, teacher_layers, 2))), f"layers=0,{teacher_layers - 1}"}
    for student in [*sorted(subsets), *STUDENT_PRESETS, *PRETRAINED_STUDENTS]:
        try:
            model = build_student(student, teacher, spec)
        except AutodistillError as exc:
            shape = STUDENT_PRESETS[PRETRAINED_STUDENTS[student].shape if student in PRETRAINED_STUDENTS else student]
            infos.append(
                ModelInfo(student, "student", shape.layers, shape.hidden, 0, _starts_from(student, teacher), str(exc))
            )
            continue
        infos.append(describe(model, student, "student", _starts_from(student, teacher)))
    return infos + [_home_student(folder, teacher, spec) for folder in home_general_students()]


def _home_student(folder: Path, teacher: str, spec: TaskSpec) -> ModelInfo:
    """A student ``autodistill pretrain`` made in this home, named by the path ``--student`` takes."""
    corpus = Path(str(general_record(str(folder))["config"]["corpus"])).name
    source = f"general-distilled on {corpus}"
    try:
        return describe(build_student(str(folder), teacher, spec), str(folder), "student", source)
    except AutodistillError as exc:
        return ModelInfo(str(folder), "student", 0, 0, 0, source, str(exc))
