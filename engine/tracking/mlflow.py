"""An MLflow run per autodistill run: in a local SQLite store under ``<run>/tracking/``, or on the
server or store that ``MLFLOW_TRACKING_URI`` names.

MLflow 3 keeps its plain-folder (``file:``) store in maintenance mode and refuses it unless
``MLFLOW_ALLOW_FILE_STORE`` is set, so the local default is its SQLite store, which
``mlflow ui --backend-store-uri sqlite:///<run>/tracking/mlflow.db`` opens. A resumed run
goes on logging into the MLflow run it started (its id is kept beside the store), and leaves
out each metric's steps that the store already holds: a run killed after its checkpoint has
logged some steps past it, which the rerun trains (and logs) again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from engine.errors import AutodistillError
from engine.tracking.base import TRACKERS

#: Metrics buffered before one batched write (MLflow takes up to 1,000 per call).
BATCH = 200
#: Loggers that tell, at INFO, of the SQLite store's tables being created and migrated on a run's start.
QUIET_LOGGERS = ("mlflow.store.db.utils", "alembic")


@TRACKERS.register("mlflow")
class MlflowTracker:
    """Parameters and per-step metrics through :class:`mlflow.MlflowClient` (no global active run)."""

    def __init__(self, folder: Path, run_name: str) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise AutodistillError("--report-to mlflow needs the mlflow package: pip install mlflow-skinny") from None
        folder.mkdir(parents=True, exist_ok=True)
        for chatty in QUIET_LOGGERS:
            logging.getLogger(chatty).setLevel(logging.WARNING)
        self.uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(folder / 'mlflow.db').resolve()}"
        self.client = MlflowClient(tracking_uri=self.uri)
        self.run_id = self._resume_or_start(folder, run_name)
        self.pending: list = []
        #: Metric -> the last step the store holds for it (a resumed run's; empty for a new one).
        self.logged = self._logged_steps()

    def _resume_or_start(self, folder: Path, run_name: str) -> str:
        """The MLflow run this folder started against the same store, or a new one."""
        marker = folder / "mlflow_run.json"
        if marker.exists():
            known = json.loads(marker.read_text())
            if known["uri"] == self.uri:
                return known["run_id"]
        experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "autodistill")
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:  # artifacts of a new local store stay in the run folder, not in the working directory
            local = self.uri.startswith("sqlite:") and not os.environ.get("MLFLOW_TRACKING_URI")
            location = (folder / "mlflow-artifacts").resolve().as_uri() if local else None
            experiment_id = self.client.create_experiment(experiment_name, artifact_location=location)
        run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        partial = marker.with_suffix(".tmp")
        partial.write_text(json.dumps({"uri": self.uri, "run_id": run_id}))
        partial.replace(marker)  # a kill never leaves half a marker
        return run_id

    def _logged_steps(self) -> dict[str, int]:
        run = self.client.get_run(self.run_id)
        return {
            name: max(m.step for m in self.client.get_metric_history(self.run_id, name)) for name in run.data.metrics
        }

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(key, value) for key, value in params.items()]
        for start in range(0, len(items), 100):  # MLflow's limit of parameters per call
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        fresh = {name: value for name, value in metrics.items() if step > self.logged.get(name, -1)}
        self.pending.extend(Metric(name, float(value), now, step) for name, value in fresh.items())
        if len(self.pending) >= BATCH:
            self.flush()

    def resume_at(self, step: int) -> None:
        """Nothing to do: what the store holds was read from the store itself when the run opened."""

    def flush(self) -> None:
        if self.pending:
            self.client.log_batch(self.run_id, metrics=self.pending)
            self.pending = []

    def close(self, failed: bool = False) -> None:
        """Flush, and mark the MLflow run FINISHED, or KILLED when it stopped early (a rerun resumes it)."""
        self.flush()
        self.client.set_terminated(self.run_id, status="KILLED" if failed else "FINISHED")
