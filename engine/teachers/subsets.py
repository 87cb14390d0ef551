"""Smaller teachers cut from a pretrained encoder: ``minilm-l6:layers=0,1,2,3``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from engine.models.teacher_spec import TeacherSpec
from engine.models.zoo import build_student, load_tokenizer, model_identity
from engine.paths import publish_folder, subdir
from engine.tasks.spec import TaskSpec, TaskType
from engine.training import distributed


def member_source(spec: TeacherSpec) -> str:
    """What the teacher fine-tuning loads for ``spec``: its base, or a saved layer subset of it."""
    return spec.base if spec.layers is None else materialize_layer_subset(spec.base, spec.layers)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[-40:]


def materialize_layer_subset(base: str, layers: Sequence[int]) -> str:
    """Save ``base``'s pretrained encoder cut to ``layers`` as a model folder, once.

    The folder is an ordinary (head-less) Hugging Face model, so the teacher
    fine-tuning treats it like any other model and caches its fine-tune under a
    key of its own.
    """
    digest = hashlib.sha256(f"{model_identity(base)}|{list(layers)}".encode()).hexdigest()[:10]
    folder = subdir("models", "subsets") / f"{_slug(base)}__layers-{'-'.join(map(str, layers))}__{digest}"
    # Under DDP transformers saves weights on the main process only: it writes, the others wait.
    with distributed.main_first():
        if not (folder / "config.json").exists():
            _save_layer_subset(base, layers, folder)
    return str(folder)


def _save_layer_subset(base: str, layers: Sequence[int], folder: Path) -> None:
    spec = TaskSpec("_encoder", TaskType.CLASSIFICATION, "", ("a", "b"))
    model = build_student("layers=" + ",".join(map(str, layers)), base, spec)

    def build(partial: Path) -> None:
        model.base_model.save_pretrained(partial)
        load_tokenizer(base).save_pretrained(partial)

    # Sweep workers may all get here at once: the first to finish publishes the folder.
    publish_folder(folder, build, marker="config.json")
