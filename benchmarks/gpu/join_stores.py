"""Join the stores a GPU call brought back into the home store.

Each job of ``study_sweeps.sh`` writes its own store, started from the home store's trials of its
data sets; this adds what they ran that the home store lacks (runs already there and trials already
logged are kept as they are), through the same export and import the shipped study uses.

    .venv/bin/python benchmarks/gpu/join_stores.py HOME_STORE STORE...
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from autodistill.store.database import RunStore
from autodistill.store.shipped import export_study, import_study


def join(home: RunStore, store: RunStore) -> int:
    """Add ``store``'s runs and trials to ``home``; return how many runs were new."""
    with tempfile.TemporaryDirectory() as folder:
        export_study(store, Path(folder))
        return import_study(home, Path(folder))


def main(home_path: str, *paths: str) -> None:
    home = RunStore(Path(home_path))
    total = 0
    for path in paths:
        added = join(home, RunStore(Path(path)))
        print(f"{Path(path).stem}: {added} new runs")
        total += added
    print(f"{total} new runs in {home_path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
