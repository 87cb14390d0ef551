"""Arrays on memory-mapped files whose resident pages the process gives back as it goes.

A mapped page that was read or written stays in the process's resident set until the
mapping goes away, so one epoch over a large teacher cache (3.4 GB for a 100k-example
split with a `skip` mapping) would leave all of it counted against the process, and
against a container's memory limit, although the page cache holds it anyway. The
arrays here are plain NumPy views of :class:`mmap.mmap` objects we own, so that
:class:`PageBudget` can drop the pages from the mapping after every so many bytes
touched (``MADV_DONTNEED``): on a shared file mapping that forgets the page table
entries, not the data, and a later read finds the page in the page cache again.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.errors import AutodistillError
from engine.paths import human_bytes

#: Bytes a process reads or writes through its mapped arrays before it gives their pages back.
RELEASE_BYTES = 256 * 2**20


def open_array(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only array of ``shape`` on the file at ``path`` (which must hold exactly that)."""
    with path.open("rb") as file:
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mapped, dtype=dtype).reshape(shape)


def create_array(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A writable, zero-filled array of ``shape`` on a new file at ``path``.

    The file's blocks are reserved before it is mapped: a write through a mapping
    onto a disk that filled up meanwhile (another process, a parallel build) kills
    the process with SIGBUS, where a reservation that does not fit fails here with
    a one-line error and nothing written.
    """
    size = int(np.prod(shape)) * dtype.itemsize
    with path.open("w+b") as file:
        _reserve(file.fileno(), size, path)
        mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_WRITE)
    return np.frombuffer(mapped, dtype=dtype).reshape(shape)


def _reserve(descriptor: int, size: int, path: Path) -> None:
    """Give the open file ``size`` bytes backed by disk blocks (a sparse file where the system cannot)."""
    if size == 0 or not hasattr(os, "posix_fallocate"):  # macOS and Windows: sparse, as before
        os.ftruncate(descriptor, size)
        return
    try:
        os.posix_fallocate(descriptor, 0, size)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise AutodistillError(
                f"no room for {human_bytes(size)} at {path}: its disk is full; free some space (`autodistill cache "
                "list` shows what the home holds) or set AUTODISTILL_HOME to a larger disk"
            ) from None
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems that cannot reserve
            raise
        os.ftruncate(descriptor, size)


def _mapping(array: np.ndarray) -> mmap.mmap:
    base: object = array
    while not isinstance(base, mmap.mmap):  # views of views, then the buffer's exporter
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
        if base is None:
            raise TypeError("not an array made by open_array or create_array")
    return base


def flush(array: np.ndarray) -> None:
    """Write a writable array's pages to its file."""
    _mapping(array).flush()


def release(array: np.ndarray) -> None:
    """Drop the array's pages from the process's resident set (they stay in the page cache)."""
    mapped = _mapping(array)
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED"):  # Linux and macOS
        mapped.madvise(mmap.MADV_DONTNEED)


class PageBudget:
    """Counts bytes touched through ``arrays`` and releases their pages after every ``limit`` of them."""

    def __init__(self, arrays: Iterable[np.ndarray], limit: int | None = None) -> None:
        self.arrays, self.touched_bytes = list(arrays), 0
        self.limit = RELEASE_BYTES if limit is None else limit

    def touched(self, nbytes: int) -> None:
        self.touched_bytes += nbytes
        if self.touched_bytes >= self.limit:
            self.release()

    def release(self) -> None:
        for array in self.arrays:
            release(array)
        self.touched_bytes = 0
