"""The schema of one general distillation (:mod:`engine.models.general`), validated at the edge.

Plain pydantic, no torch: ``autodistill pretrain`` builds its flags from these fields.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.arithmetic import Precision
from engine.models.presets import DEFAULT_TEACHER, STUDENT_PRESETS


class PretrainConfig(BaseModel):
    """One general distillation (:mod:`engine.models.general`): which student (a fresh shape, or one with
    weights to go on from) learns from which teacher on which text, and for how long. ``autodistill
    pretrain`` builds its flags from these fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    student: str = Field(
        description="a fresh shape (" + " | ".join(STUDENT_PRESETS) + ") or a student to go on from (tiny-gd, a folder)"
    )
    teacher: str = Field(DEFAULT_TEACHER, description="the model whose relations the student learns")
    corpus: str = Field("default", description="'default' (the offline corpus) or a UTF-8 text file")
    relation_heads: int = Field(8, ge=1, description="relation heads; must divide both models' widths")
    max_length: int = Field(128, ge=16, le=512, description="tokens per packed sequence")
    batch_size: int = Field(32, ge=1, description="sequences per step")
    lr: float = Field(5e-4, gt=0, description="peak learning rate (MiniLMv2 used 6e-4 for small students)")
    warmup_ratio: float = Field(0.04, ge=0, le=1, description="share of steps with a linear warm-up")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    epochs: int = Field(3, ge=1, description="passes over the corpus")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (default: the epochs')")
    seed: int = Field(0, description="seeds a fresh student's layers and the order of the sequences")
    checkpoint_every: int = Field(50, ge=1, description="steps between resumable checkpoints")
    precision: Precision = Field(
        "auto", description="auto: bf16/fp16 on GPUs, fp32 on CPU; bf16 about halves a step on CPUs with bf16 units"
    )
