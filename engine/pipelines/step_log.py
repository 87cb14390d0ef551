"""The per-step values a run's tracking logged, read back for its report page.

A run's ``result.json`` keeps epoch means only; with ``train.report_to`` set, the trainer
also logged every optimizer step's terms to TensorBoard and/or MLflow in ``<run>/tracking``.
Those are read here (TensorBoard's event files first, else the MLflow run the folder names),
with the library that wrote them; a run that logged no steps, or whose library is not
installed here, has none, and its page draws the epoch means alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Per metric name, (step, value) pairs in step order; one value per step.
Steps = dict[str, list[tuple[int, float]]]


def logged_steps(tracking: Path) -> Steps:
    """Every metric the run's tracking logged, by step (a step logged twice, by a resumed run, counts once)."""
    events = tracking / "tensorboard"
    if events.is_dir() and any(events.glob("events.out.tfevents*")):
        return _tensorboard(events)
    marker = tracking / "mlflow_run.json"
    if marker.exists():
        return _mlflow(marker)
    return {}


def _tensorboard(events: Path) -> Steps:
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return {}
    reader = EventAccumulator(str(events), size_guidance={"scalars": 0})  # 0: keep every value
    with _quiet("tensorboard"):
        reader.Reload()
    return {tag: _by_step((e.step, e.value) for e in reader.Scalars(tag)) for tag in reader.Tags()["scalars"]}


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Logger ``name`` says only errors in the block. A resumed run's writer marks where it restarted
    (``purge_step``), and TensorBoard's reader, dropping the steps logged after that mark before the
    kill as it should, warns of "out of order event.step" on every report of such a run."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _mlflow(marker: Path) -> Steps:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        return {}
    known = json.loads(marker.read_text())
    client = MlflowClient(tracking_uri=known["uri"])
    keys = client.get_run(known["run_id"]).data.metrics
    return {key: _by_step((m.step, m.value) for m in client.get_metric_history(known["run_id"], key)) for key in keys}


def _by_step(points) -> list[tuple[int, float]]:
    """The last value logged at each step, in step order."""
    return sorted({int(step): float(value) for step, value in points}.items())
