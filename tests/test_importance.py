"""fANOVA importance of the Distiller components (paper §4, Figures 2 and 6)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autodistill.evaluation.importance import (
    COMPONENTS,
    cell_columns,
    component_levels,
    fanova_importance,
    forest_anova,
    importance_report,
    individual_importance,
    level_codes,
    plot_importance,
)
from autodistill.store.database import RunStore
from autodistill.store.reference import import_reference
from engine import AutodistillError

INTER = [("mse", None), ("cos", None), ("mi", 0.1), ("mi", 0.9)]
MAPPINGS = ["skip", "last", "emd"]
PRED = ["ce", "mse"]
AUG = [("", False), ("", True), ("ra>ca", False)]


def _grid_runs(ratio, repeats: int = 3, student: str = "s") -> pd.DataFrame:
    """A full factorial design of store-shaped runs on one data set, ratio given by a function."""
    rows = [
        {
            "dataset": "toy",
            "teacher_name": "t",
            "student_name": student,
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
    toy = table["s<-t: toy"]
    assert toy["inter_loss"] > 0.5
    assert toy["augmentation"] < 0.01
    pairs = toy.drop(list(COMPONENTS))
    assert pairs.idxmax() == "mapping x pred_loss"
    assert pairs["mapping x pred_loss"] > 0.05 > pairs.drop("mapping x pred_loss").max()


def test_each_teacher_student_group_is_analysed_apart_then_averaged() -> None:
    # Two students whose ratio levels differ by far more than any component moves them: pooled, that
    # gap is variance the four components cannot explain; per group, the intermediate loss explains it all.
    small = _grid_runs(_mi_plus_mapping_times_pred, student="small")
    big = _grid_runs(_mi_plus_mapping_times_pred, student="big").assign(ratio=lambda r: r["ratio"] - 0.5)
    runs = pd.concat([small, big], ignore_index=True)
    table = fanova_importance(runs, n_trees=16)
    assert cell_columns(table) == ["big<-t: toy", "small<-t: toy"]
    for group in ("big<-t", "small<-t"):
        assert table.loc["inter_loss", f"{group}: toy"] > 0.5
        assert table[f"{group}: mean"].equals(table[f"{group}: toy"])
    assert table["mean"].to_numpy() == pytest.approx((table["big<-t: mean"] + table["small<-t: mean"]) / 2)
    pooled = fanova_importance(runs, by_pair=False, n_trees=16)
    assert list(pooled.columns) == ["toy", "mean"]
    assert pooled.loc["inter_loss", "toy"] < 0.2 < table.loc["inter_loss", "mean"]


def test_a_component_held_at_one_level_is_left_out_of_the_means() -> None:
    runs = _grid_runs(_mi_plus_mapping_times_pred)
    regression = runs[runs["pred_loss"] == "mse"].assign(student_name="r")  # no choice of prediction loss
    only_mapping = runs[(runs["inter_loss"] == "mse") & (runs["pred_loss"] == "ce") & (runs["augmentation"] == "")]
    only_mapping = only_mapping[~only_mapping["mixup"]].assign(student_name="m")
    assert len(only_mapping) * 2 >= 10  # enough runs: it is skipped for varying one component only
    runs = pd.concat([runs, regression, only_mapping, only_mapping], ignore_index=True)
    table = fanova_importance(runs, n_trees=8)
    assert cell_columns(table) == ["r<-t: toy", "s<-t: toy"]  # one varied component ranks nothing
    assert np.isnan(table.loc["pred_loss", "r<-t: toy"])
    assert np.isnan(table.loc["mapping x pred_loss", "r<-t: toy"])
    assert table.loc["pred_loss", "mean"] == pytest.approx(table.loc["pred_loss", "s<-t: toy"])


def test_the_papers_finding_1_reappears_per_group_on_their_runs(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        import_reference(store)
        runs = store.runs(source="paper")
    table = fanova_importance(runs, n_trees=16)
    assert ((table >= 0) & (table <= 1) | table.isna()).all().all()
    assert set(c.split(": ")[0] for c in cell_columns(table)) == {"TinyBERT4<-BERT_BASE", "TinyBERT4<-ELECTRA-large"}
    assert table.loc[list(COMPONENTS), "mean"].idxmax() == "inter_loss"
    png = plot_importance(table, tmp_path / "importance.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_data_set_of_ones_own_is_analysed_alone_or_told_why_it_cannot_be(tmp_path: Path) -> None:
    """A user who swept a file names it: its runs carry the name it loads under, as a sweep stores them; a
    cell with too few runs is said, with how many it has and needs, not silently dropped."""
    grid = _grid_runs(_mi_plus_mapping_times_pred, repeats=1)
    (tmp_path / "mine.csv").write_text("text,label\n")
    mine = grid.head(6).assign(dataset="mine")
    report = importance_report(pd.concat([grid, mine], ignore_index=True))
    assert cell_columns(report.table) == ["s<-t: toy"] and report.left_out == {"s<-t: mine": "6 runs, 10 needed"}
    with pytest.raises(
        AutodistillError, match=r"no fANOVA on .*mine.csv \(s<-t: mine: 6 runs, 10 needed\); `autodistill sweep"
    ):
        importance_report(pd.concat([grid, mine]), dataset=str(tmp_path / "mine.csv"))
    alone = importance_report(pd.concat([grid, grid.assign(dataset="mine")]), dataset=str(tmp_path / "mine.csv"))
    assert cell_columns(alone.table) == ["s<-t: mine"] and not alone.left_out
    with pytest.raises(AutodistillError, match=r"no run of data set 'other'; the runs hold: mine, toy"):
        importance_report(pd.concat([grid, mine]), dataset="other")
