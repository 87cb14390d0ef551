"""Experiment tracking: a run's curves in the tools people already read them with.

``train.report_to`` (as Hugging Face's ``TrainingArguments.report_to``) names backends; each
is one module here that registers its class in :data:`TRACKERS` (adding one is a file and
an import line below). :class:`Tracking`, one of the trainer's callbacks, logs each of
Eq. 1's terms, the learning rate, the dev metrics per epoch and the throughput;
:func:`open_tracking` is where a run starts it. Backends import their library only when a run asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.tracking import mlflow, tensorboard  # noqa: F401  (register the backends)
from engine.tracking.base import TRACKERS, Tracker, Tracking, flatten
from engine.training import distributed

__all__ = ["TRACKERS", "Tracker", "Tracking", "open_tracking"]


def open_tracking(names: Sequence[str], folder: Path, run_name: str, config: Mapping[str, Any]) -> Tracking:
    """The backends ``names`` for one run, its config logged as parameters; only the main process
    of several reports (the others get a :class:`Tracking` that does nothing)."""
    if not names or not distributed.is_main():
        return Tracking()
    tracking = Tracking(TRACKERS.get(name)(folder, run_name) for name in names)
    tracking.log_params(flatten(config))
    return tracking
