"""Distillation throughput: our engine vs. a minimal hand loop vs. TextBrewer 0.2.1.

All loops distil the same student from the same teacher (MiniLM-L6) on the same
examples, batches and lengths, with the same math: soft-label CE on logits +
hidden-state MSE over the Skip mapping (embeddings included), a learned linear
projection per student hidden state where the student is narrower, AdamW. Two
students: ``layers=0,2,4`` (17.4M, the teacher's width: no projection) and ``tiny``
(4.4M, L2/H128), where the teacher's forward dominates a step.

* ``hand loop``   the limit: a bare PyTorch loop, teacher forward every step;
* ``engine``      ``engine.training.trainer.Trainer`` + ``DistillationObjective``, live teacher;
* ``engine+cache`` the same with the teacher-output cache (built once; its build
  time is printed separately, it is paid once per teacher/data/length);
* ``TextBrewer``  ``GeneralDistiller`` from textbrewer 0.2.1, installed by this
  script into a throwaway folder (``--target``) and run in a subprocess; it is
  never a project dependency.

Usage: .venv/bin/python benchmarks/engine_throughput.py [--examples 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.components import parse_config  # noqa: E402
from engine.config import TrainSettings  # noqa: E402
from engine.data import load_task  # noqa: E402
from engine.kd.mapping import build_mapping  # noqa: E402
from engine.kd.objective import DistillationObjective  # noqa: E402
from engine.kd.teacher_cache import TeacherCache  # noqa: E402
from engine.models.zoo import build_student, load_config, load_task_model, load_tokenizer  # noqa: E402
from engine.tasks import encode_split  # noqa: E402
from engine.tasks.encoding import collate, limit_examples  # noqa: E402
from engine.training.trainer import Trainer  # noqa: E402

#: Where every loop runs; benchmarks/gpu_check.py reuses these loops on a GPU.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def skip_pairs(student, teacher_layers: int = 6) -> list[tuple[int, int]]:
    mapping = build_mapping(
        "skip", num_student_layers=student.config.num_hidden_layers, num_teacher_layers=teacher_layers
    )
    return list(mapping.pairs)


def _setup(args: argparse.Namespace):
    task = load_task(args.dataset)
    tokenizer = load_tokenizer(args.teacher)
    frame = limit_examples(task.train, args.examples, 0)
    split = encode_split(frame, task.spec, tokenizer, args.max_length, train=True)
    dev = encode_split(task.dev.head(16), task.spec, tokenizer, args.max_length, train=False)
    return task, tokenizer, split, dev


def _batches(split, batch_size: int) -> list[list[int]]:
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(0)).tolist()
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def hand_loop(task, split, args, name: str) -> float:
    """A minimal loop doing exactly the engine's math: the throughput ceiling."""
    torch.manual_seed(0)
    teacher = load_task_model(args.teacher, task.spec).eval().to(DEVICE)
    student = build_student(name, args.teacher, task.spec).train().to(DEVICE)
    pairs, width = skip_pairs(student, teacher.config.num_hidden_layers), student.config.hidden_size
    target = teacher.config.hidden_size
    projections = torch.nn.ModuleList(
        torch.nn.Identity() if width == target else torch.nn.Linear(width, target) for _ in range(len(pairs))
    ).to(DEVICE)
    params = [*student.parameters(), *projections.parameters()]
    optimizer = torch.optim.AdamW(params, lr=5e-5, fused=True)
    batches = _batches(split, args.batch_size)
    seen, start = 0, None
    for step, indices in enumerate(batches):
        if step == 2:  # exclude warm-up
            seen, start = 0, time.perf_counter()
        batch = {k: v.to(DEVICE) for k, v in collate(split, indices, 0).items()}
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.no_grad():
            t_out = teacher(**inputs, output_hidden_states=True)
        s_out = student(**inputs, output_hidden_states=True)
        mask = batch["attention_mask"].bool()
        loss = -(F.softmax(t_out.logits, -1) * F.log_softmax(s_out.logits, -1)).sum(-1).mean()
        for project, (j, i) in zip(projections, pairs, strict=True):
            loss = loss + ((project(s_out.hidden_states[j]) - t_out.hidden_states[i]) ** 2)[mask].mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seen += len(indices)
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def engine(
    task, tokenizer, split, dev, args, name: str, *, cached: bool, cache_id: str | None = None, tracking=None
) -> tuple[float, float]:
    """Examples/s of the engine's training loop (evaluation excluded); cache build seconds.

    The cache holds the states the Skip mapping reads, as a run's does; ``cache_id`` names the
    teacher so that later calls reuse it (default: a new cache). ``args.epochs`` epochs (default
    1); ``tracking`` (a trainer callback) hears each epoch's examples/s."""
    torch.manual_seed(0)
    epochs = getattr(args, "epochs", 1)
    config = parse_config(
        {
            "dataset": task.spec.name,
            "student": name,
            "mapping": "skip",
            "inter_loss": "mse",
            "pred_loss": "ce",
            "train": {"epochs": epochs, "batch_size": args.batch_size, "max_length": args.max_length},
        }
    )
    teacher = load_task_model(args.teacher, task.spec).eval().to(DEVICE)
    student = build_student(name, args.teacher, task.spec)
    cache, build = None, 0.0
    if cached:
        tick = time.perf_counter()
        cache = TeacherCache.build_or_load(
            teacher,
            cache_id or f"bench-{time.time()}",
            task.spec,
            split,
            tokenizer.pad_token_id,
            layers=sorted({i for _, i in skip_pairs(student, teacher.config.num_hidden_layers)}),
            device=DEVICE,
            show_progress=False,
        )
        build = time.perf_counter() - tick
    objective = DistillationObjective(
        task.spec,
        config,
        teacher,
        student_layers=student.config.num_hidden_layers,
        student_width=student.config.hidden_size,
        cache=cache,
    )
    with tempfile.TemporaryDirectory() as workdir:
        settings = TrainSettings(
            epochs=epochs,
            batch_size=args.batch_size,
            max_length=args.max_length,
            checkpoint_every=10**6,
            precision=getattr(args, "precision", "auto"),
        )
        trainer = Trainer(
            student,
            task.spec,
            split,
            dev,
            settings,
            objective,
            Path(workdir),
            tokenizer.pad_token_id,
            show_progress=False,
            callbacks=[tracking] if tracking is not None else [],
        )
        return trainer.fit().examples_per_second, build


