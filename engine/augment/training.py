"""The one training loop, fed augmented batches.

:class:`AugmentedCopies` is a trainer callback: when an epoch begins its batches are handed
to the :class:`~engine.augment.feed.AugmentFeed`, and each batch carries its augmented copies
into the objective (which adds Eq. 1's β2 and γ2 terms). The loop, checkpoints and
resumption are the trainer's own: augmentation is a pure function of (seed, epoch, batch
position), so a resumed run sees the same x̂. Whoever starts the feed closes it (it is a
context manager), also when training fails.
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
from engine.models.batch import Batch
from engine.tasks.encoding import EncodedSplit
from engine.training.callbacks import TrainerCallback, TrainerState

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


class AugmentedCopies(TrainerCallback):
    """The feed as a trainer callback: each epoch's batches go to the feed when the epoch begins,
    and each batch's augmented copies (``aug_*`` tensors, mixup's plan) are added to the batch,
    where the objective's β2 and γ2 terms read them."""

    def __init__(self, feed: AugmentFeed) -> None:
        self.feed = feed
        self.fit_seconds, self._started = 0.0, 0.0

    def on_train_begin(self, state: TrainerState) -> None:
        self._started = time.perf_counter()

    def on_epoch_begin(self, state: TrainerState, batches: list[np.ndarray]) -> None:
        self.feed.schedule(state.epoch, batches)

    def on_batch_begin(self, state: TrainerState, position: int, batch: Batch) -> None:
        batch.update(self.feed.get(position))

    def on_train_end(self, state: TrainerState) -> None:
        self.fit_seconds = time.perf_counter() - self._started

    def report(self) -> dict:
        """The feed's report, with the wait share of this session's training time."""
        return self.feed.report(self.fit_seconds)
