"""How much a pipeline is expected to gain over logit KD on a new data set, and how sure that is.

The study's runs say that logit KD (the prediction loss alone) is hard to beat: most pipelines
lose to it, and the few that win do so on some data sets only. Advice that costs more than logit
KD must therefore say how likely it is to pay off. This module answers with an empirical-Bayes
model of the *gain* ``g = ratio(pipeline) - ratio(logit KD)`` measured in one setting (a data set
and student at one budget class), two levels deep:

* a configuration ``c`` has a true mean gain ``m_c`` over data sets; a new data set's gain is
  ``m_c`` plus a data-set effect of variance ``tau²`` (seed noise and test-sampling error included,
  as each observed gain carries them);
* ``m_c`` itself is drawn around what its components predict (a ridge fit over mapping,
  intermediate loss, prediction loss and augmentation), with variance ``sigma0²``.

A configuration run on ``n`` settings gets the precision-weighted blend of its own mean gain and its
components' prediction; one never run gets the components' prediction and the widest interval.
So the interval widens where few runs back a configuration and shrinks it toward what is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import Ridge

from autodistill.space import Pipeline, inter_level, policy_name
from autodistill.store.records import pipeline_columns

#: The interval recommend prints and the held-out evaluation checks the coverage of.
LEVEL = 0.8
#: The floor on either variance, so that one lucky configuration cannot claim certainty.
_MIN_VARIANCE = 1e-5
#: A component's ridge penalty: a level seen in few configurations stays near the overall mean.
_RIDGE_ALPHA = 3.0


def pipeline_key(row: pd.Series | Pipeline) -> str:
    """One configuration, as a stored run or a space point: its label plus the augmentation knobs,
    which only act with text augmentation (``repeated_aug`` variants are configurations)."""
    if isinstance(row, Pipeline):
        label, knobs = row.label, (row.aug_p, row.repeated_aug) if row.text_augment else ()
    else:
        stack = "" if pd.isna(row["augmentation"]) else str(row["augmentation"])
        alpha = None if pd.isna(row["alpha"]) else float(row["alpha"])
        label = f"{inter_level(row['inter_loss'], alpha)} / {row['mapping']} / {row['pred_loss']} / "
        label += policy_name(stack, bool(row["mixup"]))
        knobs = (float(row["aug_p"]), int(row["repeated_aug"])) if stack else ()
    return label + "".join(f" @{k:g}" for k in knobs)


def is_logit_kd(runs: pd.DataFrame) -> pd.Series:
    """Rows that ran logit KD: no intermediate term, no augmentation (either prediction loss)."""
    plain = runs["augmentation"].fillna("") == ""
    return (runs["inter_loss"] == "none") & plain & ~runs["mixup"].astype(bool)


#: The stored runs' columns that say which components a configuration has.
_COMPONENT_COLUMNS = ["inter_loss", "alpha", "mapping", "pred_loss", "augmentation", "mixup"]


def observed_gains(runs: pd.DataFrame, score: str = "test_ratio") -> pd.DataFrame:
    """One row per (configuration, setting) with a logit KD run to compare against: the mean ``score``
    over seeds, minus logit KD's mean in the same setting (data set, student, fidelity, split version:
    scores on two versions of a data set's test split are never subtracted)."""
    runs = runs.dropna(subset=[score]).copy()
    version = runs["split_version"].fillna(1).astype(int).astype(str) if "split_version" in runs else "1"
    fidelity = runs["fidelity"].fillna("-")
    runs["setting"] = runs["dataset"] + "|" + runs["student_name"] + "|" + fidelity + "|v" + version
    logit = runs[is_logit_kd(runs)].groupby("setting")[score].mean()
    runs = runs[runs["setting"].isin(logit.index) & ~is_logit_kd(runs)]
    runs["config"] = runs.apply(pipeline_key, axis=1)
    mean = runs.groupby(["config", "setting", "dataset"], as_index=False)[score].mean()
    mean["gain"] = mean[score] - mean["setting"].map(logit)
    firsts = runs.drop_duplicates("config").set_index("config")
    return mean.join(firsts[_COMPONENT_COLUMNS], on="config")[
        ["config", "setting", "dataset", "gain", *_COMPONENT_COLUMNS]
    ]


def _design(frame: pd.DataFrame) -> pd.DataFrame:
    """The components as model inputs: one-hot levels, and the augmentation as what it holds."""
    aug = frame["augmentation"].fillna("")
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
    for op in ("ca", "ra", "bt"):
        design[f"aug_{op}"] = aug.str.contains(op).to_numpy().astype(float)
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
        rows = pd.DataFrame([{"config": pipeline_key(p), **pipeline_columns(p)} for p in pipelines])
        return self.estimate_rows(rows)

    def estimate_rows(self, rows: pd.DataFrame) -> list[GainEstimate]:
        """:meth:`estimate` for configurations given as rows: a ``config`` key and the component columns."""
        prior = self.prior.predict(_design(rows.reset_index(drop=True)).reindex(columns=self.columns, fill_value=0.0))
        z = float(norm.ppf(0.5 + LEVEL / 2))
        out = []
        for key, m0 in zip(rows["config"], prior, strict=True):
            seen = self.configs.loc[key] if key in self.configs.index else None
            n = 0 if seen is None else int(seen["n"])
            precision = 1 / self.sigma02 + n / self.tau2
            mean = (m0 / self.sigma02 + (0.0 if seen is None else n * float(seen["mean"]) / self.tau2)) / precision
            half = z * float(np.sqrt(1 / precision + self.tau2))
            out.append(GainEstimate(float(mean), float(mean - half), float(mean + half), n))
        return out
