"""Nested leave-one-dataset-out evaluation: a predictor figure that no design choice has seen.

Plain LODO (:mod:`autodistill.evaluation.lodo`) scores one fixed predictor. Choosing the design
and its hyper-parameters by that same figure and then reporting it overstates it: the
held-out data sets chose the winner. Here every choice is made inside the training folds:

    for each outer data set D:
        for each candidate (design, parameters):
            inner score = mean Spearman (within settings) over leave-one-out folds of the data sets outside D's family
        refit the best candidate on the data sets outside D's family; score its Spearman on D
    nested figure = mean of those outer Spearmans

Every fold, inner ones too, leaves out its held-out data set's family (siblings built from the same
source examples, :func:`~autodistill.evaluation.lodo.training_names`), as plain LODO does.

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

from autodistill.evaluation.lodo import training_names
from autodistill.predictor.designs import DESIGNS, setting_spearman
from autodistill.predictor.model import Predictor, PredictorSettings, fit_predictor, model_inputs, training_inputs
from autodistill.store.database import RunStore
from engine import AutodistillError, choices_error

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


@dataclass(frozen=True)
class Reported:
    """What the outer folds' figure is scored on: ``column`` of the held-out data set's runs at
    ``fidelity`` (None: every run). Choosing, in the inner folds, always uses the dev ``ratio``:
    select on dev, report on test (``column="test_ratio"``)."""

    column: str = "ratio"
    fidelity: str | None = None

    def rows(self, outcomes: pd.DataFrame) -> pd.Series:
        """Which runs the figure is scored on: at the fidelity, with a score in the column."""
        kept = outcomes[self.column].notna()
        if self.fidelity is not None:
            kept &= outcomes["fidelity"] == self.fidelity
        return kept

    def __str__(self) -> str:
        where = f" at {self.fidelity}" if self.fidelity else ""
        return f"{self.column}{where}"


SELECTION = Reported()
#: The scores a user names, as the runs store's columns.
SCORE_COLUMNS = {"dev": "ratio", "test": "test_ratio"}


def reported_on(score: str, fidelity: str | None = None) -> Reported:
    """``dev``/``test`` and an optional study budget as a :class:`Reported` (an unknown name is refused)."""
    if score not in SCORE_COLUMNS:
        raise choices_error("score", score, list(SCORE_COLUMNS))
    return Reported(SCORE_COLUMNS[score], fidelity)


#: A held-out data set needs this many scored runs for its Spearman to mean anything.
MIN_SCORED_RUNS = 5


class _Scorer:
    """Spearman of a candidate trained on some data sets, on a held-out one; each fit made once.

    ``outcomes`` holds, row for row with ``table``, what a run can be scored on (``ratio``,
    ``test_ratio``, ``fidelity``); the model only ever sees ``table``.
    """

    def __init__(
        self, table: pd.DataFrame, outcomes: pd.DataFrame, version: str, base: PredictorSettings, cache_dir: Path
    ) -> None:
        self.table, self.outcomes, self.version, self.base, self.cache_dir = table, outcomes, version, base, cache_dir
        self._models: dict[tuple[frozenset[str], Candidate], Predictor] = {}

    def __call__(self, train: frozenset[str], held: str, candidate: Candidate, on: Reported = SELECTION) -> float:
        key = (train, candidate)
        if key not in self._models:
            rows = self.table[self.table["dataset"].isin(train)]
            self._models[key] = fit_predictor(rows, self.version, candidate.settings(self.base), self.cache_dir)
        scored = (self.table["dataset"] == held) & on.rows(self.outcomes)
        inputs = self.table[scored]
        truth = self.outcomes.loc[scored, on.column].to_numpy()
        rho = setting_spearman(inputs, self._models[key].predict(inputs), truth)
        return 0.0 if np.isnan(rho) else rho  # a constant prediction orders nothing


def _lodo_mean(names: frozenset[str], candidate: Candidate, score: Callable[..., float]) -> float:
    return float(np.mean([score(training_names(held, names), held, candidate) for held in sorted(names)]))


def _nested_folds(
    names: frozenset[str], outer: Sequence[str], pool: list[Candidate], score: Callable[..., float], on: Reported
) -> list[dict]:
    """Per ``outer`` data set: the candidate with the best inner LODO (dev) over the data sets outside its
    family, scored ``on`` it."""
    rows = []
    for held in outer:
        rest = training_names(held, names)
        inner = {c: _lodo_mean(rest, c, score) for c in pool}
        best = max(pool, key=lambda c: (inner[c], -pool.index(c)))  # ties: the earlier grid point
        rows.append(
            {"dataset": held, "chosen": str(best), "inner": inner[best], "spearman": score(rest, held, best, on)}
        )
    return rows


def scored_datasets(table: pd.DataFrame, outcomes: pd.DataFrame, on: Reported) -> list[str]:
    """The data sets with at least :data:`MIN_SCORED_RUNS` runs the figure can be scored on."""
    counts = table.loc[on.rows(outcomes), "dataset"].value_counts()
    return sorted(counts.index[counts >= MIN_SCORED_RUNS])


def evaluate_nested(
    store: RunStore,
    version: str,
    *,
    source: str,
    designs: Sequence[str] | None = None,
    base: PredictorSettings | None = None,
    cache_dir: Path | None = None,
    reported: Reported = SELECTION,
) -> NestedResult:
    """Nested and tuned LODO Spearman of each design and of choosing among all of them.

    Every data set's runs train and choose (dev ratios, every budget: the budget is an input);
    the outer folds are the data sets with runs to score ``reported`` on (e.g. test ratios at the
    realistic budget), and the figures are means over those.
    """
    base = base or PredictorSettings()
    designs = list(designs or DESIGNS.names())
    pool = candidates_of(designs)
    runs, features = training_inputs(store, version, source=source)
    runs = runs.reset_index(drop=True)
    table = model_inputs(runs, features, embeddings=base.dataset_embeddings)
    outcomes = runs.reindex(columns=["ratio", "test_ratio", "fidelity"])
    names = frozenset(table["dataset"])
    outer = scored_datasets(table, outcomes, reported)
    if len(names) < 3 or len(outer) < 2:
        raise AutodistillError(
            f"nested leave-one-dataset-out needs runs on 3+ data sets, 2+ of them with {MIN_SCORED_RUNS}+ runs "
            f"scored on {reported}; {source!r} has {len(names)} and {len(outer)}"
        )
    with TemporaryDirectory() as scratch:
        score = _Scorer(table, outcomes, version, base, cache_dir or Path(scratch))
        folds, summary = [], []
        for name, group in [(d, [c for c in pool if c.design == d]) for d in designs] + [(ANY_DESIGN, pool)]:
            rows = _nested_folds(names, outer, group, score, reported)
            folds += [{"design": name, **row} for row in rows]
            tuned = {c: float(np.mean([score(training_names(d, names), d, c, reported) for d in outer])) for c in group}
            best = max(group, key=lambda c: (tuned[c], -group.index(c)))
            nested = float(np.mean([row["spearman"] for row in rows]))
            summary.append({"design": name, "nested": nested, "tuned": tuned[best], "tuned_choice": str(best)})
    return NestedResult(pd.DataFrame(folds), pd.DataFrame(summary))
