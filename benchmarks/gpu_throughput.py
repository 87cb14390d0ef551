"""Distillation throughput on a GPU: the engine beside a best-practice loop, and study runs per minute.

Same work in every loop: a BERT-base-shaped teacher (12 x 768, random weights from a config:
throughput does not depend on the weights, and none need to be carried to the machine), the
``tinybert4`` student, bbc-news at 128 tokens, soft-label CE on logits plus hidden-state MSE
over the Skip mapping with learned projections, AdamW. Training examples per second,
CUDA-synchronised, warm-up excluded, at each batch size:

* ``reference live`` / ``reference cached``: this file's best-practice loop (bf16 autocast,
  SDPA attention, fused AdamW on CUDA, data on the device, no host sync inside the loop); the
  teacher run live, or its outputs computed once into device memory;
* ``engine <fp32|bf16> <live|cache>``: ``Trainer`` + ``DistillationObjective`` through
  ``engine_throughput.engine`` (the cache built once, its build time reported apart); the
  figure is the last epoch's (the first is warm-up);
* ``hand loop``: ``engine_throughput.hand_loop`` (fp32);
* ``TextBrewer``: 0.2.1 through ``engine_throughput.textbrewer`` (fp32), skipped with the reason
  when it is not installed in ``--textbrewer-dir``.

Every entry goes to ``benchmarks/results/gpu_throughput.json`` with the device's name. Then, for
``--study-seconds``, the study's realistic sweep on bbc-news with this teacher and student
(``autodistill study sweep --fidelity realistic``, its store kept in ``--workdir``, so a rerun
resumes it), and the runs finished per minute.

``--cpu-smoke`` runs all of it on tiny shapes on CPU in seconds (what the test suite checks).
On a lent GPU: see benchmarks/gpu/README.md for the one command and the files it carries.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import engine_throughput as project  # noqa: E402
from engine.data import load_task  # noqa: E402
from engine.models.zoo import build_student, load_task_model, load_tokenizer  # noqa: E402
from engine.tasks import encode_split  # noqa: E402
from engine.tasks.encoding import collate, limit_examples  # noqa: E402
from engine.tracking.base import Tracking  # noqa: E402

DEVICE = project.DEVICE
RESULTS = ROOT / "benchmarks" / "results" / "gpu_throughput.json"


@dataclass(frozen=True)
class Shape:
    """The work of one invocation: the teacher's shape, the student, the data and the batch sizes."""

    layers: int
    hidden: int
    heads: int
    student: str
    examples: int | None  # None: the whole training split
    max_length: int
    batch_sizes: tuple[int, ...]
    steps: int  # timed steps of the reference loop
    engine_epochs: int
    study_caps: tuple[str, ...] = ()  # extra `study sweep` options (the smoke run's tiny budget)


GPU = Shape(12, 768, 12, "tinybert4", None, 128, (32, 128), 60, 2)
SMOKE = Shape(
    2, 128, 2, "tiny", 24, 16, (8,), 2, 2,
    ("--max-train-examples", "32", "--max-eval-examples", "16", "--max-length", "16", "--max-epochs", "1"),
)  # fmt: skip


def make_teacher(folder: Path, shape: Shape, tokenizer: str) -> str:
    """A head-less BERT of ``shape`` with random (seeded) weights and ``tokenizer`` (a preset, or a
    folder with the tokenizer's files and a config.json), saved as a model folder once."""
    if not (folder / "config.json").exists():
        vocab = load_tokenizer(tokenizer)
        config = BertConfig(
            vocab_size=len(vocab),
            hidden_size=shape.hidden,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            intermediate_size=4 * shape.hidden,
        )
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
        vocab.save_pretrained(folder)
    return str(folder)


# --------------------------------------------------------------------------- the reference loop


