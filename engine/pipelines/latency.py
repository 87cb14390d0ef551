"""CPU latency of a model: what a user deploying the student waits per forward pass."""

from __future__ import annotations

import itertools
import json
import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import torch
import torch.utils.benchmark as benchmark
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


#: Seconds of timing per figure: at least the first (so a fast model is timed over many forwards),
#: at most the second (a slow teacher on a loaded machine must not hold a run up for minutes).
MIN_TIMING_S, MAX_TIMING_S = 0.2, 3.0
#: Repeats are stable when their interquartile range is within this fraction of their median.
STABLE_SPREAD = 0.1
#: Tries per figure when the machine is busy: the fastest is kept (load only ever slows a forward).
BUSY_TRIES = 2
LATENCY_FILE = "latency.json"


@dataclass(frozen=True)
class Latency:
    """A latency figure and whether to trust it.

    ``busy``: other work competed for the CPUs while it was timed (the load average above
    the core count), or its repeats never settled; the figure may then be too high, and
    pages that show it say so.
    """

    ms: float
    spread: float  # interquartile range of the repeats / their median
    busy: bool


def cpu_latency_ms(
    model: nn.Module,
    split: EncodedSplit,
    pad_id: int,
    examples: int = 16,
    *,
    batch_size: int = 1,
    threads: int | None = None,
) -> float:
    """Median CPU milliseconds per forward of ``batch_size`` examples (at batch 1: per example);
    see :func:`measure_latency`."""
    return measure_latency(model, split, pad_id, examples, batch_size=batch_size, threads=threads).ms


def measure_latency(
    model: nn.Module,
    split: EncodedSplit,
    pad_id: int,
    examples: int = 16,
    *,
    batch_size: int = 1,
    threads: int | None = None,
) -> Latency:
    """CPU latency per forward of ``batch_size`` examples, timed again when the machine was busy.

    Timed with :mod:`torch.utils.benchmark` after a warm-up: blocks of forwards are repeated
    until their spread is within :data:`STABLE_SPREAD` of the median (or :data:`MAX_TIMING_S`
    has passed), and the median block is reported, so one slow block (another process taking
    the core for a moment) moves the figure little. The forwards cycle through ``examples``
    batches that take the split's examples in order. ``threads`` fixes PyTorch's threads while
    timing (an ONNX model sets its own when its session is made).
    """
    best: Latency | None = None
    for _ in range(BUSY_TRIES):
        timed = _time(model, split, pad_id, examples, batch_size, threads)
        best = timed if best is None or timed.ms < best.ms else best
        if not timed.busy:
            return timed
    return replace(best, busy=True)


@torch.no_grad()
def _time(
    model: nn.Module, split: EncodedSplit, pad_id: int, examples: int, batch_size: int, threads: int | None
) -> Latency:
    model = model.to("cpu").eval()
    repeats = min(examples, len(split)) if batch_size == 1 else examples
    batches = [
        collate(split, [(r * batch_size + j) % len(split) for j in range(batch_size)], pad_id) for r in range(repeats)
    ]
    inputs = itertools.cycle([model_inputs(model, batch) for batch in batches])
    threads = threads if threads is not None else torch.get_num_threads()
    busy = machine_busy()
    with torch_threads(threads):
        model(**next(inputs))  # warm-up: first-call allocations are not latency
        timer = benchmark.Timer("forward()", globals={"forward": lambda: model(**next(inputs))}, num_threads=threads)
        measured = timer.adaptive_autorange(STABLE_SPREAD, min_run_time=MIN_TIMING_S, max_run_time=MAX_TIMING_S)
    spread = measured.iqr / measured.median
    busy = busy or machine_busy() or spread > STABLE_SPREAD
    return Latency(ms=1000 * measured.median, spread=spread, busy=busy)


#: Latencies measured in this process, by (model folder, what was timed).
_measured: dict[tuple[str, str], Latency] = {}


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


def _remembered(path: Path, key: str, measure: Callable[[], Latency]) -> Latency:
    """The latency stored under ``key`` in ``path``, measured when absent, and measured again when
    it was taken on a busy machine and this one is quiet (the lower of the two is kept: load only
    ever slows a forward). Entries of older files, bare numbers, count as taken on a busy machine."""
    stored = json.loads(path.read_text()) if path.exists() else {}
    entry = stored.get(key)
    if isinstance(entry, int | float):
        entry = {"ms": float(entry), "spread": float("nan"), "busy": True}
    if entry is None or (entry["busy"] and not machine_busy()):
        latency = measure()
        if entry is not None and entry["ms"] < latency.ms:
            latency = replace(latency, ms=entry["ms"])
        entry = asdict(latency)
        stored[key] = entry
        path.write_text(json.dumps(stored, indent=2))
    return Latency(**{"spread": float("nan"), **entry})


def model_latency(
    model_dir: Path, model: nn.Module, split: EncodedSplit, pad_id: int, *, batch_size: int = 1, examples: int = 16
) -> Latency:
    """:func:`measure_latency` of the model saved (or to be saved) in ``model_dir``, with one thread,
    timed once per (model, batch size, CPU) and kept in ``latency.json`` beside the folder and in
    this process (timed again once the machine is quiet if it was busy, see :func:`_remembered`).

    One record per model is what makes its figure one figure: the run, its report, its model card
    and ``autodistill export`` all read it, and a teacher, unchanged between the runs that distil
    from it, is timed once rather than in every run (every sweep trial).
    """
    key = f"batch={batch_size}|threads=1|cpu={cpu_name()}"
    memo = (str(model_dir), key)
    if memo not in _measured:
        path = Path(model_dir).parent / LATENCY_FILE
        measure = partial(measure_latency, model, split, pad_id, examples, batch_size=batch_size, threads=1)
        _measured[memo] = _remembered(path, key, measure)
    return _measured[memo]
