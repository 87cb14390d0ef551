"""Teacher specs: how a config names one team member.

    minilm-l6                          a zoo preset, a hub id or a local folder
    minilm-l6:layers=0,1,2,3           the preset's first four encoder layers (a smaller teacher)
    minilm-l6:seed=7                   the same model fine-tuned with another seed
    minilm-l6:layers=0,1:epochs=5      options combine; each variant is cached under its own key

Plain parsing with no model code, so the config schema (above the models, below the teachers)
can normalise team members.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from engine.errors import AutodistillError, choices_error

#: Fine-tuning settings (:class:`engine.config.TrainSettings`, which imports this module to parse teams).
Settings = TypeVar("Settings", bound=BaseModel)

TEACHER_OPTIONS = ("layers", "seed", "epochs")
_OPTION_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class TeacherSpec:
    """One team member: a base model and how it is cut down and fine-tuned."""

    base: str
    layers: tuple[int, ...] | None = None
    seed: int | None = None
    epochs: int | None = None

    def __str__(self) -> str:
        text = self.base
        if self.layers is not None:
            text += ":layers=" + ",".join(map(str, self.layers))
        if self.seed is not None:
            text += f":seed={self.seed}"
        if self.epochs is not None:
            text += f":epochs={self.epochs}"
        return text

    def settings(self, base: Settings) -> Settings:
        """The fine-tuning settings of this member: ``base`` with its seed/epochs options."""
        update = {k: v for k, v in (("seed", self.seed), ("epochs", self.epochs)) if v is not None}
        return base.model_copy(update=update) if update else base


def parse_teacher_spec(text: str) -> TeacherSpec:
    """``"minilm-l6:layers=0,1,2,3:seed=7"`` -> :class:`TeacherSpec`; one-line errors."""
    parts = str(text).strip().split(":")
    options: dict[str, str] = {}
    while len(parts) > 1 and (match := _OPTION_RE.match(parts[-1])):
        key, value = match.groups()
        if key not in TEACHER_OPTIONS:
            raise choices_error(f"option of teacher {text!r}:", key, TEACHER_OPTIONS)
        if key in options:
            raise AutodistillError(f"teacher {text!r} sets {key} twice")
        options[key] = value
        parts.pop()
    base = ":".join(parts).strip()
    if not base:
        raise AutodistillError(f"teacher {text!r} names no model before its options")
    try:
        layers = tuple(int(x) for x in options["layers"].split(",")) if "layers" in options else None
        seed = int(options["seed"]) if "seed" in options else None
        epochs = int(options["epochs"]) if "epochs" in options else None
    except ValueError:
        raise AutodistillError(
            f"bad teacher {text!r}: write layers=0,1,2 (layer indices), seed=N, epochs=N (integers)"
        ) from None
    if layers is not None and (not layers or min(layers) < 0 or list(layers) != sorted(set(layers))):
        raise AutodistillError(f"bad teacher {text!r}: layers must be distinct increasing indices from 0")
    if epochs is not None and epochs < 1:
        raise AutodistillError(f"bad teacher {text!r}: epochs must be at least 1")
    return TeacherSpec(base, layers, seed, epochs)
