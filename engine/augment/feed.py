"""Augmented batches, made ahead of the trainer in background worker processes.

:class:`AugmentFeed` knows each epoch's batch schedule (the trainer's seeded
order), so while the trainer works on one job (a few consecutive batches) the
workers already rewrite the texts of the next ones. The trainer only waits when a
batch is not ready; that waiting time, and its share of the training time, go into
the run's result.

Workers (:mod:`engine.augment.workers`) are ``spawn``-ed processes holding their own
copy of the policy; they only rewrite text. Tokenising and padding the rewritten
texts, and mixup's pairing, happen in the trainer's process (milliseconds). Because
an example's augmentation is seeded by (seed, draw, example key), the output does
not depend on the number of workers or on which worker took which batch:
``aug_workers=0`` (all in the trainer's process) gives the same tensors.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pandas as pd
import torch

from engine.augment.copies import CachedCopies
from engine.augment.mixup import plan_mixup
from engine.augment.policy import AugmentPolicy, TextExample, examples_frame, frame_examples
from engine.augment.pregenerated import PregeneratedSource
from engine.augment.workers import Work, augment_batches, augment_batches_in_worker, worker_pool
from engine.errors import AutodistillError
from engine.tasks import encode_split
from engine.tasks.encoding import EncodedSplit, collate

Batch = dict[str, torch.Tensor]

#: Jobs prepared ahead per worker. A job is enough consecutive batches to reach the
#: operations' ``batch_hint`` examples, so that a translator subprocess (about 0.3 s to
#: start) is paid once per job rather than once per batch.
DEPTH_PER_WORKER = 2
_MIXUP_STREAM = 0x6D6978  # separates mixup's generator from the text operations'


class AugmentFeed:
    """The augmented half of every training batch: x̂ for each example, ``repeated_aug`` times.

    ``source`` replaces live augmentation with pre-generated text (see
    :mod:`engine.augment.pregenerated`); ``cached`` with pre-generated copies already
    encoded, whose batches carry ``aug_index`` so that the teacher's outputs on them can be
    read from a cache (see :mod:`engine.augment.copies`).
    """

    def __init__(
        self,
        policy: AugmentPolicy,
        frame: pd.DataFrame,
        split: EncodedSplit,
        tokenizer,
        max_length: int,
        pad_id: int,
        *,
        workers: int = 1,
        source: PregeneratedSource | None = None,
        cached: CachedCopies | None = None,
    ) -> None:
        self.policy, self.split, self.tokenizer = policy, split, tokenizer
        self.max_length, self.pad_id, self.source, self.cached = max_length, pad_id, source, cached
        self.examples = frame_examples(frame, max_words=max_length)
        self.repeated = policy.spec.repeated
        self.text_ops = bool(policy.text_steps)
        self.live = self.text_ops and source is None and cached is None
        self.workers = workers if self.live else 0
        self.depth = max(1, DEPTH_PER_WORKER * self.workers)
        self.pool: ProcessPoolExecutor | None = None
        self.pending: dict[int, Future] = {}  # job index -> its batches' texts, being made
        self.ready: dict[int, list] = {}  # job index -> its batches' texts, made
        self.epoch, self.batches, self.starts = 0, [], [0]  # starts: first batch position of each job
        self.wait_seconds, self.first_wait, self.served, self.augmented = 0.0, None, 0, 0
        self.dropped: Counter[str] = Counter()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> AugmentFeed:
        """Start the workers (idempotent); they load their resources straight away."""
        if self.workers and self.pool is None:
            self.pool = worker_pool(self.policy.spec, self.policy.task, self.workers)
        elif not self.workers and self.live:
            self.policy.prepare()  # cached per process: a second call costs nothing
        return self

    def __enter__(self) -> AugmentFeed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.pool is not None:
            for future in self.pending.values():
                future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool, self.pending, self.ready = None, {}, {}

    # ------------------------------------------------------------------ schedule

    def schedule(self, epoch: int, batches: list[np.ndarray]) -> None:
        """The trainer's batches for ``epoch``; production starts at the first :meth:`get`."""
        for future in self.pending.values():
            future.cancel()
        self.epoch, self.batches, self.pending, self.ready = epoch, batches, {}, {}
        per_batch = max(1, len(batches[0]) * self.repeated) if batches else 1
        hint = max((op.batch_hint for _, op in self.policy.text_steps), default=1)
        group = max(1, -(-hint // per_batch))
        # the first job is one batch, so that the trainer starts after one batch, not one job
        self.starts = [0, *range(1, len(batches), group)] if batches else [0]

    def work(self, position: int) -> Work:
        """(example, draw) pairs of the batch at ``position``: each example ``repeated`` times."""
        rows = self.split.rows[np.asarray(self.batches[position])]
        return [(self.examples[int(row)], self.epoch * self.repeated + r) for row in rows for r in range(self.repeated)]

    def job_of(self, position: int) -> int:
        return bisect.bisect_right(self.starts, position) - 1

    def job_works(self, job: int) -> list[Work]:
        end = self.starts[job + 1] if job + 1 < len(self.starts) else len(self.batches)
        return [self.work(p) for p in range(self.starts[job], end)]

    def _submit_ahead(self, job: int) -> None:
        assert self.pool is not None
        for ahead in range(job, min(job + self.depth, len(self.starts))):
            if ahead not in self.pending and ahead not in self.ready:
                self.pending[ahead] = self.pool.submit(augment_batches_in_worker, self.job_works(ahead))

    def _texts(self, position: int) -> tuple[list[TextExample], Counter[str]]:
        if self.source is not None:
            return self.source.lookup(self.work(position))
        job = self.job_of(position)
        if job not in self.ready:
            self.ready = {job: self._make(job)}  # earlier jobs are done with
        return self.ready[job][position - self.starts[job]]

    def _make(self, job: int) -> list[tuple[list[TextExample], Counter[str]]]:
        if self.pool is None:
            return augment_batches(self.policy, self.job_works(job))
        self._submit_ahead(job)
        try:
            return self.pending.pop(job).result()
        except BrokenProcessPool as exc:
            raise AutodistillError(f"an augmentation worker process died ({exc}); try aug_workers=0") from None

    # ------------------------------------------------------------------ batches

    def get(self, position: int) -> Batch:
        """Augmented tensors for the batch at ``position`` (blocks until ready; timed)."""
        tick = time.perf_counter()
        if self.cached is not None and self.text_ops:
            batch = self._cached_batch(position)
        elif self.text_ops or self.source is not None:
            examples, dropped = self._texts(position)
            batch = self._encode(examples, dropped)
        else:  # mixup alone: x̂ starts as x, so the encoded originals are reused
            indices = np.repeat(np.asarray(self.batches[position]), self.repeated)
            batch = {k: v for k, v in collate(self.split, indices, self.pad_id).items() if k != "index"}
        out = {f"aug_{k}": v for k, v in batch.items()}
        size = out["aug_input_ids"].shape[0]
        if self.policy.mixup_rounds and size:
            rng = np.random.default_rng([self.policy.spec.seed % 2**32, self.epoch, position, _MIXUP_STREAM])
            settings = self.policy.spec.settings
            out["mix_perm"], out["mix_lambda"] = plan_mixup(
                rng, size, self.policy.mixup_rounds, settings.mixup_dist, settings.mixup_alpha
            )
        self.served += 1
        self.augmented += size
        waited = time.perf_counter() - tick
        self.wait_seconds += waited
        if self.first_wait is None:
            self.first_wait = waited
        if self.pool is not None:
            self._submit_ahead(self.job_of(position) + 1)
        return out

    def _encode(self, examples: list[TextExample], dropped: Counter[str]) -> Batch:
        self.dropped.update(dropped)
        spec = self.policy.task
        if examples:
            try:
                encoded = encode_split(
                    examples_frame(examples, spec), spec, self.tokenizer, self.max_length, train=True
                )
            except AutodistillError:  # a span batch whose every answer fell past max_length
                self.dropped["truncated"] += len(examples)
            else:
                self.dropped["truncated"] += encoded.dropped
                if len(encoded):
                    return {
                        k: v
                        for k, v in collate(encoded, list(range(len(encoded))), self.pad_id).items()
                        if k != "index"
                    }
        return self._empty()

    def _cached_batch(self, position: int) -> Batch:
        """The batch's copies collated from the encoded cache; ``index`` names their rows there."""
        assert self.cached is not None
        rows, dropped = self.cached.rows(self.work(position))
        self.dropped.update(dropped)
        return collate(self.cached.split, rows, self.pad_id) if rows else self._empty()

    def _empty(self) -> Batch:
        """A batch of no examples (every copy was dropped): the objective adds no augmented term."""
        from engine.tasks import task_head

        empty = torch.zeros((0, 1), dtype=torch.long)
        return {
            "input_ids": empty,
            "token_type_ids": empty,
            "attention_mask": empty,
            "labels": task_head(self.policy.task).empty_labels(),
        }

    # ------------------------------------------------------------------ report

    def report(self, fit_seconds: float) -> dict:
        """What the run records: policy, backends, counts, and how long the trainer waited."""
        report = {
            "policy": list(self.policy.spec.ops),
            "aug_p": self.policy.spec.settings.aug_p,
            "repeated_aug": self.repeated,
            "backends": self.policy.backends(),
            "source": self._source_label(),
            "augmented_batches": self.served,
            "augmented_examples": self.augmented,
            "dropped": {k: v for k, v in sorted(self.dropped.items()) if v},
            "trainer_wait_seconds": round(self.wait_seconds, 4),
            "trainer_wait_share": round(self.wait_seconds / fit_seconds, 4) if fit_seconds > 0 else 0.0,
            "first_batch_wait_seconds": round(self.first_wait or 0.0, 4),
        }
        if self.source is not None or self.cached is not None:
            report["reused_copies"] = (self.source or self.cached).reused
        return report

    def _source_label(self) -> str:
        if self.cached is not None:
            return f"cached: {self.cached.folder} ({self.cached.copies} copies, encoded once)"
        if self.source is not None:
            return f"pre-generated: {self.source.folder} ({self.source.copies} copies)"
        if self.workers:
            return f"live ({self.workers} worker process{'es' if self.workers != 1 else ''})"
        return "live (in the trainer's process)"
