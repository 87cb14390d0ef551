"""The one training loop: fine-tuning and every Distiller pipeline go through it.

What differs between a teacher fine-tune, a no-KD student baseline and a KD run
is only the :class:`Objective` (which terms of Eq. 1 are on, and where teacher
outputs come from). The loop itself owns what every run needs:

* seeded, resumable epochs: the example order of epoch ``e`` is a pure function
  of ``(seed, e)``, and a checkpoint records the position inside the epoch plus
  every RNG state, so killing a run and rerunning the same command continues it
  and ends with the same result as an uninterrupted run;
* mixed precision and several GPUs through ``accelerate`` (the same code on CPU);
* gradient accumulation, warmup + linear decay, gradient clipping;
* evaluation each epoch with the task's metrics, keeping the best student;
* reporting each of Eq. 1's terms, the learning rate, the dev metrics and the throughput to
  the run's tracking backends (``train.report_to``; none by default);
* a stop with the step number on a non-finite loss, keeping the last good checkpoint;
* an optional :data:`EpochCallback`, told each epoch's dev score, which may stop the run early
  (a search's pruner); a resumed run first tells it the last epoch it finished.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from transformers import PreTrainedModel, get_linear_schedule_with_warmup

from engine.config import TrainSettings
from engine.data.schema import TaskSpec
from engine.errors import AutodistillError
from engine.models.batch import Batch, model_inputs
from engine.models.encoding import EncodedSplit, collate
from engine.models.heads import task_head
from engine.tracking.base import Tracking
from engine.training import distributed
from engine.training.metrics import compute_metrics
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


#: Told each finished epoch (1-based) and its dev score (the task's metric); returning True stops the
#: run after that epoch with the best student so far. What a search's multi-fidelity pruner needs,
#: without the engine knowing the search: the caller keeps its own state in the callable.
EpochCallback = Callable[[int, float], bool]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def choose_precision(requested: str) -> str:
    """``auto``: bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU."""
    if requested != "auto":
        return {"fp32": "no"}.get(requested, requested)
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


class StepLog:
    """The objective's named terms over one optimizer step's micro-batches, averaged for tracking."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

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
    stopped_after_epoch: int | None = None  # set when the epoch callback stopped it before its last epoch


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
        tracking: Tracking | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> None:
        self.spec, self.train_split, self.dev_split = spec, train, dev
        self.on_epoch = on_epoch
        self.tracking = tracking or Tracking()
        self.settings, self.objective, self.pad_id = settings, objective, pad_id
        self.workdir = Path(workdir)
        self.show_progress, self.description = show_progress, description
        seed_everything(settings.seed)
        distributed.state()  # the process group first, so that CPU-only processes meet over gloo
        self.accelerator = Accelerator(mixed_precision=choose_precision(settings.precision))
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

    def _state(self, epoch: int, batch: int, step: int, history: list, best: tuple[float, int]) -> dict:
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
            "position": {"epoch": epoch, "batch": batch, "step": step},
            "history": history,
            "best": best,
            "elapsed": self._elapsed(),
        }

    def _save_checkpoint(self, **position: object) -> None:
        if not self.accelerator.is_main_process:
            return
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(self._state(**position), tmp)
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

    def _elapsed(self) -> float:
        return self._elapsed_before + (time.perf_counter() - self._started)

    # ------------------------------------------------------------------ loop

    def fit(self) -> TrainResult:
        self._started, self._elapsed_before = time.perf_counter(), 0.0
        self.workdir.mkdir(parents=True, exist_ok=True)
        state = self._load_checkpoint()
        epoch, batch_pos, step, history, best = 0, 0, 0, [], (-math.inf, -1)
        if state is not None:
            epoch, batch_pos, step = (state["position"][k] for k in ("epoch", "batch", "step"))
            history, best, self._elapsed_before = state["history"], tuple(state["best"]), state["elapsed"]
        self._seen, self._train_time = 0, 0.0
        stop = self._asks_to_stop(history)  # a resumed run: the caller hears where it stands first
        shown = self.show_progress and self.accelerator.is_main_process
        with progress(self.description, self.schedule.total_steps, step, enabled=shown) as advance:
            while epoch < self.epochs and not stop:
                step, terms = self._train_epoch(epoch, batch_pos, step, history, best, advance)
                metrics = self.evaluate(self.dev_split)
                score = metrics[self.spec.metric]
                history.append({"epoch": epoch + 1, "step": step, **metrics, **terms})
                self.tracking.log_metrics({f"dev/{k}": v for k, v in metrics.items()}, step)
                if score > best[0]:
                    best = (score, epoch + 1)
                    if self.accelerator.is_main_process:
                        torch.save(self.accelerator.unwrap_model(self.student).state_dict(), self.best_path)
                distributed.barrier()  # the best weights are on disk before any process reads them
                epoch, batch_pos = epoch + 1, 0
                self._save_checkpoint(epoch=epoch, batch=0, step=step, history=history, best=best)
                stop = self._asks_to_stop(history)
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
            steps=step,
            train_seconds=self._elapsed(),
            examples_per_second=self._seen * self.accelerator.num_processes / max(self._train_time, 1e-9),
            history=history,
            stopped_after_epoch=int(history[-1]["epoch"]) if stop and epoch < self.epochs else None,
        )

    def _asks_to_stop(self, history: list[dict[str, float]]) -> bool:
        """The epoch callback's answer on the last finished epoch (asked on the main process, its
        answer shared with the others, so that every process stops together)."""
        if self.on_epoch is None or not history:
            return False
        last = history[-1]
        answer = self.on_epoch(int(last["epoch"]), float(last[self.spec.metric])) if distributed.is_main() else False
        return bool(distributed.from_main(int(bool(answer))))

    def _train_epoch(
        self, epoch: int, batch_pos: int, step: int, history: list, best: tuple[float, int], on_step: Callable
    ) -> tuple[int, dict[str, float]]:
        """Train epoch ``epoch`` from batch ``batch_pos``; returns the optimizer step reached and the
        epoch's mean of each objective term (``train/<term>``: the run's history keeps them)."""
        batches = self.epoch_batches(epoch)
        self.student.train()
        log, whole, seen, seconds = StepLog(), StepLog(), 0, 0.0
        for b in range(batch_pos, len(batches)):
            tick = time.perf_counter()
            terms = self._train_batch(batches[b], b, len(batches), step)
            log.add(*terms)
            whole.add(*terms)
            seconds += time.perf_counter() - tick
            seen += len(batches[b])
            if (b + 1) % self.settings.grad_accum == 0 or b + 1 == len(batches):
                step += 1
                on_step(step)
                self.tracking.log_metrics({**log.pop(), "train/lr": self.optimizer.param_groups[0]["lr"]}, step)
                if step % self.settings.checkpoint_every == 0 and b + 1 < len(batches):
                    self._save_checkpoint(epoch=epoch, batch=b + 1, step=step, history=history, best=best)
        self._seen, self._train_time = self._seen + seen, self._train_time + seconds
        speed = seen * self.accelerator.num_processes / max(seconds, 1e-9)
        self.tracking.log_metrics({"train/examples_per_second": speed, "train/epoch": epoch + 1}, step)
        return step, whole.pop()

    def _train_batch(
        self, indices: np.ndarray, position: int, n_batches: int, step: int
    ) -> tuple[float, dict[str, float]]:
        """One micro-batch forward and backward (and the optimizer step after the last); its loss and terms."""
        batch = {k: v.to(self.accelerator.device) for k, v in collate(self.train_split, indices, self.pad_id).items()}
        last_micro = (position + 1) % self.settings.grad_accum == 0 or position + 1 == n_batches
        sync = self.accelerator.no_sync(self.student) if not last_micro else nullcontext()
        with sync:
            with self.accelerator.autocast():
                loss, terms = self.objective(self.student, batch)
            if not torch.isfinite(loss):
                raise AutodistillError(
                    f"loss became {loss.item()} at step {step + 1}; stopped, the last good checkpoint "
                    f"is kept in {self.workdir}"
                )
            self.accelerator.backward(loss / self.settings.grad_accum)
        if last_micro:
            distributed.average_gradients(p for m in self.objective.trainable_modules() for p in m.parameters())
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            self.accelerator.clip_grad_norm_(params, 1.0)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach()), terms

    @torch.no_grad()
    def evaluate(self, split: EncodedSplit) -> dict[str, float]:
        return evaluate_model(
            self.accelerator.unwrap_model(self.student),
            self.spec,
            split,
            self.pad_id,
            self.settings.batch_size * 2,
            self.accelerator.device,
        )


def iterate_batches(split: EncodedSplit, batch_size: int) -> Iterator[list[int]]:
    for start in range(0, len(split), batch_size):
        yield list(range(start, min(start + batch_size, len(split))))


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
    preds: list = []
    for indices, logits in batch_logits(model, spec, split, pad_id, batch_size, device):
        preds.extend(head.decode(logits, spec, split, indices))
    return preds


@torch.no_grad()
def batch_logits(
    model: nn.Module, spec: TaskSpec, split: EncodedSplit, pad_id: int, batch_size: int, device: torch.device | str
) -> Iterator[tuple[list[int], list[torch.Tensor]]]:
    """The head's outputs batch by batch, with the rows of each (for callers that want more
    than the decoded predictions, e.g. class probabilities)."""
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
    preds = predict(model, spec, split, pad_id, batch_size, device)
    return compute_metrics(spec.task_type, preds, task_head(spec).gold(split))
