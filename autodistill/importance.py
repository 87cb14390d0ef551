"""fANOVA importance of the four Distiller components and their pairs (paper §4, §5.1, Figures 2 and 6).

Functional ANOVA (Hutter et al., 2014) splits the variance of the distillation
ratio over the configuration space into parts due to each component alone and
to each pair together; a part's importance is its share of the total variance.
Per data set, over that data set's runs:

* The four components are categorical: intermediate loss, layer mapping,
  prediction loss, augmentation policy. **α is folded into the intermediate
  loss** as separate levels (``mi-0.1``, ``mi-0.5``, ``mi-0.9``, …), the paper's
  Table 9 reading: a conditional α sub-parameter would exist only on MI runs,
  and fANOVA (optuna's included) needs one search space shared by every run.
  The augmentation policy is one level per (ordered text stack, mixup)
  combination; ``aug_p`` and ``repeated_aug`` are left out, as in the paper's
  four components.
* **Encoding.** Each component enters as its level's index ``k`` under a
  ``FloatDistribution(-0.5, L - 0.5)``, not as an optuna
  ``CategoricalDistribution``. optuna one-hot encodes categoricals and its
  marginalisation enumerates every combination of split midpoints of the
  one-hot columns, 2^L for L levels: the augmentation policy has 23–28 levels on
  mrpc, rte and sst-2 and did not finish in 5 minutes. The one-hot box also
  averages over codes that are no level (none or two "hot"), which moved
  stsb's prediction-loss importance from 0.25 to 0.59. With index codes each
  level is the unit cell [k - 0.5, k + 0.5], so integrating over the box is
  the uniform average over levels, the measure fANOVA intends.
* **Individual importances** come from
  ``optuna.importance.FanovaImportanceEvaluator`` on an in-memory study holding
  the runs as trials (raw variance fractions, not renormalised to sum to 1).
* **Pairwise importances**: optuna's public API gives individual importances
  only (its private ``_fanova`` tree can marginalise over feature tuples, but
  private code may change under us). They are computed here from the same
  random forest optuna fits (same encoding, column order, trees, depth and
  seed): every tree is evaluated on the grid of level combinations (both
  halves of each level's cell, see :func:`forest_anova`), and the pure pair
  effect f_ij = E[f | i, j] - f_i - f_j - f_0 gives V_ij / V, averaged over the
  trees. That is exact functional ANOVA under the same measure, and the main
  effects it yields equal optuna's numbers (a test checks this to 1e-9), so
  both kinds of rows come from one model.

The result is a table (rows: components then pairs; columns: data sets and
their mean) and, on request, a PNG bar plot in the style of Figures 2 and 6.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from autodistill.space import inter_level, policy_name
from engine import AutodistillError

#: The paper's symbols for the four components (Figure 2's axis labels).
COMPONENTS = {"inter_loss": "l_inter", "mapping": "m", "pred_loss": "l_pred", "augmentation": "a"}
PAIRS = list(itertools.combinations(COMPONENTS, 2))
#: fANOVA on fewer runs than this fits a forest to noise.
MIN_RUNS = 10


def pair_name(first: str, second: str) -> str:
    return f"{first} x {second}"


def component_levels(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's level of each component (store-shaped ``runs`` in, one string column per component)."""
    inter = [inter_level(loss, alpha) for loss, alpha in zip(runs["inter_loss"], runs["alpha"], strict=True)]
    policy = [
        policy_name(stack, bool(mixup))
        for stack, mixup in zip(runs["augmentation"].fillna(""), runs["mixup"], strict=True)
    ]
    return pd.DataFrame(
        {"inter_loss": inter, "mapping": runs["mapping"], "pred_loss": runs["pred_loss"], "augmentation": policy},
        index=runs.index,
    )


def level_codes(levels: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Each component's level index (columns in name order, as optuna orders parameters) and the levels."""
    names = sorted(levels.columns)
    choices = {c: sorted(levels[c].unique()) for c in names}
    codes = pd.DataFrame({c: levels[c].map({v: k for k, v in enumerate(choices[c])}) for c in names})
    return codes.astype(float), choices


def individual_importance(codes: pd.DataFrame, y: np.ndarray, *, n_trees: int, seed: int) -> dict[str, float]:
    """optuna's fANOVA on an in-memory study whose trials are the runs."""
    distributions = {c: optuna.distributions.FloatDistribution(-0.5, codes[c].max() + 0.5) for c in codes.columns}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(
        [
            optuna.trial.create_trial(params=params, distributions=distributions, value=float(value))
            for params, value in zip(codes.to_dict("records"), y, strict=True)
        ]
    )
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=n_trees, seed=seed)
    return {c: float(v) for c, v in evaluator.evaluate(study).items()}