_TEXTBREWER = textwrap.dedent(
    """
    import json, sys, time, torch, torch.nn.functional as F
    sys.path.insert(0, {root!r})
    torch.set_num_threads({threads})
    from textbrewer import GeneralDistiller, TrainingConfig, DistillationConfig
    from engine.data import load_task
    from engine.tasks.encoding import collate, limit_examples
    from engine.tasks import encode_split
    from engine.models.zoo import build_student, load_task_model, load_tokenizer
    task = load_task({dataset!r})
    split = encode_split(limit_examples(task.train, {examples}, 0), task.spec, load_tokenizer({teacher!r}),
                         {max_length}, train=True)
    torch.manual_seed(0)
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(0)).tolist()
    batches = [order[i:i + {batch_size}] for i in range(0, len(order), {batch_size})]
    data = [{{k: v for k, v in collate(split, b, 0).items() if k in ("input_ids", "attention_mask",
             "token_type_ids")}} for b in batches]
    # TextBrewer moves each batch to its device but leaves the models where they are
    teacher = load_task_model({teacher!r}, task.spec).eval().to({device!r})
    student = build_student({student!r}, {teacher!r}, task.spec).to({device!r})
    teacher.config.output_hidden_states = student.config.output_hidden_states = True
    width, target = student.config.hidden_size, teacher.config.hidden_size
    def adaptor(batch, out):
        return {{"logits": out.logits, "hidden": out.hidden_states, "inputs_mask": batch["attention_mask"]}}
    proj = None if width == target else ["linear", width, target]
    matches = [{{"layer_T": i, "layer_S": j, "feature": "hidden", "loss": "hidden_mse", "weight": 1, "proj": proj}}
               for j, i in {pairs!r}]
    distill = DistillationConfig(temperature=1, kd_loss_type="ce", hard_label_weight=0,
                                 intermediate_matches=matches)
    train = TrainingConfig(device={device!r}, log_dir={tmp!r}, output_dir={tmp!r}, ckpt_frequency=1,
                           ckpt_epoch_frequency=1000)
    distiller = GeneralDistiller(train, distill, teacher, student, adaptor, adaptor)
    optimizer = torch.optim.AdamW(student.parameters(), lr=5e-5, fused=True)
    timings = []
    class Timed(list):
        def __iter__(self):
            for i, b in enumerate(list.__iter__(self)):
                if i == 2:
                    timings.append(time.perf_counter())
                yield b
    with distiller:
        distiller.train(optimizer, Timed(data), num_epochs=1, max_grad_norm=1.0)
    seen = sum(len(b) for b in batches[2:])
    print("RESULT", json.dumps({{"examples_per_second": seen / (time.perf_counter() - timings[0])}}))
    """
)


