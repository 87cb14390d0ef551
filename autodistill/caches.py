"""What the home folder holds, how much disk each part takes, and clearing what is rebuilt on demand.

A teacher-output cache of a 100k-example split takes gigabytes, and every fine-tuned teacher
hundreds of megabytes, so the home (``AUTODISTILL_HOME``, default ``~/.cache/autodistill``)
grows with use. Its parts are of two sorts. A *cache* is derived, and the next command that
needs an entry of it builds that entry again (at a price: a teacher is re-fine-tuned in
minutes). Everything else is a result or a slow build — your runs and their students, the
runs store, search studies, task-agnostic students, the installed data assets — and is
listed but never cleared here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine import AutodistillError, choices_error, clipped, paths


@dataclass(frozen=True)
class Part:
    """One kind of thing the home holds (paths relative to the home): the entries of its ``folders``,
    and its ``items``, each one entry itself."""

    name: str
    folders: tuple[str, ...]
    holds: str
    cache: bool  # rebuilt by the next command that needs an entry; False: never cleared here
    items: tuple[str, ...] = ()


PARTS = (
    Part("teacher-outputs", ("teacher_cache", "teacher_cache_samples"), "teacher outputs on each split", True),
    Part("augmented-copies", ("aug_copies",), "augmented copies, their teacher outputs", True),
    Part("token-ids", ("token_ids",), "tokenised splits", True),
    Part("teachers", ("finetuned", "models/subsets"), "fine-tuned teachers (minutes each)", True,
         items=("models/mpnet-base",)),
    Part("datasets", ("datasets",), "catalog splits prepared from the assets", True),
    Part("fitted-models", ("predictors", "cost_models"), "the advice's predictors and cost models", True),
    Part("runs", ("runs",), "your runs: students, results, reports", False),
    Part("runs-store", (), "the runs store (`runs list`)", False,
         items=("runs.sqlite", "runs.sqlite-wal", "runs.sqlite-shm")),
    Part("searches", ("search", "recommendations"), "search studies, saved recommendations", False),
    Part("students", ("models/general",), "task-agnostic students, their corpus", False, items=("corpus",)),
    Part("assets", ("assets",), "packaged data installed by setup", False),
)  # fmt: skip


@dataclass(frozen=True)
class Usage:
    """A part's disk use: its entries and their bytes."""

    part: Part
    entries: int
    size: int


class HomeFolder:
    """The home folder (:func:`engine.paths.home`): its parts' disk use, its caches cleared. Another
    process's builds are told by their locks, which live in this home."""

    @property
    def root(self) -> Path:
        return paths.home()

    @property
    def free(self) -> int:
        """Free bytes on the home's disk."""
        return shutil.disk_usage(self.root).free

    def entries(self, part: Part) -> list[Path]:
        """What ``part`` holds, entry by entry: what its folders hold, and those of its items there are."""
        folders = [self.root / folder for folder in part.folders]
        inside = [entry for folder in folders if folder.is_dir() for entry in sorted(folder.iterdir())]
        return inside + [self.root / item for item in part.items if (self.root / item).exists()]

    def usage(self) -> list[Usage]:
        """Each part's disk use, as ``du`` counts it (blocks held: a sparse file counts what it holds)."""
        held = {part.name: self.entries(part) for part in PARTS}
        return [Usage(part, len(held[part.name]), sum(map(_size, held[part.name]))) for part in PARTS]

    def clear(self, names: Iterable[str], force: bool = False) -> tuple[int, list[Path]]:
        """Delete every entry of the named caches (``all``: every cache) that no process is building
        now: the bytes freed, and the entries kept because another process holds them. While another
        process uses the home it is refused unless ``force``: a run reads a teacher's outputs or an
        augmented copy file by file, and one deleted under it fails the run far from here."""
        parts = chosen(names)
        if (users := paths.other_users()) and not force:
            who, command = next(iter(users.items()))
            others = f" and {len(users) - 1} more" if len(users) > 1 else ""
            raise AutodistillError(
                f"another autodistill process uses this home and may be reading these caches: {who} "
                f"({clipped(command, 60)}){others}; clear them when it has ended, or pass --force"
            )
        freed, busy = 0, []
        for part in parts:
            for entry in self.entries(part):
                size = _size(entry)
                if paths.remove_if_idle(entry):
                    freed += size
                else:
                    busy.append(entry)
        return freed, busy


def chosen(names: Iterable[str]) -> list[Part]:
    """The caches named (``all``: every one); a name that is no cache is refused in one line."""
    caches = {part.name: part for part in PARTS if part.cache}
    names = list(names)
    if "all" in names:
        return list(caches.values())
    for name in names:
        kept = next((part for part in PARTS if part.name == name and not part.cache), None)
        if kept is not None:
            raise AutodistillError(f"{name} ({kept.holds}) is not a cache and is not cleared here; delete it by hand")
        if name not in caches:
            raise choices_error("cache", name, [*caches, "all"])
    return [caches[name] for name in dict.fromkeys(names)]


def _size(path: Path) -> int:
    """Bytes on disk under ``path`` (a file or a folder, links not followed)."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_blocks * 512
    return sum((Path(folder) / file).lstat().st_blocks * 512 for folder, _, files in os.walk(path) for file in files)
