"""The replayed trial on a data set's own runs: what it tries, what the own-runs rule picks, what it costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_advice import EMD, LOGIT, MI, _row, _table

from autodistill.evaluation.own_trial import own_trials


def _runs() -> pd.DataFrame:
    """Six other data sets where EMD gains 0.03 and MI nothing; on ``own`` it is the other way round
    (MI leads logit KD by 0.03 on dev and test, three seeds; by 0.025 on a fourth), and a run there costs
    30 s, EMD's 60 s."""
    others = _table(6, {EMD: 0.03, MI: 0.0}, noise=0.005)
    noise = np.array([0.0, 0.003, -0.003])
    own = [
        _row("own", pipeline, 0.85 + gain + noise[s], s, seconds=60.0 if pipeline == EMD else 30.0)
        for pipeline, gain in [(LOGIT, 0.0), (MI, 0.03), (EMD, 0.0)]
        for s in range(3)
    ]
    later = [_row("own", pipeline, 0.85 + gain, 3) for pipeline, gain in [(LOGIT, 0.0), (MI, 0.025)]]
    runs = pd.concat([others, pd.DataFrame(own + later)], ignore_index=True)
    return runs.assign(ratio=runs["test_ratio"], teacher_name="minilm-l6")


def test_a_trial_finds_on_the_data_sets_own_runs_what_other_data_sets_do_not_point_to() -> None:
    trials = own_trials(_runs(), lambda name: name, alternatives=(1, None), seeds=(3, 6))
    own = trials[trials["dataset"] == "own"].set_index("asked")
    assert list(own.index) == ["1", "all"], "six seeds: none ran, so no trial is replayed with them"
    first, whole = own.loc["1"], own.loc["all"]
    assert first["tried"] == EMD.key, "the other data sets rank EMD first"
    assert first["pick_is_logit"] and first["gain"] == 0.0
    assert whole["pick"] == MI.key and whole["gain"] == pytest.approx(0.03)
    assert whole["gain_later_seeds"] == pytest.approx(0.025), "the seed the choice did not see"
    assert first["gain_later_seeds"] == 0.0  # logit KD picked: against itself
    assert first["cost_x_logit"] == pytest.approx(3 * (1 + 2))  # logit KD and EMD (twice its time), 3 seeds
    assert whole["cost_x_logit"] == pytest.approx(3 * (1 + 2 + 1))
