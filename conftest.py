"""What every test of the repository gets, the library's (tests/) and the benchmarks' (benchmarks/tests/)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test writes its caches into a fresh folder, never the user's home.

    The folder goes when the test ends: kept, the suite's homes (fine-tuned teachers, run folders)
    add up to gigabytes per session, and pytest keeps three sessions' folders.
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("AUTODISTILL_HOME", str(home))
    # As a user's own thread count: `cli.app()` then leaves the test process's thread variables alone
    # (engine.cores), which would otherwise outlive the test.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS") or str(torch.get_num_threads()))
    yield
    shutil.rmtree(home, ignore_errors=True)
