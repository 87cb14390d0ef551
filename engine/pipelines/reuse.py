"""What one process keeps from run to run, so that a sweep worker loads things once.

A sweep worker runs many short trials on the same few data sets with one teacher. Each
trial used to load the data set, read the fine-tuned teacher's weights, load its tokenizer
and tokenise the same dev and test rows again: seconds of every trial that are not
training. These helpers keep the last few of each, keyed by everything they depend on:

* a data set by its source, loading options and home (a file's path also by its
  modification time, so an edited file is read again);
* a teacher by its fine-tuned folder (the folder's name holds the hash of the data and
  settings it was trained with) and task spec;
* a tokenizer by name;
* an encoded split by tokenizer, length, train/eval mode and the content of its rows. The
  content is hashed once per frame object (:func:`fingerprint`); a seeded sample of a split
  (what ``limit_examples`` returns) is keyed by its source's fingerprint and the positions
  of its rows there, so a trial hashes no text at all once its data set is loaded.

The objects are shared, so they must be used read-only: the teacher is only ever evaluated
(distillation never updates it) and encoded splits are never changed after encoding.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from engine.data import load_task
from engine.data.schema import TaskData
from engine.models.zoo import load_task_model, load_tokenizer
from engine.paths import home
from engine.tasks import encode_split
from engine.tasks.encoding import EncodedSplit
from engine.tasks.spec import TaskSpec

#: Encoded splits kept: a trial reads three (train, dev, test).
SPLITS_KEPT = 12


def task(source: str, options: dict) -> TaskData:
    """:func:`engine.data.load_task`, remembered per (source, options, file time)."""
    path = Path(source)
    stamp = os.stat(path).st_mtime_ns if path.exists() else None
    return _task(source, tuple(sorted(options.items())), stamp, str(home()))


@lru_cache(maxsize=4)
def _task(source: str, options: tuple, stamp: int | None, where: str) -> TaskData:
    """``where``: the autodistill home, where catalog sets are prepared (another home, another copy)."""
    return load_task(source, **dict(options))


@lru_cache(maxsize=2)
def teacher(model_dir: str, spec: TaskSpec) -> PreTrainedModel:
    """The fine-tuned teacher in ``model_dir``, read from disk once per process."""
    return load_task_model(model_dir, spec)


@lru_cache(maxsize=4)
def tokenizer(name: str) -> PreTrainedTokenizerBase:
    return load_tokenizer(name)


_splits: OrderedDict[tuple, EncodedSplit] = OrderedDict()
_memo: dict[tuple[str, int], tuple[weakref.ref, object]] = {}


def once_per_object(kind: str, obj: object, compute: Callable[[object], object]) -> object:
    """``compute(obj)``, remembered while ``obj`` lives (by identity: shared objects are read-only)."""
    key = (kind, id(obj))
    entry = _memo.get(key)
    if entry is not None and entry[0]() is obj:
        return entry[1]
    value = compute(obj)
    _memo[key] = (weakref.ref(obj, lambda _, key=key: _memo.pop(key, None)), value)
    return value


def fingerprint(frame: pd.DataFrame) -> bytes:
    """A hash of the frame's content and row labels, computed once per frame object."""

    def digest(f: object) -> bytes:
        rows = pd.util.hash_pandas_object(f.astype(str), index=True).to_numpy()  # type: ignore[union-attr]
        return hashlib.sha256(rows.tobytes()).digest()

    return once_per_object("frame", frame, digest)  # type: ignore[return-value]


def positions(frame: pd.DataFrame, source: pd.DataFrame) -> np.ndarray | None:
    """Where ``frame``'s rows sit in ``source`` (a sample keeps its rows' labels); None when the
    labels cannot say (not unique, or a row not in ``source``)."""
    if not source.index.is_unique:
        return None
    found = source.index.get_indexer(frame.index)
    return None if (found < 0).any() else found


def rows_key(frame: pd.DataFrame, source: pd.DataFrame | None) -> bytes:
    """What an encoded split of ``frame`` is remembered by: its source's fingerprint and its rows'
    positions there, or (no usable source) its own fingerprint."""
    found = None if source is None or frame is source else positions(frame, source)
    if found is None:
        return fingerprint(frame)
    return fingerprint(source) + hashlib.sha256(found.astype(np.int64).tobytes()).digest()


def encoded(
    frame: pd.DataFrame,
    spec: TaskSpec,
    tok: PreTrainedTokenizerBase,
    max_length: int,
    *,
    train: bool,
    source: pd.DataFrame | None = None,
) -> EncodedSplit:
    """:func:`engine.tasks.encoding.encode_split`, remembered by the rows' content; ``source``:
    the split ``frame`` was sampled from, which makes the key cheap (see :func:`rows_key`)."""
    key = (tok.name_or_path, len(tok), spec, max_length, train, rows_key(frame, source))
    if key in _splits:
        _splits.move_to_end(key)
        return _splits[key]
    split = encode_split(frame, spec, tok, max_length, train=train)
    _splits[key] = split
    while len(_splits) > SPLITS_KEPT:
        _splits.popitem(last=False)
    return split


def forget() -> None:
    """Drop everything kept (tests; or a process that moves on to other work)."""
    _task.cache_clear()
    teacher.cache_clear()
    tokenizer.cache_clear()
    _splits.clear()
    _memo.clear()
