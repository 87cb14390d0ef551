"""Several processes on one run (``accelerate launch`` / ``torchrun``): who writes, who waits.

Every process trains: DDP averages the student's gradients and :func:`average_gradients`
those of the objective's own modules (projections, MI critics). Shared files —
checkpoints, fine-tuned teachers, teacher caches, results — are written by the main
process alone; the others wait at a barrier and then read what it wrote. With one
process (the usual CPU case) every helper here is a no-op.

On a machine without CUDA the processes talk over gloo, so this path is tested on
CPU with ``torchrun --nproc_per_node 2`` exactly as it runs on several GPUs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path

import torch
from accelerate import PartialState

from engine.paths import exclusive


@cache
def state() -> PartialState:
    """The process group, created once: gloo on CPU-only machines, NCCL on GPUs."""
    return PartialState(cpu=not torch.cuda.is_available())


def is_main() -> bool:
    return state().is_main_process


def barrier() -> None:
    """Wait until every process gets here (returns at once with one process)."""
    state().wait_for_everyone()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the block on the main process, then on the others.

    For work with no collectives in it that leaves a file behind (a teacher cache, a
    dev-score cache): the main process writes it, the others then find it and read it.
    """
    with state().main_process_first():
        yield


@contextmanager
def exclusive_run(folder: Path, doing: str) -> Iterator[None]:
    """Hold ``folder``'s lock (:func:`engine.paths.exclusive`) for work all processes do together.

    Another run on the same home must wait, but this run's own processes train side by side:
    the main process takes the lock and the others wait for it at a barrier.
    """
    with exclusive(folder, doing) if is_main() else nullcontext():
        barrier()
        yield


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """All-reduce (mean) the gradients of parameters that DDP does not own.

    A parameter without a gradient in this process contributes zeros, so every
    process issues the same collectives in the same order.
    """
    if state().num_processes == 1:
        return
    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.SUM)
        p.grad /= state().num_processes


def average(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over the processes (itself with one process)."""
    if state().num_processes == 1:
        return tensor
    total = tensor.detach().to(state().device).clone()
    torch.distributed.all_reduce(total, op=torch.distributed.ReduceOp.SUM)
    return (total / state().num_processes).to(tensor.device)


def from_main(value: int) -> int:
    """The main process's ``value`` on every process: for a random draw all must agree on."""
    if state().num_processes == 1:
        return value
    shared = torch.tensor([value], device=state().device)
    torch.distributed.broadcast(shared, src=0)
    return int(shared.item())
