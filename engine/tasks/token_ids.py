"""Token ids of large splits: flat arrays with offsets, written once to disk and memory-mapped.

A 100k-example split held as Python lists of lists costs hundreds of MB (a Python int
object per token id, a list per row) and the tokenizer's per-row ``Encoding`` objects cost
as much again while it runs. Here a split is encoded in chunks straight into one flat
int32 file of ids, one int8 file of token types and one int64 file of row offsets, under
``<home>/token_ids/<key>/``. The key is (tokenizer, max length, the texts themselves), so a
second run, or a sweep trial, on the same data maps the same files instead of
tokenising again; pages are read from disk only when a batch touches them.

:class:`RaggedIds` serves those arrays with the interface the engine already uses for
lists of lists (``len``, ``ids[i]``, iteration), so nothing downstream changes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import paths

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

#: Bumped when the files' layout changes: older folders are then rebuilt.
FORMAT = 1
META_FILE = "meta.json"
#: Rows tokenised at a time: bounds the tokenizer's per-row objects alive at once.
CHUNK_ROWS = 4096
IDS_DTYPE, TYPES_DTYPE, OFFSETS_DTYPE = np.dtype(np.int32), np.dtype(np.int8), np.dtype(np.int64)
FILES = {"ids": ("ids.bin", IDS_DTYPE), "types": ("types.bin", TYPES_DTYPE), "offsets": ("offsets.bin", OFFSETS_DTYPE)}


class RaggedIds(Sequence):
    """Rows of ints stored flat: row ``i`` is ``values[offsets[i]:offsets[i + 1]]``."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        self.values = values
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]  (no slices: rows only)
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"row {i} of {n}")
        i %= n
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for start, end in itertools.pairwise(self.offsets.tolist()):
            yield self.values[start:end]

    def lengths(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Row lengths, of all rows or of ``indices``."""
        if indices is None:
            return np.diff(self.offsets)
        indices = np.asarray(indices, dtype=np.int64)
        return self.offsets[indices + 1] - self.offsets[indices]

    def padded(self, indices: np.ndarray, fill: int, length: int | None = None) -> np.ndarray:
        """Rows ``indices`` as one int64 ``[len(indices), length]`` array, ``fill`` after each row's end
        (``length``: the longest chosen row). Only the chosen rows' values are read."""
        indices = np.asarray(indices, dtype=np.int64)
        starts, lengths = self.offsets[indices], self.lengths(indices)
        length = int(lengths.max()) if length is None else length
        columns = np.arange(length)
        inside = columns[None, :] < lengths[:, None]
        out = np.full((len(indices), length), fill, dtype=np.int64)
        out[inside] = self.values[(starts[:, None] + columns[None, :])[inside]]
        return out


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """What fixes a fast tokenizer's output: its serialised vocabulary, normaliser, pre-tokeniser
    and post-processor, without the truncation/padding state a call leaves behind. None for a slow
    tokenizer (no serialised form to key on: its splits are encoded in memory)."""
    if not tokenizer.is_fast:
        return None
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("truncation", None)
    state.pop("padding", None)
    record = json.dumps({"class": type(tokenizer).__name__, "state": state}, sort_keys=True)
    return hashlib.sha256(record.encode()).hexdigest()


def texts_fingerprint(texts: Sequence[str], pairs: Sequence[str] | None) -> str:
    """Content hash of a split's inputs, each string length-prefixed so no two splits collide."""
    digest = hashlib.sha256(f"{len(texts)}|{pairs is not None}|".encode())
    for column in (texts, pairs or ()):
        for text in column:
            data = text.encode()
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


def store_key(tokenizer_id: str, max_length: int, texts: Sequence[str], pairs: Sequence[str] | None) -> str:
    record = f"{FORMAT}|{tokenizer_id}|{max_length}|{texts_fingerprint(texts, pairs)}"
    return hashlib.sha256(record.encode()).hexdigest()[:20]


def _write_chunks(
    folder: Path,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    max_length: int,
) -> None:
    """Tokenise ``CHUNK_ROWS`` rows at a time, appending each chunk's ids, types and offsets."""
    total = 0
    handles = {name: (folder / file).open("wb") for name, (file, _) in FILES.items()}
    try:
        handles["offsets"].write(np.zeros(1, dtype=OFFSETS_DTYPE).tobytes())
        for start in range(0, len(texts), CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, len(texts))
            enc = tokenizer(
                list(texts[start:stop]),
                list(pairs[start:stop]) if pairs is not None else None,
                truncation=True,
                max_length=max_length,
                return_token_type_ids=True,
                return_attention_mask=False,
            )
            lengths = np.fromiter(map(len, enc["input_ids"]), dtype=OFFSETS_DTYPE, count=stop - start)
            flat = itertools.chain.from_iterable
            handles["ids"].write(np.fromiter(flat(enc["input_ids"]), dtype=IDS_DTYPE).tobytes())
            handles["types"].write(np.fromiter(flat(enc["token_type_ids"]), dtype=TYPES_DTYPE).tobytes())
            handles["offsets"].write((total + np.cumsum(lengths)).tobytes())
            total += int(lengths.sum())
    finally:
        for handle in handles.values():
            handle.close()
    meta = {"format": FORMAT, "examples": len(texts), "tokens": total, "max_length": max_length}
    (folder / META_FILE).write_text(json.dumps(meta) + "\n")


def _open(folder: Path) -> tuple[RaggedIds, RaggedIds] | None:
    """Map a finished folder's files; None when any is missing or not the size its meta says."""
    try:
        meta = json.loads((folder / META_FILE).read_text())
        counts = {"ids": meta["tokens"], "types": meta["tokens"], "offsets": meta["examples"] + 1}
        arrays = {}
        for name, (file, dtype) in FILES.items():
            if meta["format"] != FORMAT or (folder / file).stat().st_size != counts[name] * dtype.itemsize:
                return None
            arrays[name] = np.asarray(np.memmap(folder / file, dtype=dtype, mode="r", shape=(counts[name],)))
    except (OSError, ValueError, KeyError):
        return None
    if arrays["offsets"][-1] != meta["tokens"]:
        return None
    return RaggedIds(arrays["ids"], arrays["offsets"]), RaggedIds(arrays["types"], arrays["offsets"])


def stored_ids(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int
) -> tuple[RaggedIds, RaggedIds]:
    """``(input_ids, token_type_ids)`` of the texts, from the disk store (built on first use).

    A folder that is damaged (a file missing or of the wrong size) is rebuilt, and says so.
    """
    tokenizer_id = tokenizer_fingerprint(tokenizer)
    if tokenizer_id is None:
        raise ValueError("the token-id store needs a fast tokenizer")
    folder = paths.subdir("token_ids") / store_key(tokenizer_id, max_length, texts, pairs)
    opened = _open(folder)
    if opened is not None:
        return opened
    if folder.exists():
        print(f"token ids in {folder} are damaged or from an older format; encoding again")
        shutil.rmtree(folder, ignore_errors=True)
    paths.publish_folder(folder, lambda tmp: _write_chunks(tmp, tokenizer, texts, pairs, max_length), META_FILE)
    opened = _open(folder)
    if opened is None:
        raise OSError(f"token ids written to {folder} cannot be read back")
    return opened
