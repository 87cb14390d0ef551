"""Task-agnostic ("general") distillation: a student shape made well-read on plain text.

The Distiller paper distils *pretrained* compact students (TinyBERT4 after TinyBERT's general
distillation, or Turc et al.'s pretrained compact BERTs); none exists offline, so this module makes
one. The objective is MiniLMv2's (Wang et al., 2021, "MiniLMv2: Multi-Head Self-Attention Relation
Distillation"): the student's last layer learns the teacher's last-layer query-query, key-key and
value-value relations, each split into the same number of *relation heads* on both sides. It is
chosen over TinyBERT's general distillation because TinyBERT's attention loss needs as many heads
in the student as in the teacher (MiniLM has 12, ``tiny`` 2) and its hidden-state loss needs a
projection that is thrown away afterwards; relation heads need neither, whatever the widths.

The text is packed into full-length sequences (documents joined by ``[SEP]``) and seen ``epochs``
times in a new order each time. The teacher runs live: its last-layer queries, keys and values on the
default corpus would take about 8 GB at half precision, and its forward pass is about two thirds of a
step. A run checkpoints every ``checkpoint_every`` steps and resumes from its last checkpoint; the
result is a Hugging Face folder that ``--student PATH`` accepts.

The student is a fresh shape (``tiny``), or a student that already has weights (the shipped
``tiny-gd``, a folder, a layer subset of the teacher), which then goes on learning on new text: the
cheap way to a student well-read in a user's own domain.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel, PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from engine.errors import AutodistillError
from engine.models.presets import GENERAL_RECORD, STUDENT_PRESETS, from_scratch, general_record
from engine.models.pretraining import PretrainConfig
from engine.models.zoo import (
    ATTENTION,
    WEIGHTS_DTYPE,
    build_student,
    check_student,
    load_config,
    load_tokenizer,
    model_identity,
    parse_layers,
    resolve_model_path,
)
from engine.tasks.spec import TaskSpec, TaskType

if TYPE_CHECKING:
    from engine.training.precision import Precision

CHECKPOINT = "checkpoint.pt"
RECORD = GENERAL_RECORD
#: The task spec a fresh student is built for: its head is dropped, and its two labels are named as a
#: Hugging Face model without a task names them, so the saved config reads as head-less.
_SPEC = TaskSpec(name="_general", task_type=TaskType.CLASSIFICATION, description="", label_names=("LABEL_0", "LABEL_1"))


# --------------------------------------------------------------------------- the objective


def relations(states: torch.Tensor, heads: int) -> torch.Tensor:
    """Scaled dot-product relations of one of Q, K or V, per relation head (MiniLMv2, Eq. 2):
    ``[batch, tokens, width] -> [batch, heads, tokens, tokens]`` logits."""
    batch, tokens, width = states.shape
    split = states.view(batch, tokens, heads, width // heads).transpose(1, 2)
    return split @ split.transpose(-1, -2) / math.sqrt(width // heads)


def relation_loss(
    teacher: list[torch.Tensor], student: list[torch.Tensor], mask: torch.Tensor, heads: int
) -> torch.Tensor:
    """Σ over Q, K, V of KL(teacher relations ‖ student relations), averaged over heads and the
    real (non-padding) query positions (MiniLMv2, Eq. 3); padding keys get no probability."""
    keys = mask[:, None, None, :].bool()
    queries = mask[:, None, :, None].float()
    total = torch.zeros((), device=mask.device)
    for t_states, s_states in zip(teacher, student, strict=True):
        t_log = relations(t_states, heads).masked_fill(~keys, -1e4).log_softmax(-1)
        s_log = relations(s_states, heads).masked_fill(~keys, -1e4).log_softmax(-1)
        kl = (t_log.exp() * (t_log - s_log)).sum(-1, keepdim=True)
        total = total + (kl * queries).sum() / (queries.sum() * heads)
    return total


def last_layer_qkv(model: PreTrainedModel, input_ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """The query, key and value projections of the model's last layer on the input to that layer."""
    hidden = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states[-2]
    attention = model.encoder.layer[-1].attention.self
    return [attention.query(hidden), attention.key(hidden), attention.value(hidden)]


# --------------------------------------------------------------------------- data


def pack(documents: list[list[str]], tokenizer: PreTrainedTokenizerBase, length: int) -> np.ndarray:
    """Documents as one stream of word pieces, ``[SEP]`` between documents, cut into ``[CLS] ... [SEP]``
    sequences of ``length`` tokens (the tail shorter than a sequence is dropped)."""
    body = length - 2
    stream: list[int] = []
    for document in documents:
        # verbose=False: a clause longer than the model's limit is cut into sequences below, not truncated
        for ids in tokenizer(document, add_special_tokens=False, verbose=False)["input_ids"]:
            stream.extend(ids)
        stream.append(tokenizer.sep_token_id)
    rows = len(stream) // body
    pieces = np.asarray(stream[: rows * body], dtype=np.int32).reshape(rows, body)
    cls = np.full((rows, 1), tokenizer.cls_token_id, dtype=np.int32)
    sep = np.full((rows, 1), tokenizer.sep_token_id, dtype=np.int32)
    return np.concatenate([cls, pieces, sep], axis=1)


