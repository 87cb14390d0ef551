"""How much a pipeline is expected to gain over logit KD on a new data set, and how sure that is.

The study's runs say that logit KD (the prediction loss alone) is hard to beat: most pipelines
lose to it, and the few that win do so on some data sets only. Advice that costs more than logit
KD must therefore say how likely it is to pay off. This module answers with an empirical-Bayes
model of the *gain* ``g = ratio(pipeline) - ratio(logit KD)`` measured in one setting (a data set
and student at one budget class), two levels deep:

* a configuration ``c`` has a true mean gain ``m_c`` over data sets; a new data set's gain is
  ``m_c`` plus a data-set effect of variance ``tau²`` (seed noise and dev-sampling error included,
  as each observed gain carries them);
* ``m_c`` itself is drawn around what its components predict (a ridge fit over mapping,
  intermediate loss, prediction loss and augmentation), with variance ``sigma0²``.

A configuration run on ``n`` settings gets the precision-weighted blend of its own mean gain and its
components' prediction; one never run gets the components' prediction and the widest interval.
So the interval widens where few runs back a configuration and shrinks it toward what is known.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import Ridge

from autodistill.space import Pipeline, inter_level
from autodistill.store.configurations import configurations, is_logit_kd, operation_flags
from autodistill.store.records import pipeline_columns, pipeline_of

#: The interval recommend prints and the held-out evaluation checks the coverage of.
LEVEL = 0.8
#: A normal :data:`LEVEL` interval's half-width in standard deviations.
LEVEL_Z = float(norm.ppf(0.5 + LEVEL / 2))
#: The floor on either variance, so that one lucky configuration cannot claim certainty.
_MIN_VARIANCE = 1e-5
#: A component's ridge penalty: a level seen in few configurations stays near the overall mean.
_RIDGE_ALPHA = 3.0


#: The stored runs' columns that say which components a configuration has.
_COMPONENT_COLUMNS = ["inter_loss", "alpha", "mapping", "pred_loss", "augmentation", "mixup"]


def observed_gains(runs: pd.DataFrame, score: str = "ratio") -> pd.DataFrame:
    """One row per (configuration, setting) with a logit KD run to compare against: the mean ``score``
    over seeds, minus logit KD's mean in the same setting (data set, student, fidelity, split version:
    scores on two versions of a data set's splits are never subtracted). The dev ratio by default,
    which is what advice may read; ``"test_ratio"`` is for evaluating it on held-out data sets."""
    runs = runs.dropna(subset=[score]).copy()
    version = runs["split_version"].fillna(1).astype(int).astype(str) if "split_version" in runs else "1"
    fidelity = runs["fidelity"].fillna("-")
    runs["setting"] = runs["dataset"] + "|" + runs["student_name"] + "|" + fidelity + "|v" + version
    logit = runs[is_logit_kd(runs)].groupby("setting")[score].mean()
    runs = runs[runs["setting"].isin(logit.index) & ~is_logit_kd(runs)]
    runs["config"] = configurations(runs)
    mean = runs.groupby(["config", "setting", "dataset"], as_index=False)[score].mean()
    mean["gain"] = mean[score] - mean["setting"].map(logit)
    firsts = runs.drop_duplicates("config").set_index("config")
    return mean.join(firsts[_COMPONENT_COLUMNS], on="config")[
        ["config", "setting", "dataset", "gain", *_COMPONENT_COLUMNS]
    ]


def _design(frame: pd.DataFrame) -> pd.DataFrame:
    """The components as model inputs: one-hot levels, and the augmentation as what it holds."""
    levels = pd.DataFrame(
        {
            "inter": [
                inter_level(loss, None if pd.isna(a) else float(a))
                for loss, a in zip(frame["inter_loss"], frame["alpha"], strict=True)
            ],
            "mapping": frame["mapping"].to_numpy(),
            "pred": frame["pred_loss"].to_numpy(),
        }
    )
    design = pd.get_dummies(levels).astype(float)
    for op, used in operation_flags(frame["augmentation"]).items():
        design[f"aug_{op}"] = used.to_numpy()
    design["aug_mixup"] = frame["mixup"].astype(float).to_numpy()
    return design


@dataclass(frozen=True)
class GainEstimate:
    """A configuration's predicted gain over logit KD on a new data set, with its :data:`LEVEL` interval
    and the number of settings at this budget class that ran it."""

    mean: float
    low: float
    high: float
    support: int

    @property
    def clears(self) -> bool:
        """Whether the whole interval lies above zero: a gain the evidence backs."""
        return self.low > 0

    @property
    def evidence(self) -> str:
        """How many settings at this budget ran the configuration, in words (none: the interval is the prior's)."""
        if self.support == 0:
            return "no setting at this budget ran it"
        return f"{self.support} setting{'s' if self.support > 1 else ''} at this budget ran it"


@dataclass(frozen=True)
class GainModel:
    """The fitted two-level model (module docstring); :meth:`estimate` reads it."""

    tau2: float
    sigma02: float
    configs: pd.DataFrame  # index config key; columns mean, n
    prior: Ridge
    columns: list[str]

    @classmethod
    def fit(cls, gains: pd.DataFrame) -> GainModel:
        """Fit on :func:`observed_gains`' rows; some configuration must have run in two settings (the
        spread between data sets is read from such configurations)."""
        per = gains.groupby("config")["gain"].agg(["mean", "var", "size"]).rename(columns={"size": "n"})
        repeated = per[per["n"] > 1]
        if repeated.empty:
            raise ValueError("no configuration ran in two settings: the spread between data sets is unknown")
        tau2 = max(float(np.average(repeated["var"], weights=repeated["n"] - 1)), _MIN_VARIANCE)
        firsts = gains.drop_duplicates("config").set_index("config").loc[per.index].reset_index()
        design = _design(firsts)
        prior = Ridge(alpha=_RIDGE_ALPHA).fit(design, per["mean"], sample_weight=per["n"])
        residual = per["mean"].to_numpy() - prior.predict(design)
        sigma02 = float(np.average(residual**2, weights=per["n"]) - tau2 / per["n"].mean())
        return cls(
            tau2,
            max(sigma02, _MIN_VARIANCE),
            per[["mean", "n"]],
            prior,
            list(design.columns),
        )

    def estimate(self, pipelines: list[Pipeline]) -> list[GainEstimate]:
        """Each pipeline's predicted gain on a data set none of the runs came from."""
        rows = pd.DataFrame([{"config": p.key, **pipeline_columns(p)} for p in pipelines])
        return self.estimate_rows(rows)

    def estimate_rows(self, rows: pd.DataFrame) -> list[GainEstimate]:
        """:meth:`estimate` for configurations given as rows: a ``config`` key and the component columns."""
        mean, variance, n = self.mean_and_variance(rows)
        half = LEVEL_Z * np.sqrt(variance + self.tau2)
        return [
            GainEstimate(float(m), float(m - h), float(m + h), int(k)) for m, h, k in zip(mean, half, n, strict=True)
        ]

    def mean_and_variance(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row (a ``config`` key and the component columns): the configuration's mean gain, that mean's
        variance (a new data set's spread ``tau2`` not yet added) and how many settings ran it."""
        rows = rows.reset_index(drop=True)
        prior = self.prior.predict(_design(rows).reindex(columns=self.columns, fill_value=0.0))
        seen = self.configs.reindex(rows["config"])  # NaN where no setting ran the configuration
        n = seen["n"].fillna(0).to_numpy(dtype=float)
        precision = 1 / self.sigma02 + n / self.tau2
        mean = (prior / self.sigma02 + n * seen["mean"].fillna(0).to_numpy(dtype=float) / self.tau2) / precision
        return mean, 1 / precision, n


def measured_estimate(gain: float, se: float, support: int = 1) -> GainEstimate:
    """A gain with a normal :data:`LEVEL` interval of standard deviation ``se``: a lead measured on the
    target's own runs (one setting, this data set's, behind it), or a spread read off ``support`` settings."""
    half = LEVEL_Z * se
    return GainEstimate(gain, gain - half, gain + half, support)


def new_draw_estimate(gains: pd.Series) -> GainEstimate:
    """The gain on one more setting like ``gains``' (two or more): their mean, with the interval a new
    draw from them falls in (their spread, widened by the uncertainty of their mean)."""
    n = len(gains)
    return measured_estimate(float(gains.mean()), float(gains.std(ddof=1)) * float(np.sqrt(1 + 1 / n)), n)


#: A configuration's lead over logit KD on the target data set's own runs counts as evidence beyond
#: this many standard errors: the study's rule for a lead "beyond the noise" (autodistill.evaluation.noise).
OWN_Z = 2.0


@dataclass(frozen=True)
class OwnLead:
    """A configuration that led logit KD on the target data set's own runs (same teacher, student and
    budget, one split version), on mean dev ratio, by more than :data:`OWN_Z` standard errors."""

    config: str  # its :func:`~autodistill.store.configurations.configurations` key
    pipeline: Pipeline
    gain: float
    se: float
    seeds: int
    logit_seeds: int
    budget: str  # the runs' training examples and epochs, in words

    @property
    def estimate(self) -> GainEstimate:
        """Its gain over logit KD as the pick shows it: the lead measured here with its :data:`LEVEL`
        interval (one setting: this data set's), in place of what other data sets predict."""
        return measured_estimate(self.gain, self.se)

    @property
    def line(self) -> str:
        """What the verdict says of it (the pick's line names the configuration)."""
        return (
            f"{self.gain:+.3f} dev ratio ({self.seeds} seeds against {self.logit_seeds} at {self.budget}; "
            f"{self.gain / self.se:.1f} standard errors, {OWN_Z:g} needed)"
        )


#: What one budget is, among a data set's own runs of one budget class: leads are read within one.
_BUDGET = ["train_examples", "epochs", "max_length"]


def own_leads(runs: pd.DataFrame, dataset: str, teacher: str, student: str) -> tuple[OwnLead, ...]:
    """The configurations that lead logit KD beyond :data:`OWN_Z` standard errors on ``dataset``'s own
    ``runs`` (of one budget class) with this teacher and student, largest lead first. Dev ratios, not
    test: the choice is made on dev. Read on the latest split version with logit KD runs, and within
    one budget (training examples, epochs, length): runs of a short trial are not pooled with a longer
    study's. A lead's standard error is from the seeds' variance pooled over that budget's
    configurations (none without a configuration run on two seeds), against the logit KD variant with
    the most runs (its prediction losses are one configuration each). The dev split's sampling error,
    which pairing mostly but not wholly cancels, is left out, so the rule can count a lead the study's
    paired noise would not."""
    own = runs[(runs["dataset"] == dataset) & (runs["teacher_name"] == teacher) & (runs["student_name"] == student)]
    own = own.dropna(subset=["ratio"])
    logit = is_logit_kd(own)
    if not logit.any():
        return ()
    version = own["split_version"].fillna(1) if "split_version" in own else pd.Series(1, index=own.index)
    own = own[version == version[logit].max()].assign(config=configurations)
    budgets = own.reindex(columns=_BUDGET).fillna(-1)  # a run stored without its budget: a budget of its own kind
    leads = [lead for _, runs_at in own.groupby([budgets[c] for c in _BUDGET]) for lead in _leads_at(runs_at)]
    return tuple(sorted(leads, key=lambda lead: -lead.gain))


def _leads_at(own: pd.DataFrame) -> list[OwnLead]:
    """:func:`own_leads` among runs of one budget (with their ``config`` keys)."""
    logit = is_logit_kd(own)
    if not logit.any():
        return []
    per = own.groupby("config")["ratio"].size()
    reference = str(per.loc[sorted(set(own.loc[logit, "config"]))].sort_values(kind="stable").index[-1])
    leads = []
    for config, gain, se in leads_over(own[["config", "ratio"]], reference, set(own.loc[logit, "config"])):
        ran = own[own["config"] == config].iloc[0]
        leads.append(OwnLead(config, pipeline_of(ran), gain, se, int(per[config]), int(per[reference]), _budget(ran)))
    return leads


def leads_over(
    scores: pd.DataFrame, reference: str, also_reference: Collection[str] = ()
) -> list[tuple[str, float, float]]:
    """``(config, gain, se)`` of each configuration of ``scores`` (``config``, ``ratio`` per run) whose mean
    leads ``reference``'s by more than :data:`OWN_Z` standard errors (:func:`gains_over`)."""
    return [(c, gain, se) for c, gain, se in gains_over(scores, reference, also_reference) if gain > OWN_Z * se]


def gains_over(
    scores: pd.DataFrame, reference: str, also_reference: Collection[str] = ()
) -> list[tuple[str, float, float]]:
    """``(config, gain, se)`` of each configuration of ``scores`` (``config``, ``ratio`` per run): its mean
    less ``reference``'s, with the standard error from the seeds' variance pooled over the
    configurations run on two or more seeds (none: nothing can be read, and none is returned);
    ``also_reference`` are configurations that are the reference under another name (logit KD's other
    prediction losses) and have no gain of their own."""
    per = scores.groupby("config")["ratio"].agg(["mean", "var", "size"])
    seeded = per[per["size"] > 1]
    if reference not in per.index or seeded.empty:
        return []
    pooled = float(np.average(seeded["var"], weights=seeded["size"] - 1))
    base = per.loc[reference]
    found = []
    for config, row in per.drop(index=[reference, *also_reference], errors="ignore").iterrows():
        se = float(np.sqrt(pooled * (1 / row["size"] + 1 / base["size"])))
        if se > 0:
            found.append((str(config), float(row["mean"] - base["mean"]), se))
    return found


def _budget(run: pd.Series) -> str:
    """A run's budget as the verdict names it."""
    examples, epochs = run.get("train_examples"), run.get("epochs")
    if pd.isna(examples) or pd.isna(epochs):
        return "their stored budget"
    return f"{int(examples):,} training examples x {int(epochs)} epochs"
