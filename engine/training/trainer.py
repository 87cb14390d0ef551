"""The one training loop: fine-tuning and every Distiller pipeline go through it.

What differs between a teacher fine-tune, a no-KD student baseline and a KD run
is only the :class:`Objective` (which terms of Eq. 1 are on, and where teacher
outputs come from). The loop itself owns what every run needs:

* seeded, resumable epochs: the example order of epoch ``e`` is a pure function
  of ``(seed, e)``, and a checkpoint records the position inside the epoch plus
  every RNG state, so killing a run and rerunning the same command continues it
  and ends with the same result as an uninterrupted run;
* several GPUs through ``accelerate`` (the same code on CPU), and mixed precision per run
  (:mod:`engine.training.precision`: runs of one process may differ in precision);
* gradient accumulation, warmup + linear decay, gradient clipping;
* evaluation each epoch with the task's metrics, keeping the best student;
* a stop with the step number on a non-finite loss, keeping the last good checkpoint;
* the events of :mod:`engine.training.callbacks`, told to every callback the run was given:
  tracking backends hear each of Eq. 1's terms, the learning rate, the dev metrics and the
  throughput; the augmentation feed adds each batch's augmented copies; a learned team's θ
  step updates Cat(θ) before each batch; a search's pruner may stop the run after an epoch.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from transformers import PreTrainedModel, get_linear_schedule_with_warmup

from engine.config import TrainSettings
from engine.errors import AutodistillError
from engine.models.batch import Batch, model_inputs
from engine.tasks import task_head
from engine.tasks.encoding import EncodedSplit, collate
from engine.tasks.spec import TaskSpec
from engine.training import distributed
from engine.training.callbacks import TrainerCallback, TrainerState
from engine.training.clock import Clock
from engine.training.precision import Precision
from engine.training.progress import progress
from engine.training.schedule import Schedule, shard


class Objective(Protocol):
    """The training loss of one batch (a choice of Eq. 1's terms)."""

    def trainable_modules(self) -> list[nn.Module]:
        """Modules besides the student that learn (projections, MI critics)."""
        ...

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the loss and a few named components to log."""
        ...


@runtime_checkable
class Prefetching(Protocol):
    """An objective that reads per-example data it can start moving to the device a batch early
    (a teacher-output cache), so that the device does not wait for it."""

    def prefetch(self, indices: np.ndarray, device: torch.device) -> None: ...


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class StepLog:
    """The objective's named terms over one optimizer step's micro-batches, averaged for tracking."""

    def __init__(self, sums: dict[str, float] | None = None, counts: dict[str, int] | None = None) -> None:
        self.sums: dict[str, float] = dict(sums or {})
        self.counts: dict[str, int] = dict(counts or {})

    def add(self, loss: float, terms: dict[str, float]) -> None:
        for name, value in {"loss": loss, **terms}.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.counts[name] = self.counts.get(name, 0) + 1

    def pop(self) -> dict[str, float]:
        """``train/<term>`` means since the last call; starts over."""
        means = {f"train/{name}": total / self.counts[name] for name, total in self.sums.items()}
        self.sums, self.counts = {}, {}
        return means


@dataclass
class TrainResult:
    """What a finished (or resumed-and-finished) training reports."""

    dev_metrics: dict[str, float]
    dev_score: float
    best_epoch: int
    steps: int
    train_seconds: float
    examples_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_after_epoch: int | None = None  # set when a callback stopped it before its last epoch
    # Wall and CPU seconds earlier processes trained this run before it stopped and resumed here
    # (train_seconds counts them too): the run's own clock, started in this process, lacks them.
    earlier_seconds: float = 0.0
    earlier_cpu_seconds: float | None = 0.0  # None: a checkpoint written before CPU time was kept
    # The answer the best epoch's model gave every dev example, where it gave one only
    # (TaskHead.one_answer): its score is then the label counts'. None: its answers differ.
    one_answer: str | None = None


class Trainer:
    """Fit ``student`` on ``train`` with ``objective``; resumable through ``workdir``."""

    def __init__(
        self,
        student: PreTrainedModel,
        spec: TaskSpec,
        train: EncodedSplit,
        dev: EncodedSplit,
        settings: TrainSettings,
        objective: Objective,
        workdir: Path,
        pad_id: int,
        *,
        show_progress: bool = True,
        description: str = "training",
        callbacks: Sequence[TrainerCallback] = (),
    ) -> None:
        self.spec, self.train_split, self.dev_split = spec, train, dev
        self.callbacks = list(callbacks)
        self.settings, self.objective, self.pad_id = settings, objective, pad_id
        self.workdir = Path(workdir)
        self.show_progress, self.description = show_progress, description
        seed_everything(settings.seed)
        distributed.state()  # the process group first, so that CPU-only processes meet over gloo
        # accelerate's own precision is process-wide: this run's is applied by self.precision.
        self.accelerator = Accelerator(mixed_precision="no")
        self.precision = Precision.of(settings.precision, self.accelerator.device)
        self.scaler = self.precision.scaler()
        self.schedule = Schedule.of(len(train), settings, self.accelerator.num_processes)
        params = [p for m in [student, *objective.trainable_modules()] for p in m.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": settings.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=settings.lr,
            fused=True,  # one kernel for all parameters: the per-tensor loop dominated small students' steps
        )
        total = self.schedule.total_steps
        scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total), total)
        # The objective calls its own modules directly, not through a DDP wrapper, so they are
        # only moved here; _train_batch averages their gradients across processes.
        self.student, self.optimizer, self.scheduler = self.accelerator.prepare(student, optimizer, scheduler)
        for module in objective.trainable_modules():
            module.to(self.accelerator.device)

    # ------------------------------------------------------------------ schedule

    # The numbers come from engine.training.schedule, which AutoSKDBERT's N also reads.

    @property
    def batches_per_epoch(self) -> int:
        return self.schedule.batches_per_epoch

    @property
    def steps_per_epoch(self) -> int:
        return self.schedule.steps_per_epoch

    @property
    def epochs(self) -> int:
        """``settings.epochs``, raised until ``settings.min_steps`` optimizer steps fit in."""
        return self.schedule.epochs

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """This process's batches of epoch ``epoch``: a pure function of (seed, epoch)."""
        order = np.random.default_rng([self.settings.seed, epoch]).permutation(len(self.train_split))
        mine = shard(order, self.accelerator.process_index, self.accelerator.num_processes)
        size = self.settings.batch_size
        return [mine[i : i + size] for i in range(0, len(mine), size)]

    # ------------------------------------------------------------------ checkpoints

    @property
    def checkpoint_path(self) -> Path:
        return self.workdir / "checkpoint.pt"

    @property
    def best_path(self) -> Path:
        return self.workdir / "best_student.pt"

    def _state(self, state: TrainerState, batch: int, best: tuple[float, int], epoch_terms: StepLog) -> dict:
        return {
            "student": self.accelerator.unwrap_model(self.student).state_dict(),
            "extras": [m.state_dict() for m in self.objective.trainable_modules()],
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "numpy": np.random.get_state(),
                "python": random.getstate(),
            },
            "position": {"epoch": state.epoch, "batch": batch, "step": state.step},
            # the epoch's terms so far: a run resumed mid-epoch reports the whole epoch's means
            "epoch_terms": {"sums": epoch_terms.sums, "counts": epoch_terms.counts},
            "history": state.history,
            "best": best,
            "one_answers": state.one_answers,
            "elapsed": self._clock.wall_elapsed(),
            "cpu_elapsed": self._clock.cpu_elapsed(),
        }

    def _save_checkpoint(
        self, state: TrainerState, batch: int, best: tuple[float, int], epoch_terms: StepLog | None = None
    ) -> None:
        """The run as it stands at ``batch`` of ``state.epoch`` (``epoch_terms``: the objective's terms
        summed over the epoch's batches before it); the callbacks write what they hold first."""
        self._emit("on_save", state)
        if not self.accelerator.is_main_process:
            return
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(self._state(state, batch, best, epoch_terms or StepLog()), tmp)
        os.replace(tmp, self.checkpoint_path)  # atomic: a kill never leaves half a checkpoint

    def _load_checkpoint(self) -> dict | None:
        if not self.checkpoint_path.exists():
            return None
        state = torch.load(self.checkpoint_path, weights_only=False, map_location="cpu")
        self.accelerator.unwrap_model(self.student).load_state_dict(state["student"])
        for module, module_state in zip(self.objective.trainable_modules(), state["extras"], strict=True):
            module.load_state_dict(module_state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        return state

    # ------------------------------------------------------------------ loop

    def fit(self) -> TrainResult:
        self._clock = Clock()
        self.workdir.mkdir(parents=True, exist_ok=True)
        checkpoint = self._load_checkpoint()
        state, batch_pos, best = TrainerState(), 0, (-math.inf, -1)
        self._resumed_terms = StepLog()
        if checkpoint is not None:
            position = checkpoint["position"]
            state = TrainerState(
                epoch=position["epoch"],
                step=position["step"],
                history=checkpoint["history"],
                one_answers=checkpoint.get("one_answers", {}),
            )
            batch_pos, best = position["batch"], tuple(checkpoint["best"])
            self._resumed_terms = StepLog(**checkpoint.get("epoch_terms", {}))  # {}: from before they were kept
            # a checkpoint written before CPU time was kept holds none: unknown, not zero
            self._clock.carry_over(checkpoint["elapsed"], checkpoint.get("cpu_elapsed"))
        self._seen, self._train_time = 0, 0.0
        self._emit("on_train_begin", state)
        stop = self._should_stop(state)  # a resumed run: the callbacks hear where it stands first
        student = self.accelerator.unwrap_model(self.student)
        shown = self.show_progress and self.accelerator.is_main_process
        with (
            progress(self.description, self.schedule.total_steps, state.step, enabled=shown) as advance,
            self.precision.fp32_outputs(student),
        ):
            while state.epoch < self.epochs and not stop:
                terms, logs = self._train_epoch(state, batch_pos, best, advance)
                best = self._end_epoch(state, terms, logs, best)
                stop, batch_pos = self._should_stop(state), 0
                self._save_checkpoint(state, batch=0, best=best)
        self._emit("on_train_end", state)
        return self._result(state, best, stopped=stop and state.epoch < self.epochs)

    def _end_epoch(
        self, state: TrainerState, terms: dict[str, float], logs: dict[str, float], best: tuple[float, int]
    ) -> tuple[float, int]:
        """Evaluate the epoch just trained, keep the best student, tell the callbacks; the new best."""
        metrics, state.one_answers[state.epoch + 1] = self._score_dev()
        self._emit("on_evaluate", state, metrics)
        score = metrics[self.spec.metric]
        state.history.append({"epoch": state.epoch + 1, "step": state.step, **metrics, **terms})
        if score > best[0]:
            best = (score, state.epoch + 1)
            if self.accelerator.is_main_process:
                torch.save(self.accelerator.unwrap_model(self.student).state_dict(), self.best_path)
        distributed.barrier()  # the best weights are on disk before any process reads them
        state.epoch += 1
        self._emit("on_epoch_end", state, logs)
        return best

    def _result(self, state: TrainerState, best: tuple[float, int], *, stopped: bool) -> TrainResult:
        """The best epoch's student loaded back, and what the run reports."""
        history = state.history
        best_metrics = next(h for h in history if h["epoch"] == best[1])
        self.accelerator.unwrap_model(self.student).load_state_dict(
            torch.load(self.best_path, map_location="cpu", weights_only=True)
        )
        return TrainResult(
            dev_metrics={
                k: v for k, v in best_metrics.items() if k not in ("epoch", "step") and not k.startswith("train/")
            },
            dev_score=best[0],
            best_epoch=best[1],
            steps=state.step,
            train_seconds=self._clock.wall_elapsed(),
            examples_per_second=self._seen * self.accelerator.num_processes / max(self._train_time, 1e-9),
            history=history,
            stopped_after_epoch=int(history[-1]["epoch"]) if stopped else None,
            earlier_seconds=self._clock.carried[0],
            earlier_cpu_seconds=self._clock.carried[1],
            one_answer=state.one_answers.get(best[1]),
        )

    def _emit(self, event: str, state: TrainerState, *args: object) -> None:
        for callback in self.callbacks:
            getattr(callback, event)(state, *args)

    def _should_stop(self, state: TrainerState) -> bool:
        """Whether a callback asked to stop, as the main process heard it (so that every process
        stops together)."""
        return bool(distributed.from_main(int(state.should_stop)))

    def _train_epoch(
        self, state: TrainerState, batch_pos: int, best: tuple[float, int], on_step: Callable
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Train epoch ``state.epoch`` from batch ``batch_pos``, advancing ``state.step``; returns the
        epoch's mean of each objective term (``train/<term>``: the run's history keeps them) and its
        throughput."""
        batches = self.epoch_batches(state.epoch)
        self._emit("on_epoch_begin", state, batches)
        self.student.train()
        whole = self._resumed_terms if batch_pos else StepLog()
        log, seen, seconds = StepLog(), 0, 0.0
        prefetching = isinstance(self.objective, Prefetching)
        for b in range(batch_pos, len(batches)):
            tick = time.perf_counter()
            if prefetching and b + 1 < len(batches):
                self.objective.prefetch(batches[b + 1], self.accelerator.device)
            terms = self._train_batch(state, batches[b], b, len(batches))
            log.add(*terms)
            whole.add(*terms)
            seconds += time.perf_counter() - tick
            seen += len(batches[b])
            if (b + 1) % self.settings.grad_accum == 0 or b + 1 == len(batches):
                state.step += 1
                on_step(state.step)
                self._emit("on_step_end", state, {**log.pop(), "train/lr": self.optimizer.param_groups[0]["lr"]})
                if state.step % self.settings.checkpoint_every == 0 and b + 1 < len(batches):
                    self._save_checkpoint(state, batch=b + 1, best=best, epoch_terms=whole)
        self._seen, self._train_time = self._seen + seen, self._train_time + seconds
        speed = seen * self.accelerator.num_processes / max(seconds, 1e-9)
        return whole.pop(), {"train/examples_per_second": speed, "train/epoch": state.epoch + 1}

    def _train_batch(
        self, state: TrainerState, indices: np.ndarray, position: int, n_batches: int
    ) -> tuple[float, dict[str, float]]:
        """One micro-batch forward and backward (and the optimizer step after the last); its loss and terms."""
        batch = {k: v.to(self.accelerator.device) for k, v in collate(self.train_split, indices, self.pad_id).items()}
        self._emit("on_batch_begin", state, position, batch)
        last_micro = (position + 1) % self.settings.grad_accum == 0 or position + 1 == n_batches
        sync = self.accelerator.no_sync(self.student) if not last_micro else nullcontext()
        with sync:
            with self.precision.autocast():
                loss, terms = self.objective(self.student, batch)
            if not torch.isfinite(loss):
                raise AutodistillError(
                    f"loss became {loss.item()} at step {state.step + 1}; stopped, the last good checkpoint "
                    f"is kept in {self.workdir}"
                )
            self.accelerator.backward(self.scaler.scale(loss / self.settings.grad_accum))
        if last_micro:
            distributed.average_gradients(p for m in self.objective.trainable_modules() for p in m.parameters())
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            self.scaler.unscale_(self.optimizer)
            self.accelerator.clip_grad_norm_(params, 1.0)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach()), terms

    @torch.no_grad()
    def _score_dev(self) -> tuple[dict[str, float], str | None]:
        """The dev metrics of the epoch just trained, and the answer the student gave every dev example
        where it gave one only: read off the same predictions, so telling costs no second pass."""
        with self.precision.autocast():
            preds = predict(
                self.accelerator.unwrap_model(self.student),
                self.spec,
                self.dev_split,
                self.pad_id,
                self.settings.batch_size * 2,
                self.accelerator.device,
            )
        return split_metrics(self.spec, self.dev_split, preds), task_head(self.spec).one_answer(preds, self.spec)


def iterate_batches(split: EncodedSplit, batch_size: int) -> Iterator[list[int]]:
    """Rows in batches of similar length, shortest first: a batch is padded to its longest row, so
    scoring in data order would spend much of its time on padding where lengths vary (a 5,000-row
    dev split of sentences: about half). Callers place results by the indices each batch carries."""
    order = np.argsort(split.lengths(), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size].tolist()


@torch.no_grad()
def predict(
    model: nn.Module,
    spec: TaskSpec,
    split: EncodedSplit,
    pad_id: int,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> list:
    """Predictions in the task's label space: class ids, floats, or answer strings."""
    head = task_head(spec)
    preds: list = [None] * len(split)
    for indices, logits in batch_logits(model, spec, split, pad_id, batch_size, device):
        for row, pred in zip(indices, head.decode(logits, spec, split, indices), strict=True):
            preds[row] = pred
    return preds


@torch.no_grad()
def batch_logits(
    model: nn.Module, spec: TaskSpec, split: EncodedSplit, pad_id: int, batch_size: int, device: torch.device | str
) -> Iterator[tuple[list[int], list[torch.Tensor]]]:
    """The head's outputs batch by batch, with the rows of each (for callers that want more
    than the decoded predictions, e.g. class probabilities), in :func:`iterate_batches`' order."""
    model.eval()
    head = task_head(spec)
    for indices in iterate_batches(split, batch_size):
        batch = {k: v.to(device) for k, v in collate(split, indices, pad_id).items()}
        yield indices, head.logits(model(**model_inputs(model, batch)))


def evaluate_model(
    model: nn.Module,
    spec: TaskSpec,
    split: EncodedSplit,
    pad_id: int,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    return split_metrics(spec, split, predict(model, spec, split, pad_id, batch_size, device))


def split_metrics(spec: TaskSpec, split: EncodedSplit, preds: list) -> dict[str, float]:
    """``preds`` (one per example of ``split``) scored against the split's own targets by the task's metrics."""
    head = task_head(spec)
    return head.metrics(preds, head.gold(split), spec.label_names)
