"""Pre-generated augmentation (TinyBERT-style): K augmented copies written once.

``pregenerate(task, config, copies, out_dir)`` writes

    <out_dir>/copy-000.parquet ... copy-<K-1>.parquet   the augmented train split, one copy each
    <out_dir>/sources.parquet                         key and content hash of every source example
    <out_dir>/manifest.json                           policy, backends, seed, counts

Copy ``k`` is draw ``k`` of :mod:`engine.augment.policy`, so it holds exactly the
text live augmentation gives at epoch ``k`` (with ``repeated_aug=1``). A run with
``aug_dir=<out_dir>`` reads its augmented text from these files instead of
generating it: draw ``d`` uses copy ``d mod K`` (recorded as reused when ``d >= K``).
Mixup, which works on embeddings, still happens at training time.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from engine.augment.policy import AugmentPolicy, TextExample, build_policy, examples_frame, frame_examples
from engine.data.schema import TaskData
from engine.errors import AutodistillError

if TYPE_CHECKING:
    from engine.config import DistillConfig

MANIFEST = "manifest.json"
CHUNK = 256
FORMAT_VERSION = 1


SOURCES = "sources.parquet"


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """A content hash per source example, indexed by its key (row label)."""
    return pd.Series(pd.util.hash_pandas_object(frame, index=False).to_numpy(), index=frame.index)


def copy_identity(policy: AugmentPolicy, max_words: int) -> dict:
    """What must agree between pre-generated copies and a run that reads them."""
    spec = policy.spec
    return {
        "text_ops": list(spec.text_ops),
        "max_words": max_words,
        "aug_p": spec.settings.aug_p,
        "seed": spec.seed,
        "backends": {name: b for name, b in policy.backends().items() if name in spec.text_ops},
    }


def pregenerate(task: TaskData, config: DistillConfig, copies: int, out_dir: str | Path) -> dict:
    """Write ``copies`` augmented copies of ``task``'s train split; returns the manifest."""
    from engine.tasks.encoding import limit_examples

    if copies < 1:
        raise AutodistillError(f"copies must be at least 1, got {copies}")
    policy = build_policy(config, task.spec)
    if not policy.text_steps:
        raise AutodistillError(
            f"policy {list(config.augment)} has no text operation to pre-generate; "
            "mixup mixes embeddings at training time"
        )
    frame = limit_examples(task.train, config.train.max_train_examples, config.train.seed)
    examples = frame_examples(frame, max_words=config.train.max_length)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = []
    pool = None
    if config.aug_workers > 0:
        from engine.augment.workers import augment_in_worker, worker_pool

        pool = worker_pool(policy.spec, task.spec, config.aug_workers)
    try:
        for k in range(copies):
            chunks = [[(e, k) for e in examples[i : i + CHUNK]] for i in range(0, len(examples), CHUNK)]
            results = list(pool.map(augment_in_worker, chunks)) if pool else map(policy.augment, chunks)
            kept: list[TextExample] = []
            dropped: Counter[str] = Counter()
            for chunk_kept, chunk_dropped in results:
                kept.extend(chunk_kept)
                dropped.update(chunk_dropped)
            frame_k = examples_frame(kept, task.spec)
            tmp = out / f"copy-{k:03d}.parquet.tmp"
            frame_k.to_parquet(tmp, index=False)
            tmp.replace(out / f"copy-{k:03d}.parquet")
            counts.append({"copy": k, "examples": len(kept), "dropped": {a: b for a, b in dropped.items() if b}})
    finally:
        if pool is not None:
            pool.shutdown()
    manifest = {
        "format": FORMAT_VERSION,
        "dataset": task.spec.name,
        "copies": copies,
        "source_examples": len(examples),
        **copy_identity(policy, config.train.max_length),
        "counts": counts,
    }
    hashes = row_hashes(frame)
    pd.DataFrame({"key": hashes.index, "hash": hashes.to_numpy()}).to_parquet(out / SOURCES, index=False)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))  # last: marks the folder complete
    return manifest


def check_folder(folder: Path, policy: AugmentPolicy, train: pd.DataFrame, dataset: str, max_words: int) -> dict:
    """The manifest of a :func:`pregenerate` folder, once it is known to hold copies of exactly
    ``train`` made the way this run would make them (else one line saying what differs)."""
    path = folder / MANIFEST
    if not path.exists():
        raise AutodistillError(f"aug_dir {str(folder)!r} holds no {MANIFEST}; write it with `autodistill augment`")
    manifest = json.loads(path.read_text())
    expected = {"dataset": dataset, **copy_identity(policy, max_words)}
    for field, value in expected.items():
        if manifest.get(field) != value:
            raise AutodistillError(
                f"aug_dir {str(folder)!r} was generated with {field}={manifest.get(field)!r} but this "
                f"run has {field}={value!r}; write it again with `autodistill augment` and this run's settings"
            )
    sources = pd.read_parquet(folder / SOURCES).set_index("key")["hash"]
    mine = row_hashes(train)
    known = mine.index.isin(sources.index)
    common = mine.index[known]
    stale = int((~known).sum() + (sources.loc[common].to_numpy() != mine.loc[common].to_numpy()).sum())
    if stale:
        raise AutodistillError(
            f"aug_dir {str(folder)!r} was generated from other training data: {stale} of this "
            f"run's {len(mine)} examples are missing there or differ; write it again with `autodistill augment`"
        )
    return manifest


def read_copy(folder: Path, copy: int) -> pd.DataFrame:
    """Copy ``copy`` as written: the task's normalised columns plus ``key`` (the source row's label)."""
    return pd.read_parquet(folder / f"copy-{copy:03d}.parquet")


class PregeneratedSource:
    """Augmented text read from a :func:`pregenerate` folder, by (example key, draw)."""

    def __init__(
        self, folder: str | Path, policy: AugmentPolicy, train: pd.DataFrame, dataset: str, max_words: int
    ) -> None:
        self.folder = Path(folder)
        self.copies = int(check_folder(self.folder, policy, train, dataset, max_words)["copies"])
        self.rows: list[dict[int, TextExample]] = [
            {e.key: e for e in frame_examples(read_copy(self.folder, k).set_index("key"))} for k in range(self.copies)
        ]
        self.reused = False

    def lookup(self, work: list[tuple[TextExample, int]]) -> tuple[list[TextExample], Counter[str]]:
        kept, dropped = [], Counter()
        for example, draw in work:
            self.reused |= draw >= self.copies
            found = self.rows[draw % self.copies].get(example.key)
            if found is None:
                dropped["pregenerated"] += 1  # dropped (and counted) when the copy was written
            else:
                kept.append(found)
        return kept, dropped
