"""The cost-design benchmark's nested choice: made on the other families' folds alone, and resumed from its cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import cost_design


class _Constant:
    """A fake design predicting one number of seconds everywhere."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, runs: pd.DataFrame, target: np.ndarray) -> _Constant:
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), np.log(self.seconds))


@pytest.fixture
def setting(monkeypatch: pytest.MonkeyPatch, tmp_path) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Families a, b, c whose runs take 10 s, and d whose runs take 100 s; designs that guess 10 or 100."""
    monkeypatch.setenv("AUTODISTILL_HOME", str(tmp_path))
    monkeypatch.setattr(cost_design, "DESIGNS", {"ten": _Constant(10.0), "hundred": _Constant(100.0)})
    monkeypatch.setattr(cost_design, "CHECKS", {})
    families = pd.Series(["a", "a", "b", "b", "c", "c", "d", "d"])
    runs = pd.DataFrame({"wall_time_s": [10.0] * 6 + [100.0] * 2})
    return runs, pd.Series(True, index=runs.index), families


def test_each_outer_fold_chooses_on_the_other_families_alone(setting) -> None:
    runs, fits, families = setting
    cache = cost_design.FoldCache(runs)
    todo = cost_design.folds(sorted(set(families)))
    assert len(todo) == 2 * 4 + 2 * 4 * 3  # every design on each family, then inside each outer fold
    cost_design.compute(todo, runs, fits, families, cache, jobs=1)
    within, chosen = cost_design.nested(families, cache.done)
    # Held out, a, b and c see mostly 10 s runs elsewhere and choose "ten"; d sees only 10 s runs and
    # chooses "ten" too, which misses its own 100 s runs: the nested figure pays for that.
    assert chosen == {"ten": 4}
    assert within.tolist() == [True] * 6 + [False] * 2
    assert cost_design.held_out_within("hundred", families, cache.done).tolist() == [False] * 6 + [True] * 2


def test_a_stopped_run_resumes_from_its_cache(setting, monkeypatch: pytest.MonkeyPatch) -> None:
    runs, fits, families = setting
    todo = cost_design.folds(sorted(set(families)))
    first = cost_design.FoldCache(runs)
    cost_design.compute(todo[:5], runs, fits, families, first, jobs=1)
    fitted: list[cost_design.Fold] = []
    verdicts = cost_design.verdicts
    monkeypatch.setattr(cost_design, "verdicts", lambda fold, *rest: fitted.append(fold) or verdicts(fold, *rest))
    again = cost_design.FoldCache(runs)
    assert len(again.done) == 5
    cost_design.compute(todo, runs, fits, families, again, jobs=1)
    assert sorted(fitted) == sorted(todo[5:])


def test_other_runs_start_a_fresh_cache(setting) -> None:
    runs, _, _ = setting
    assert cost_design.FoldCache(runs).path != cost_design.FoldCache(runs.assign(wall_time_s=20.0)).path


def test_a_line_cut_short_by_a_kill_is_refitted(setting) -> None:
    runs, fits, families = setting
    todo = cost_design.folds(sorted(set(families)))[:3]
    cache = cost_design.FoldCache(runs)
    cost_design.compute(todo, runs, fits, families, cache, jobs=1)
    with cache.path.open("a") as out:
        out.write('["hal')  # the last write of a killed run
    again = cost_design.FoldCache(runs)
    assert sorted(again.done) == sorted(fold.key() for fold in todo)
