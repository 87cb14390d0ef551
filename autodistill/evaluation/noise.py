"""One noise model for every claim that a configuration beats another: seeds, test sampling, selection.

A configuration's mean test ratio over ``k`` seeds is off for three reasons, and this module
measures each per (data set, student):

* **seed spread**: the standard deviation over training seeds, pooled over every configuration
  run with more than one seed. A configuration is its whole pipeline, ``repeated_aug``
  included: runs that differ in it are different configurations, never seeds of one;
* **test sampling**: the test split is one sample; its standard error of the metric at the
  teacher's score and the split's size (:func:`engine.metric_standard_error`), in ratio units.
  Every seed sees the same split, so averaging seeds does not shrink it;
* **dev selection**: a configuration chosen because its dev score was highest is, on test,
  lucky by some amount. :func:`selection_bias` estimates it by choosing on one seed's dev
  scores and scoring the choice on the other seeds' test scores.

The noise of a configuration's mean is ``sqrt(seed_std**2 / k + sampling**2)``; of a difference
between two, the two noises combined as if independent, which overstates it, since two configurations
scored on the same test split share most of its sampling error. Where both configurations' runs kept
their per-example test predictions, the difference's sampling error is measured on the pair instead
(:func:`paired_sampling_error`, a paired bootstrap over the split's examples). A difference is
*beyond noise* when, less the selection bias, it exceeds :data:`NOISE_Z` times that.

Outcomes (:func:`study_outcomes`) must come from one split version per data set: scores on
different test splits are not comparable, so a mix is refused unless asked for
(:func:`check_split_versions`). :func:`seeded_pairs` says where the study's whole fixed list
(:func:`fixed_list`, as a task type runs it) has the seeds this model needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from autodistill.store.configurations import configurations
from autodistill.sweep.study_plan import REALISTIC, STUDY_CONFIGS
from engine import (
    AutodistillError,
    ExamplePredictions,
    SplitResolution,
    list_datasets,
    ratio_standard_error,
    split_resolution,
)

NO_KD = "no-KD"
PAIR = ["dataset", "student_name"]
#: How many standard errors of a difference count as beyond the noise (about 95 %).
NOISE_Z = 2.0
#: The flag that lets an analysis mix split versions (a user's explicit choice).
ALLOW_MIXED_FLAG = "--allow-mixed-splits"
#: The flag that keeps each data set's latest split version only.
LATEST_FLAG = "--latest-splits"
#: Seeds behind the standard "noise of a mean" the tables state.
SEEDS = 3
#: Resamples of a test split behind a paired sampling error (:func:`paired_sampling_error`): its own
#: error is then about 5 % of itself.
PAIRED_DRAWS = 200


def check_split_versions(frame: pd.DataFrame, *, allow_mixed: bool = False) -> pd.DataFrame:
    """``frame`` if each data set's rows share one split version; a mix is refused, naming the
    versions and :data:`ALLOW_MIXED_FLAG`, unless ``allow_mixed``. Rows without the column ran
    before split versions existed: version 1."""
    mixed = _versions(frame).groupby(frame["dataset"]).unique()
    mixed = mixed[mixed.map(len) > 1]
    if mixed.empty or allow_mixed:
        return frame
    named = "; ".join(f"{name}: versions {', '.join(map(str, sorted(v)))}" for name, v in mixed.items())
    raise AutodistillError(
        f"the runs mix split versions ({named}): scores on different test splits are not comparable; "
        f"analyse one version ({LATEST_FLAG} keeps each data set's latest), or pass {ALLOW_MIXED_FLAG} to mix them"
    )


def _versions(frame: pd.DataFrame) -> pd.Series:
    versions = frame["split_version"] if "split_version" in frame else pd.Series(1, index=frame.index)
    return versions.fillna(1).astype(int)


def latest_splits(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows on each data set's latest split version among ``frame``'s (the ``--latest-splits`` view)."""
    versions = _versions(frame)
    return frame[versions == versions.groupby(frame["dataset"]).transform("max")]


