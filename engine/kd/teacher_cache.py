"""Teacher-output cache: the teacher's forward pass, computed once and memory-mapped.

On CPU the teacher's forward costs several times the student's training step, and
it is the same at every epoch and in every run that shares a teacher, a data set
and a max length. So the teacher's logits and *all* its hidden states (embeddings
plus every layer, whatever mapping a later run picks) are computed once, stored
as fp16 memory-mapped arrays under ``<home>/teacher_cache/``, and served by
example index. The teacher is in eval mode (no dropout), so cached and live
outputs agree up to fp16 rounding.

The cache is only valid for the *original* examples: augmented text and mixup
change the teacher's input, and the distillation objective computes those
teacher outputs live.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from torch import nn

from engine.data.schema import TaskSpec
from engine.models.batch import model_inputs
from engine.models.encoding import EncodedSplit, collate
from engine.models.heads import TaskHead, task_head
from engine.paths import publish_folder, subdir


@dataclass
class TeacherOutputs:
    """A batch of teacher outputs: the head outputs (:mod:`engine.models.heads`) and hidden states."""

    logits: list[torch.Tensor]
    hidden_states: tuple[torch.Tensor, ...] | dict[int, torch.Tensor]


def teacher_forward(teacher: nn.Module, batch: dict[str, torch.Tensor], spec: TaskSpec) -> TeacherOutputs:
    """One live teacher forward, in the same shape the cache serves."""
    out = teacher(**model_inputs(teacher, batch), output_hidden_states=True)
    return TeacherOutputs(logits=task_head(spec).logits(out), hidden_states=tuple(out.hidden_states))


def split_fingerprint(split: EncodedSplit) -> str:
    digest = hashlib.sha256()
    for ids in split.input_ids:
        digest.update(np.asarray(ids, dtype=np.int32).tobytes())
        digest.update(b"|")
    return digest.hexdigest()[:16]


class TeacherCache:
    """Memory-mapped teacher outputs for every example of one encoded split."""

    def __init__(self, folder: Path, head: TaskHead) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        self.folder, self.head = folder, head
        self.num_hidden = meta["num_hidden"]
        self.logits = np.load(folder / "logits.npy", mmap_mode="r")
        self.hidden = [np.load(folder / f"hidden_{i}.npy", mmap_mode="r") for i in range(self.num_hidden)]

    @classmethod
    def build_or_load(
        cls,
        teacher: nn.Module,
        teacher_id: str,
        spec: TaskSpec,
        split: EncodedSplit,
        pad_id: int,
        *,
        batch_size: int = 64,
        device: torch.device | str = "cpu",
        show_progress: bool = True,
    ) -> TeacherCache:
        """Reuse the cache for (teacher, split tokens) if complete, else compute it once."""
        key = hashlib.sha256(f"{teacher_id}|{split_fingerprint(split)}".encode()).hexdigest()[:16]
        folder = subdir("teacher_cache") / key
        if (folder / "meta.json").exists():
            return cls(folder, task_head(spec))
        # Two processes (sweep workers, say) may build the same cache at once: the first publishes.
        publish_folder(
            folder,
            lambda partial: cls._compute(teacher, spec, split, pad_id, partial, batch_size, device, show_progress),
            marker="meta.json",
        )
        return cls(folder, task_head(spec))

    @staticmethod
    def _compute(
        teacher: nn.Module,
        spec: TaskSpec,
        split: EncodedSplit,
        pad_id: int,
        folder: Path,
        batch_size: int,
        device: torch.device | str,
        show_progress: bool,
    ) -> None:
        n, length = len(split), max(len(ids) for ids in split.input_ids)
        head = task_head(spec)
        teacher.eval()
        logits_mm, hidden_mm = None, []
        with torch.no_grad(), Progress(disable=not show_progress, transient=True) as progress:
            task = progress.add_task("caching teacher outputs", total=n)
            for start in range(0, n, batch_size):
                indices = list(range(start, min(start + batch_size, n)))
                batch = {k: v.to(device) for k, v in collate(split, indices, pad_id).items()}
                out = teacher_forward(teacher, batch, spec)
                width, packed = batch["input_ids"].shape[1], head.pack(out.logits)
                rows = slice(start, start + len(indices))
                if logits_mm is None:
                    shape = [n, *packed.shape[1:]]
                    if head.token_axis is not None:
                        shape[head.token_axis] = length
                    logits_mm = np.lib.format.open_memmap(folder / "logits.npy", "w+", np.float32, tuple(shape))
                    for i, h in enumerate(out.hidden_states):
                        hidden_mm.append(
                            np.lib.format.open_memmap(
                                folder / f"hidden_{i}.npy", "w+", np.float16, (n, length, h.shape[-1])
                            )
                        )
                logits_mm[head.cache_slice(rows, width, packed.dim())] = packed.float().cpu().numpy()
                for mm, h in zip(hidden_mm, out.hidden_states, strict=True):
                    mm[rows, :width] = h.half().cpu().numpy()
                progress.advance(task, len(indices))
        for mm in [logits_mm, *hidden_mm]:
            mm.flush()
        meta = {
            "num_hidden": len(hidden_mm),
            "examples": n,
            "length": length,
        }
        (folder / "meta.json").write_text(json.dumps(meta))

    def lookup(
        self, index: torch.Tensor, width: int, device: torch.device | str, layers: tuple[int, ...]
    ) -> TeacherOutputs:
        """Teacher outputs for a collated batch (``index`` rows, padded to ``width``).

        Only the hidden states in ``layers`` are read (the mapping's teacher layers),
        returned as a ``{layer: tensor}`` dict.
        """
        wanted = index.cpu().numpy()
        rows = np.sort(wanted)  # memory maps read fastest in row order
        back = torch.from_numpy(np.argsort(np.argsort(wanted)))

        def take(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array[rows]))[back].to(device)

        logits = self.head.unpack(take(self.logits).float(), width)
        hidden = {i: take(self.hidden[i][:, :width]).float() for i in layers}
        return TeacherOutputs(logits=logits, hidden_states=hidden)
