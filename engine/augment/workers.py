"""The worker-process side of augmentation: a pool of ``spawn``-ed processes, each
holding its own copy of the policy (WordNet, GloVe, a masked LM or Apertium pipes).

Workers only rewrite text; this module imports nothing heavier than the text
operations, so a worker starts without torch or transformers (unless a masked LM is
used). Nor do workers re-import the parent's ``__main__`` script, as Python's spawn
otherwise does: that would cost the script's own imports and re-run an unguarded
script's top level. (A custom operation must therefore live in an importable
module, not in ``__main__``.) The trainer-side feed is :mod:`engine.augment.feed`.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from engine.augment.policy import AugmentPolicy, PolicySpec, TextExample
from engine.lifetime import exit_with_parent
from engine.tasks.spec import TaskSpec

Work = list[tuple[TextExample, int]]

_worker_policy: AugmentPolicy | None = None


def _init_worker(spec: PolicySpec, task: TaskSpec) -> None:
    global _worker_policy
    exit_with_parent()
    os.environ["OMP_NUM_THREADS"] = "1"  # a masked LM in a worker must not fight the trainer for cores
    _worker_policy = AugmentPolicy(spec, task)
    _worker_policy.prepare()


def worker_ready() -> bool:
    return True


def augment_in_worker(work: Work) -> tuple[list[TextExample], Counter[str]]:
    assert _worker_policy is not None, "worker used before its initializer ran"
    return _worker_policy.augment(work)


def augment_batches(policy: AugmentPolicy, works: list[Work]) -> list[tuple[list[TextExample], Counter[str]]]:
    """Several batches' work in one pass of the policy, split back per batch."""
    outcomes = policy.augment_each([pair for work in works for pair in work])
    out, start = [], 0
    for work in works:
        part = outcomes[start : start + len(work)]
        start += len(work)
        out.append(([o for o in part if isinstance(o, TextExample)], Counter(o for o in part if isinstance(o, str))))
    return out


def augment_batches_in_worker(works: list[Work]) -> list[tuple[list[TextExample], Counter[str]]]:
    assert _worker_policy is not None, "worker used before its initializer ran"
    return augment_batches(_worker_policy, works)


@contextmanager
def _main_left_out() -> Iterator[None]:
    """While processes are spawned, hide ``__main__``'s origin so children skip re-importing it."""
    main = sys.modules["__main__"]
    saved = {name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__dict__["__spec__"] = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.update(saved)
        if "__spec__" not in saved:
            main.__dict__.pop("__spec__", None)


def worker_pool(spec: PolicySpec, task: TaskSpec, workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes, started now: each loads the policy's resources at once."""
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(spec, task),
    )
    with _main_left_out():  # processes are spawned by these submits
        for _ in range(workers):
            pool.submit(worker_ready)
    return pool