def reference(task, split, teacher: str, student_name: str, batch_size: int, steps: int, *, cached: bool) -> float:
    """Examples/s of a best-practice KD loop: bf16 autocast, SDPA, fused AdamW, data on the device."""
    torch.manual_seed(0)
    model = load_task_model(teacher, task.spec).eval().to(DEVICE)
    student = build_student(student_name, teacher, task.spec).train().to(DEVICE)
    pairs = project.skip_pairs(student, model.config.num_hidden_layers)
    width, target = student.config.hidden_size, model.config.hidden_size
    projections = torch.nn.ModuleList(torch.nn.Linear(width, target) for _ in pairs).to(DEVICE)
    params = [*student.parameters(), *projections.parameters()]
    optimizer = torch.optim.AdamW(params, lr=5e-5, fused=DEVICE == "cuda")
    data = {k: v.to(DEVICE) for k, v in collate(split, range(len(split)), 0).items()}
    inputs = {k: data[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    autocast = torch.autocast(DEVICE, dtype=torch.bfloat16)
    precomputed = _teacher_outputs(model, inputs, [i for _, i in pairs], batch_size, autocast) if cached else None
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    batches = [order[i : i + batch_size] for i in range(0, len(split) - batch_size + 1, batch_size)]
    warmup = 3
    for step in range(warmup + steps):
        if step == warmup:
            _synchronize()
            start = time.perf_counter()
        rows = batches[step % len(batches)]
        batch = {k: v[rows] for k, v in inputs.items()}
        with autocast:
            if precomputed is None:
                with torch.no_grad():
                    out = model(**batch, output_hidden_states=True)
                t_logits, t_hidden = out.logits, [out.hidden_states[i] for _, i in pairs]
            else:
                t_logits, t_hidden = precomputed[0][rows], [states[rows] for states in precomputed[1]]
            s_out = student(**batch, output_hidden_states=True)
            mask = batch["attention_mask"].unsqueeze(-1)
            loss = -(F.softmax(t_logits.float(), -1) * F.log_softmax(s_out.logits.float(), -1)).sum(-1).mean()
            for project_, (j, _), t in zip(projections, pairs, t_hidden, strict=True):
                error = (project_(s_out.hidden_states[j]).float() - t.float()) ** 2 * mask
                loss = loss + error.sum() / (mask.sum() * target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _synchronize()
    return steps * batch_size / (time.perf_counter() - start)


@torch.no_grad()
def _teacher_outputs(model, inputs: Mapping[str, torch.Tensor], layers: list[int], batch_size: int, autocast):
    """The teacher's logits and the mapped hidden states of every example, kept in device memory (bf16)."""
    logits, hidden = [], [[] for _ in layers]
    for start in range(0, len(inputs["input_ids"]), batch_size):
        with autocast:
            out = model(**{k: v[start : start + batch_size] for k, v in inputs.items()}, output_hidden_states=True)
        logits.append(out.logits.float())
        for states, layer in zip(hidden, layers, strict=True):
            states.append(out.hidden_states[layer].to(torch.bfloat16))
    return torch.cat(logits), [torch.cat(states) for states in hidden]


def _synchronize() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- the engine and the others


class EpochSpeeds:
    """A tracking backend that keeps each epoch's examples/s (the trainer's own, synchronised
    every step by its loss read-back)."""

    def __init__(self) -> None:
        self.speeds: list[float] = []

    def log_params(self, params: Mapping[str, str]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if "train/examples_per_second" in metrics:
            self.speeds.append(float(metrics["train/examples_per_second"]))

    def flush(self) -> None:
        pass

    def resume_at(self, step: int) -> None:
        pass

    def close(self, failed: bool = False) -> None:
        pass


def engine_speed(task, tokenizer, split, dev, args, *, precision: str, cached: bool) -> tuple[float, float]:
    """The engine's last-epoch examples/s (earlier epochs are warm-up) and the cache build seconds."""
    speeds = EpochSpeeds()
    run_args = SimpleNamespace(**vars(args), precision=precision)
    _, build = project.engine(
        task, tokenizer, split, dev, run_args, args.student, cached=cached,
        cache_id=f"gpu-throughput-{args.teacher}", tracking=Tracking([speeds]),
    )  # fmt: skip
    return speeds.speeds[-1], build


def textbrewer_speed(args) -> tuple[float | None, str | None]:
    """TextBrewer's examples/s, or why it was skipped (never installed from the network here)."""
    if not (Path(args.textbrewer_dir) / "textbrewer").exists():
        return None, f"textbrewer is not installed in {args.textbrewer_dir}"
    student = build_student(args.student, args.teacher, load_task(args.dataset).spec)
    speed = project.textbrewer(args, args.student, project.skip_pairs(student, args.teacher_layers))
    return speed, None if speed is not None else "its run failed (its error is printed above)"


def throughput(args, shape: Shape) -> list[dict]:
    task = load_task(args.dataset)
    tokenizer = load_tokenizer(args.teacher)
    frame = task.train if shape.examples is None else limit_examples(task.train, shape.examples, 0)
    split = encode_split(frame, task.spec, tokenizer, shape.max_length, train=True)
    dev = encode_split(task.dev.head(16), task.spec, tokenizer, shape.max_length, train=False)
    device = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu"
    print(f"{args.dataset}: {len(split)} examples at {shape.max_length} tokens, teacher {shape.layers} x "
          f"{shape.hidden} (random weights), student {shape.student}, on {device}")  # fmt: skip
    entries = []
    for batch in shape.batch_sizes:
        args.batch_size, args.examples = batch, len(split)
        for cached in (False, True):
            speed = reference(task, split, args.teacher, shape.student, batch, shape.steps, cached=cached)
            entries.append(_entry(REFERENCE[cached], batch, speed, device))
        for precision in ("fp32", "bf16"):
            for cached in (False, True):
                speed, build = engine_speed(task, tokenizer, split, dev, args, precision=precision, cached=cached)
                loop = f"engine {precision}, {'teacher cache' if cached else 'live teacher'}"
                entries.append(_entry(loop, batch, speed, device, cache_build_seconds=build if cached else None))
        speed = project.hand_loop(task, split, args, shape.student)
        entries.append(_entry("hand loop (engine_throughput.py, fp32)", batch, speed, device))
        speed, reason = textbrewer_speed(args)
        entries.append(_entry("TextBrewer 0.2.1 (fp32)", batch, speed, device, skipped=reason))
    return entries


REFERENCE = {False: "reference live (bf16, SDPA, fused AdamW)", True: "reference cached (outputs in device memory)"}


def _entry(loop: str, batch: int, speed: float | None, device: str, **extra) -> dict:
    entry = {"loop": loop, "batch_size": batch, "examples_per_second": speed, "device": device}
    entry.update({k: v for k, v in extra.items() if v is not None})
    shown = "skipped: " + extra["skipped"] if speed is None else f"{speed:10.1f}"
    print(f"  batch {batch:>4}  {loop:<56}{shown}", flush=True)
    return entry


# --------------------------------------------------------------------------- the study's runs


def study(args, shape: Shape) -> dict:
    """The realistic sweep for ``--study-seconds`` (resumable: the store stays in the work folder)."""
    store = Path(args.workdir) / "study.sqlite"
    before = _done(store)
    command = [
        sys.executable, "-c", "from cli import app; app()", "study", "sweep", "--fidelity", "realistic",
        "--datasets", args.dataset, "--students", shape.student, "--teacher", args.teacher,
        "--workers", "0", "--no-features", "--store", str(store), *shape.study_caps,
    ]  # fmt: skip
    start = time.perf_counter()
    try:
        finished = subprocess.run(command, timeout=args.study_seconds, capture_output=True, text=True)
        status = f"sweep complete (exit {finished.returncode})"
        if finished.returncode:
            print(finished.stderr[-2000:])
    except subprocess.TimeoutExpired:
        status = f"stopped after {args.study_seconds} s (rerun to resume)"
    minutes = (time.perf_counter() - start) / 60
    runs = _done(store) - before
    print(f"study: {runs} realistic runs in {minutes:.1f} min: {runs / minutes:.2f} runs per minute; {status}")
    return {"runs": runs, "minutes": round(minutes, 2), "runs_per_minute": runs / minutes, "status": status}


def _done(store: Path) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        try:
            return int(db.execute("SELECT count(*) FROM trials WHERE status = 'done'").fetchone()[0])
        except sqlite3.OperationalError:  # no trials table yet
            return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes, seconds, on CPU")
    parser.add_argument("--dataset", default="bbc-news")
    parser.add_argument("--tokenizer", default="minilm-l6", help="a tokenizer preset or a folder of tokenizer files")
    parser.add_argument("--workdir", default=str(Path.home() / ".cache" / "autodistill-gpu-throughput"))
    parser.add_argument("--textbrewer-dir", default=None, help="where textbrewer 0.2.1 is installed (pip --target)")
    parser.add_argument("--study-seconds", type=int, default=0, help="then run the realistic sweep this long")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    shape = SMOKE if args.cpu_smoke else GPU
    if args.cpu_smoke and DEVICE != "cpu":
        raise SystemExit("--cpu-smoke is for machines without a GPU")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    args.textbrewer_dir = args.textbrewer_dir or str(workdir / "textbrewer")
    args.teacher = make_teacher(workdir / f"teacher-{shape.layers}x{shape.hidden}", shape, args.tokenizer)
    args.teacher_layers, args.student = shape.layers, shape.student
    args.max_length, args.threads, args.epochs = shape.max_length, torch.get_num_threads(), shape.engine_epochs
    report = {"entries": throughput(args, shape)}
    if args.study_seconds > 0:
        report["study"] = study(args, shape)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
