"""CPU latency of a model at batch size 1: what a user deploying the student waits per example."""

from __future__ import annotations

import time

import torch
from torch import nn

from engine.models.batch import model_inputs
from engine.models.encoding import EncodedSplit, collate


@torch.no_grad()
def cpu_latency_ms(model: nn.Module, split: EncodedSplit, pad_id: int, examples: int = 16) -> float:
    """Mean CPU milliseconds per single-example forward (batch size 1), after a warm-up."""
    model = model.to("cpu").eval()
    indices = list(range(min(examples, len(split))))
    batches = [collate(split, [i], pad_id) for i in indices]
    model(**model_inputs(model, batches[0]))
    start = time.perf_counter()
    for batch in batches:
        model(**model_inputs(model, batch))
    return 1000 * (time.perf_counter() - start) / len(batches)
