"""The probe-calibration benchmark's arithmetic: the split of residual variance, the shift a probe implies,
and the band's own sampling noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom

from autodistill.advice.gain import GainModel
from benchmarks.probe_intervals import in_band_chance, intervals, setting_spread

_CONFIGS = {"mse / skip / ce / none": ("mse", "skip"), "cos / skip / ce / none": ("cos", "skip"),
            "pkd / skip / ce / none": ("pkd", "skip"), "mse / last / ce / none": ("mse", "last")}  # fmt: skip


def _gains(shifts: list[float], rng: np.random.Generator) -> pd.DataFrame:
    """Each configuration's gain in each setting: a per-configuration mean, the setting's shift, small noise."""
    rows = []
    for s, shift in enumerate(shifts):
        for c, (config, (inter, mapping)) in enumerate(_CONFIGS.items()):
            rows.append({"config": config, "setting": f"d{s}|tiny|realistic|v2", "dataset": f"d{s}",
                         "gain": -0.01 * c + shift + rng.normal(0, 0.002), "inter_loss": inter, "alpha": None,
                         "mapping": mapping, "pred_loss": "ce", "augmentation": "", "mixup": False})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_setting_wide_shift_is_read_as_shift_not_as_spread_within() -> None:
    rng = np.random.default_rng(0)
    gains = _gains([-0.04, -0.02, 0.0, 0.02, 0.04, 0.06], rng)
    model = GainModel.fit(gains)
    shift, within = setting_spread(model, gains)
    assert shift > 10 * within
    assert within < 0.01**2  # what is left: seed noise and the shrunken configuration means


def test_probes_above_their_prediction_shift_the_other_configurations_up() -> None:
    rng = np.random.default_rng(1)
    training = _gains([-0.04, -0.02, 0.0, 0.02, 0.04], rng)
    model = GainModel.fit(training)
    target = _gains([0.05], rng)
    probes, held = target.iloc[:2], target.iloc[2:].reset_index(drop=True)
    found = intervals(model, probes, held, setting_spread(model, training), prior_weight=2.0)
    prior_mean, prior_var = found["prior"]
    shifted_mean, shifted_var = found["shifted"]
    assert np.all(shifted_mean - prior_mean > 0.03)  # most of the +0.05 shift, little shrunk
    assert np.all(shifted_var < prior_var)
    assert np.all(np.abs(shifted_mean - held["gain"].to_numpy()) < np.abs(prior_mean - held["gain"].to_numpy()))


def test_the_bands_chance_is_the_binomial_mass_between_its_ends() -> None:
    # 20 gains: coverage 0.70-0.90 is 14 to 18 inside
    assert abs(in_band_chance(20) - sum(binom.pmf(k, 20, 0.8) for k in range(14, 19))) < 1e-12
    assert in_band_chance(200) > in_band_chance(20)