def study_outcomes(runs: pd.DataFrame, trials: pd.DataFrame, *, allow_mixed: bool = False) -> pd.DataFrame:
    """Runs (store columns) and finished no-KD baselines (trials log) as one frame; the ratio
    reported is the test one where the run has it, else the dev one (``scored_on`` says which).
    ``predictions_key``: what the store keeps each row's test predictions under (a run's id, a
    baseline's trial id), where the frames say."""
    kd = runs.assign(configuration=configurations(runs))
    base = trials[(trials["kind"] == "finetune") & (trials["status"] == "done")]
    budgets = [json.loads(budget) for budget in base["budget_json"]]
    base = base.assign(
        configuration=NO_KD, seed=[b.get("seed") for b in budgets], epochs=[b.get("epochs") for b in budgets]
    )
    base = base[_at_kd_epochs(base, kd)]
    if "run_id" in kd and "trial_id" in base:
        kd, base = kd.assign(predictions_key=kd["run_id"]), base.assign(predictions_key=base["trial_id"])
    columns = [*PAIR, "fidelity", "seed", "configuration", "ratio", "test_ratio"]
    columns += [c for c in ("teacher_test_score", "split_version", "predictions_key") if c in kd and c in base]
    frame = pd.concat([kd[columns], base[columns]], ignore_index=True).rename(columns={"ratio": "dev_ratio"})
    tested = frame["test_ratio"].notna()
    frame["reported_ratio"] = frame["test_ratio"].where(tested, frame["dev_ratio"])
    frame["scored_on"] = np.where(tested, "test", "dev only")
    return check_split_versions(frame, allow_mixed=allow_mixed)


def _at_kd_epochs(base: pd.DataFrame, kd: pd.DataFrame) -> pd.Series:
    """Which baselines trained as long as their (data set, student, fidelity)'s KD runs: the realistic
    no-KD probe (12 epochs, run to find the plateau) is no baseline of runs trained to the plateau.
    A group without KD runs or without an ``epochs`` column keeps its baselines."""
    if "epochs" not in kd:
        return pd.Series(True, index=base.index)
    key = [*PAIR, "fidelity"]
    kd_epochs = kd.dropna(subset=["epochs"]).groupby(key)["epochs"].agg(lambda e: {int(x) for x in e})
    return pd.Series(
        [
            (d, s, f) not in kd_epochs.index or (e is not None and int(e) in kd_epochs[(d, s, f)])
            for d, s, f, e in zip(base["dataset"], base["student_name"], base["fidelity"], base["epochs"], strict=True)
        ],
        index=base.index,
        dtype=bool,
    )


def pooled_seed_std(group: pd.DataFrame) -> tuple[float, int]:
    """The seeds' standard deviation pooled over every configuration run with more than one seed,
    and how many such configurations there are."""
    repeated = group.groupby("configuration")["reported_ratio"].agg(["var", "count"])
    repeated = repeated[repeated["count"] > 1]
    if repeated.empty:
        return math.nan, 0
    dof = int((repeated["count"] - 1).sum())
    return math.sqrt(float((repeated["var"] * (repeated["count"] - 1)).sum()) / dof), len(repeated)


def widest_configuration(group: pd.DataFrame) -> tuple[str, float, float] | None:
    """The configuration of ``group`` whose seeds spread most, their standard deviation, and the seed
    spread pooled over the other configurations (NaN if none has seeds): whether one configuration's
    unsteady seeds, rather than the data set, set the pooled spread. None: no configuration has seeds."""
    per = group.groupby("configuration")["reported_ratio"].agg(["std", "count"])
    per = per[per["count"] > 1]
    if per.empty:
        return None
    widest = str(per["std"].idxmax())
    rest, _ = pooled_seed_std(group[group["configuration"] != widest])
    return widest, float(per.loc[widest, "std"]), rest


