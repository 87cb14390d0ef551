"""The one training loop, fed augmented batches.

:class:`AugmentingTrainer` is :class:`engine.training.trainer.Trainer` unchanged except
for where data comes from: when an epoch's schedule is made it is handed to the
:class:`~engine.augment.workers.AugmentFeed`, and before each batch the matching
augmented batch is staged on the objective (which adds Eq. 1's β2 and γ2 terms).
The loop, checkpoints and resumption are the base trainer's: augmentation is a pure
function of (seed, epoch, batch position), so a resumed run sees the same x̂.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from torch import nn

from engine.augment.copies import CachedCopies
from engine.augment.feed import AugmentFeed
from engine.augment.mixup import check_mixup_model
from engine.augment.policy import AugmentPolicy
from engine.augment.pregenerated import PregeneratedSource
from engine.tasks.encoding import EncodedSplit
from engine.training.trainer import Trainer, TrainResult

if TYPE_CHECKING:
    from engine.config import DistillConfig


def build_feed(
    policy: AugmentPolicy,
    config: DistillConfig,
    student: nn.Module,
    frame: pd.DataFrame,
    split: EncodedSplit,
    tokenizer,
    cached: CachedCopies | None = None,
) -> AugmentFeed:
    """The run's feed: live augmentation, ``config.aug_dir``'s pre-generated text, or, in
    cached mode, the encoded copies ``cached``.

    ``frame`` is the train split as encoded into ``split`` (its row labels key the examples).
    """
    if policy.mixup_rounds:
        check_mixup_model(student, "student")
    source = None
    if config.aug_dir and cached is None:
        source = PregeneratedSource(config.aug_dir, policy, frame, policy.task.name, config.train.max_length)
    feed = AugmentFeed(
        policy,
        frame,
        split,
        tokenizer,
        config.train.max_length,
        tokenizer.pad_token_id,
        workers=config.aug_workers,
        source=source,
        cached=cached,
    )
    return feed.start()


class AugmentingTrainer(Trainer):
    """A :class:`Trainer` whose objective also sees each batch's augmented copies."""

    def __init__(self, *args, feed: AugmentFeed, **kwargs) -> None:
        self.feed = feed
        self.fit_seconds = 0.0
        super().__init__(*args, **kwargs)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        batches = super().epoch_batches(epoch)
        self.feed.schedule(epoch, batches)
        return batches

    def _train_batch(
        self, indices: np.ndarray, position: int, n_batches: int, step: int
    ) -> tuple[float, dict[str, float]]:
        self.objective.stage_augmented(self.feed.get(position))
        return super()._train_batch(indices, position, n_batches, step)

    def fit(self) -> TrainResult:
        started = time.perf_counter()
        try:
            with self.feed:
                return super().fit()
        finally:
            self.fit_seconds = time.perf_counter() - started

    def augmentation_report(self) -> dict:
        """The feed's report, with the wait share of this session's training time."""
        return self.feed.report(self.fit_seconds)
