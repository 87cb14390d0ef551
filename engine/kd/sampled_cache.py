"""A sample's teacher outputs read from one cache over the whole training split.

A run capped at ``max_train_examples`` trains on a seeded sample of the training split, and
sweep trials with other seeds draw other samples. Each sample used to get its own teacher
cache: a teacher pass over examples that earlier trials had mostly passed over already. One
cache over the whole split serves every sample, but it costs a teacher pass over all of it,
and whether that pays depends on how many samples will follow, which no run knows. So the
choice follows the rent-or-buy rule, which never pays more than twice the best choice made
in hindsight: samples build their own caches until the examples they have cached add up to
the whole split's size; then the whole split's cache is built, and every later sample reads
its rows there (a sample whose own cache exists keeps reading that one).

The count is kept per (teacher, whole split's content, tokenizer, max length) in
``<home>/teacher_cache_samples/<id>.json``, with the name of the whole split's cache once it
is built. Two processes updating one count at once may lose one sample, which only delays
the switch.

The whole split's cache is an ordinary :class:`TeacherCache` keyed by its own tokens, so the
size announcement and the disk check apply to it as to any other; a whole split that would
not fit on disk is never chosen (the sample's smaller cache is built instead).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.kd.teacher_cache import TeacherCache, TeacherOutputs, cache_key, plan_layout
from engine.paths import subdir
from engine.tasks.encoding import EncodedSplit
from engine.tasks.spec import TaskSpec

LEDGER_DIR = "teacher_cache_samples"


@dataclass
class SampleRows:
    """A whole split's cache read through a sample: the sample's example ``i`` is row ``rows[i]``."""

    cache: TeacherCache
    rows: torch.Tensor
    placed: dict[torch.device, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def layers(self) -> tuple[int, ...]:
        return self.cache.layers

    def lookup(
        self, index: torch.Tensor, width: int, device: torch.device | str, layers: tuple[int, ...]
    ) -> TeacherOutputs:
        """:meth:`TeacherCache.lookup` for a batch of the sample's examples."""
        return self.cache.lookup(self._rows_on(index.device)[index], width, device, layers)

    def prefetch(self, indices: np.ndarray, device: torch.device | str, layers: tuple[int, ...]) -> None:
        """:meth:`TeacherCache.prefetch` for a batch of the sample's examples."""
        self.cache.prefetch(self.rows.numpy()[indices], device, layers)

    def _rows_on(self, device: torch.device) -> torch.Tensor:
        """``rows`` on ``device``, copied there once: mapping a batch's indices needs no host trip."""
        if device not in self.placed:
            self.placed[device] = self.rows.to(device)
        return self.placed[device]


def whole_rows(whole: EncodedSplit, sample: EncodedSplit, positions: np.ndarray) -> np.ndarray | None:
    """Rows of ``whole`` holding the sample's examples; ``positions`` maps each row of the sample's
    frame to its row in the whole split's frame. None when one of them is not in ``whole``."""
    size = max(int(whole.rows.max()), int(positions.max())) + 1
    inverse = np.full(size, -1, dtype=np.int64)
    inverse[whole.rows] = np.arange(len(whole))
    rows = inverse[positions[sample.rows]]
    return None if (rows < 0).any() else rows


def sample_cache(
    teacher: nn.Module,
    teacher_id: str,
    spec: TaskSpec,
    sample: EncodedSplit,
    positions: np.ndarray,
    whole_id: str,
    encode_whole: Callable[[], EncodedSplit],
    whole_examples: int,
    pad_id: int,
    *,
    layers: Sequence[int],
    device: torch.device | str = "cpu",
    show_progress: bool = True,
) -> TeacherCache | SampleRows:
    """The teacher's outputs on ``sample``: its own cache, or the whole split's read through its rows.

    ``whole_id`` names the whole split's content, tokenizer and max length (the count's key), and
    ``whole_examples`` is its size; ``encode_whole`` gives its encoded split, asked for only when
    its cache is used.
    """

    def own() -> TeacherCache:
        return TeacherCache.build_or_load(
            teacher, teacher_id, spec, sample, pad_id, layers=layers, device=device, show_progress=show_progress
        )

    root, ledger = subdir("teacher_cache"), subdir(LEDGER_DIR) / f"{whole_id}.json"
    entry = _read(ledger)
    whole_ready = entry["cache"] is not None and (root / entry["cache"] / "meta.json").exists()
    if not whole_ready:
        if (root / cache_key(teacher_id, sample) / "meta.json").exists():
            return own()  # this very sample was cached before: free to read
        if entry["examples"] + len(sample) < whole_examples:  # still cheaper to rent
            _write(ledger, {**entry, "examples": entry["examples"] + len(sample)})
            return own()
    whole = encode_whole()
    rows = whole_rows(whole, sample, positions)
    if rows is None or not (whole_ready or _fits(teacher, spec, whole, pad_id, layers, root, device)):
        return own()
    cache = TeacherCache.build_or_load(
        teacher, teacher_id, spec, whole, pad_id, layers=layers, device=device, show_progress=show_progress
    )
    _write(ledger, {**_read(ledger), "cache": cache.folder.name})
    return SampleRows(cache, torch.from_numpy(rows))


def _fits(
    teacher: nn.Module,
    spec: TaskSpec,
    whole: EncodedSplit,
    pad_id: int,
    layers: Sequence[int],
    root: Path,
    device: torch.device | str,
) -> bool:
    return plan_layout(teacher, spec, whole, pad_id, device).size(layers) <= shutil.disk_usage(root).free


def _read(ledger: Path) -> dict:
    """One whole split's count: examples its samples have cached, and its own cache's name once built."""
    try:
        return json.loads(ledger.read_text())
    except (OSError, ValueError):  # none yet, or damaged: counting starts again
        return {"examples": 0, "cache": None}


def _write(ledger: Path, entry: dict) -> None:
    partial = ledger.with_name(f"{ledger.name}.{os.getpid()}")
    partial.write_text(json.dumps(entry))
    os.replace(partial, ledger)
