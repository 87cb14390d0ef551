"""Tests that read a catalog data set's real source run only where it is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data import catalog
from engine.data.builders import DATASETS


def installed_source(name: str) -> Path:
    """Where catalog data set ``name``'s raw source is installed; where it is not, the test is skipped
    with the line that names what to install."""
    reason = catalog.missing_asset(name)
    if reason:
        pytest.skip(reason)
    return DATASETS.get(name).asset.locate()
