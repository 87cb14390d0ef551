"""How fast this machine does the engine's kind of work: a short fixed workload, timed where a run trains.

A run's wall time is its pipeline's work over its machine's speed, and machines differ more than
pipelines do: two 2-core CPUs took the same runs, same code and budget, in times two to three
times apart. A cost model that reads only the pipeline cannot tell those apart, so each run times
this probe on its device and keeps the seconds beside its own; a model can then count a run's
seconds in probes (its machine divided out), and a prediction for a new machine scales by the
probe timed there.

The workload is what distillation spends its time on, at a student's size: training steps
(forward, backward, optimiser) of a small transformer encoder, on one thread. A small student's
operations are too small to split well, so its runs hardly speed up with a second thread while
the probe's larger matrices do: probed on the process's threads, a 2-core machine read 1.4 times
faster than its runs were. It takes well under a second; the median of a few repeats keeps one
interruption from setting it.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from engine.training import distributed

#: The encoder's shape: two layers of a 128-wide student, a batch of 8 sequences of 64 tokens.
PROBE_LAYERS, PROBE_WIDTH, PROBE_BATCH, PROBE_TOKENS = 2, 128, 8, 64
#: Timed repeats of PROBE_STEPS training steps each, after one untimed step (allocations, kernels).
PROBE_REPEATS, PROBE_STEPS = 5, 3


def speed_probe_seconds(device: torch.device | None = None) -> float:
    """Median seconds of :data:`PROBE_STEPS` training steps of the probe's encoder on ``device`` (the
    process group's, where runs train, when None), on one thread. Larger: a slower machine. The
    global RNG and the process's threads are left as they were, so probing changes nothing a run
    does."""
    device = device or distributed.state().device
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _timed(device)
    finally:
        torch.set_num_threads(threads)


def _timed(device: torch.device) -> float:
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        model, batch = _workload(device)
        optimiser = torch.optim.SGD(model.parameters(), lr=1e-3)
        _steps(model, batch, optimiser, 1, device)
        times = [_steps(model, batch, optimiser, PROBE_STEPS, device) for _ in range(PROBE_REPEATS)]
    return statistics.median(times)


def _workload(device: torch.device) -> tuple[nn.Module, torch.Tensor]:
    layer = nn.TransformerEncoderLayer(PROBE_WIDTH, nhead=2, dim_feedforward=4 * PROBE_WIDTH, batch_first=True)
    model = nn.TransformerEncoder(layer, PROBE_LAYERS, enable_nested_tensor=False).to(device)
    return model, torch.randn(PROBE_BATCH, PROBE_TOKENS, PROBE_WIDTH, device=device)


def _steps(
    model: nn.Module, batch: torch.Tensor, optimiser: torch.optim.Optimizer, steps: int, device: torch.device
) -> float:
    """Seconds of ``steps`` training steps, the device's queue drained at both ends."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        optimiser.zero_grad()
        model(batch).pow(2).mean().backward()
        optimiser.step()
    _sync(device)
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
