"""The benchmarks' tests run their scripts' smoke modes, which fine-tune teachers and fill caches: they must
do it in a throwaway home, as the library's tests do, never in the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine import paths


def test_a_benchmark_test_writes_into_a_home_of_its_own(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = Path(os.environ["AUTODISTILL_HOME"])
    assert home.is_relative_to(tmp_path_factory.getbasetemp())
    assert paths.home() == home
