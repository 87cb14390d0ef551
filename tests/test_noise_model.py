"""The meta layer's noise model and headroom table on small synthetic outcomes with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from autodistill.evaluation.headroom import behind_no_kd, headroom, headroom_arms, headroom_summary
from autodistill.evaluation.noise import (
    NO_KD,
    check_split_versions,
    difference_noise,
    latest_splits,
    mean_noise,
    noise_floor,
    paired_difference_noise,
    paired_sampling_error,
    selection_bias,
    widest_configuration,
)
from engine import AutodistillError, ExamplePredictions, SplitResolution

LOGIT = "none / none / ce / none"
EMD = "mse / emd / ce / none"
MI = "mi-0.9 / skip / ce / none"


def _outcome(dataset: str, config: str, seed: int, dev: float, test: float, version: int = 1) -> dict:
    return {
        "dataset": dataset, "student_name": "tiny", "fidelity": "realistic", "seed": seed, "configuration": config,
        "dev_ratio": dev, "test_ratio": test, "reported_ratio": test, "scored_on": "test",
        "teacher_test_score": 0.8, "split_version": version,
    }  # fmt: skip


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _seeded(dataset: str, config: str, tests: tuple[float, ...], dev: float) -> list[dict]:
    return [_outcome(dataset, config, s, dev + t / 100, t) for s, t in enumerate(tests)]


def test_noise_combines_seed_spread_and_test_sampling():
    assert mean_noise(0.03, 0.0, 9) == pytest.approx(0.01)
    assert mean_noise(0.03, 0.01, 9) == pytest.approx(math.sqrt(2) * 0.01)
    assert difference_noise(0.03, 0.01, (9, 9)) == pytest.approx(0.02)
    rows = _seeded("a", LOGIT, (0.80, 0.82, 0.78), 0.8) + _seeded("a", NO_KD, (0.70, 0.72, 0.68), 0.7)
    small = SplitResolution("a", 1, "accuracy", 100, "")
    large = SplitResolution("a", 2, "accuracy", 10_000, "")
    few, many = (noise_floor(_frame(rows), {"a": r}).iloc[0] for r in (small, large))
    assert few["seed std"] == pytest.approx(0.02) and few["test examples"] == 100
    # at the median ratio 0.75 of a teacher at 0.8: accuracy 0.6, SE sqrt(.6 * .4 / n), divided by 0.8
    assert few["sampling SE"] == pytest.approx(math.sqrt(0.6 * 0.4 / 100) / 0.8)
    assert many["sampling SE"] == pytest.approx(few["sampling SE"] / 10, rel=0.01)
    assert many["beyond noise"] and not few["beyond noise"], "100 test examples cannot resolve 0.10"


def test_seeds_needed_stops_where_test_sampling_alone_is_too_large():
    from autodistill.evaluation.noise import seeds_needed

    assert seeds_needed(0.015, 0.006, 0.01) == 4  # 0.015**2 / (0.01**2 - 0.006**2) = 3.5
    assert mean_noise(0.015, 0.006, 4) <= 0.01 < mean_noise(0.015, 0.006, 3)
    assert seeds_needed(0.004, math.nan, 0.01) == 1
    assert seeds_needed(0.001, 0.012, 0.01) is None  # only a larger test split helps
    assert seeds_needed(math.nan, 0.005, 0.01) is None


def test_selection_bias_chooses_on_one_seed_and_scores_on_the_others():
    # at each seed the configuration whose dev and test were both lucky there wins
    rows = [
        _outcome("a", EMD, 0, 0.90, 0.86), _outcome("a", EMD, 1, 0.80, 0.80), _outcome("a", EMD, 2, 0.80, 0.80),
        _outcome("a", MI, 0, 0.80, 0.80), _outcome("a", MI, 1, 0.90, 0.86), _outcome("a", MI, 2, 0.79, 0.80),
    ]  # fmt: skip
    # seed 0 picks EMD (0.86 vs 0.80 elsewhere), seed 1 MI (0.86 vs 0.80), seed 2 EMD (0.80 vs 0.83)
    assert selection_bias(_frame(rows)) == pytest.approx((0.06 + 0.06 - 0.03) / 3)
    assert math.isnan(selection_bias(_frame(rows[:3]))), "one configuration: nothing is chosen"


def test_a_mix_of_split_versions_is_refused_unless_allowed():
    frame = _frame([_outcome("a", LOGIT, 0, 0.8, 0.8, 1), _outcome("a", LOGIT, 1, 0.8, 0.8, 2)])
    with pytest.raises(AutodistillError, match=r"a: versions 1, 2.*--latest-splits.*--allow-mixed-splits"):
        check_split_versions(frame)
    assert check_split_versions(frame, allow_mixed=True) is frame
    assert list(latest_splits(frame)["seed"]) == [1] and check_split_versions(latest_splits(frame)) is not None
    other = _frame([_outcome("a", LOGIT, 0, 0.8, 0.8, 1), _outcome("b", LOGIT, 0, 0.8, 0.8, 2)])
    assert check_split_versions(other) is other, "data sets may each be on their own version"
    assert check_split_versions(other.drop(columns="split_version")) is not None


def test_headroom_names_a_lead_beyond_noise_and_says_none_elsewhere():
    rows = (
        # a: EMD leads logit KD by 0.10 with seeds agreeing to 0.01: headroom
        _seeded("a", EMD, (0.90, 0.91, 0.89), 0.9) + _seeded("a", LOGIT, (0.80, 0.81, 0.79), 0.8)
        + _seeded("a", NO_KD, (0.70, 0.71, 0.69), 0.7)
        # b: MI leads logit KD by 0.01 while seeds spread by 0.05, and no-KD by 0.2: headroom over no-KD only
        + _seeded("b", MI, (0.86, 0.81, 0.76), 0.8) + _seeded("b", LOGIT, (0.85, 0.80, 0.75), 0.7)
        + _seeded("b", NO_KD, (0.60, 0.61, 0.59), 0.6)
        # c: nothing leads anything
        + _seeded("c", MI, (0.80, 0.85, 0.75), 0.8) + _seeded("c", LOGIT, (0.81, 0.86, 0.76), 0.7)
        + _seeded("c", NO_KD, (0.80, 0.85, 0.75), 0.6)
    )  # fmt: skip
    table = headroom(_frame(rows), {}, claims={"c": "low resolution"}).set_index("dataset")
    assert table.loc["a", "best pipeline (by dev)"] == EMD and table.loc["a", "headroom"] == "over logit KD"
    assert table.loc["a", "over logit KD"] == pytest.approx(0.10)
    assert table.loc["b", "headroom"] == "over no-KD only" and table.loc["c", "headroom"] == "none"
    assert table.loc["c", "claims"] == "low resolution" and table.loc["a", "claims"] == "counted"
    assert headroom_summary(table.reset_index()).startswith("A pipeline beats logit KD beyond the noise on 1 of 2")
    nothing = headroom(_frame([r for r in rows if r["dataset"] != "a"]), {})
    assert headroom_summary(nothing).startswith("On none of the 2 (data set, student) pairs")


def test_the_summary_says_where_the_labels_alone_beat_the_best_pipeline():
    rows = (
        # a: no-KD leads the best pipeline (EMD, itself ahead of logit KD) by 0.05 with seeds agreeing to 0.01
        _seeded("a", EMD, (0.85, 0.86, 0.84), 0.9) + _seeded("a", LOGIT, (0.75, 0.76, 0.74), 0.8)
        + _seeded("a", NO_KD, (0.90, 0.91, 0.89), 0.7)
        # b: no-KD leads by 0.01 while seeds spread by 0.05: within the noise
        + _seeded("b", MI, (0.80, 0.85, 0.75), 0.8) + _seeded("b", LOGIT, (0.79, 0.84, 0.74), 0.7)
        + _seeded("b", NO_KD, (0.81, 0.86, 0.76), 0.6)
    )  # fmt: skip
    table = headroom(_frame(rows), {})
    assert behind_no_kd(table) == (
        "The student trained on the labels alone (no-KD) beats the best pipeline beyond the noise on 1 of 2: "
        "a (tiny, -0.050)."
    )
    assert headroom_summary(table).endswith(behind_no_kd(table))
    assert behind_no_kd(headroom(_frame(rows), {}, claims={"a": "retired"})) == ""


def test_the_headroom_plot_draws_every_arm_with_the_noise_of_its_mean(tmp_path):
    rows = (
        _seeded("a", EMD, (0.90, 0.91, 0.89), 0.9) + _seeded("a", LOGIT, (0.80, 0.81, 0.79), 0.8)
        + _seeded("a", NO_KD, (0.70, 0.71, 0.69), 0.7) + _seeded("b", LOGIT, (0.85, 0.80), 0.7)
    )  # fmt: skip
    arms = headroom_arms(_frame(rows), {}).set_index("arm")
    assert set(arms["dataset"]) == {"a"}, "b has nothing besides logit KD to draw"
    assert arms.loc[[NO_KD, LOGIT, EMD], "kind"].tolist() == ["no-KD", "logit KD", "pipeline"]
    assert arms.loc[EMD, "ratio"] == pytest.approx(0.90)
    assert arms.loc[EMD, "noise"] == pytest.approx(0.01 / math.sqrt(3))  # pooled seed spread, no test sampling
    from study.plots import plot_headroom

    assert plot_headroom(arms.reset_index(), tmp_path / "headroom.png").stat().st_size > 0


def test_headroom_claims_nothing_where_every_data_set_is_left_out():
    rows = _seeded("a", EMD, (0.90, 0.91, 0.89), 0.9) + _seeded("a", LOGIT, (0.80, 0.81, 0.79), 0.8)
    table = headroom(_frame(rows), {}, claims={"a": "low resolution: 300 test examples"})
    assert table.loc[0, "headroom"] == "over logit KD" and table.loc[0, "claims"].startswith("low resolution")
    assert headroom_summary(table).startswith("Every data set here is left out of pass/fail claims")


def test_the_widest_configuration_and_the_others_pooled_spread():
    steady = _seeded("d", LOGIT, (0.80, 0.82), 0.8) + _seeded("d", EMD, (0.70, 0.72, 0.74), 0.7)
    unsteady = _seeded("d", MI, (0.50, 0.90), 0.7)
    once = [_outcome("d", NO_KD, 0, 0.1, 0.1)]  # one seed: no spread to read
    label, spread, rest = widest_configuration(_frame(steady + unsteady + once))
    assert label == MI and spread == pytest.approx(0.4 / math.sqrt(2))
    assert rest == pytest.approx(math.sqrt((0.0002 + 0.0008) / 3))  # squared deviations over 1 + 2 degrees
    assert math.isnan(widest_configuration(_frame(unsteady + once))[2]) and widest_configuration(_frame(once)) is None


def _classified(correct: np.ndarray) -> ExamplePredictions:
    """Predictions of 0/1 references that are right exactly where ``correct`` says."""
    references = [i % 2 for i in range(len(correct))]
    predictions = [r if c else 1 - r for r, c in zip(references, correct, strict=True)]
    return ExamplePredictions("classification", "accuracy", predictions, references)


def test_a_paired_bootstrap_measures_the_sampling_error_two_runs_share():
    rng = np.random.default_rng(0)
    right = rng.random(2000) < 0.9
    worse = right & (rng.random(2000) > 0.02)  # the same answers, but wrong on about 2 % more examples
    first, second = _classified(right), _classified(worse)
    lost = (right & ~worse).mean()
    paired = paired_sampling_error([first], [second], teacher_score=1.0)
    assert paired == pytest.approx(math.sqrt(lost * (1 - lost) / 2000), rel=0.2)
    independent = math.hypot(*(math.sqrt(a * (1 - a) / 2000) for a in (right.mean(), worse.mean())))
    assert paired < independent / 2, "shared examples share their sampling error"
    assert paired_sampling_error([first], [first], 1.0) == 0.0
    assert paired_sampling_error([first], [second], 0.5) == pytest.approx(2 * paired), "in ratio units"
    other_split = ExamplePredictions(
        "classification", "accuracy", second.predictions, [1 - r for r in second.references]
    )
    assert math.isnan(paired_sampling_error([first], [other_split], 1.0)), "not one test split: nothing to pair"
    assert math.isnan(paired_sampling_error([], [second], 1.0))
    assert paired_difference_noise(0.03, 0.004, (9, 9)) == pytest.approx(math.sqrt(2 * 0.01**2 + 0.004**2))


def test_leads_are_paired_where_both_sides_kept_their_test_predictions():
    rng = np.random.default_rng(1)
    base = rng.random(1000) < 0.8
    rows, predictions = [], {}
    for config, extra in ((EMD, 0.1), (LOGIT, 0.0), (NO_KD, 0.0)):  # EMD right on about 2 % more examples
        for seed in range(3):
            key = f"{config}-{seed}"
            predictions[key] = _classified(base | (rng.random(1000) < extra * 0.2))
            score = predictions[key].score()
            rows.append(
                {**_outcome("a", config, seed, score, score), "teacher_test_score": 1.0, "predictions_key": key}
            )
    resolution = {"a": SplitResolution("a", 1, "accuracy", 1000, "")}
    alone = headroom(_frame(rows), resolution).iloc[0]
    paired = headroom(_frame(rows), resolution, predictions=predictions).iloc[0]
    assert alone["paired vs logit"] == "" and paired["paired vs logit"] == paired["paired vs no-KD"] == "3 / 3"
    assert paired["over logit KD"] == alone["over logit KD"] and paired["noise vs logit"] < alone["noise vs logit"] / 2
    assert alone["headroom"] == "none" and paired["headroom"] == "over logit KD"
    floor = noise_floor(_frame(rows), resolution, predictions=predictions).iloc[0]
    assert floor["paired runs"] == "3 / 3" and floor["noise of difference"] == pytest.approx(paired["noise vs no-KD"])
    assert floor["beyond noise"] and not noise_floor(_frame(rows), resolution).iloc[0]["beyond noise"]
