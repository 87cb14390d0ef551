"""A run's arithmetic precision, held by the run and not by the process.

accelerate keeps its mixed-precision setting in process-wide state: a second ``Accelerator``
asking for another precision fails ("AcceleratorState has already been initialized"), and
its autocast reads whatever that shared state says. A sweep worker or a notebook runs
many trainings in one process, each with its own ``precision``. So the trainer asks
accelerate for devices and processes only (its precision stays ``"no"``, the same in every
run), and applies its own run's precision here: autocast around the forward passes, the
student's outputs in fp32 as accelerate gave them, and for fp16 a gradient scaler (bf16 and
fp32 need none).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import torch
from accelerate.utils import convert_outputs_to_fp32
from torch import nn

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def choose_precision(requested: str) -> str:
    """``auto``: bf16 on GPUs that have it, fp16 on older GPUs, fp32 (``"no"``) on CPU."""
    if requested != "auto":
        return {"fp32": "no"}.get(requested, requested)
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


@dataclass(frozen=True)
class Precision:
    """One run's precision on one device type: ``"no"`` (fp32), ``"bf16"`` or ``"fp16"``."""

    name: str
    device_type: str

    @classmethod
    def of(cls, requested: str, device: torch.device) -> Precision:
        return cls(choose_precision(requested), device.type)

    @property
    def dtype(self) -> torch.dtype | None:
        """The half-precision type autocast computes in; None in fp32."""
        return _DTYPES.get(self.name)

    def autocast(self) -> AbstractContextManager:
        """Mixed precision around a forward pass (a no-op context in fp32)."""
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    @contextmanager
    def fp32_outputs(self, model: nn.Module) -> Iterator[None]:
        """While the block runs, ``model``'s outputs come back in fp32, as accelerate's mixed
        precision returned them: the losses (NumPy-based ones included) never see a half-precision
        tensor. The model's own forward is back afterwards."""
        if self.name not in _DTYPES:
            yield
            return
        before = model.__dict__.get("forward")
        model.forward = convert_outputs_to_fp32(model.forward)
        try:
            yield
        finally:
            if before is None:
                del model.forward
            else:
                model.forward = before

    def scaler(self) -> torch.amp.GradScaler:
        """fp16's loss scaling; a pass-through (``enabled=False``) for bf16 and fp32."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")
