"""Mapped arrays give their resident pages back: a 100k-example teacher cache
read over an epoch must not stay counted against the process, and nothing written is lost."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.errors import AutodistillError
from engine.kd import mapped


def _resident_file_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


def test_what_is_written_survives_a_release_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    written = mapped.create_array(path, np.dtype(np.float16), (1000, 8))
    written[:] = np.arange(8000, dtype=np.float16).reshape(1000, 8)
    mapped.release(written)  # before any flush: the page cache still holds the data
    mapped.flush(written)
    again = mapped.open_array(path, np.dtype(np.float16), (1000, 8))
    assert np.array_equal(again, np.arange(8000, dtype=np.float16).reshape(1000, 8))
    assert not again.flags.writeable


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_released_pages_leave_the_resident_set(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    np.ones(16 * 2**20, dtype=np.float32).tofile(path)  # 64 MiB
    array = mapped.open_array(path, np.dtype(np.float32), (16 * 2**20,))
    before = _resident_file_kib()
    assert array.sum() == 16 * 2**20  # every page touched
    assert _resident_file_kib() - before > 48 * 1024
    mapped.release(array)
    assert _resident_file_kib() - before < 16 * 1024


def test_a_budget_releases_after_every_limit_of_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    released = []
    monkeypatch.setattr(mapped, "release", released.append)
    array = mapped.create_array(tmp_path / "b.bin", np.dtype(np.uint8), (10,))
    budget = mapped.PageBudget([array], limit=100)
    for _ in range(7):  # released at 120 and at 120 again; 40 left counted
        budget.touched(40)
    assert len(released) == 2 and budget.touched_bytes == 40


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no block reservation on this system")
def test_a_new_array_holds_its_disk_blocks_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "reserved.bin"
    mapped.create_array(path, np.dtype(np.float32), (2**20,))  # 4 MiB, all zeros so far
    assert path.stat().st_blocks * 512 >= 4 * 2**20  # a sparse file would hold none


def test_an_array_that_does_not_fit_on_the_disk_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(descriptor: int, offset: int, size: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(AutodistillError, match=r"no room for 4\.2 MB at .*full\.bin: its disk is full"):
        mapped.create_array(tmp_path / "full.bin", np.dtype(np.float32), (2**20,))
