"""TensorBoard event files under ``<run>/tracking/tensorboard/`` (``tensorboard --logdir`` reads them).

A resumed run opens a new event file that starts with TensorBoard's own purge mark (the
``purge_step`` of :class:`~torch.utils.tensorboard.SummaryWriter`): readers drop what the
earlier files hold from the step after the checkpoint on, so a step logged before a kill
and again after the rerun shows once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from engine.errors import AutodistillError
from engine.tracking.base import TRACKERS


@TRACKERS.register("tensorboard")
class TensorBoardTracker:
    """Scalars per step; the config as a text summary (TensorBoard has no parameter table outside hparams)."""

    def __init__(self, folder: Path, run_name: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch's writer needs the tensorboard package for its protocol buffers
            raise AutodistillError(
                "--report-to tensorboard needs the tensorboard package: pip install tensorboard"
            ) from None
        self.writer_class, self.log_dir, self.run_name = SummaryWriter, folder / "tensorboard", run_name
        self.earlier = self.log_dir.is_dir() and any(self.log_dir.glob("events.out.tfevents.*"))
        self.writer = SummaryWriter(log_dir=str(self.log_dir), comment=run_name)

    def log_params(self, params: Mapping[str, str]) -> None:
        text = yaml.safe_dump(dict(params), sort_keys=True)
        self.writer.add_text("config", "```yaml\n" + text + "```")

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def resume_at(self, step: int) -> None:
        """Where an earlier session wrote event files, a new one marked to drop their steps after ``step``."""
        if self.earlier:
            self.writer.close()
            self.writer = self.writer_class(log_dir=str(self.log_dir), comment=self.run_name, purge_step=step + 1)

    def close(self, failed: bool = False) -> None:
        self.writer.close()
