"""Seeded sampling, splitting and de-duplication that give the same rows on every run.

Every function here takes its randomness from ``numpy.random.default_rng(seed)``
and walks strata and groups in sorted order, so the result depends only on the
input rows and the seed: never on set/dict iteration order, hash randomisation or
the pandas version's sort stability. A split that moved between runs would make
teacher caches and reported scores incomparable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Train/dev/test shares used when a source has no official split.
FRACTIONS = (0.8, 0.1, 0.1)


def _joined(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The present ``columns`` of each row as one string (unit separator between them)."""
    present = [frame[c].astype(str) for c in columns if c in frame]
    joined = present[0]
    for column in present[1:]:
        joined = joined + "\x1f" + column
    return joined


def dedup(frame: pd.DataFrame, inputs: Sequence[str], targets: Sequence[str]) -> tuple[pd.DataFrame, dict]:
    """Keep the first copy of each repeated input; drop inputs whose copies disagree on the target.

    A repeated input with one target is a plain duplicate. One with several targets
    cannot be learned either way, and keeping any copy would put a label in the data
    that a copy elsewhere contradicts, so all its copies go.
    """
    key = _joined(frame, inputs)
    target = _joined(frame, targets)
    n_targets = target.groupby(key, sort=False).transform("nunique")
    conflicting = n_targets > 1
    repeated = key.duplicated(keep="first") & ~conflicting
    kept = frame[~conflicting & ~repeated].reset_index(drop=True)
    return kept, {"duplicates_dropped": int(repeated.sum()), "conflicting_dropped": int(conflicting.sum())}


def _counts(n: int, fractions: Sequence[float]) -> list[int]:
    """How many of ``n`` units go to each split; every non-empty share gets one when ``n`` allows."""
    shares = [int(np.floor(n * f + 0.5)) for f in fractions[1:]]
    if n >= len(fractions):
        shares = [max(s, 1) if f > 0 else 0 for s, f in zip(shares, fractions[1:], strict=True)]
    shares = [min(s, n - sum(shares[:i])) for i, s in enumerate(shares)]
    return [n - sum(shares), *shares]


def split_indices(
    strata: Sequence[object],
    seed: int,
    fractions: Sequence[float] = FRACTIONS,
    groups: Sequence[object] | None = None,
) -> list[np.ndarray]:
    """Row positions of each split, stratified on ``strata``, in a seeded shuffled order.

    With ``groups`` whole groups move together (e.g. all paragraphs of one speech),
    so no group straddles two splits; a group is stratified by its first row.
    Returns one index array per entry of ``fractions``.
    """
    strata = np.asarray([str(s) for s in strata])
    if groups is None:
        unit_of_row = np.arange(len(strata))
    else:
        _, unit_of_row = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    n_units = int(unit_of_row.max()) + 1 if len(unit_of_row) else 0
    first_row = np.full(n_units, len(strata))
    np.minimum.at(first_row, unit_of_row, np.arange(len(strata)))
    unit_strata = strata[first_row]

    rng = np.random.default_rng(seed)
    unit_split = np.empty(n_units, dtype=int)
    for stratum in np.unique(unit_strata):
        units = rng.permutation(np.flatnonzero(unit_strata == stratum))
        bounds = np.cumsum(_counts(len(units), fractions))[:-1]
        for split, chunk in enumerate(np.split(units, bounds)):
            unit_split[chunk] = split
    row_split = unit_split[unit_of_row]
    return [rng.permutation(np.flatnonzero(row_split == i)) for i in range(len(fractions))]


def stratified_sample(strata: Sequence[object], n: int, seed: int) -> np.ndarray:
    """Positions of ``n`` rows drawn with each stratum's share kept (largest remainder), in input order."""
    strata = np.asarray([str(s) for s in strata])
    if n >= len(strata):
        return np.arange(len(strata))
    names, sizes = np.unique(strata, return_counts=True)
    exact = sizes * n / len(strata)
    quota = np.floor(exact).astype(int)
    by_remainder = np.argsort(-(exact - quota), kind="stable")
    quota[by_remainder[: n - quota.sum()]] += 1
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(strata == name), size=k, replace=False) for name, k in zip(names, quota, strict=True)
    ]
    return np.sort(np.concatenate(picked))


def sample_per_key(keys: Sequence[object], k: int, seed: int) -> np.ndarray:
    """Positions of at most ``k`` rows per key (per class, per speech, ...), in input order."""
    keys = np.asarray([str(s) for s in keys])
    rng = np.random.default_rng(seed)
    picked = []
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        picked.append(rows if len(rows) <= k else rng.choice(rows, size=k, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.arange(0)


def draw_like(strata: Sequence[object], reference: Sequence[object], n: int, seed: int) -> np.ndarray:
    """Positions of up to ``n`` rows drawn so that each stratum keeps its share in ``reference``
    (largest remainder), in input order; a stratum with fewer rows than its quota gives all it has,
    so the caller sees a shortfall as a result shorter than ``n``.

    Larger dev and test splits are drawn like the training split: a class-balanced training split
    gets class-balanced dev and test splits, whatever the balance of the rows outside it.
    """
    strata = np.asarray([str(s) for s in strata])
    names, sizes = np.unique(np.asarray([str(s) for s in reference]), return_counts=True)
    exact = sizes * n / max(int(sizes.sum()), 1)
    quota = np.floor(exact).astype(int)
    by_remainder = np.argsort(-(exact - quota), kind="stable")
    quota[by_remainder[: n - quota.sum()]] += 1
    rng = np.random.default_rng(seed)
    picked = [np.arange(0, dtype=int)]
    for name, k in zip(names, quota, strict=True):
        rows = np.flatnonzero(strata == name)
        picked.append(rows if len(rows) <= k else rng.choice(rows, size=k, replace=False))
    return np.sort(np.concatenate(picked))
