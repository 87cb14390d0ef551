"""The paragraph that ends each section of ``docs/study.md``: where our runs agree with the paper.

Each function words its paragraph from the computed values (which component
leads, above or below chance, how many data sets), so the text stays true
whatever the runs say; the paper's numbers appear only as quoted comparisons,
each with its section, figure or table.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from scipy import stats

from autodistill import COMPONENTS, PAPER_MEAN_SPEARMAN
from autodistill.evaluation.importance import PAIRS, cell_columns, pair_name
from study.figure4 import finished_ratios
from study.tables import lodo_spearmans

#: The paper's Table 9 (Appendix I): MI-α rows among the top-5 rows listed for the 8 GLUE tasks.
PAPER_TABLE9_MI, PAPER_TABLE9_ROWS = 30, 40
_COMPONENT_NAMES = {
    "inter_loss": "intermediate loss",
    "mapping": "layer mapping",
    "pred_loss": "prediction loss",
    "augmentation": "augmentation",
}
_NAMES = {**_COMPONENT_NAMES, **{pair_name(a, b): f"{_COMPONENT_NAMES[a]} x {_COMPONENT_NAMES[b]}" for a, b in PAIRS}}


def importance_agreement(table: pd.DataFrame) -> str:
    """Figure 2/6's reading on our runs, worded from the numbers."""
    mean = table["mean"]
    components = mean[list(COMPONENTS)]
    pairs = mean[[pair_name(a, b) for a, b in PAIRS]]
    top, top_pair = components.idxmax(), pairs.idxmax()
    cells = cell_columns(table)
    wins = sum(table.loc[list(COMPONENTS), c].idxmax() == "inter_loss" for c in cells)
    paper = (
        "The paper finds the intermediate loss the most important component (§5, finding 1; §5.1, Figure 2) "
        "and intermediate loss x layer mapping the most important pair (§5.1, Figure 6)."
    )
    if top == "inter_loss":
        first = f"Here too the intermediate loss has the largest mean share ({components[top]:.2f})"
    else:
        first = (
            f"Unlike the paper, the largest mean share here is the {_NAMES[top]}'s ({components[top]:.2f}); "
            f"the intermediate loss's is {components['inter_loss']:.2f}"
        )
    first += f"; it is the top component in {wins} of {len(cells)} (student, data set) cell(s)."
    target = pair_name("inter_loss", "mapping")
    if top_pair == target:
        second = f"The top pair is also {_NAMES[target]} ({pairs[target]:.2f}), as in the paper."
    else:
        second = (
            f"The top pair is {_NAMES[top_pair]} ({pairs[top_pair]:.2f}), not the paper's {_NAMES[target]} "
            f"({pairs[target]:.2f})."
        )
    return f"{paper} {first} {second}"


def top_k_agreement(counts: pd.DataFrame, chance: pd.DataFrame) -> str:
    """Figure 3's reading on our runs (MI-α's share of the top-k slots against chance), worded from the numbers."""
    chance = chance.loc[counts.index]
    mi = [c for c in counts.columns if c.startswith("mi-")]
    slots = int(counts.to_numpy().sum())
    mi_count = int(counts[mi].to_numpy().sum())
    mi_chance = float(chance[mi].to_numpy().sum()) / slots
    families = counts.T.groupby(lambda level: "mi" if level.startswith("mi-") else level).sum().T.sum()
    others = families.drop("mi")
    paper = (
        "In the paper MI-α appears in the top-5 configurations more often than every other intermediate loss "
        f"(§5.2, Figure 3); its Table 9 (Appendix I) lists MI-α in {PAPER_TABLE9_MI} of the {PAPER_TABLE9_ROWS} "
        "top-5 rows of the 8 GLUE tasks."
    )
    ours = (
        f"Here MI-α (any α) fills {mi_count} of {slots} top-5 slots ({mi_count / slots:.0%}), against "
        f"{mi_chance:.0%} expected if the top 5 were drawn at random from the runs (MI-α is {len(mi)} of the "
        f"{len(counts.columns)} levels). "
    )
    if mi_count > others.max():
        ours += f"It is the most frequent intermediate loss, as in the paper (next: {others.idxmax()}, {others.max()})."
    else:
        ours += (
            f"Unlike the paper, it is not the most frequent: {others.idxmax()} fills {others.max()} slots to "
            f"MI-α's {mi_count}."
        )
    excess = counts.sum() - chance.sum()
    expected = mi_chance * slots
    # Within 10 % of the expected count is what a random top 5 gives, not a preference.
    relation = "above" if mi_count > 1.1 * expected else "below" if mi_count < 0.9 * expected else "about at"
    ours += (
        f" MI-α's {mi_count} slots are {relation} chance ({expected:.1f} expected); the level most "
        "over-represented against chance is "
        f"{excess.idxmax()} ({counts[excess.idxmax()].sum()} slots, {chance[excess.idxmax()].sum():.1f} expected)."
    )
    return f"{paper} {ours}"


