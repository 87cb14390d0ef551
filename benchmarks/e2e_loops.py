"""The in-process side of ``end_to_end.py``: minimal KD loops, TextBrewer, and cache sizes on disk.

The loops train the student on the very rows the ``autodistill`` runs train on (the run's
seeded sample), for as many epochs, in batches of the same size, with the KD math of the
runs' pipeline: soft-label CE on logits plus MSE between Skip-mapped hidden states (a
learned linear projection per state where the student is narrower), AdamW, clipping at 1.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from benchmarks.engine_throughput import skip_pairs
from engine import build_student, encode_split, load_task_model, load_tokenizer
from engine.tasks.encoding import collate, limit_examples

INSTALL = "pip install -c scripts/constraints.txt -e '.[bench]'  (TextBrewer 0.2.1)"


def _epoch_batches(n: int, batch_size: int, epoch: int) -> list[list[int]]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch)).tolist()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def teacher_outputs(teacher, split, pairs, pad_id: int) -> tuple[dict, float]:
    """The teacher's logits and mapped states per example (real tokens, fp16), and the seconds taken."""
    layers = sorted({i for _, i in pairs})
    logits, states = [None] * len(split), {i: [None] * len(split) for i in layers}
    tick = time.perf_counter()
    with torch.no_grad():
        for indices in _epoch_batches(len(split), 64, 0):
            batch = collate(split, indices, pad_id)
            out = teacher(**_inputs(batch), output_hidden_states=True)
            for row, i in enumerate(indices):
                n = int(batch["attention_mask"][row].sum())
                logits[i] = out.logits[row]
                for layer in layers:
                    states[layer][i] = out.hidden_states[layer][row, :n].half()
    return {"logits": logits, "states": states}, time.perf_counter() - tick


def hand_loop(task, split, teacher, args: argparse.Namespace, pad_id: int, stored: dict | None) -> float:
    """Sequences per second of a bare KD loop: live teacher, or ``stored`` outputs read from memory."""
    torch.manual_seed(0)
    student = build_student(args.student, args.teacher, task.spec).train()
    pairs = skip_pairs(student, teacher.config.num_hidden_layers)
    width, target = student.config.hidden_size, teacher.config.hidden_size
    projections = torch.nn.ModuleList(
        torch.nn.Identity() if width == target else torch.nn.Linear(width, target) for _ in pairs
    )
    params = [*student.parameters(), *projections.parameters()]
    optimizer = torch.optim.AdamW(params, lr=5e-5)
    tick = time.perf_counter()
    for epoch in range(args.epochs):
        for indices in _epoch_batches(len(split), args.batch_size, epoch):
            batch = collate(split, indices, pad_id)
            mask = batch["attention_mask"].bool()
            if stored is None:
                with torch.no_grad():
                    out = teacher(**_inputs(batch), output_hidden_states=True)
                t_logits, t_states = out.logits, out.hidden_states
            else:
                t_logits = torch.stack([stored["logits"][i] for i in indices])
                t_states = {
                    layer: pad_sequence([rows[i] for i in indices], batch_first=True).float()
                    for layer, rows in stored["states"].items()
                }
            s_out = student(**_inputs(batch), output_hidden_states=True)
            loss = -(F.softmax(t_logits, -1) * F.log_softmax(s_out.logits, -1)).sum(-1).mean()
            for project, (j, i) in zip(projections, pairs, strict=True):
                loss = loss + ((project(s_out.hidden_states[j]) - t_states[i]) ** 2)[mask].mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return len(split) * args.epochs / (time.perf_counter() - tick)