def sampling_error(group: pd.DataFrame, resolution: SplitResolution | None) -> float:
    """The test split's standard error in ratio units, at the median teacher test score and the median
    test ratio of ``group`` (NaN without a resolution or a test score)."""
    if resolution is None or "teacher_test_score" not in group:
        return math.nan
    teacher = group["teacher_test_score"].median()
    ratio = group["test_ratio"].median()
    if not (math.isfinite(teacher) and math.isfinite(ratio)):
        return math.nan
    return ratio_standard_error(resolution.metric, float(teacher), resolution.test_examples, float(ratio))


def selection_bias(group: pd.DataFrame) -> float:
    """How much a configuration chosen on dev overstates its test ratio: for each seed, the KD configuration
    with the best dev ratio at that seed (among those run with more than one seed), scored on that seed's
    test ratio less its mean over the other seeds; averaged over seeds. NaN with fewer than two such
    configurations or no test ratios."""
    scored = group[group["configuration"] != NO_KD].dropna(subset=["test_ratio", "seed"])
    seeded = scored[scored.groupby("configuration")["seed"].transform("nunique") > 1]
    if seeded["configuration"].nunique() < 2:
        return math.nan
    gaps = []
    for _, at_seed in seeded.groupby("seed"):
        best = at_seed.loc[at_seed["dev_ratio"].idxmax()]
        others = seeded[(seeded["configuration"] == best["configuration"]) & (seeded["seed"] != best["seed"])]
        gaps.append(best["test_ratio"] - others["test_ratio"].mean())
    return float(np.mean(gaps))


def mean_noise(seed_std: float, sampling: float, seeds: int) -> float:
    """The standard error of a configuration's mean over ``seeds`` seeds: seed spread and test sampling."""
    sampling = 0.0 if math.isnan(sampling) else sampling
    return math.sqrt(seed_std**2 / seeds + sampling**2)


def seeds_needed(seed_std: float, sampling: float, target: float) -> int | None:
    """The fewest seeds whose mean has a noise of ``target`` or less; None where no number of seeds
    gets there (test sampling alone reaches ``target``: only a larger test split would) or where the
    seed spread is unknown."""
    sampling = 0.0 if math.isnan(sampling) else sampling
    if not math.isfinite(seed_std) or sampling >= target:
        return None
    return max(1, math.ceil(seed_std**2 / (target**2 - sampling**2) - 1e-9))


def difference_noise(seed_std: float, sampling: float, seeds: tuple[int, int]) -> float:
    """The standard error of a difference between two configurations' means (independent noises)."""
    return math.hypot(mean_noise(seed_std, sampling, seeds[0]), mean_noise(seed_std, sampling, seeds[1]))


def lead_noise(
    group: pd.DataFrame,
    arms: tuple[pd.Series, pd.Series],
    terms: Mapping[str, float],
    predictions: Mapping[str, ExamplePredictions],
) -> tuple[float, str]:
    """The noise of the difference between two configurations' means (``arms``: rows of :func:`arm_stats`,
    named by configuration) in ``group``, and how many runs of each its sampling part was paired on: by
    :func:`paired_sampling_error` where both have test predictions under their ``predictions_key``, else
    with their sampling errors combined as if independent ("")."""
    seeds = (int(arms[0]["seeds"]), int(arms[1]["seeds"]))
    sides = [_predicted(group, str(arm.name), predictions) for arm in arms]
    paired = math.nan
    if "teacher_test_score" in group and all(sides):
        paired = paired_sampling_error(sides[0], sides[1], float(group["teacher_test_score"].median()))
    if not math.isfinite(paired):
        return difference_noise(terms["seed_std"], terms["sampling_se"], seeds), ""
    return paired_difference_noise(terms["seed_std"], paired, seeds), f"{len(sides[0])} / {len(sides[1])}"


def _predicted(
    group: pd.DataFrame, configuration: str, predictions: Mapping[str, ExamplePredictions]
) -> list[ExamplePredictions]:
    """The test predictions of ``configuration``'s rows in ``group`` that have some."""
    if "predictions_key" not in group:
        return []
    keys = group.loc[group["configuration"] == configuration, "predictions_key"]
    return [predictions[k] for k in keys if k in predictions]


