"""Where autodistill keeps prepared data, caches and runs.

Everything derived (prepared splits, fine-tuned teachers, teacher-output caches)
lives under one home folder so that it can be inspected, moved or wiped at once.
``AUTODISTILL_HOME`` overrides the default ``~/.cache/autodistill``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
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


def publish_folder(folder: Path, build: Callable[[Path], None], marker: str) -> None:
    """Build ``folder`` once, atomically, even when several processes try at the same time.

    Each attempt fills a private ``<folder>.partial-<pid>-<random>`` folder with ``build``
    and renames it into place; the first to finish publishes, the others drop theirs.
    ``marker`` is a file every complete folder holds. A killed build leaves only its
    partial folder, removed by the next attempt once its process is gone.
    """
    _remove_abandoned_builds(folder)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    partial.mkdir(parents=True)
    try:
        build(partial)
        os.replace(partial, folder)  # atomic; refused when another build already published
    except OSError:
        if not (folder / marker).exists():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _remove_abandoned_builds(folder: Path) -> None:
    """Delete half-written builds of ``folder`` whose process is gone (killed mid-build)."""
    for partial in folder.parent.glob(f"{folder.name}.partial-*"):
        pid = int(partial.name.split("-")[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass
