"""Nested leave-one-dataset-out evaluation: a predictor figure that no design choice has seen.

Plain LODO (:mod:`autodistill.evaluate`) scores one fixed predictor. Choosing the design
and its hyper-parameters by that same figure and then reporting it overstates it: the
held-out data sets chose the winner. Here every choice is made inside the training folds:

    for each outer data set D:
        for each candidate (design, parameters):
            inner score = mean Spearman over leave-one-out folds of the data sets other than D
        refit the best candidate on all data sets but D; score its Spearman on D
    nested figure = mean of those outer Spearmans

Beside it, the **tuned** figure: every candidate's plain LODO mean over all data sets and
the best of them, what a search that peeks at the held-out data sets reports. The gap
between the two is the optimism of picking by the reported figure.

The nested figure is computed per design (its own grid only) and over all designs
together; the per-design figures are what decides ``recommend``'s default design.
A fit is keyed by the data sets it trains on, so the 6-data-set fits shared by two
outer folds are made once (with 8 data sets: 28 + 8 fits per candidate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from autodistill.designs import DESIGNS
from autodistill.predictor import Predictor, PredictorSettings, fit_predictor, training_table
from autodistill.store import RunStore
from engine import AutodistillError

ANY_DESIGN = "any design"


@dataclass(frozen=True)
class Candidate:
    """One design with one setting of its hyper-parameters."""

    design: str
    params: tuple[tuple[str, Any], ...]

    def settings(self, base: PredictorSettings) -> PredictorSettings:
        return replace(base, design=self.design, params=self.params)

    def __str__(self) -> str:
        knobs = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.design}({knobs})" if knobs else self.design


def parse_designs(text: str | None) -> list[str] | None:
    """``"lgbm,kernel"`` as design names, each checked (None: all of them)."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        DESIGNS.get(name)  # refuses an unknown name, listing the known ones
    return names


def candidates_of(designs: Sequence[str]) -> list[Candidate]:
    """Every grid point of the named designs (an unknown name is refused, listing the known ones)."""
    return [Candidate(name, tuple(sorted(p.items()))) for name in designs for p in DESIGNS.get(name).grid]


@dataclass(frozen=True)
class NestedResult:
    """``folds``: per outer data set and design (or any design), the choice and its Spearman;
    ``summary``: per design, the nested and the tuned mean Spearman and the tuned choice."""

    folds: pd.DataFrame
    summary: pd.DataFrame


class _Scorer:
    """Spearman of a candidate trained on some data sets, on a held-out one; each fit made once."""

    def __init__(self, table: pd.DataFrame, version: str, base: PredictorSettings, cache_dir: Path) -> None:
        self.table, self.version, self.base, self.cache_dir = table, version, base, cache_dir
        self._models: dict[tuple[frozenset[str], Candidate], Predictor] = {}

    def __call__(self, train: frozenset[str], held: str, candidate: Candidate) -> float:
        key = (train, candidate)
        if key not in self._models:
            rows = self.table[self.table["dataset"].isin(train)]
            self._models[key] = fit_predictor(rows, self.version, candidate.settings(self.base), self.cache_dir)
        test = self.table[self.table["dataset"] == held]
        rho = stats.spearmanr(self._models[key].predict(test), test["ratio"]).statistic
        return 0.0 if np.isnan(rho) else float(rho)  # a constant prediction orders nothing


def _lodo_mean(names: frozenset[str], candidate: Candidate, score: Callable[..., float]) -> float:
    return float(np.mean([score(names - {held}, held, candidate) for held in sorted(names)]))


def _nested_folds(names: frozenset[str], pool: list[Candidate], score: Callable[..., float]) -> list[dict]:
    rows = []
    for held in sorted(names):
        rest = names - {held}
        inner = {c: _lodo_mean(rest, c, score) for c in pool}
        best = max(pool, key=lambda c: (inner[c], -pool.index(c)))  # ties: the earlier grid point
        rows.append({"dataset": held, "chosen": str(best), "inner": inner[best], "spearman": score(rest, held, best)})
    return rows


def evaluate_nested(
    store: RunStore,
    version: str,
    *,
    source: str,
    designs: Sequence[str] | None = None,
    base: PredictorSettings | None = None,
    cache_dir: Path | None = None,
) -> NestedResult:
    """Nested and tuned LODO Spearman of each design and of choosing among all of them."""
    base = base or PredictorSettings()
    designs = list(designs or DESIGNS.names())
    pool = candidates_of(designs)
    table = training_table(store, version, source=source, embeddings=base.dataset_embeddings)
    names = frozenset(table["dataset"])
    if len(names) < 3:
        raise AutodistillError(f"nested leave-one-dataset-out needs runs on 3+ data sets; {source!r} has {len(names)}")
    with TemporaryDirectory() as scratch:
        score = _Scorer(table, version, base, cache_dir or Path(scratch))
        folds, summary = [], []
        for name, group in [(d, [c for c in pool if c.design == d]) for d in designs] + [(ANY_DESIGN, pool)]:
            rows = _nested_folds(names, group, score)
            folds += [{"design": name, **row} for row in rows]
            tuned = {c: _lodo_mean(names, c, score) for c in group}
            best = max(group, key=lambda c: (tuned[c], -group.index(c)))
            nested = float(np.mean([row["spearman"] for row in rows]))
            summary.append({"design": name, "nested": nested, "tuned": tuned[best], "tuned_choice": str(best)})
    return NestedResult(pd.DataFrame(folds), pd.DataFrame(summary))
