"""The study page's PNG figures (Figures 3, 4 and 5 and Table 3 of the paper, on our runs).

matplotlib is imported on first use with the Agg backend, so the report writes
its plots on a machine without a display and ``import study`` stays cheap.
Figure 2's importance bars come from :func:`autodistill.evaluation.importance.plot_importance`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autodistill import PAPER_MEAN_SPEARMAN
from study.figure4 import group_stats
from study.tables import TOP_K


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight" keeps a legend placed outside the axes
    _pyplot().close(fig)
    return path


def plot_top_losses(counts: pd.DataFrame, path: Path) -> Path:
    """Stacked bars of the intermediate losses in each group's top 5 (Figure 3); mean counts in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(counts) + 3), 4.5))
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    colors = plt.get_cmap("tab10")
    for k, level in enumerate(counts.columns):
        values = counts[level].to_numpy(float)
        ax.bar(x, values, 0.7, bottom=bottom, color=colors(k % 10), label=f"{level} (mean {values.mean():.2f})")
        bottom += values
    ax.set_xticks(x, [f"{d}\n{s}" for d, s in counts.index], fontsize=7, rotation=45, ha="right")
    ax.set_ylabel(f"runs among the top {TOP_K}")
    ax.set_title("intermediate losses in each data set and student's top-5 runs")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return _save(fig, path)


def plot_augmentation(effect: pd.DataFrame, labels: dict[str, str], path: Path) -> Path:
    """Mean-ratio gain of augmented over unaugmented runs, per student (largest first) and data set."""
    plt = _pyplot()
    gains = effect["gain"].unstack("dataset")
    gains = gains.reindex(index=list(dict.fromkeys(effect.index.get_level_values("student"))))
    columns = [c for c in gains.columns if c != "all"] + ["all"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(gains) + 2), 4.2))
    width = 0.8 / len(columns)
    for k, dataset in enumerate(columns):
        ax.bar(np.arange(len(gains)) + k * width, gains[dataset].to_numpy(float), width, label=dataset)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(gains)) + 0.4 - width / 2, [labels[s] for s in gains.index], fontsize=8)
    ax.set_ylabel("mean ratio with - without augmentation")
    ax.set_title("augmentation gain by student (largest first)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_lodo(table: pd.DataFrame, path: Path) -> Path:
    """Leave-one-dataset-out Spearman per held-out data set (Figure 5), with our mean and the paper's."""
    plt = _pyplot()
    rows = table[table["dataset"] != "mean"]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(rows) + 2), 4.0))
    ax.bar(rows["dataset"], rows["spearman"].to_numpy(float), 0.6, color="tab:blue")
    ax.axhline(rows["spearman"].mean(), color="tab:blue", linestyle="--", label="our mean")
    ax.axhline(PAPER_MEAN_SPEARMAN, color="tab:gray", linestyle=":", label="paper's mean (Figure 5)")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("Spearman (predicted vs actual ratio)")
    ax.set_title("leave-one-dataset-out")
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_versus_random(done: Sequence[tuple[str, pd.DataFrame]], path: Path) -> Path:
    """Actual ratios of AutoDistiller's picks and the random configurations (Figure 4); mean ± std in the legend."""
    plt = _pyplot()
    fig, panels = plt.subplots(1, len(done), figsize=(5 * len(done), 4.0), squeeze=False)
    for panel, (dataset, results) in zip(panels[0], done, strict=True):
        summary = group_stats(results)
        for group, color in (("AutoDistiller", "tab:red"), ("random", "tab:blue")):
            ratios = results.loc[results["group"] == group, "ratio"].to_numpy(float)
            mean, std, _ = summary[group]
            label = f"{group} {mean:.3f} ± {std:.3f}"
            panel.plot(np.arange(1, len(ratios) + 1), ratios, "o", color=color, markersize=8, label=label)
        no_kd = summary["no-KD"][0]
        if not math.isnan(no_kd):
            panel.axhline(no_kd, color="black", linestyle=":", label=f"no-KD {no_kd:.3f}")
        panel.set_xticks(np.arange(1, TOP_K + 1))
        panel.set_xlabel("pick (AutoDistiller) or draw (random)")
        panel.set_ylabel("distillation ratio")
        panel.set_title(dataset)
        panel.legend(fontsize=8)
    return _save(fig, path)


#: The headroom plot's colour per arm kind (:data:`autodistill.evaluation.headroom.ARM_KINDS`).
ARM_COLOURS = {"no-KD": "tab:blue", "logit KD": "tab:orange", "pipeline": "tab:gray"}


def plot_headroom(arms: pd.DataFrame, path: Path, columns: int = 4) -> Path:
    """One panel per (data set, student): each pipeline's mean test ratio with its noise bar, in rising
    order, beside logit KD's and no-KD's as bands (mean ± noise): a pipeline above the orange band by
    more than both bars is the headroom the advice is after."""
    plt = _pyplot()
    pairs = list(arms.groupby(["dataset", "student"], sort=True))
    rows = math.ceil(len(pairs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    for ax, ((dataset, student), group) in zip(axes.flat, pairs, strict=False):
        pipelines = group[group["kind"] == "pipeline"].sort_values("ratio")
        x = np.arange(len(pipelines))
        ax.errorbar(x, pipelines["ratio"], yerr=pipelines["noise"].fillna(0), fmt="o", markersize=3,
                    color=ARM_COLOURS["pipeline"], elinewidth=0.8)  # fmt: skip
        for kind in ("logit KD", "no-KD"):
            for _, arm in group[group["kind"] == kind].iterrows():
                noise = 0.0 if math.isnan(arm["noise"]) else arm["noise"]
                ax.axhspan(arm["ratio"] - noise, arm["ratio"] + noise, color=ARM_COLOURS[kind], alpha=0.25)
                ax.axhline(arm["ratio"], color=ARM_COLOURS[kind], linewidth=1)
        ax.set_title(f"{dataset} ({student})", fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(pairs) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=colour, marker="o" if kind == "pipeline" else None, linestyle="" if
               kind == "pipeline" else "-", label=kind) for kind, colour in ARM_COLOURS.items()]  # fmt: skip
    fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, 1.02))
    fig.supylabel("mean test ratio (± noise of the mean)", fontsize=8)
    return _save(fig, path)