def textbrewer_loop(task, split, teacher_dir: Path, args: argparse.Namespace, pad_id: int) -> float | None:
    """Sequences per second of TextBrewer 0.2.1's ``GeneralDistiller`` on the same KD work."""
    try:
        from textbrewer import DistillationConfig, GeneralDistiller, TrainingConfig
    except ImportError:
        print(f"TextBrewer is not installed, so it is skipped; install it with: {INSTALL}")
        return None
    torch.manual_seed(0)
    teacher = load_task_model(str(teacher_dir), task.spec).eval()
    student = build_student(args.student, args.teacher, task.spec)
    teacher.config.output_hidden_states = student.config.output_hidden_states = True
    pairs = skip_pairs(student, teacher.config.num_hidden_layers)
    width, target = student.config.hidden_size, teacher.config.hidden_size
    proj = None if width == target else ["linear", width, target]
    matches = [
        {"layer_T": i, "layer_S": j, "feature": "hidden", "loss": "hidden_mse", "weight": 1, "proj": proj}
        for j, i in pairs
    ]

    def adaptor(batch, out):
        return {"logits": out.logits, "hidden": out.hidden_states, "inputs_mask": batch["attention_mask"]}

    data = [_inputs(collate(split, b, pad_id)) for b in _epoch_batches(len(split), args.batch_size, 0)]
    distill = DistillationConfig(temperature=1, kd_loss_type="ce", hard_label_weight=0, intermediate_matches=matches)
    with tempfile.TemporaryDirectory() as tmp:
        train = TrainingConfig(device="cpu", log_dir=tmp, output_dir=tmp, ckpt_frequency=1, ckpt_epoch_frequency=10**6)
        distiller = GeneralDistiller(train, distill, teacher, student, adaptor, adaptor)
        optimizer = torch.optim.AdamW(student.parameters(), lr=5e-5)
        tick = time.perf_counter()
        with distiller:
            distiller.train(optimizer, data, num_epochs=args.epochs, max_grad_norm=1.0)
        return len(split) * args.epochs / (time.perf_counter() - tick)


def measure(task, teacher_dir: Path, args: argparse.Namespace) -> dict:
    """The hand loops (live, from memory) and TextBrewer on the runs' training rows."""
    tokenizer = load_tokenizer(str(teacher_dir))
    frame = limit_examples(task.train, args.examples, 42)  # the runs' default seed: the same rows
    split = encode_split(frame, task.spec, tokenizer, args.max_length, train=True)
    pad_id = tokenizer.pad_token_id
    teacher = load_task_model(str(teacher_dir), task.spec).eval()
    pairs = skip_pairs(build_student(args.student, args.teacher, task.spec), teacher.config.num_hidden_layers)
    stored, seconds = teacher_outputs(teacher, split, pairs, pad_id)
    return {
        "hand live": hand_loop(task, split, teacher, args, pad_id, None),
        "hand memory": hand_loop(task, split, teacher, args, pad_id, stored),
        "textbrewer": textbrewer_loop(task, split, teacher_dir, args, pad_id),
        "teacher_pass_seconds": seconds,
        "teacher_pass_seconds_per_sequence": seconds / len(split),
    }


def cache_sizes(*homes: Path) -> dict[str, dict]:
    """Bytes per example of every teacher cache the first runs built, against the minimum
    (real tokens x hidden states kept x hidden size x 2 bytes; 0 for a logits-only cache)."""
    sizes = {}
    for home in homes:
        for folder in sorted((home / "teacher_cache").iterdir()):
            if not (folder / "meta.json").exists():
                continue
            layout = json.loads((folder / "meta.json").read_text())["layout"]
            states = len(list(folder.glob("hidden_*.bin")))
            written = sum(path.stat().st_size for path in folder.glob("*.bin"))
            minimum = layout["tokens"] * states * layout["hidden_size"] * 2
            sizes[f"{home.name}/{folder.name}"] = {
                "examples": layout["examples"],
                "tokens": layout["tokens"],
                "states_kept": states,
                "bytes_per_example": written / layout["examples"],
                "minimum_bytes": minimum,
                "vs_minimum": written / minimum if minimum else None,
            }
    return sizes
