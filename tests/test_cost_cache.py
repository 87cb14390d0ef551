"""recommend's cost model is fitted once per content of the store's runs, and kept in the home."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autodistill.advice import cost


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the fits; each returns its number (the model itself is the cost tests' concern)."""
    made: list[int] = []

    def fit(runs, seed=0, device=None, family_of=None):
        made.append(len(made) + 1)
        return {"fit": made[-1], "runs": len(runs)}

    monkeypatch.setattr(cost.CostModel, "fit", staticmethod(fit))
    return made


RUNS = pd.DataFrame({"dataset": ["a", "b"], "wall_time_s": [10.0, 20.0], "device": ["cpu", "cpu"]})


def family(name: str) -> str:
    return "family-" + name


def test_the_same_runs_are_fitted_once_and_new_runs_fit_again(fits: list[int], tmp_path: Path) -> None:
    first = cost.cached_cost_model(RUNS, "cpu", family, tmp_path)
    assert cost.cached_cost_model(RUNS, "cpu", family, tmp_path) == first
    assert cost.cached_cost_model(RUNS[RUNS.columns[::-1]], "cpu", family, tmp_path) == first, "columns in any order"
    assert cost.cached_cost_model(RUNS, "cpu:Intel Xeon", family, tmp_path) == first, "the device's kind is the key"
    assert fits == [1]
    grown = pd.concat([RUNS, RUNS.iloc[:1].assign(wall_time_s=11.0)], ignore_index=True)
    assert cost.cached_cost_model(grown, "cpu", family, tmp_path) == {"fit": 2, "runs": 3}
    assert cost.cached_cost_model(RUNS, "cuda:H100", family, tmp_path)["fit"] == 3
    assert cost.cached_cost_model(RUNS, "cpu", lambda name: "one family", tmp_path)["fit"] == 4
    assert len(list(tmp_path.glob("*.pkl"))) == 4 and not list(tmp_path.glob(".*"))


def test_a_home_that_cannot_be_written_fits_without_caching(fits: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_name: str) -> Path:
        raise PermissionError("read-only home")

    monkeypatch.setattr(cost.paths, "subdir", refuse)
    assert cost.cached_cost_model(RUNS, "cpu", family)["fit"] == 1
    assert cost.cached_cost_model(RUNS, "cpu", family)["fit"] == 2
