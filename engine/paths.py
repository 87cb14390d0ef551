"""Where autodistill keeps prepared data, caches and runs.

Everything derived (prepared splits, fine-tuned teachers, teacher-output caches)
lives under one home folder so that it can be inspected, moved or wiped at once.
``AUTODISTILL_HOME`` overrides the default ``~/.cache/autodistill``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository's ``meta_data/`` folder: data cards and the meta-dataset.
META_DATA = Path(__file__).resolve().parent.parent / "meta_data"


def home() -> Path:
    root = Path(os.environ.get("AUTODISTILL_HOME", Path.home() / ".cache" / "autodistill"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def subdir(*parts: str) -> Path:
    """A folder under :func:`home`, created on first use."""
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