def textbrewer(args, name: str, pairs: list[tuple[int, int]]) -> float | None:
    target = Path(getattr(args, "textbrewer_dir", None) or Path(tempfile.gettempdir()) / "autodistill-bench-textbrewer")
    if not (target / "textbrewer").exists():
        pip = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--target",
            str(target),
            "-c",
            str(ROOT / "scripts" / "constraints.txt"),
        ]
        for spec in (["--no-deps", "textbrewer==0.2.1"], ["tensorboard"]):  # tensorboard: imported by it
            subprocess.run([*pip, *spec], check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        script = _TEXTBREWER.format(
            root=str(ROOT),
            threads=args.threads,
            dataset=args.dataset,
            examples=args.examples,
            max_length=args.max_length,
            batch_size=args.batch_size,
            student=name,
            teacher=args.teacher,
            device=DEVICE,
            pairs=pairs,
            tmp=tmp,
        )
        # this environment (AUTODISTILL_HOME: where the data sets are prepared) plus TextBrewer's folder
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        print("TextBrewer run failed:", out.stderr[-2000:])
        return None
    return json.loads(line.split(" ", 1)[1])["examples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="bbc-news")
    parser.add_argument("--teacher", default="minilm-l6")
    parser.add_argument("--students", nargs="+", default=["layers=0,2,4", "tiny"])
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-textbrewer", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task, tokenizer, split, dev = _setup(args)
    print(
        f"{args.dataset}: {len(split)} examples, max length {args.max_length}, batch {args.batch_size}, "
        f"{args.threads} threads, teacher {args.teacher}, CE logits + skip hidden MSE"
    )
    print(f"{'student':<14}{'loop':<24}{'examples/s':>12}{'vs hand loop':>14}{'vs TextBrewer':>15}")
    for name in args.students:
        pairs = skip_pairs(build_student(name, args.teacher, task.spec), load_config(args.teacher).num_hidden_layers)
        hand = hand_loop(task, split, args, name)
        live, _ = engine(task, tokenizer, split, dev, args, name, cached=False)
        cached, build = engine(task, tokenizer, split, dev, args, name, cached=True)
        brewer = None if args.skip_textbrewer else textbrewer(args, name, pairs)
        rows = [
            ("hand loop", hand),
            ("engine (live teacher)", live),
            ("engine + teacher cache", cached),
            ("TextBrewer 0.2.1", brewer),
        ]
        for loop, value in rows:
            if value is None:
                continue
            vs_brewer = f"{value / brewer:.2f}x" if brewer else "-"
            print(f"{name:<14}{loop:<24}{value:>12.1f}{value / hand:>13.2f}x{vs_brewer:>15}")
        print(f"{name:<14}teacher cache build (once per teacher/data/length): {build:.1f} s")


if __name__ == "__main__":
    main()
