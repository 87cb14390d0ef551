"""How many batches, optimizer steps and epochs a run takes: one pure function of the data's size.

The trainer loops by this schedule and AutoSKDBERT's learned policy counts its N
(the objective calls of Algorithm 1, which place teacher selection at ⌈N/2⌉ and the
candidates along phase 2) from the same numbers, so the two can never disagree:
not with several processes, where each one trains on its own shard of ⌈n/P⌉
examples, and not with ``min_steps``, which adds epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.config import TrainSettings


@dataclass(frozen=True)
class Schedule:
    """One process's share of a run: the same on every process."""

    batches_per_epoch: int
    steps_per_epoch: int
    epochs: int

    @classmethod
    def of(cls, n_examples: int, settings: TrainSettings, num_processes: int = 1) -> Schedule:
        """The schedule of ``n_examples`` training examples shared by ``num_processes`` processes.

        Each process takes ⌈n/P⌉ examples an epoch (:func:`shard`) in batches of
        ``batch_size``; ``grad_accum`` batches make an optimizer step (the last step
        of an epoch may take fewer); ``epochs`` is raised until ``min_steps`` steps fit in.
        """
        per_process = math.ceil(n_examples / num_processes)
        batches = math.ceil(per_process / settings.batch_size)
        steps = math.ceil(batches / settings.grad_accum)
        epochs = settings.epochs
        if settings.min_steps is not None and steps > 0:
            epochs = max(epochs, math.ceil(settings.min_steps / steps))
        return cls(batches_per_epoch=batches, steps_per_epoch=steps, epochs=epochs)

    @property
    def total_steps(self) -> int:
        """Optimizer steps in the run (the learning-rate schedule's length)."""
        return self.steps_per_epoch * self.epochs

    @property
    def total_calls(self) -> int:
        """Objective calls in the run on each process: one per batch (N of Algorithm 1)."""
        return self.batches_per_epoch * self.epochs


def shard(order: np.ndarray, process_index: int, num_processes: int) -> np.ndarray:
    """Process ``process_index``'s examples of an epoch's ``order``: every P-th one.

    When P does not divide n the order wraps round to its start (as torch's
    ``DistributedSampler`` pads), so every process gets ⌈n/P⌉ examples and makes the
    same number of calls: processes that made different numbers would wait forever
    on each other's gradient exchange.
    """
    if num_processes == 1:
        return order
    padded = math.ceil(len(order) / num_processes) * num_processes
    wrapped = np.resize(order, padded)  # repeats order from its start up to the padded length
    return wrapped[process_index::num_processes]