def corpus_digest(documents: list[list[str]]) -> str:
    """A short hash of a corpus's text, recorded with the student it made."""
    digest = hashlib.sha256()
    for document in documents:
        digest.update("\n".join(document).encode())
        digest.update(b"\n\n")
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- the loop


def check_config(config: PretrainConfig) -> None:
    """Refuse, in one line, a student or a relation-head count the loop would fail on."""
    check_student(config.student, config.teacher)
    width = student_width(config.student, config.teacher)
    teacher_width = load_config(config.teacher).hidden_size  # the config alone: no weights for a name check
    if width % config.relation_heads or teacher_width % config.relation_heads:
        raise AutodistillError(
            f"relation_heads={config.relation_heads} must divide the student's width ({width}) and the "
            f"teacher's ({teacher_width})"
        )


def student_width(student: str, teacher: str) -> int:
    """The hidden width of a student :func:`~engine.models.zoo.build_student` accepts, from configs alone."""
    if student in STUDENT_PRESETS:
        return STUDENT_PRESETS[student].hidden
    return load_config(teacher if parse_layers(student) is not None else student).hidden_size


def starts_from(student: str, teacher: str) -> str:
    """What a general distillation's student starts from, as its record names it: a fresh shape, or the
    weights of a student that has some (named by :func:`~engine.models.zoo.model_identity`)."""
    if from_scratch(student):
        return "fresh"
    layers = parse_layers(student)
    return model_identity(student) if layers is None else f"layers {layers} of {model_identity(teacher)}"


def general_distill(
    config: PretrainConfig,
    documents: list[list[str]],
    out: Path,
    on_step: Callable[[int, int, float], None] | None = None,
    *,
    device: torch.device,
    precision: Precision,
    catalog_text: dict[str, int] | None = None,
) -> dict:
    """Distil ``config.student`` from ``config.teacher`` on ``documents`` into the Hugging Face folder
    ``out``; resumes from ``<out>.partial/`` when an earlier call was stopped. Returns the record
    written beside the weights. Both models run on ``device``, their forward passes under ``precision``'s
    autocast and its loss scaling (the weights stay float32); the caller resolves ``config.precision``
    to it, as a run's trainer does. ``catalog_text``: per catalog data set, the sentences of its dev or
    test text that ``documents`` hold (:func:`engine.data.corpus.catalog_text_in`); the record keeps
    them, with those the student read before (a student going on from a folder), for
    :func:`check_unread_scores`."""
    check_config(config)
    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(config.teacher)
    sequences = pack(documents, tokenizer, config.max_length)
    steps_per_epoch = len(sequences) // config.batch_size
    total = min(config.max_steps or steps_per_epoch * config.epochs, steps_per_epoch * config.epochs)
    if total < 1:
        raise AutodistillError(
            f"the corpus gives {len(sequences)} sequences of {config.max_length} tokens, fewer than one batch "
            f"of {config.batch_size}; give more text"
        )
    teacher = AutoModel.from_pretrained(
        resolve_model_path(config.teacher), attn_implementation=ATTENTION, dtype=WEIGHTS_DTYPE
    ).eval()
    teacher.to(device)
    student = build_student(config.student, config.teacher, _SPEC).base_model.to(device)
    student.train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    scaler = precision.scaler()
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    state = _resume(partial, student, optimizer, schedule, scaler, device)
    orders = [np.random.default_rng([config.seed, epoch]).permutation(len(sequences)) for epoch in range(config.epochs)]
    started = time.monotonic() - state["seconds"]
    for step in range(state["step"], total):
        epoch, within = divmod(step, steps_per_epoch)
        rows = orders[epoch][within * config.batch_size : (within + 1) * config.batch_size]
        batch = torch.as_tensor(sequences[rows], dtype=torch.long, device=device)
        with precision.autocast():
            loss = _step(teacher, student, batch, config.relation_heads, tokenizer.pad_token_id)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        state["losses"].append(loss.item())
        done = step + 1
        if on_step:
            on_step(done, total, float(np.mean(state["losses"][-50:])))
        if done % config.checkpoint_every == 0 or done == total:
            state.update(step=done, seconds=time.monotonic() - started)
            _checkpoint(partial, student, optimizer, schedule, scaler, state)
    record = {
        "method": "MiniLMv2 self-attention relations (Q-Q, K-K, V-V), last layer to last layer",
        "config": config.model_dump(),
        "teacher_identity": model_identity(config.teacher),
        "starts_from": starts_from(config.student, config.teacher),
        "corpus_sha256_16": corpus_digest(documents),
        "corpus_words": sum(len(clause.split()) for document in documents for clause in document),
        "catalog_text_read": _merged(catalog_text_read(config.student), catalog_text or {}),
        "sequences": len(sequences),
        "steps": total,
        "final_loss": float(np.mean(state["losses"][-_window(total) :])),
        "first_loss": float(np.mean(state["losses"][: _window(total)])),
        "seconds": round(time.monotonic() - started, 1),
        "threads": torch.get_num_threads(),
        "device": device.type,
        "autocast": "fp32" if precision.dtype is None else str(precision.dtype).removeprefix("torch."),
    }
    record["machine"] = _machine(record)
    _publish(student, tokenizer, record, partial, out)
    return record


