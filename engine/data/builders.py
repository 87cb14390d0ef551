"""What a catalog data set is: a raw asset, a builder turning it into rows, and a TaskSpec.

Builders live in :mod:`engine.data.sources` (one module per raw source) and
register themselves in :data:`DATASETS` under the name users type. A builder only
reads and cleans its source; splitting, label encoding and writing are shared by
all of them in :mod:`engine.data.catalog`, so every data set gets the same
guarantees (seeded stratified splits, no duplicates, stable label ids).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from engine import paths
from engine.data.splits import FRACTIONS, dedup, sample_per_key
from engine.errors import AutodistillError
from engine.registry import Registry
from engine.tasks.spec import TaskSpec

#: Where ``scripts/install_assets.sh`` unpacks npm tarballs, under the autodistill home.
NPM_ASSETS = ("assets", "npm")
INSTALL_HINT = "run scripts/install_assets.sh"


class MissingAssetError(AutodistillError):
    """The raw source of a catalog data set is not installed on this machine."""


@dataclass(frozen=True)
class Asset:
    """A raw source as ASSETS.md lists it: where it is installed from and under what licence."""

    kind: Literal["pypi", "npm", "debian"]
    package: str
    licence: str
    #: The folder or file the builder reads, relative to the installed package.
    path: str = ""
    #: An environment variable that, when set, points at the asset instead (e.g. WordNet's
    #: own ``WNSEARCHDIR`` for a WordNet installed outside Debian).
    env: str = ""

    def locate(self) -> Path:
        """The installed path, or a :class:`MissingAssetError` that says how to install it."""
        if self.env and os.environ.get(self.env):
            found = Path(os.environ[self.env])
        elif self.kind == "pypi":
            try:
                found = Path(str(importlib.metadata.distribution(self.package).locate_file(self.path)))
            except importlib.metadata.PackageNotFoundError:
                found = None
        elif self.kind == "npm":
            found = npm_root(self.package) / self.path
        else:
            found = Path(self.path)
        if found is None or not found.exists():
            where = f" (looked in {found})" if found else ""
            raise MissingAssetError(f"{self.kind} package {self.package} was not found{where}; {INSTALL_HINT}")
        return found

    def version(self) -> str:
        """Installed version, recorded in spec.json and the data card."""
        if self.kind == "pypi":
            return importlib.metadata.version(self.package)
        if self.kind == "npm":
            manifest = npm_root(self.package) / "package.json"
            return str(json.loads(manifest.read_text())["version"])
        if shutil.which("dpkg-query"):
            done = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", self.package],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                return done.stdout.strip()
        return "unknown"


def npm_root(package: str) -> Path:
    """Where an npm package was unpacked: under the current home, else under the default one
    (assets installed before ``AUTODISTILL_HOME`` was pointed elsewhere stay usable)."""
    folder = package.rsplit("/", 1)[-1]
    homes = (paths.home(), Path.home() / ".cache" / "autodistill")
    found = [home.joinpath(*NPM_ASSETS, folder) for home in homes]
    return next((path for path in found if (path / "package.json").exists()), found[0])


@dataclass
class Built:
    """A builder's output, before the shared splitting and encoding.

    ``frame`` has the normalised columns of :mod:`engine.data.schema`, with class
    names (not ids) in ``label``; optionally ``split`` (``"train"``/``"test"``) where
    the source has an official test set, and ``group`` for rows that must stay in
    one split together. ``notes`` counts what the builder dropped and why.

    ``pool`` holds the clean rows the builder's cap left out (same columns, no input
    repeated from ``frame``): the later split versions draw larger dev and test splits
    from it while the training split stays the capped sample's.
    """

    frame: pd.DataFrame
    notes: dict[str, int] = field(default_factory=dict)
    pool: pd.DataFrame | None = None


def balanced_per_label(
    rows: pd.DataFrame, inputs: Sequence[str], per_label: int, seed: int, counted: dict[str, int]
) -> Built:
    """``rows`` de-duplicated on ``inputs`` (:func:`~engine.data.splits.dedup`, ``label`` the target),
    then ``per_label`` drawn for each label, so that the classes are balanced; the rows left out are
    the pool later split versions draw dev and test from. ``counted`` leads the build's notes."""
    frame, notes = dedup(rows, inputs, ["label"])
    sampled = frame.iloc[sample_per_key(frame["label"], per_label, seed)]
    return Built(
        sampled.reset_index(drop=True),
        {**counted, **notes, "capped_away": len(frame) - len(sampled)},
        pool=frame.drop(index=sampled.index),
    )


