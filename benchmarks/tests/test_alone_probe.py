"""The probe benchmark's paired reading: its cut and the choice between readings made on dev alone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.alone_probe import inner_choice, lead_cut, says_alone


def _pairs(informative: str, families: int = 10, seed: int = 0) -> pd.DataFrame:
    """Two pairs per family; no-KD wins on dev in half of them, and only ``informative`` (``probe`` or
    ``lead``) tells which: the other reading is noise. Test ratios are left out: nothing here may read them."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(families):
        for wins in (False, True):
            signal, noise = (0.03 if wins else -0.03), rng.normal(0, 0.03)
            reading = {"probe": 0.9 + noise, "lead": noise}
            reading[informative] = (0.9 if informative == "probe" else 0.0) + signal
            rows.append({"family": f"f{f}", "alone": 0.9 + signal, "logit": 0.9} | reading)
    return pd.DataFrame(rows)


def test_the_lead_cut_trains_alone_where_the_lead_says_no_kd_won() -> None:
    pairs = _pairs("lead")
    threshold = lead_cut(pairs)
    assert -0.03 < threshold <= 0.03
    assert (says_alone(pairs, pairs, "lead") == (pairs["alone"] > pairs["logit"])).all()


def test_the_inner_folds_pick_the_reading_that_carries_the_signal() -> None:
    assert inner_choice(_pairs("lead")) == "lead"
    assert inner_choice(_pairs("probe")) == "probe"


def test_pairs_without_logit_kd_at_the_probes_seed_are_left_out_of_the_lead_cut() -> None:
    pairs = _pairs("lead")
    pairs.loc[pairs.index[:4], "lead"] = np.nan
    assert np.isfinite(lead_cut(pairs))  # the pairs with a lead still set it