def _window(steps: int) -> int:
    """The steps a first or final loss is averaged over: 50, or half of a shorter run's, so that the two
    never share a step and a short run still shows which way its loss went."""
    return max(1, min(50, steps // 2))


def catalog_text_read(student: str) -> dict[str, int]:
    """Per catalog data set, the sentences of its dev or test text the corpora ``student`` was
    general-distilled on held, as its folder's record says (empty for a preset, a hub id, or a
    folder pretrained before this was recorded)."""
    record = general_record(student) or {}
    return dict(record.get("catalog_text_read", {}))


def check_unread_scores(student: str, dataset: str) -> None:
    """Refuse to score ``student`` on the catalog data set ``dataset`` where its pretraining corpus held
    sentences of that data set's dev or test text: its scores there would be on text it has read."""
    read = catalog_text_read(student).get(dataset)
    if read:
        raise AutodistillError(
            f"student {student!r} was pretrained on a corpus holding {read:,} sentences of {dataset}'s dev or test "
            "text, so its scores there would be on text it has read; pretrain on a corpus without them"
        )


def _merged(earlier: dict[str, int], now: dict[str, int]) -> dict[str, int]:
    """Counts per data set summed: a student going on from another has read both corpora."""
    return {name: earlier.get(name, 0) + now.get(name, 0) for name in sorted({*earlier, *now})}


def _step(
    teacher: PreTrainedModel, student: PreTrainedModel, ids: torch.Tensor, heads: int, pad_id: int
) -> torch.Tensor:
    """The relation loss on one batch of packed sequences, their padding masked out."""
    mask = (ids != pad_id).long()
    with torch.no_grad():
        target = last_layer_qkv(teacher, ids, mask)
    return relation_loss(target, last_layer_qkv(student, ids, mask), mask, heads)


def _resume(
    partial: Path,
    student: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: object,
    scaler: torch.amp.GradScaler,
    device: torch.device,
) -> dict:
    file = partial / CHECKPOINT
    if not file.exists():
        return {"step": 0, "seconds": 0.0, "losses": []}
    saved = torch.load(file, map_location=device, weights_only=False)
    student.load_state_dict(saved["student"])
    optimizer.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    if saved.get("scaler"):  # only fp16 scales the loss; the other precisions save an empty state
        scaler.load_state_dict(saved["scaler"])
    return saved["state"]


def _checkpoint(
    partial: Path,
    student: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: object,
    scaler: torch.amp.GradScaler,
    state: dict,
) -> None:
    saved = {
        "student": student.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "scaler": scaler.state_dict(),
        "state": state,
    }
    torch.save(saved, partial / (CHECKPOINT + ".tmp"))
    (partial / (CHECKPOINT + ".tmp")).replace(partial / CHECKPOINT)


def _publish(
    student: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, record: dict, partial: Path, out: Path
) -> None:
    """Weights, tokenizer, record and card into ``out`` in one rename; the checkpoint goes."""
    (partial / CHECKPOINT).unlink(missing_ok=True)
    student.config.problem_type = None  # a head-less encoder: the task's head sets its own
    student.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    (partial / "README.md").write_text(_card(record))
    if out.exists():
        shutil.rmtree(out)
    partial.replace(out)


def _card(record: dict) -> str:
    config = record["config"]
    start = record.get("starts_from", "fresh")
    who = (
        f"A fresh `{config['student']}` encoder (no task head) taught"
        if start == "fresh"
        else f"The `{config['student']}` encoder ({start}; no task head) taught further"
    )
    return (
        f"# {config['student']}, general-distilled from {config['teacher']}\n\n"
        f"{who} by {record['method']}, "
        f"on {record['corpus_words']:,} words of text ({record['sequences']:,} sequences of {config['max_length']} "
        f"tokens, {record['steps']:,} steps of {config['batch_size']}), in {record['seconds'] / 60:.0f} minutes "
        f"on {record['machine']}. Relation loss {record['first_loss']:.3f} over the first 50 steps, "
        f"{record['final_loss']:.3f} over the last 50.\n\n"
        "Load it with `transformers.AutoModel.from_pretrained(folder)`; it shares the teacher's tokenizer, so "
        "autodistill accepts it as `--student FOLDER` for that teacher.\n"
    )


def _machine(record: dict) -> str:
    """The machine and arithmetic a record's minutes were measured with, in words."""
    threads = f"{record['threads']} CPU thread{'s' if record['threads'] != 1 else ''}"
    where = threads if record["device"] == "cpu" else f"a {record['device']} device"
    return where if record["autocast"] == "fp32" else f"{where}, forward passes in {record['autocast']}"
