"""The device a run trains on, as the short label its result and the runs store keep.

A wall time means little without the machine it was measured on: the same pipeline takes
minutes on a CPU and seconds on a GPU, so the cost model reads the device beside the work.
The label is ``cpu`` or ``cuda:<GPU name>`` (the name tells an H100's seconds from a T4's).
"""

from __future__ import annotations

import torch

from engine.training import distributed


def device_label(device: torch.device) -> str:
    """``cuda:<GPU name>`` for a GPU, else the device type (``cpu``)."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def training_device() -> str:
    """The label of the device a run started in this process trains on: the process group's, which
    the trainer's accelerator shares (a GPU where CUDA is available, else the CPU)."""
    return device_label(distributed.state().device)
