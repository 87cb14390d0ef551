"""The arithmetic precisions a user can ask a training for, by the names they type.

A leaf module, so that both schemas (a run's, :mod:`engine.config`, and a general distillation's,
:mod:`engine.models.pretraining`) share one vocabulary without importing each other;
:mod:`engine.training.precision` says what each name does on each device.
"""

from __future__ import annotations

from typing import Literal

Precision = Literal["auto", "fp32", "bf16", "fp16"]
