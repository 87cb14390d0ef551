"""Teacher-output cache: the teacher's forward pass, computed once and memory-mapped.

On CPU the teacher's forward costs several times the student's training step, and
it is the same at every epoch and in every run that shares a teacher, a data set
and a max length. So the teacher's outputs are computed once, stored under
``<home>/teacher_cache/<key>/`` (the key hashes the teacher and the split's tokens)
and served by example index (on an accelerator from its own memory, see
:mod:`engine.kd.served`). The teacher is in eval mode (no dropout), so cached
and live outputs agree up to fp16 rounding of the hidden states.

Sized to need (format 2). A cache holds only what runs ask of it and no padding:

    meta.json        format, examples, tokens, hidden size, the teacher's state count, logits layout
    offsets.bin      int64 [n + 1]: example i's tokens are rows offsets[i]:offsets[i + 1]
    logits.bin       float32 [n, ...], or [tokens, ...] for per-token heads (ragged like the states)
    hidden_<l>.bin   float16 [tokens, H]: hidden state l (0 = embeddings), real tokens only

Only the hidden states a run's layer mapping reads are built (a logits-only run
builds none). A later run that needs a state the cache lacks adds that state's file
(one teacher pass); files are written once, under a private name, and renamed into
place, so readers never see half a file. Builders queue on the folder's lock, and one
that waited adds only what the others left out. The size is
announced before building, and a build that would not fit on disk is refused in
one line that says how to run without the cache (``teacher_cache: false``, a live
teacher). An older format or a damaged folder is detected and rebuilt.

The cache is only valid for the *original* examples: augmented text and mixup
change the teacher's input, and the distillation objective computes those
teacher outputs live.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich import get_console
from torch import nn

from engine.errors import AutodistillError
from engine.kd.mapped import PageBudget, create_array, flush, open_array
from engine.kd.served import DeviceRows, Served, StreamedRows, fits_on_device, resident_bytes
from engine.models.batch import model_inputs
from engine.paths import exclusive, human_bytes, partial_owner, process_alive, publish_folder, subdir
from engine.tasks import TaskHead, task_head
from engine.tasks.encoding import EncodedSplit, collate
from engine.tasks.spec import TaskSpec
from engine.training.progress import progress

logger = logging.getLogger(__name__)

#: Bumped whenever the files' layout changes: a folder of another format is rebuilt, never misread.
FORMAT = 2
LOGITS_DTYPE, HIDDEN_DTYPE, OFFSETS_DTYPE = np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int64)


@dataclass
class TeacherOutputs:
    """A batch of teacher outputs: the head outputs (:mod:`engine.tasks`) and hidden states."""

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


def cache_key(teacher_id: str, split: EncodedSplit) -> str:
    """The cache folder's name: one per (teacher, split tokens), whatever it holds."""
    return hashlib.sha256(f"{teacher_id}|{split_fingerprint(split)}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Layout:
    """The shape of one split's cache, known before the teacher runs over it.

    ``logits_shape`` is one example's logits (sequence heads) or one token's
    (per-token heads, ``ragged_logits``), as the task head packs them.
    """

    examples: int
    tokens: int
    hidden_size: int
    num_hidden: int  # hidden states the teacher returns: embeddings + one per layer
    logits_shape: tuple[int, ...]
    ragged_logits: bool

    @property
    def logits_rows(self) -> int:
        return self.tokens if self.ragged_logits else self.examples

    @property
    def offsets_bytes(self) -> int:
        return (self.examples + 1) * OFFSETS_DTYPE.itemsize

    @property
    def logits_bytes(self) -> int:
        return self.logits_rows * math.prod(self.logits_shape) * LOGITS_DTYPE.itemsize

    @property
    def state_bytes(self) -> int:
        """One hidden state's file: every real token, fp16."""
        return self.tokens * self.hidden_size * HIDDEN_DTYPE.itemsize

    def size(self, layers: Iterable[int], *, with_logits: bool = True) -> int:
        """Bytes of the array files holding ``layers`` (and offsets and logits)."""
        base = self.offsets_bytes + self.logits_bytes if with_logits else 0
        return base + self.state_bytes * len(set(layers))

    def check_layers(self, layers: Iterable[int]) -> tuple[int, ...]:
        wanted = tuple(sorted(set(layers)))
        if any(not 0 <= layer < self.num_hidden for layer in wanted):
            raise AutodistillError(
                f"teacher hidden states {list(wanted)} asked for, but the teacher has {self.num_hidden} "
                f"(0..{self.num_hidden - 1})"
            )
        return wanted


def token_counts(split: EncodedSplit) -> np.ndarray:
    """Each example's real tokens (memory-mapped ids know theirs without a loop)."""
    lengths = getattr(split.input_ids, "lengths", None)
    if lengths is not None:
        return np.asarray(lengths(), dtype=np.int64)
    return np.fromiter((len(ids) for ids in split.input_ids), dtype=np.int64, count=len(split))


def plan_layout(
    teacher: nn.Module, spec: TaskSpec, split: EncodedSplit, pad_id: int, device: torch.device | str = "cpu"
) -> Layout:
    """The cache's layout, from the split's token counts and one teacher forward on one example."""
    if len(split) == 0:
        raise AutodistillError("no training examples to cache teacher outputs for")
    head = task_head(spec)
    batch = {k: v.to(device) for k, v in collate(split, [0], pad_id).items()}
    teacher.eval()
    with torch.no_grad():
        out = teacher_forward(teacher, batch, spec)
    shape = list(head.pack(out.logits).shape[1:])
    if head.token_axis is not None:
        del shape[head.token_axis - 1]
    return Layout(
        examples=len(split),
        tokens=int(token_counts(split).sum()),
        hidden_size=int(out.hidden_states[0].shape[-1]),
        num_hidden=len(out.hidden_states),
        logits_shape=tuple(int(d) for d in shape),
        ragged_logits=head.token_axis is not None,
    )


def check_disk(folder: Path, needed: int) -> None:
    """Refuse, in one line, a build that would not fit on ``folder``'s disk."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise AutodistillError(
            f"the teacher-output cache needs {human_bytes(needed)} but {folder} has {human_bytes(free)} free; "
            "free some space (`autodistill cache list` shows what the home holds), set AUTODISTILL_HOME to a "
            "larger disk, or run with a live teacher "
            "(teacher_cache: false in a config file, --no-teacher-cache on the command line)"
        )


class StaleCache(Exception):
    """A cache folder of another format, or damaged: to be rebuilt."""


class TeacherCache:
    """Memory-mapped teacher outputs for every example of one encoded split."""

    def __init__(self, folder: Path, head: TaskHead) -> None:
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise StaleCache(f"unreadable meta.json ({exc})") from None
        if meta.get("format") != FORMAT:
            raise StaleCache(f"format {meta.get('format', 1)}, this version reads format {FORMAT}")
        self.folder, self.head = folder, head
        self.layout = Layout(**{**meta["layout"], "logits_shape": tuple(meta["layout"]["logits_shape"])})
        layout = self.layout
        self.offsets = _open(folder / "offsets.bin", OFFSETS_DTYPE, (layout.examples + 1,))
        self.logits = _open(folder / "logits.bin", LOGITS_DTYPE, (layout.logits_rows, *layout.logits_shape))
        self.hidden = {
            layer: _open(folder / f"hidden_{layer}.bin", HIDDEN_DTYPE, (layout.tokens, layout.hidden_size))
            for layer in range(layout.num_hidden)
            if (folder / f"hidden_{layer}.bin").exists()
        }
        if self.offsets[-1] != layout.tokens:
            raise StaleCache("offsets do not add up to the token count")
        self.pages = PageBudget([self.offsets, self.logits, *self.hidden.values()])
        self._served: dict[tuple, Served] = {}

    @property
    def layers(self) -> tuple[int, ...]:
        """The hidden states this cache holds."""
        return tuple(sorted(self.hidden))

    def disk_bytes(self) -> int:
        """Bytes of the array files on disk (what :meth:`Layout.size` estimates)."""
        return sum(path.stat().st_size for path in self.folder.glob("*.bin"))

    @classmethod
    def build_or_load(
        cls,
        teacher: nn.Module,
        teacher_id: str,
        spec: TaskSpec,
        split: EncodedSplit,
        pad_id: int,
        *,
        layers: Sequence[int] | None = None,
        batch_size: int = 64,
        device: torch.device | str = "cpu",
        show_progress: bool = True,
    ) -> TeacherCache:
        """The cache for (teacher, split tokens) holding at least hidden states ``layers``.

        ``layers`` are the hidden-state indices the run's mapping reads (``()``: logits
        only; ``None``: every state). A complete cache that holds them is reused; one
        that lacks some gets them added; otherwise the cache is built, once.
        """
        head = task_head(spec)
        folder = subdir("teacher_cache") / cache_key(teacher_id, split)
        cache = _load(folder, head)
        if cache is not None and not _missing(cache, layers):
            return cache  # what a run usually finds: no lock taken, nothing written
        # Runs that share a home queue here; each reads the cache again once it has the lock, so a
        # run that waited extends what the other published (to the union of their states) or reuses it.
        with exclusive(folder, "building this teacher cache"):
            cache = _load(folder, head)
            if cache is not None:
                missing = _missing(cache, layers)
                if missing:
                    _add_states(teacher, spec, split, pad_id, cache, missing, batch_size, device, show_progress)
                return cls(folder, head)
            layout = plan_layout(teacher, spec, split, pad_id, device)
            wanted = layout.check_layers(range(layout.num_hidden) if layers is None else layers)
            _announce(layout, wanted, folder, show_progress, adding=False)
            publish_folder(
                folder,
                lambda partial: cls._compute(
                    teacher, spec, split, pad_id, partial, layout, wanted, batch_size, device, show_progress
                ),
                marker="meta.json",
            )
            return cls(folder, head)

    @staticmethod
    def _compute(
        teacher: nn.Module,
        spec: TaskSpec,
        split: EncodedSplit,
        pad_id: int,
        folder: Path,
        layout: Layout,
        layers: tuple[int, ...],
        batch_size: int,
        device: torch.device | str,
        show_progress: bool,
    ) -> None:
        """Fill ``folder`` (a private build folder) with offsets, logits and ``layers``."""
        offsets = np.zeros(layout.examples + 1, dtype=OFFSETS_DTYPE)
        np.cumsum(token_counts(split), out=offsets[1:])
        offsets.tofile(folder / "offsets.bin")
        logits = create_array(folder / "logits.bin", LOGITS_DTYPE, (layout.logits_rows, *layout.logits_shape))
        states = {
            layer: create_array(folder / f"hidden_{layer}.bin", HIDDEN_DTYPE, (layout.tokens, layout.hidden_size))
            for layer in layers
        }
        _teacher_pass(teacher, spec, split, pad_id, offsets, states, logits, batch_size, device, show_progress)
        (folder / "meta.json").write_text(json.dumps({"format": FORMAT, "layout": asdict(layout)}))

    def lookup(
        self,
        index: torch.Tensor,
        width: int,
        device: torch.device | str,
        layers: tuple[int, ...],
        *,
        resident: bool | None = None,
    ) -> TeacherOutputs:
        """Teacher outputs for a collated batch (``index`` rows, padded to ``width``).

        Only the hidden states in ``layers`` are read (the mapping's teacher layers),
        returned as a ``{layer: tensor}`` dict; positions past an example's end are 0.
        On CPU the rows are read from the memory-mapped files; an accelerator is served
        from its own memory when they fit, else streamed to it (:mod:`engine.kd.served`);
        ``resident`` forces one of those two on any device.
        """
        self._check(layers)
        device = torch.device(device)
        if device.type == "cpu" and resident is None:
            return self._read_mapped(index, width, layers)
        logits, hidden = self.served(device, layers, resident=resident).gather(index, width, self.layout.ragged_logits)
        if self.layout.ragged_logits:
            logits = logits.movedim(1, self.head.token_axis)
        hidden_states = dict(zip(layers, hidden, strict=True))
        return TeacherOutputs(logits=self.head.unpack(logits, width), hidden_states=hidden_states)

    def prefetch(
        self, indices: np.ndarray, device: torch.device | str, layers: tuple[int, ...], *, resident: bool | None = None
    ) -> None:
        """Start moving the rows of the batch after this one towards ``device`` (nothing to do on CPU)."""
        device = torch.device(device)
        if device.type != "cpu" or resident is not None:
            self.served(device, layers, resident=resident).prefetch(indices)

    def served(self, device: torch.device, layers: tuple[int, ...], *, resident: bool | None = None) -> Served:
        """The arrays of ``layers`` served on ``device``: in its memory when they fit there (or
        ``resident`` says so), else streamed from the host; made once per (device, layers)."""
        key = (str(device), layers, resident)
        if key not in self._served:
            self._check(layers)
            hidden = {layer: self.hidden[layer] for layer in layers}
            needed = resident_bytes(self.logits, list(hidden.values()), self.layout.examples)
            keep = fits_on_device(needed, device) if resident is None else resident
            self._served[key] = (DeviceRows if keep else StreamedRows)(self.offsets, self.logits, hidden, device)
        return self._served[key]

    def _check(self, layers: tuple[int, ...]) -> None:
        absent = [layer for layer in layers if layer not in self.hidden]
        if absent:
            raise AutodistillError(
                f"the teacher cache {self.folder} holds hidden states {list(self.layers)}, not {absent}; "
                "build it with the layers the run's mapping reads"
            )

    def _read_mapped(self, index: torch.Tensor, width: int, layers: tuple[int, ...]) -> TeacherOutputs:
        """The host path: rows read from the mapped files in file order, then put back in batch order."""
        wanted = index.cpu().numpy()
        rows = np.sort(wanted)  # memory maps read fastest in row order
        back = torch.from_numpy(np.argsort(np.argsort(wanted)))
        gather = _RaggedRows(self.offsets, rows, width)
        if self.layout.ragged_logits:
            packed = gather.take(self.logits)[back].movedim(1, self.head.token_axis)
        else:
            packed = torch.from_numpy(np.ascontiguousarray(self.logits[rows]))[back]
        logits = self.head.unpack(packed.float(), width)
        hidden = {i: gather.take(self.hidden[i]) for i in layers}
        self.pages.touched(packed.nbytes + sum(h.nbytes for h in hidden.values()))
        hidden = {i: h[back].float() for i, h in hidden.items()}
        return TeacherOutputs(logits=logits, hidden_states=hidden)


class _RaggedRows:
    """Reads examples ``rows`` out of flat per-token arrays, padded to ``width`` tokens."""

    def __init__(self, offsets: np.ndarray, rows: np.ndarray, width: int) -> None:
        starts = np.asarray(offsets[rows])
        counts = np.minimum(np.asarray(offsets[rows + 1]) - starts, width)
        before = np.cumsum(counts) - counts  # tokens of the earlier rows in the flat read
        self.tokens = np.repeat(starts - before, counts) + np.arange(counts.sum())
        self.mask = torch.arange(width) < torch.from_numpy(counts)[:, None]

    def take(self, array: np.ndarray) -> torch.Tensor:
        """[rows, width, ...] from a [tokens, ...] array, zeros past each example's end."""
        flat = torch.from_numpy(np.ascontiguousarray(array[self.tokens]))
        out = flat.new_zeros((*self.mask.shape, *flat.shape[1:]))
        out[self.mask] = flat
        return out


def _open(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only memory map of a file that must hold exactly ``shape``."""
    expected = math.prod(shape) * dtype.itemsize
    if not path.exists() or path.stat().st_size != expected:
        raise StaleCache(f"{path.name} is missing or not {expected} bytes")
    return open_array(path, dtype, shape)


def _missing(cache: TeacherCache, layers: Sequence[int] | None) -> list[int]:
    """The hidden states of ``layers`` (None: all) that ``cache`` lacks; an impossible layer is refused."""
    wanted = cache.layout.check_layers(range(cache.layout.num_hidden) if layers is None else layers)
    return [layer for layer in wanted if layer not in cache.hidden]


def _load(folder: Path, head: TaskHead) -> TeacherCache | None:
    """The complete cache in ``folder``; None (and the folder set aside) when absent, old or damaged."""
    if not folder.exists():
        return None
    try:
        return TeacherCache(folder, head)
    except StaleCache as exc:
        logger.warning("teacher cache %s is rebuilt: %s", folder, exc)
        aside = folder.with_name(f"{folder.name}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.replace(folder, aside)
        except FileNotFoundError:  # another process set it aside first
            return None
        shutil.rmtree(aside, ignore_errors=True)
        return None


def _announce(layout: Layout, layers: Sequence[int], folder: Path, show_progress: bool, *, adding: bool) -> None:
    """Say what is about to be written and how big it is; refuse when it would not fit."""
    size = layout.size(layers, with_logits=not adding)
    check_disk(folder.parent, size)
    states = f"hidden states {', '.join(map(str, layers))}" if layers else "no hidden states"
    what = f"adding {states}" if adding else f"logits and {states}"
    message = (
        f"teacher cache: {layout.examples} examples, {layout.tokens} tokens, {what}: {human_bytes(size)} in {folder}"
    )
    logger.info(message)
    if show_progress:
        get_console().print(message)


def _add_states(
    teacher: nn.Module,
    spec: TaskSpec,
    split: EncodedSplit,
    pad_id: int,
    cache: TeacherCache,
    layers: list[int],
    batch_size: int,
    device: torch.device | str,
    show_progress: bool,
) -> None:
    """Add hidden states ``layers`` to a complete cache: one teacher pass, each file renamed into place."""
    layout, folder = cache.layout, cache.folder
    _announce(layout, layers, folder, show_progress, adding=True)
    _remove_abandoned_files(folder)
    tag = f"partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    paths = {layer: folder / f"hidden_{layer}.bin.{tag}" for layer in layers}
    try:
        shape = (layout.tokens, layout.hidden_size)
        states = {layer: create_array(path, HIDDEN_DTYPE, shape) for layer, path in paths.items()}
        offsets = np.asarray(cache.offsets)
        _teacher_pass(teacher, spec, split, pad_id, offsets, states, None, batch_size, device, show_progress)
        for layer, path in paths.items():
            os.replace(path, folder / f"hidden_{layer}.bin")
    finally:
        for path in paths.values():
            path.unlink(missing_ok=True)


def _remove_abandoned_files(folder: Path) -> None:
    """Delete state files half-written by a process that is gone (killed while adding states)."""
    for path in folder.glob("hidden_*.bin.partial-*"):
        owner = partial_owner(path)
        if owner is not None and not process_alive(owner):
            path.unlink(missing_ok=True)


def _teacher_pass(
    teacher: nn.Module,
    spec: TaskSpec,
    split: EncodedSplit,
    pad_id: int,
    offsets: np.ndarray,
    states: dict[int, np.ndarray],
    logits: np.ndarray | None,
    batch_size: int,
    device: torch.device | str,
    show_progress: bool,
) -> None:
    """Run the teacher over the split and write each example's real tokens at its offsets.

    Examples go through in order of length, so a batch holds little padding.
    """
    head, n = task_head(spec), len(split)
    order = np.argsort(token_counts(split), kind="stable")
    written = [*states.values(), *([] if logits is None else [logits])]
    pages = PageBudget(written)
    teacher.eval()
    with torch.no_grad(), progress("caching teacher outputs", n, enabled=show_progress, unit="example") as advance:
        for start in range(0, n, batch_size):
            indices = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in collate(split, indices, pad_id).items()}
            out = teacher_forward(teacher, batch, spec)
            hidden = {layer: out.hidden_states[layer].half().cpu().numpy() for layer in states}
            packed = head.pack(out.logits).float()
            if head.token_axis is not None:
                packed = packed.movedim(head.token_axis, 1)  # [B, tokens, ...]: ragged like the states
            packed = packed.cpu().numpy()
            for row, i in enumerate(indices):
                first, last = offsets[i], offsets[i + 1]
                for layer, array in states.items():
                    array[first:last] = hidden[layer][row, : last - first]
                if logits is not None and head.token_axis is None:
                    logits[i] = packed[row]
                elif logits is not None:
                    logits[first:last] = packed[row, : last - first]
            pages.touched(packed.nbytes + sum(array.nbytes for array in hidden.values()))
            advance(start + len(indices))
    for array in written:
        flush(array)
