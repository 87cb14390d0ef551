"""Named models a user can type: the default teacher, the fresh-student shapes and the shipped
general-distilled students.

A leaf module of plain data, so that the config schema can fill in a preset's
learning rate without importing torch or the zoo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine import paths

DEFAULT_TEACHER = "minilm-l6"


#: The learning rate a fresh student trains at when the user sets none: the rate every realistic and
#: patient study run was made at, so the advice drawn from them holds for a default run. The shapes'
#: own, larger rates (:attr:`StudentShape.lr`) collapsed some runs over longer schedules (sotu-party
#: to one class from epoch 3, wordnet-gloss-pair at chance for 12 epochs; docs/sweep.md).
FRESH_LR = 5e-4


@dataclass(frozen=True)
class StudentShape:
    """A fresh-BERT student shape (paper Table 6, scaled to what runs offline), with the learning
    rate the study's cheap budget trains it at. Its layers start from random weights, so the
    pretrained-model rate of 5e-5 leaves it near chance after a few epochs. Measured by
    distilling from MiniLM on bbc-news (3 epochs, 128 tokens, default pipeline; dev accuracy):
    ``tiny`` .24 at 5e-5, .82 at 1e-3, .94 at 2e-3; ``mini`` .97 at 1e-3, .57 at 2e-3;
    ``tinybert4`` .98 at 1e-3. ``small`` is wider than MiniLM and was not measured: its rate
    follows the trend of wider shapes wanting smaller rates."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    lr: float


#: Named student shapes. Widths follow the paper's Table 6 students; a student
#: wider than the teacher's embedding matrix cannot be PCA-initialised (see
#: :func:`_pca_projection`), which only matters for ``small`` under MiniLM.
STUDENT_PRESETS: dict[str, StudentShape] = {
    "tiny": StudentShape(layers=2, hidden=128, heads=2, ffn=512, lr=2e-3),
    "mini": StudentShape(layers=4, hidden=256, heads=4, ffn=1024, lr=1e-3),
    "tinybert4": StudentShape(layers=4, hidden=312, heads=12, ffn=1200, lr=1e-3),
    "small": StudentShape(layers=4, hidden=512, heads=8, ffn=2048, lr=5e-4),
}


@dataclass(frozen=True)
class PretrainedStudent:
    """A student shipped with the project: a fresh :class:`StudentShape` made well-read by general
    distillation (:mod:`engine.models.general`, ``autodistill pretrain``), and the learning rate it is
    fine-tuned or distilled at when the user sets none, chosen by a probe on dev."""

    shape: str
    lr: float


#: The rate ``tiny-gd`` trains at unless set: the best of 1e-4, 3e-4 and 1e-3 by mean dev ratio of the
#: no-KD baseline at the patient budget on vader-valence and wordnet-span, seed 0
#: (meta_data/patient/lr_probe_tiny-gd.json).
TINY_GD_LR = 3e-4
#: ``mini-gd``'s rate, chosen the same way among the same three: 1e-4 was best on both data sets
#: (meta_data/patient/lr_probe_mini-gd.json), a fifth of the rate fresh students train at.
MINI_GD_LR = 1e-4

#: Folder of the shipped general-distilled students, one Hugging Face folder per name.
PRETRAINED_DIR = "pretrained"

#: The shipped general-distilled students by name; ``<shape>-gd`` reads "general-distilled <shape>".
PRETRAINED_STUDENTS: dict[str, PretrainedStudent] = {
    "tiny-gd": PretrainedStudent(shape="tiny", lr=TINY_GD_LR),
    "mini-gd": PretrainedStudent(shape="mini", lr=MINI_GD_LR),
}


def from_scratch(student: str) -> bool:
    """Whether the named student starts from random weights (a fresh preset shape); the rest start from
    pretrained ones: general-distilled (``tiny-gd``), a teacher's layers, a hub model, the paper's."""
    return student in STUDENT_PRESETS


#: The record ``autodistill pretrain`` writes beside a student's weights (:mod:`engine.models.general`).
GENERAL_RECORD = "general_distillation.json"
#: Where in the home ``autodistill pretrain`` writes a student when no folder is named.
GENERAL_FOLDER = ("models", "general")


def home_general_students() -> list[Path]:
    """The students ``autodistill pretrain`` wrote where it writes by default, so a list of the models a
    user can name shows the ones they made (a folder named elsewhere is theirs to remember)."""
    folder = paths.home().joinpath(*GENERAL_FOLDER)
    return sorted(p for p in folder.iterdir() if (p / GENERAL_RECORD).is_file()) if folder.is_dir() else []


def default_lr(student: str) -> float | None:
    """The learning rate a named student trains at when none is set: a fresh preset's, a shipped
    general-distilled student's, or for a folder ``autodistill pretrain`` made, the shipped
    general-distilled student's of its shape (the one it went on from, or one made as it was); None
    for any other model (a hub id, a folder of a shape nothing was shipped for)."""
    if student in STUDENT_PRESETS:
        return FRESH_LR
    if student in PRETRAINED_STUDENTS:
        return PRETRAINED_STUDENTS[student].lr
    shape = general_shape(student)
    return next((s.lr for s in PRETRAINED_STUDENTS.values() if s.shape == shape), None)


def general_record(student: str) -> dict | None:
    """The record of a folder ``autodistill pretrain`` made (None for any other model)."""
    record = Path(student).expanduser() / GENERAL_RECORD
    return json.loads(record.read_text()) if record.is_file() else None


def general_shape(student: str, depth: int = 8) -> str | None:
    """The preset shape of a folder ``autodistill pretrain`` made, read off its record and, for one that
    went on from another folder, that folder's (``depth`` of them at most); None for any other model."""
    record = general_record(student) if depth > 0 else None
    if record is None:
        return None
    start = str(record["config"]["student"])
    if start in STUDENT_PRESETS:
        return start
    if start in PRETRAINED_STUDENTS:
        return PRETRAINED_STUDENTS[start].shape
    return general_shape(start, depth - 1)
