"""Teacher outputs served to an accelerator from a :class:`~engine.kd.teacher_cache.TeacherCache`.

Read as on CPU (memory-mapped rows gathered on the host per batch, then copied and waited
for), the cache made a GPU run slower than running the teacher live: the GPU idles while
the host gathers and copies. So on an accelerator the arrays a run reads go to the device:

* :class:`DeviceRows`: when they fit, the whole cache (offsets, logits, the run's hidden
  states stacked into one table, kept in their stored half precision) is copied to device
  memory once, and every batch is a few gathers on the device: no host work, no copy;
* :class:`StreamedRows`: otherwise, each batch's rows are gathered on the host into pinned
  memory by a worker thread and copied without blocking on a side stream, one batch ahead
  (the trainer announces the next batch through :meth:`prefetch`); the padding out of the
  ragged rows is done on the device.

Either way a batch's hidden states come out of one gather over all its layers, and the
values are exactly those the host path serves (fp16 states widened to fp32, fp32 logits).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from engine.kd.mapped import PageBudget

#: The share of the device's free memory a cache may take whole; the rest is left to the models.
DEVICE_SHARE = 0.5
#: Rows copied to the device per step while a cache is uploaded (bounds the host memory it needs).
UPLOAD_ROWS = 1 << 16


@dataclass
class Tables:
    """What a lookup reads: ``offsets`` [n + 1], ``logits`` [rows, ...] and ``hidden`` [L, tokens, H]
    holding the run's states in the order it asked for them."""

    offsets: torch.Tensor
    logits: torch.Tensor
    hidden: torch.Tensor


def resident_bytes(logits: np.ndarray, hidden: list[np.ndarray], examples: int) -> int:
    return (examples + 1) * 8 + logits.nbytes + sum(state.nbytes for state in hidden)


def fits_on_device(needed: int, device: torch.device) -> bool:
    """Whether ``needed`` bytes may live on ``device`` next to the models (always true on CPU)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return needed <= DEVICE_SHARE * free


def padded_rows(offsets: torch.Tensor, index: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat token rows [B, width] of examples ``index`` (0 past an example's end) and the mask of
    real tokens: the ragged-to-padded step, as tensor ops on ``index``'s device."""
    starts = offsets[index]
    counts = (offsets[index + 1] - starts).clamp(max=width)
    positions = torch.arange(width, device=index.device)
    mask = positions < counts[:, None]
    return torch.where(mask, starts[:, None] + positions, 0), mask