def paired_difference_noise(seed_std: float, paired_sampling: float, seeds: tuple[int, int]) -> float:
    """The standard error of a difference between two configurations' means scored on one test split,
    its sampling part measured on the pair (:func:`paired_sampling_error`), not assumed independent."""
    return math.sqrt(seed_std**2 / seeds[0] + seed_std**2 / seeds[1] + paired_sampling**2)


def paired_sampling_error(
    first: Sequence[ExamplePredictions],
    second: Sequence[ExamplePredictions],
    teacher_score: float,
    draws: int = PAIRED_DRAWS,
    seed: int = 0,
) -> float:
    """The test split's sampling error of the difference between two configurations' mean test ratios,
    from their seeds' per-example predictions: the split's examples drawn with replacement once per draw
    for every run of both (a paired bootstrap), each scored on the draw; the standard deviation of the
    difference of the two means over draws, over the teacher's test score. From the seeds that have
    predictions, which may be fewer than a mean's (a little more sampling error, never less). NaN
    where either side has none or their references differ (not one test split)."""
    if not first or not second or not math.isfinite(teacher_score) or teacher_score == 0:
        return math.nan
    references = first[0].references
    if any(p.references != references for p in [*first, *second]):
        return math.nan
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(references), (draws, len(references)))
    counts = np.stack([np.bincount(drawn, minlength=len(references)) for drawn in rows])
    means = [np.mean([_resampled(p, rows, counts) for p in side], axis=0) for side in (first, second)]
    return float(np.std(means[0] - means[1], ddof=1) / abs(teacher_score))