def tagged_per_group(
    rows: pd.DataFrame, columns: Sequence[str], per_group: int, seed: int, counted: dict[str, int]
) -> Built:
    """Token rows (``tokens``, ``tags``, ``group``) de-duplicated on their words (a repeat tagged
    otherwise goes, :func:`~engine.data.splits.dedup`), then ``per_group`` drawn from each group (text,
    chapter), so that no group dominates training; the rows left out are the pool later split
    versions draw dev and test from. ``counted`` leads the build's notes."""
    rows = rows.assign(text=rows["tokens"].str.join(" "), tag_key=rows["tags"].str.join(" "))
    unique, notes = dedup(rows, ["text"], ["tag_key"])
    sampled = unique.iloc[sample_per_key(unique["group"], per_group, seed)]
    return Built(
        sampled[list(columns)].reset_index(drop=True),
        pool=unique.drop(index=sampled.index)[list(columns)],
        notes={**counted, **notes, "capped_away": len(unique) - len(sampled)},
    )


#: Train examples from which a catalog data set counts as large: it is meant to test the engine at
#: scale (token ids on disk, caches sized to need), not to be swept by the study on 2 cores.
LARGE_TRAIN_EXAMPLES = 100_000
#: Dev and test sizes of split version 2 where a source allows them: a test accuracy near 0.8 is then
#: known to about +-0.006, so differences of a point between pipelines can be told from sampling.
EVAL_SIZES = (5000, 5000)


@dataclass(frozen=True)
class Dataset:
    """One catalog entry. ``version`` is bumped whenever the builder's output changes,
    which invalidates prepared copies in users' caches.

    ``fractions`` are the train/dev/test shares when the source has no official split;
    ``large`` marks a set built to have at least :data:`LARGE_TRAIN_EXAMPLES` train examples
    (every other catalog set stays CPU-sized: a few thousand rows); ``family`` names the data
    sets that share this one's source examples (empty: none does), which an evaluation holds out
    together so that a sibling's runs cannot leak its answers.

    ``eval_sizes`` asks for (dev, test) sizes of split version 2: the training split of
    version 1 kept as it is, dev and test drawn anew from everything outside it, so that a
    test score resolves differences of a few points. None: the data set has split version 1
    only (its source holds too little, or its version-1 splits are already that large).
    ``claims_note`` says why the study leaves the data set out of pass/fail claims (empty:
    it counts)."""

    spec: TaskSpec
    asset: Asset
    seed: int
    build: Callable[[Path, int], Built]
    version: int = 1
    fractions: tuple[float, float, float] = FRACTIONS
    large: bool = False
    family: str = ""
    eval_sizes: tuple[int, int] | None = None
    claims_note: str = ""

    @property
    def split_version(self) -> int:
        """The latest split version; a run that names none gets this one."""
        return 1 if self.eval_sizes is None else 2


DATASETS: Registry[Dataset] = Registry("data set")


def register(
    spec: TaskSpec,
    *,
    asset: Asset,
    seed: int,
    version: int = 1,
    fractions: tuple[float, float, float] = FRACTIONS,
    large: bool = False,
    family: str = "",
    eval_sizes: tuple[int, int] | None = None,
    claims_note: str = "",
) -> Callable[[Callable[[Path, int], Built]], Callable[[Path, int], Built]]:
    """Decorator: add ``build(asset_path, seed) -> Built`` to the catalog under ``spec.name``."""

    def add(build: Callable[[Path, int], Built]) -> Callable[[Path, int], Built]:
        entry = Dataset(
            spec=spec,
            asset=asset,
            seed=seed,
            build=build,
            version=version,
            fractions=fractions,
            large=large,
            family=family,
            eval_sizes=eval_sizes,
            claims_note=claims_note,
        )
        DATASETS.register(spec.name)(entry)
        return build

    return add


_SPACE = re.compile(r"\s+")


def squash(text: str) -> str:
    """Collapse runs of whitespace, so that copies differing only in layout count as duplicates."""
    return _SPACE.sub(" ", text).strip()