def augmentation_agreement(effect: pd.DataFrame, params: pd.Series) -> str:
    """Table 3's reading on our runs, worded from the numbers; ``params`` maps student to parameter count."""
    gains = effect.xs("all", level="dataset")["gain"].dropna()
    paper = (
        "The paper finds that augmentation generally helps and helps small students most (§5.3, Table 3: "
        "average gains of +4.4 points for BERT_MINI (11M) and +2.9 for BERT_TINY (4M) against -1.0 for "
        "TinyBERT_6 (67M); there one policy, CA+RA+mixup, against none, on CoLA, MRPC, RTE and STS-B)."
    )
    if gains.empty:
        return f"{paper} No student here has runs both with and without augmentation on one data set yet."
    helped = int((gains > 0).sum())
    ours = (
        f"Here augmented runs (any text augmenter or mixup, against none, over random configurations) have a "
        f"higher mean ratio for {helped} of {len(gains)} student(s)"
    )
    ours += ", as in the paper." if helped == len(gains) else (", unlike the paper." if helped == 0 else ", in part.")
    if len(gains) > 1:
        smallest, largest = min(gains.index, key=params.get), max(gains.index, key=params.get)
        relation = "in line with" if gains[smallest] > gains[largest] else "unlike"
        ours += (
            f" The smallest student, {smallest}, gains {gains[smallest]:+.3f} in ratio against {gains[largest]:+.3f} "
            f"for the largest, {largest}: {relation} the paper's finding that small students benefit most; the "
            f"largest gain is {gains.idxmax()}'s."
        )
    return f"{paper} {ours}"


def lodo_agreement(table: pd.DataFrame) -> str:
    """Figure 5's reading on our runs, worded from the numbers."""
    rows = lodo_spearmans(table)
    paper = (
        f"The paper's leave-one-dataset-out Spearman averages {PAPER_MEAN_SPEARMAN} over the 8 GLUE data sets "
        "and is positive for most of them (§5.4, Figure 5)."
    )
    if rows.empty:
        return f"{paper} No held-out data set here has a defined Spearman (constant predictions or one run)."
    mean = float(rows.mean())
    positive = int((rows > 0).sum())
    level = "above" if mean > PAPER_MEAN_SPEARMAN else "at or below"
    most = "as in the paper" if positive > len(rows) / 2 else "unlike the paper"
    return (
        f"{paper} On our runs it averages {mean:.2f} over {len(rows)} data set(s), {level} the paper's, and is "
        f"positive on {positive} of {len(rows)}, {most}."
    )


def versus_random_agreement(done: Sequence[tuple[str, pd.DataFrame]]) -> str:
    """Figure 4's reading on our runs, worded from the numbers; ``done``: (data set, results) pairs
    with finished runs in both groups."""
    paper = (
        "The paper finds AutoDistiller's top 5 significantly better than 5 random configurations on its two "
        "unseen data sets, BoolQ and cloth (§5.4, Figure 4)."
    )
    if not done:
        return f"{paper} No held-out data set has finished runs of both groups yet."
    lines, wins = [], 0
    for dataset, results in done:
        ours, rand = finished_ratios(results, "AutoDistiller"), finished_ratios(results, "random")
        wins += ours.mean() > rand.mean()
        p = ""
        if min(len(ours), len(rand)) > 1:
            p = f", one-sided Mann-Whitney p = {stats.mannwhitneyu(ours, rand, alternative='greater').pvalue:.3f}"
        lines.append(
            f"on {dataset} the picks average {ours.mean():.3f} against {rand.mean():.3f} for random "
            f"(best {ours.max():.3f} vs {rand.max():.3f}{p})"
        )
    if wins == len(done):
        verdict = "in line with the paper"
    elif wins == 0:
        verdict = "unlike the paper"
    else:
        verdict = "so the paper's finding holds on part of our data sets"
    return f"{paper} Here {'; '.join(lines)}: the picks average higher on {wins} of {len(done)}, {verdict}."
