"""The meta layer's public door: ``cli`` imports ``autodistill`` through its ``__init__`` only, so
the rooms behind it can change their modules; the study, the project's own write-up, imports its
plumbing from the rooms it lives in, and the door stays the size of what a user calls."""

from __future__ import annotations

import subprocess
import sys

from test_layout import ROOT, import_graph

import autodistill


def test_every_public_name_resolves() -> None:
    missing = [name for name in autodistill.__all__ if getattr(autodistill, name, None) is None]
    assert not missing


def test_the_cli_uses_only_the_door() -> None:
    _, written = import_graph()
    private = sorted(
        {
            (importer, spelled)
            for importer, spelled in written
            if importer.startswith("cli") and spelled.startswith("autodistill.")
        }
    )
    assert not private, f"write 'from autodistill import NAME' instead of: {private}"


def test_the_door_lends_no_study_plumbing() -> None:
    """The noise model's parts and the study's tables are the study's to import from their rooms."""
    assert len(autodistill.__all__) <= 60
    assert not {"NOISE_Z", "PAIR", "seeded_pairs", "study_section", "headroom_arms"} & set(autodistill.__all__)


def test_opening_the_door_loads_nothing_behind_it() -> None:
    """Names load on first use: the store's commands do not pay for the predictor or the search."""
    code = (
        "import sys, autodistill; autodistill.open_store; "
        "print(sorted(m for m in sys.modules if m.startswith(('autodistill.advice', 'autodistill.search', "
        "'autodistill.predictor', 'autodistill.evaluation'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
