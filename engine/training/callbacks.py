"""What the trainer tells the code around it, and when: the one way to extend the loop.

As Hugging Face's ``TrainerCallback``: the trainer calls every callback at fixed events, in
the order the callbacks were given, and knows nothing of what they do. Tracking backends
log curves, the augmentation feed adds each batch's augmented copies to the batch, a learned
team's θ step updates Cat(θ) and adds the teachers it chose to the batch, and a search's
pruner stops a run after an epoch, all through these events; a new extension is one more
callback, never a subclass of the trainer.

Events fire on every process of a run with several; a callback that must act once (a
pruner, a tracker) acts on the main process, and ``state.should_stop`` counts as the main
process sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.models.batch import Batch
from engine.training import distributed


@dataclass
class TrainerState:
    """Where a run stands, as the events see it (a resumed run starts from its checkpoint's)."""

    epoch: int = 0  # the epoch being trained, from 0; at on_epoch_end, the epochs finished
    step: int = 0  # optimizer steps done
    history: list[dict[str, float]] = field(default_factory=list)  # one row per finished epoch
    #: The answer each finished epoch's model (by epoch, from 1) gave every dev example where it gave one
    #: only (a majority-class guess, :meth:`~engine.tasks.head.TaskHead.one_answer`); None: its answers differed.
    one_answers: dict[int, str | None] = field(default_factory=dict)
    should_stop: bool = False  # set by a callback at on_train_begin or on_epoch_end: stop after this epoch


class TrainerCallback:
    """Every event, doing nothing: a callback overrides the events it needs."""

    def on_train_begin(self, state: TrainerState) -> None:
        """Training starts, or resumes: ``state`` is the checkpoint's (``state.step`` > 0 on resume)."""

    def on_epoch_begin(self, state: TrainerState, batches: list[np.ndarray]) -> None:
        """The epoch's batches (example indices of this process), before any is trained; a resumed
        run hears its epoch's whole list, then trains from its checkpoint's position."""

    def on_batch_begin(self, state: TrainerState, position: int, batch: Batch) -> None:
        """Before the objective sees the batch at ``position`` of the epoch, outside the run's
        autocast; a callback may add tensors to ``batch`` (the augmented copies of its examples,
        the teachers a learned team's θ step chose)."""

    def on_step_end(self, state: TrainerState, logs: dict[str, float]) -> None:
        """After optimizer step ``state.step``: the objective's terms over its micro-batches and the
        learning rate, as ``train/<name>``."""

    def on_evaluate(self, state: TrainerState, metrics: dict[str, float]) -> None:
        """The dev metrics after an epoch, before on_epoch_end."""

    def on_epoch_end(self, state: TrainerState, logs: dict[str, float]) -> None:
        """An epoch was trained and evaluated (``state.history`` has its row); ``logs`` holds its
        throughput. Setting ``state.should_stop`` ends the run after it, keeping the best student."""

    def on_save(self, state: TrainerState) -> None:
        """A checkpoint at ``state.step`` is about to be written: whatever a callback writes now is
        on disk before the checkpoint claims the run got this far."""

    def on_train_end(self, state: TrainerState) -> None:
        """Training finished (or was stopped by a callback); not called when it fails."""


#: Told each finished epoch (1-based) and its dev score (the task's metric); returning True stops the
#: run after that epoch with the best student so far. What a search's multi-fidelity pruner needs,
#: without the engine knowing the search: the caller keeps its own state in the callable.
EpochCallback = Callable[[int, float], bool]


class EpochListener(TrainerCallback):
    """An :data:`EpochCallback` as a trainer callback: asked after each epoch and, on a resumed
    run, first about the last epoch it finished (so a pruner hears where the run stands)."""

    def __init__(self, listener: EpochCallback, metric: str) -> None:
        self.listener, self.metric = listener, metric

    def on_train_begin(self, state: TrainerState) -> None:
        self._ask(state)

    def on_epoch_end(self, state: TrainerState, logs: dict[str, float]) -> None:
        self._ask(state)

    def _ask(self, state: TrainerState) -> None:
        """On the main process only: the trainer shares its answer with the others."""
        if state.history and distributed.is_main():
            last = state.history[-1]
            state.should_stop |= bool(self.listener(int(last["epoch"]), float(last[self.metric])))


class PlateauStop(TrainerCallback):
    """Stop once the dev ``metric`` has not improved for ``patience`` epochs, but never before epoch
    ``after``: the epochs a small data set's ``min_steps`` adds end when they stop paying, while the
    epochs asked for all run. Epochs whose model gave every dev example one answer do not count: a
    model still guessing the majority class scores the same each epoch (a flat curve, not a plateau),
    and getting past that guess is what ``min_steps`` adds epochs for. Read from ``state``'s history,
    so a resumed run decides alike."""

    def __init__(self, metric: str, after: int, patience: int) -> None:
        self.metric, self.after, self.patience = metric, after, patience

    def on_epoch_end(self, state: TrainerState, logs: dict[str, float]) -> None:
        if state.epoch < self.after:
            return
        answering = [row for row in state.history if state.one_answers.get(int(row["epoch"])) is None]
        if not answering:
            return
        scores = [row[self.metric] for row in answering]
        best_epoch = int(answering[scores.index(max(scores))]["epoch"])
        if state.epoch - best_epoch >= self.patience:
            state.should_stop = True

    def on_train_begin(self, state: TrainerState) -> None:
        """A run resumed after its plateau (killed while saving its last epoch) stops at once."""
        self.on_epoch_end(state, {})