class DeviceRows:
    """The run's part of a cache in device memory; each batch is gathered there."""

    def __init__(self, offsets: np.ndarray, logits: np.ndarray, hidden: dict[int, np.ndarray], device: torch.device):
        states = list(hidden.values())
        # a logits-only run (logit KD) reads no state: an empty table over the cache's tokens, so
        # that gathering its rows still gives [0, B, width, H] rather than indexing an empty axis
        shape = (len(states), *(states[0].shape if states else (int(offsets[-1]), 0)))
        table = torch.empty(shape, dtype=torch.float16, device=device)
        for k, state in enumerate(states):
            _upload(state, table[k])
        self.tables = Tables(
            offsets=torch.from_numpy(np.array(offsets)).to(device),
            logits=_upload(logits, torch.empty(logits.shape, dtype=torch.float32, device=device)),
            hidden=table,
        )

    def gather(self, index: torch.Tensor, width: int, ragged_logits: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ([B, ...], or [B, width, ...] when ragged) and hidden states [L, B, width, H], fp32."""
        tables = self.tables
        index = index.to(tables.offsets.device, non_blocking=True)
        rows, mask = padded_rows(tables.offsets, index, width)
        logits = _zero_past_end(tables.logits[rows], mask, 0) if ragged_logits else tables.logits[index]
        hidden = _zero_past_end(tables.hidden[:, rows], mask, 1)
        return logits.float(), hidden.float()

    def prefetch(self, indices: np.ndarray) -> None:
        """Nothing to fetch: every row is on the device already."""


@dataclass
class _Fetched:
    """One batch's real tokens on the device (or on their way there), its rows in sorted order."""

    key: bytes
    logits: torch.Tensor  # [rows, ...] or, ragged, [tokens, ...]
    hidden: torch.Tensor  # [L, tokens, H]
    ready: torch.cuda.Event | None


class StreamedRows:
    """Rows gathered on the host (pinned where the device is a GPU) and copied one batch ahead."""

    def __init__(self, offsets: np.ndarray, logits: np.ndarray, hidden: dict[int, np.ndarray], device: torch.device):
        self.offsets, self.logits, self.hidden = np.asarray(offsets), logits, hidden
        self.ragged_logits = logits.shape[0] != len(self.offsets) - 1
        self.device, self.cuda = device, device.type == "cuda"
        self.pages = PageBudget([logits, *hidden.values()])
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="teacher-cache")
        self.stream = torch.cuda.Stream(device) if self.cuda else None
        self.pending: list[Future[_Fetched]] = []

    def prefetch(self, indices: np.ndarray) -> None:
        """Start gathering and copying the batch of ``indices`` while the current one trains."""
        self.pending = [*self.pending[-1:], self.pool.submit(self._fetch, np.asarray(indices, dtype=np.int64), None)]

    def gather(self, index: torch.Tensor, width: int, ragged_logits: bool) -> tuple[torch.Tensor, torch.Tensor]:
        wanted = index.cpu().numpy().astype(np.int64)
        rows = np.sort(wanted)
        counts = np.minimum(self.offsets[rows + 1] - self.offsets[rows], width)
        fetched = self._take(rows, width)
        if fetched.ready is not None:
            stream = torch.cuda.current_stream(self.device)
            stream.wait_event(fetched.ready)
            for tensor in (fetched.logits, fetched.hidden):
                tensor.record_stream(stream)
        mask = torch.from_numpy(np.arange(width) < counts[:, None]).to(self.device, non_blocking=True)
        back = torch.from_numpy(np.argsort(np.argsort(wanted))).to(self.device, non_blocking=True)
        hidden = fetched.hidden.new_zeros((fetched.hidden.shape[0], *mask.shape, fetched.hidden.shape[-1]))
        hidden[:, mask] = fetched.hidden
        logits = fetched.logits
        if ragged_logits:
            logits = logits.new_zeros((*mask.shape, *logits.shape[1:]))
            logits[mask] = fetched.logits
        return logits[back].float(), hidden[:, back].float()

    def _take(self, rows: np.ndarray, width: int) -> _Fetched:
        """The prefetched batch of ``rows``, or one read now (a batch nobody announced, or longer
        rows than ``width`` tokens)."""
        key = rows.tobytes()
        whole = int((self.offsets[rows + 1] - self.offsets[rows]).max(initial=0)) <= width
        for future in self.pending:
            if future.result().key == key and whole:
                self.pending.remove(future)
                return future.result()
        return self._fetch(rows, width)

    def _fetch(self, indices: np.ndarray, width: int | None) -> _Fetched:
        """Read the batch's rows (sorted: mapped files read fastest in order) and send them off."""
        rows = np.sort(indices)
        starts = self.offsets[rows]
        counts = self.offsets[rows + 1] - starts
        if width is not None:
            counts = np.minimum(counts, width)
        tokens = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        logits = _read(self.logits, tokens if self.ragged_logits else rows, self.cuda)
        hidden = torch.empty(
            (len(self.hidden), len(tokens), self.hidden_size), dtype=torch.float16, pin_memory=self.cuda
        )
        for k, state in enumerate(self.hidden.values()):
            np.take(state, tokens, axis=0, out=hidden[k].numpy())
        self.pages.touched(logits.nbytes + hidden.nbytes)
        if not self.cuda:
            return _Fetched(rows.tobytes(), logits, hidden, None)
        with torch.cuda.stream(self.stream):
            logits, hidden = (t.to(self.device, non_blocking=True) for t in (logits, hidden))
            ready = torch.cuda.Event()
            ready.record(self.stream)
        return _Fetched(rows.tobytes(), logits, hidden, ready)

    @property
    def hidden_size(self) -> int:
        return next(iter(self.hidden.values())).shape[-1] if self.hidden else 0


#: How a cache reaches one device: whole in its memory, or streamed a batch ahead.
Served = DeviceRows | StreamedRows


def _zero_past_end(values: torch.Tensor, mask: torch.Tensor, lead: int) -> torch.Tensor:
    """``values`` with ``lead`` leading dims, then [B, width, ...]: zeros past each example's end."""
    view = mask.reshape(*([1] * lead), *mask.shape, *([1] * (values.dim() - lead - mask.dim())))
    return values.masked_fill(~view, 0)


def _upload(array: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """Copy ``array`` into ``out`` (on the device, same dtype) a slice at a time, so that the host
    never holds more than a slice of a file that may be larger than its free memory."""
    for start in range(0, array.shape[0], UPLOAD_ROWS):
        out[start : start + UPLOAD_ROWS] = torch.from_numpy(np.array(array[start : start + UPLOAD_ROWS]))
    return out


def _read(array: np.ndarray, rows: np.ndarray, pin: bool) -> torch.Tensor:
    """``array[rows]`` read straight into a (pinned, for a GPU) host buffer."""
    out = torch.empty((len(rows), *array.shape[1:]), dtype=torch.from_numpy(array[:0].copy()).dtype, pin_memory=pin)
    np.take(array, rows, axis=0, out=out.numpy())
    return out
