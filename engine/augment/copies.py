"""Augmented copies made once and shared by epochs and runs (``aug_mode: cached``).

The paper rewrites every training example afresh in every epoch and runs the teacher
on each new copy (``aug_mode: fresh``). That teacher pass dominates an augmented run's
time on a CPU. In cached mode a run instead reads ``K`` copies of each example
(``aug_copies``; unset: ``repeated_aug``, one epoch's worth, reused by every epoch):

* the text is written once by :func:`engine.augment.pregenerated.pregenerate` under
  ``<home>/aug_copies/<key>`` (or the user's ``aug_dir``), ``key`` naming everything
  the text depends on: the training rows, the policy and its backends, ``aug_p``, the
  seed, the words kept and ``K``. Any run asking for the same copies shares them;
* all copies are encoded once into one split, so that the teacher's outputs on them
  are cached exactly like the originals' (:class:`engine.kd.teacher_cache.TeacherCache`,
  logits only: the augmented terms of Eq. 1 are prediction losses).

Copy ``k`` is draw ``k`` of the policy, so epoch 0 of a cached run sees the very text a
fresh run sees; later epochs see those copies again (draw ``d`` reads copy ``d mod K``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.augment.policy import AugmentPolicy, TextExample
from engine.augment.pregenerated import MANIFEST, check_folder, copy_identity, pregenerate, read_copy, row_hashes
from engine.paths import publish_folder, subdir
from engine.tasks import encode_split
from engine.tasks.encoding import EncodedSplit

if TYPE_CHECKING:
    from engine.config import DistillConfig
    from engine.data.schema import TaskData

COPIES_DIR = "aug_copies"


def copies_key(dataset: str, policy: AugmentPolicy, train: pd.DataFrame, max_words: int, copies: int) -> str:
    """A name for the copies of ``train`` that ``policy`` makes: equal names, equal text."""
    hashes = row_hashes(train)
    rows = hashlib.sha256(hashes.index.to_numpy().tobytes() + hashes.to_numpy().tobytes()).hexdigest()
    payload = {"dataset": dataset, **copy_identity(policy, max_words), "copies": copies, "rows": rows}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class CachedCopies:
    """Every kept copy of the training examples, encoded once, found by (example key, copy)."""

    folder: Path
    copies: int
    split: EncodedSplit
    where: dict[tuple[int, int], int]  # (example key, copy) -> row of ``split``
    written: list[set[int]]  # per copy, the example keys pre-generation kept
    reused: bool = False

    @classmethod
    def prepare(
        cls, task: TaskData, config: DistillConfig, policy: AugmentPolicy, train: pd.DataFrame, tokenizer
    ) -> CachedCopies:
        """Write the copies if no run has yet (atomically), check them against ``train``, encode them."""
        max_words = config.train.max_length
        if config.aug_dir:
            folder = Path(config.aug_dir)
        else:
            key = copies_key(task.spec.name, policy, train, max_words, config.kept_copies)
            folder = subdir(COPIES_DIR) / key
            if not (folder / MANIFEST).exists():
                publish_folder(folder, lambda partial: pregenerate(task, config, config.kept_copies, partial), MANIFEST)
        copies = int(check_folder(folder, policy, train, task.spec.name, max_words)["copies"])
        # The written frames are encoded as they are: no detour through example objects.
        frames = [read_copy(folder, k) for k in range(copies)]
        frame = pd.concat(frames, ignore_index=True)
        copy_of = np.repeat(np.arange(copies), [len(f) for f in frames])
        split = encode_split(frame, task.spec, tokenizer, max_words, train=True)
        keys, copy = frame["key"].to_numpy()[split.rows], copy_of[split.rows]
        where = {(int(k), int(c)): row for row, (k, c) in enumerate(zip(keys, copy, strict=True))}
        return cls(folder, copies, split, where, [set(f["key"].tolist()) for f in frames])

    def rows(self, work: list[tuple[TextExample, int]]) -> tuple[list[int], Counter[str]]:
        """Rows of :attr:`split` for (example, draw) pairs; the missing ones counted by cause."""
        found: list[int] = []
        dropped: Counter[str] = Counter()
        for example, draw in work:
            self.reused |= draw >= self.copies
            copy = draw % self.copies
            row = self.where.get((example.key, copy))
            if row is not None:
                found.append(row)
            elif example.key in self.written[copy]:
                dropped["truncated"] += 1  # its answer fell past max_length when encoded
            else:
                dropped["pregenerated"] += 1  # an operation dropped it when the copy was written
        return found, dropped
