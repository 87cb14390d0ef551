"""CPU latency of a model: what a user deploying the student waits per forward pass."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from engine.models.batch import model_inputs
from engine.models.encoding import EncodedSplit, collate


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
