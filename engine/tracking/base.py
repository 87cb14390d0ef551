"""What a tracking backend is, the registry of them, and the one object a run reports through.

A backend is a class built from ``(folder, run_name)``; the trainer and the run pipeline
never name a backend, they talk to :class:`Tracking`, a trainer callback that fans each
event out to every backend ``train.report_to`` names (none: it does nothing).

A run may be killed at any moment and rerun from its last checkpoint, so a backend writes
what it holds whenever a checkpoint is written (nothing the checkpoint covers is lost), and
a resumed backend leaves out what it logged after that checkpoint (nothing is logged twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from engine.registry import Registry
from engine.training.callbacks import TrainerCallback, TrainerState


class Tracker(Protocol):
    """One backend's view of one run."""

    def log_params(self, params: Mapping[str, str]) -> None:
        """The run's settings, flattened to ``block.field -> text``."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Named values at one optimizer step."""
        ...

    def flush(self) -> None:
        """Write what is buffered: a checkpoint is about to claim it."""
        ...

    def resume_at(self, step: int) -> None:
        """Training starts at optimizer step ``step`` (a checkpoint's; 0 for a fresh run): values an
        earlier, killed session logged after it will be logged again and must not count twice."""
        ...

    def close(self, failed: bool = False) -> None:
        """Write what is buffered and release files; ``failed``: the run stopped on an error or a kill."""
        ...


#: Backend name (what ``--report-to`` takes) -> its class, built as ``cls(folder, run_name)``.
TRACKERS: Registry[Callable[[Path, str], Tracker]] = Registry("tracking backend")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as ``train.lr -> "5e-05"`` pairs: parameters every backend can store."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = ",".join(map(str, value)) or "none"
        else:
            flat[name] = "none" if value is None else str(value)
    return flat


class Tracking(TrainerCallback):
    """Every backend one run reports to, behind one object: a trainer callback that logs Eq. 1's
    terms, the learning rate, the dev metrics and the throughput, and a context manager that
    closes the backends."""

    def __init__(self, trackers: Iterable[Tracker] = ()) -> None:
        self.trackers = list(trackers)

    def log_params(self, params: Mapping[str, str]) -> None:
        for tracker in self.trackers:
            tracker.log_params(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if metrics:
            for tracker in self.trackers:
                tracker.log_metrics(metrics, step)

    def close(self, failed: bool = False) -> None:
        for tracker in self.trackers:
            tracker.close(failed)

    def on_train_begin(self, state: TrainerState) -> None:
        for tracker in self.trackers:
            tracker.resume_at(state.step)

    def on_step_end(self, state: TrainerState, logs: dict[str, float]) -> None:
        self.log_metrics(logs, state.step)

    def on_evaluate(self, state: TrainerState, metrics: dict[str, float]) -> None:
        self.log_metrics({f"dev/{k}": v for k, v in metrics.items()}, state.step)

    def on_epoch_end(self, state: TrainerState, logs: dict[str, float]) -> None:
        self.log_metrics(logs, state.step)

    def on_save(self, state: TrainerState) -> None:
        for tracker in self.trackers:
            tracker.flush()

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close(failed=error is not None)
