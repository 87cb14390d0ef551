"""TensorBoard event files under ``<run>/tracking/tensorboard/`` (``tensorboard --logdir`` reads them)."""

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
        self.writer = SummaryWriter(log_dir=str(folder / "tensorboard"), comment=run_name)

    def log_params(self, params: Mapping[str, str]) -> None:
        text = yaml.safe_dump(dict(params), sort_keys=True)
        self.writer.add_text("config", "```yaml\n" + text + "```")

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)

    def close(self, failed: bool = False) -> None:
        self.writer.close()