def _resampled(predictions: ExamplePredictions, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The run's headline metric on each draw (``rows``: the examples drawn, ``counts``: how often each):
    two dot products where the metric is a sum over another, else the metric computed on each draw."""
    parts = predictions.parts()
    if parts is not None:
        return (counts @ parts[0]) / (counts @ parts[1])
    return np.array([predictions.score(drawn) for drawn in rows])


def beyond_noise(difference: float, noise: float, bias: float = 0.0) -> bool | None:
    """Whether ``difference`` less the selection ``bias`` (only an upward bias is taken off) clears
    :data:`NOISE_Z` times ``noise``; None where the noise is unknown."""
    if not math.isfinite(noise):
        return None
    corrected = difference - max(bias, 0.0) if math.isfinite(bias) else difference
    return bool(corrected > NOISE_Z * noise)


#: ``(data set, split version) -> its test split's resolution``, None where it is unknown.
Resolver = Callable[[str, int], SplitResolution | None]


def group_noise(group: pd.DataFrame, resolution: SplitResolution | None) -> dict[str, float | int]:
    """The noise model's terms for one (data set, student)."""
    std, repeated = pooled_seed_std(group)
    sampling = sampling_error(group, resolution)
    return {
        "seed_std": std,
        "configurations_with_seeds": repeated,
        "test_examples": resolution.test_examples if resolution else None,
        "sampling_se": sampling,
        "mean_noise": mean_noise(std, sampling, SEEDS) if math.isfinite(std) else math.nan,
        "selection_bias": selection_bias(group),
    }


def catalog_resolution(name: str, version: int) -> SplitResolution | None:
    """The catalog's test split of ``name`` at ``version``; None for a data set outside the catalog or
    one whose source is not installed here (its sampling error then shows as unknown, not as zero)."""
    try:
        return split_resolution(name, version)
    except AutodistillError:
        return None


def resolutions(outcomes: pd.DataFrame, resolve: Resolver) -> Mapping[str, SplitResolution | None]:
    """Each data set's test-split resolution at the split version its outcomes ran on."""
    versions = outcomes.get("split_version", pd.Series(1, index=outcomes.index)).fillna(1).astype(int)
    first = versions.groupby(outcomes["dataset"]).first()
    return {name: resolve(name, int(version)) for name, version in first.items()}


def sampling_errors(runs: pd.DataFrame, student: str, resolve: Resolver = catalog_resolution) -> dict[str, float]:
    """Each data set's test-split standard error in ratio units (:func:`sampling_error`) from ``student``'s
    runs (store columns or outcomes) on the latest split version they have: what another report (the
    held-out one) combines with its own seeds' spread."""
    mine = latest_splits(runs[runs["student_name"] == student])
    resolved = resolutions(mine, resolve)
    return {str(name): sampling_error(group, resolved[name]) for name, group in mine.groupby("dataset")}


def arm_stats(group: pd.DataFrame) -> pd.DataFrame:
    """Per configuration of one (data set, student): mean dev and reported ratio, and its seeds."""
    stats = group.groupby("configuration")[["dev_ratio", "reported_ratio"]].mean()
    return stats.assign(seeds=group.groupby("configuration").size())


NOISE_COLUMNS = [
    "dataset", "student", "scored on", "seed std", "configurations with seeds", "test examples", "sampling SE",
    f"noise ({SEEDS} seeds)", "dev-selection bias", "no-KD ratio", "best KD (by dev)", "best KD ratio",
    "difference", "noise of difference", "paired runs", "beyond noise",
]  # fmt: skip


def noise_floor(
    outcomes: pd.DataFrame,
    resolved: Mapping[str, SplitResolution | None],
    fidelity: str = "realistic",
    predictions: Mapping[str, ExamplePredictions] | None = None,
) -> pd.DataFrame:
    """Per (data set, student) at ``fidelity``: the noise model's terms, no-KD's mean ratio, the best
    KD configuration by mean dev ratio with its mean reported ratio, their difference, its noise
    (:func:`lead_noise`, paired on ``predictions`` where both have some) and whether the difference,
    less the selection bias, is beyond it."""
    rows = []
    for (dataset, student), group in outcomes[outcomes["fidelity"] == fidelity].groupby(PAIR):
        arms = arm_stats(group)
        kd = arms.drop(index=NO_KD, errors="ignore")
        if NO_KD not in arms.index or kd.empty:
            continue
        terms = group_noise(group, resolved.get(dataset))
        best = kd["dev_ratio"].idxmax()
        difference = kd.loc[best, "reported_ratio"] - arms.loc[NO_KD, "reported_ratio"]
        noise, paired = lead_noise(group, (kd.loc[best], arms.loc[NO_KD]), terms, predictions or {})
        values = [
            dataset, student, "test" if (group["scored_on"] == "test").all() else "dev (some or all)",
            terms["seed_std"], terms["configurations_with_seeds"], terms["test_examples"], terms["sampling_se"],
            terms["mean_noise"], terms["selection_bias"], arms.loc[NO_KD, "reported_ratio"], best,
            kd.loc[best, "reported_ratio"], difference, noise, paired,
            beyond_noise(difference, noise, terms["selection_bias"]),
        ]  # fmt: skip
        rows.append(dict(zip(NOISE_COLUMNS, values, strict=True)))
    return pd.DataFrame(rows, columns=NOISE_COLUMNS)


def fixed_list(task_type: str) -> set[str]:
    """The fixed list's configuration labels as ``task_type`` runs them, no-KD included."""
    pipelines = [c.for_task(task_type) for c in STUDY_CONFIGS]
    return {*(p.key for p in pipelines if p is not None), NO_KD}


def seeded_pairs(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, student) of the catalog at the realistic budget: whether every fixed-list
    configuration its task type runs has :data:`SEEDS` seeds or more, and the fewest seeds any of them
    has (``seeds``: a mean over that many is what every configuration's comparison rests on)."""
    task_types = {spec.name: spec.task_type for spec in list_datasets()}
    realistic = outcomes[outcomes["fidelity"] == REALISTIC.name]
    seeds = realistic.groupby([*PAIR, "configuration"])["seed"].nunique()
    rows = []
    for (dataset, student), per in seeds.groupby(level=PAIR):
        wanted = fixed_list(task_types[dataset])
        counts = per.droplevel(PAIR)
        fewest = int(min(counts.get(config, 0) for config in wanted))  # a fixed list always holds no-KD
        rows.append({"dataset": dataset, "student": student, "complete": fewest >= SEEDS, "seeds": fewest})
    return pd.DataFrame(rows, columns=["dataset", "student", "complete", "seeds"])