def forest_anova(
    codes: pd.DataFrame, choices: dict[str, list[str]], y: np.ndarray, *, n_trees: int, seed: int
) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Main-effect and pure pairwise variance fractions of optuna's forest over the level grid."""
    names = list(codes.columns)
    forest = RandomForestRegressor(
        n_estimators=n_trees, max_depth=64, min_samples_split=2, min_samples_leaf=1, random_state=seed
    ).fit(codes.to_numpy(), y)
    # Level k is the cell [k - 0.5, k + 0.5]. Forest thresholds fall halfway between codes seen in a
    # tree's bootstrap sample, so a level the tree never saw can be cut at k: evaluating both halves
    # (k ± 0.25) integrates exactly the uniform measure on the box that optuna's fANOVA uses.
    halves = [
        np.repeat(np.arange(len(choices[c]), dtype=float), 2) + np.tile([-0.25, 0.25], len(choices[c])) for c in names
    ]
    shape = tuple(len(h) for h in halves)
    grid = np.array(list(itertools.product(*halves)))
    axes = set(range(len(names)))
    mains: dict[str, list[float]] = {c: [] for c in names}
    pairs: dict[tuple[str, str], list[float]] = {p: [] for p in itertools.combinations(names, 2)}
    for tree in forest.estimators_:
        centred = tree.predict(grid).reshape(shape)
        total = centred.var()
        if total <= 0:
            continue
        centred = centred - centred.mean()
        effect = {k: centred.mean(axis=tuple(axes - {k})) for k in axes}
        for k, name in enumerate(names):
            mains[name].append(float(np.mean(effect[k] ** 2) / total))
        for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
            joint = centred.mean(axis=tuple(axes - {i, j}))
            pure = joint - effect[i][:, None] - effect[j][None, :]
            pairs[(a, b)].append(float(np.mean(pure**2) / total))
    return (
        {k: float(np.mean(v)) if v else 0.0 for k, v in mains.items()},
        {k: float(np.mean(v)) if v else 0.0 for k, v in pairs.items()},
    )


def fanova_importance(runs: pd.DataFrame, *, target: str = "ratio", n_trees: int = 64, seed: int = 0) -> pd.DataFrame:
    """Importance of each component and pair, per data set (columns) and averaged (``mean``)."""
    table = {}
    for dataset, group in runs.groupby("dataset", sort=True):
        if len(group) < MIN_RUNS:
            continue
        y = group[target].to_numpy(float)
        if np.ptp(y) == 0:
            continue
        codes, choices = level_codes(component_levels(group))
        individual = individual_importance(codes, y, n_trees=n_trees, seed=seed)
        _, pairs = forest_anova(codes, choices, y, n_trees=n_trees, seed=seed)
        table[dataset] = {
            **{c: individual[c] for c in COMPONENTS},
            **{pair_name(a, b): pairs.get((a, b), pairs.get((b, a), 0.0)) for a, b in PAIRS},
        }
    if not table:
        raise AutodistillError(f"no data set has {MIN_RUNS}+ runs with varying {target}; nothing to analyse")
    result = pd.DataFrame(table)
    result["mean"] = result.mean(axis=1)
    result.index.name = "component"
    return result


def plot_importance(table: pd.DataFrame, path: str | Path) -> Path:
    """Bar plots of individual (Figure 2) and pairwise (Figure 6) importance, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    datasets = [c for c in table.columns if c != "mean"]
    fig, panels = plt.subplots(1, 2, figsize=(14, 4.5), gridspec_kw={"width_ratios": [2, 3]})
    for panel, rows, title in (
        (panels[0], list(COMPONENTS), "individual importance"),
        (panels[1], [pair_name(a, b) for a, b in PAIRS], "pairwise interaction importance"),
    ):
        part = table.loc[rows, datasets]
        labels = [
            " x ".join(COMPONENTS[p] for p in row.split(" x ")) + f"\n(mean {table.loc[row, 'mean']:.2f})"
            for row in rows
        ]
        width = 0.8 / len(datasets)
        for k, dataset in enumerate(datasets):
            panel.bar(np.arange(len(rows)) + k * width, part[dataset], width, label=dataset)
        panel.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, labels, fontsize=8)
        panel.set_ylabel("share of variance")
        panel.set_title(title)
    panels[1].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
