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

**Grouping (Figure 2's setting).** Runs of different teachers and students differ in
ratio level whatever the configuration; pooled into one fANOVA, that difference is
variance the forest must explain with the four components, and it buries their
effects. The paper's Figure 2 reports its (BERT-base teacher, TinyBERT4 student)
runs. So by default each (teacher, student) pair is its own group: fANOVA runs per
(group, data set) cell, each group's shares are averaged over its data sets, and the
``mean`` column averages the groups (each group weighs the same). ``by_pair=False``
pools every run of a data set, the earlier reading, kept for comparison.

The result is a table (rows: components then pairs; columns: one per cell, one mean
per group, the overall ``mean``) and, on request, a PNG bar plot in the style of
Figures 2 and 6.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from autodistill.space import inter_level, policy_name
from engine import AutodistillError, dataset_names

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


#: The column of a group's mean over its data sets ends so; the overall mean is :data:`MEAN`.
GROUP_MEAN = "mean"
MEAN = "mean"


def group_label(student: str, teacher: str) -> str:
    """A (teacher, student) group as a column prefix: ``"TinyBERT4<-BERT_BASE"``."""
    return f"{student}<-{teacher}"


def cell_columns(table: pd.DataFrame) -> list[str]:
    """The columns of single fANOVAs (one data set of one group), without the means."""
    return [c for c in table.columns if c != MEAN and not c.endswith(f": {GROUP_MEAN}")]


def _why_not(group: pd.DataFrame, target: str) -> str | None:
    """Why one cell's runs cannot rank the components (None: they can): too few runs, no variance to
    split, or fewer than two components varied (one alone takes the whole share)."""
    if len(group) < MIN_RUNS:
        return f"{len(group)} runs, {MIN_RUNS} needed"
    if np.ptp(group[target].to_numpy(float)) == 0:
        return f"every run's {target} alike"
    levels = component_levels(group)
    if (levels.nunique() >= 2).sum() < 2:
        return "fewer than two components varied"
    return None


def _cell_importance(group: pd.DataFrame, target: str, n_trees: int, seed: int) -> dict[str, float] | None:
    """One fANOVA over the runs of one cell; None when it cannot rank the components (:func:`_why_not`).
    A component held at one level (the prediction loss of a regression task) is NaN there, not 0, so
    that means over cells skip it rather than count a share that is 0 by construction."""
    if _why_not(group, target) is not None:
        return None
    y = group[target].to_numpy(float)
    levels = component_levels(group)
    held = set(levels.columns[levels.nunique() < 2])
    codes, choices = level_codes(levels)
    individual = individual_importance(codes, y, n_trees=n_trees, seed=seed)
    _, pairs = forest_anova(codes, choices, y, n_trees=n_trees, seed=seed)
    shares = {
        **{c: individual[c] for c in COMPONENTS},
        **{pair_name(a, b): pairs.get((a, b), pairs.get((b, a), 0.0)) for a, b in PAIRS},
    }
    return {name: np.nan if held & set(name.split(" x ")) else share for name, share in shares.items()}


def fanova_importance(
    runs: pd.DataFrame, *, target: str = "ratio", by_pair: bool = True, n_trees: int = 64, seed: int = 0
) -> pd.DataFrame:
    """Importance of each component and pair per (teacher, student) group and data set, then averaged.

    Columns: ``"<student><-<teacher>: <data set>"`` per cell, ``"<group>: mean"`` per group and
    ``mean`` over the groups. With ``by_pair=False`` every run of a data set is one cell, the
    columns are the data sets and ``mean`` averages them.
    """
    cells: dict[str, dict[str, float]] = {}
    groups: dict[str, list[str]] = {}
    for (label, column), group in _cells(runs, by_pair):
        importance = _cell_importance(group, target, n_trees, seed)
        if importance is None:
            continue
        cells[column] = importance
        groups.setdefault(label, []).append(column)
    if not cells:
        raise AutodistillError(
            f"no data set has {MIN_RUNS}+ runs with varying {target} and 2+ components varied; nothing to analyse"
        )
    result = pd.DataFrame(cells)
    if by_pair:
        for label, columns in groups.items():
            result[f"{label}: {GROUP_MEAN}"] = result[columns].mean(axis=1)
        result[MEAN] = result[[f"{label}: {GROUP_MEAN}" for label in groups]].mean(axis=1)
    else:
        result[MEAN] = result.mean(axis=1)
    result.index.name = "component"
    return result


def _cells(runs: pd.DataFrame, by_pair: bool) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """The runs of each fANOVA, keyed by its group's label and its column: ``"<student><-<teacher>: <data
    set>"`` (``by_pair``), else the data set (every teacher and student pooled, no group)."""
    keys = ["teacher_name", "student_name", "dataset"] if by_pair else ["dataset"]
    cells = []
    for key, group in runs.groupby(keys, sort=True):
        if by_pair:
            teacher, student, dataset = key
            label = group_label(student, teacher)
            cells.append(((label, f"{label}: {dataset}"), group))
        else:
            cells.append((("", key[0]), group))
    return cells


def _left_out(runs: pd.DataFrame, *, target: str = "ratio", by_pair: bool = True) -> dict[str, str]:
    """The cells :func:`fanova_importance` leaves out of ``runs``, each with why (its runs cannot rank the
    components), so that a user who swept a data set of their own learns why it has no row."""
    return {column: why for (_, column), group in _cells(runs, by_pair) if (why := _why_not(group, target))}


@dataclass(frozen=True)
class ImportanceReport:
    """What ``autodistill importance`` shows: the fANOVA table and the cells left out of it, with why."""

    table: pd.DataFrame
    left_out: dict[str, str]

    def plot(self, path: str | Path) -> Path:
        """Figures 2 and 6 as bar plots (:func:`plot_importance`)."""
        return plot_importance(self.table, path)


def importance_report(runs: pd.DataFrame, *, by_pair: bool = True, dataset: str | None = None) -> ImportanceReport:
    """:func:`fanova_importance` over ``runs``, or over one data set's (a file named by its path:
    :func:`engine.dataset_names`), with the cells it leaves out. A data set with no runs, or none it can
    analyse, is refused in one line that says what the runs hold."""
    if dataset is not None:
        mine = runs["dataset"].isin(dataset_names(dataset))
        if not mine.any():
            held = ", ".join(sorted(map(str, runs["dataset"].unique()))) or "none"
            raise AutodistillError(f"no run of data set {dataset!r}; the runs hold: {held}")
        runs = runs[mine]
    skipped = _left_out(runs, by_pair=by_pair)
    if dataset is not None and len(skipped) == len(_cells(runs, by_pair)):
        why = "; ".join(f"{cell}: {reason}" for cell, reason in skipped.items())
        raise AutodistillError(
            f"no fANOVA on {dataset} ({why}); `autodistill sweep --datasets {dataset} --n {MIN_RUNS}` or more "
            "adds random configurations to its runs"
        )
    return ImportanceReport(fanova_importance(runs, by_pair=by_pair), skipped)


def plot_importance(table: pd.DataFrame, path: str | Path) -> Path:
    """Bar plots of individual (Figure 2) and pairwise (Figure 6) importance, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    datasets = cell_columns(table)
    fig, panels = plt.subplots(1, 2, figsize=(14, 4.5), gridspec_kw={"width_ratios": [2, 3]})
    for panel, rows, title in (
        (panels[0], list(COMPONENTS), "individual importance"),
        (panels[1], [pair_name(a, b) for a, b in PAIRS], "pairwise interaction importance"),
    ):
        part = table.loc[rows, datasets]
        labels = [
            " x ".join(COMPONENTS[p] for p in row.split(" x ")) + f"\n(mean {table.loc[row, MEAN]:.2f})" for row in rows
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
