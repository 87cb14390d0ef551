"""The meta layer's public door: ``cli`` and ``study`` import ``autodistill`` through its
``__init__`` (or a room's), so the rooms behind it can change their modules."""

from __future__ import annotations

import subprocess
import sys

from test_layout import ROOT, import_graph

import autodistill


def test_every_public_name_resolves() -> None:
    missing = [name for name in autodistill.__all__ if getattr(autodistill, name, None) is None]
    assert not missing


def test_the_layers_above_use_only_the_door() -> None:
    _, written = import_graph()
    private = sorted(
        {
            (importer, spelled)
            for importer, spelled in written
            if importer.split(".")[0] in ("cli", "study") and spelled.startswith("autodistill.")
        }
    )
    assert not private, f"write 'from autodistill import NAME' instead of: {private}"


def test_opening_the_door_loads_nothing_behind_it() -> None:
    """Names load on first use: the store's commands do not pay for the predictor or the search."""
    code = (
        "import sys, autodistill; autodistill.open_store; "
        "print(sorted(m for m in sys.modules if m.startswith(('autodistill.advice', 'autodistill.search', "
        "'autodistill.predictor', 'autodistill.evaluation'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
