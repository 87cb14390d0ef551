"""fANOVA importance of the Distiller components (paper §4, Figures 2 and 6)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autodistill.importance import (
    COMPONENTS,
    component_levels,
    fanova_importance,
    forest_anova,
    individual_importance,
    level_codes,
    plot_importance,
)
from autodistill.reference import import_reference
from autodistill.store import RunStore

INTER = [("mse", None), ("cos", None), ("mi", 0.1), ("mi", 0.9)]
MAPPINGS = ["skip", "last", "emd"]
PRED = ["ce", "mse"]
AUG = [("", False), ("", True), ("ra>ca", False)]


def _grid_runs(ratio, repeats: int = 3) -> pd.DataFrame:
    """A full factorial design of store-shaped runs on one data set, ratio given by a function."""
    rows = [
        {
            "dataset": "toy",
            "inter_loss": loss,
            "alpha": alpha,
            "mapping": mapping,
            "pred_loss": pred,
            "augmentation": stack,
            "mixup": mixup,
            "ratio": ratio(loss, alpha, mapping, pred, stack, mixup),
        }
        for (loss, alpha), mapping, pred, (stack, mixup) in itertools.product(INTER, MAPPINGS, PRED, AUG)
        for _ in range(repeats)
    ]
    return pd.DataFrame(rows)


def _mi_plus_mapping_times_pred(loss, alpha, mapping, pred, stack, mixup) -> float:
    # A main effect of the intermediate loss and a pure interaction of mapping and prediction loss.
    interaction = 0.5 if (mapping == "skip") == (pred == "ce") else -0.5
    return 0.9 + 0.1 * (loss == "mi") + 0.05 * interaction


def test_alpha_is_folded_into_the_intermediate_loss() -> None:
    levels = component_levels(_grid_runs(_mi_plus_mapping_times_pred, repeats=1))
    assert set(levels["inter_loss"]) == {"mse", "cos", "mi-0.1", "mi-0.9"}
    assert set(levels["augmentation"]) == {"none", "mixup", "ra>ca"}


def test_our_forest_reproduces_optunas_individual_importances_exactly() -> None:
    runs = _grid_runs(_mi_plus_mapping_times_pred)
    runs["ratio"] += np.random.default_rng(0).normal(0, 0.01, len(runs))
    codes, choices = level_codes(component_levels(runs))
    y = runs["ratio"].to_numpy()
    ours, _ = forest_anova(codes, choices, y, n_trees=16, seed=3)
    theirs = individual_importance(codes, y, n_trees=16, seed=3)
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_importance_finds_the_main_effect_and_the_interaction() -> None:
    table = fanova_importance(_grid_runs(_mi_plus_mapping_times_pred), n_trees=32)
    toy = table["toy"]
    assert toy["inter_loss"] > 0.5
    assert toy["augmentation"] < 0.01
    pairs = toy.drop(list(COMPONENTS))
    assert pairs.idxmax() == "mapping x pred_loss"
    assert pairs["mapping x pred_loss"] > 0.05 > pairs.drop("mapping x pred_loss").max()


def test_importance_of_the_papers_runs_is_a_table_and_a_plot(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        import_reference(store)
        runs = store.runs(source="paper")
    table = fanova_importance(runs[runs["dataset"].isin(["mnli", "stsb"])], n_trees=16)
    assert list(table.columns) == ["mnli", "stsb", "mean"]
    assert len(table) == 4 + 6
    assert ((table >= 0) & (table <= 1)).all().all()
    assert table.loc[list(COMPONENTS), "stsb"].sum() <= 1.0 + 1e-9
    png = plot_importance(table, tmp_path / "importance.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
