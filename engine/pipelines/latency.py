"""CPU latency of a model: what a user deploying the student waits per forward pass."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.models.batch import model_inputs
from engine.tasks.encoding import EncodedSplit, collate


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` inside the block (None: left as they are)."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def cpu_latency_ms(
    model: nn.Module,
    split: EncodedSplit,
    pad_id: int,
    examples: int = 16,
    *,
    batch_size: int = 1,
    threads: int | None = None,
) -> float:
    """Mean CPU milliseconds per forward of ``batch_size`` examples (at batch 1: per example), over
    ``examples`` forwards after a warm-up. Batches take the split's examples in order, cycling
    when it has fewer; ``threads`` fixes PyTorch's threads while timing (an ONNX model sets its
    own when its session is made)."""
    model = model.to("cpu").eval()
    repeats = min(examples, len(split)) if batch_size == 1 else examples
    batches = [
        collate(split, [(r * batch_size + j) % len(split) for j in range(batch_size)], pad_id) for r in range(repeats)
    ]
    with torch_threads(threads):
        model(**model_inputs(model, batches[0]))
        start = time.perf_counter()
        for batch in batches:
            model(**model_inputs(model, batch))
        return 1000 * (time.perf_counter() - start) / len(batches)


#: The teacher's latencies measured in this process, by (teacher folder, what was timed).
_teacher_ms: dict[tuple[str, str], float] = {}
LATENCY_FILE = "latency.json"


def cpu_name() -> str:
    """The CPU's model name (Linux), else what :mod:`platform` knows: latencies hold for one CPU."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_busy() -> bool:
    """Whether other work competes for the CPUs now: the 1-minute load average is above the
    core count (this process's own threads count toward it, so a lone run is not busy)."""
    return hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1)


def _remembered(path: Path, key: str, measure: Callable[[], float]) -> float:
    """The latency stored under ``key`` in ``path``, measured when absent, and measured again when
    it was taken on a busy machine and this one is quiet (the lower of the two is kept: load only
    ever slows a forward). Entries of older files, bare numbers, count as taken on a busy machine."""
    stored = json.loads(path.read_text()) if path.exists() else {}
    entry = stored.get(key)
    if isinstance(entry, int | float):
        entry = {"ms": float(entry), "busy": True}
    if entry is None or (entry["busy"] and not machine_busy()):
        busy = machine_busy()
        ms = measure()
        entry = {"ms": ms, "busy": busy} if entry is None else {"ms": min(ms, entry["ms"]), "busy": busy}
        stored[key] = entry
        path.write_text(json.dumps(stored, indent=2))
    return float(entry["ms"])


def teacher_latency_ms(
    model_dir: Path, teacher: nn.Module, split: EncodedSplit, pad_id: int, examples: int = 16
) -> float:
    """:func:`cpu_latency_ms` of a fine-tuned teacher, timed once per (teacher, timed inputs,
    threads, CPU) and remembered in this process and in ``latency.json`` beside the teacher
    (timed again once the machine is quiet if it was busy, see :func:`_remembered`).

    The teacher never changes between the runs that distil from it, so timing it again in
    every run (every sweep trial) only adds seconds that are not training. The student,
    new in every run, is timed in every run.
    """
    timed = (np.asarray(split.input_ids[i], dtype=np.int64).tobytes() for i in range(min(examples, len(split))))
    inputs = hashlib.sha256(b"|".join(timed)).hexdigest()[:16]
    key = f"{inputs}|examples={examples}|threads={torch.get_num_threads()}|cpu={cpu_name()}"
    folder = str(model_dir)
    if (folder, key) not in _teacher_ms:
        path = Path(model_dir).parent / LATENCY_FILE
        _teacher_ms[(folder, key)] = _remembered(path, key, lambda: cpu_latency_ms(teacher, split, pad_id, examples))
    return _teacher_ms[(folder, key)]
