"""The patient study's initialisation check says which way a lead goes, and whether it is noise."""

from __future__ import annotations

import pandas as pd
import pytest

from study.patient import _verdict, budget_table


@pytest.mark.parametrize(
    ("lead", "noise", "verdict"),
    [
        (0.034, 0.013, "better"),
        (-0.008, 0.001, "worse"),
        (0.004, 0.006, "within noise"),
        (0.01, float("nan"), "noise unknown"),
    ],
)
def test_a_lead_is_better_worse_or_within_noise(lead: float, noise: float, verdict: str) -> None:
    assert _verdict(lead, noise) == verdict


def test_the_map_sets_the_realistic_regime_beside_the_patient_one_on_the_same_data_sets() -> None:
    import pandas as pd

    from study.patient import regimes

    patient = pd.DataFrame({"dataset": ["a"], "student": ["tiny-gd"], "over logit KD": [0.02]})
    realistic = pd.DataFrame({"dataset": ["a", "b"], "student": ["tiny", "tiny"], "over logit KD": [0.0, 0.1]})
    both = regimes(patient, realistic)
    assert list(zip(both["dataset"], both["regime"], strict=True)) == [("a", "realistic"), ("a", "patient")]


def test_the_map_says_how_many_kd_pipelines_each_pair_chose_its_best_among() -> None:
    from study.patient import with_counts

    outcomes = pd.DataFrame(
        {
            "dataset": ["a"] * 5 + ["b"] * 3,
            "student_name": ["tiny"] * 8,
            "configuration": ["logit", "logit", "mse", "ra", "no-KD", "logit", "no-KD", "no-KD"],
        }
    )
    table = pd.DataFrame({"dataset": ["a", "b"], "student": ["tiny", "tiny"], "over logit KD": [0.01, 0.0]})
    counted = with_counts(table, outcomes)
    assert list(counted.columns) == ["dataset", "student", "KD pipelines", "over logit KD"]
    assert counted["KD pipelines"].tolist() == [3, 1]  # logit KD counted once, no-KD not at all


def test_a_finding_is_tested_where_both_sides_of_its_contrast_ran() -> None:
    import pandas as pd

    from study.patient import config_keys, findings

    mi, mse, logit = (sorted(config_keys(name))[0] for name in ("mi-alpha", "tinybert", "logit"))

    def seeded(config: str, ratios: tuple[float, ...], dataset: str = "a") -> list[dict]:
        return [
            {"dataset": dataset, "student_name": "tiny", "fidelity": "patient", "seed": seed, "configuration": config,
             "dev_ratio": ratio, "test_ratio": ratio, "reported_ratio": ratio, "scored_on": "test"}
            for seed, ratio in enumerate(ratios)
        ]  # fmt: skip

    outcomes = pd.DataFrame(
        seeded(mi, (0.90, 0.91, 0.89)) + seeded(mse, (0.80, 0.81, 0.79)) + seeded(logit, (0.85, 0.86, 0.84), "b")
    )
    table = findings(outcomes, {}, {}, "patient")
    assert list(table["dataset"]) == ["a"], "b ran neither contrast whole"
    row = table.iloc[0]
    assert row["favoured"] == "mi-alpha" and row["against"] == "tinybert" and row["lead"] == pytest.approx(0.10)
    assert row["verdict"] == "better"

    mixup = sorted(config_keys("logit-mixup"))[0]
    with_mixup = pd.concat([outcomes, pd.DataFrame(seeded(mixup, (0.75, 0.76, 0.74), "b"))])
    augmented = findings(with_mixup, {}, {}, "patient").set_index("dataset").loc["b"]
    assert (augmented["favoured"], augmented["against"]) == ("logit-mixup", "logit"), "tagging's augmentation"
    assert augmented["lead"] == pytest.approx(-0.10) and augmented["verdict"] == "worse"


def test_mi_alpha_is_also_set_against_the_best_other_loss_chosen_on_dev_and_read_on_test() -> None:
    from study.patient import config_keys, findings

    def seeded(name: str, dev: float, test: float) -> list[dict]:
        config = sorted(config_keys(name))[0]
        return [
            {"dataset": "a", "student_name": "tiny", "fidelity": "patient", "seed": seed, "configuration": config,
             "dev_ratio": dev + seed / 1000, "test_ratio": test, "reported_ratio": test, "scored_on": "test"}
            for seed in range(3)
        ]  # fmt: skip

    mse_only = pd.DataFrame(seeded("mi-alpha", 0.90, 0.90) + seeded("tinybert", 0.80, 0.80))
    assert len(findings(mse_only, {}, {}, "patient")) == 1, "one other loss: the TinyBERT contrast says it"
    outcomes = pd.concat(
        [mse_only, pd.DataFrame(seeded("cos", 0.95, 0.85) + seeded("pkd", 0.70, 0.99))], ignore_index=True
    )
    rival = findings(outcomes, {}, {}, "patient").iloc[-1]
    assert rival["finding"] == "MI-α beats the best other loss by dev (of 3)" and rival["against"] == "cos"
    assert rival["lead"] == pytest.approx(0.05), "pkd's better test ratio does not choose it"


def test_the_budget_table_sets_the_dev_gain_beside_the_test_gain_and_the_minutes() -> None:
    from autodistill.space.defaults import FIXED_DEFAULTS
    from autodistill.store.records import pipeline_columns

    def run(fidelity: str, dev: float, test: float, seconds: float, seed: int = 0, config: str = "logit") -> dict:
        return {"run_id": f"{fidelity}-{config}-{seed}", "dataset": "d", "teacher_name": "t", "student_name": "tiny",
                "split_version": 2, "task_kind": "classification", "fidelity": fidelity, "ratio": dev, "device": "cpu",
                "test_ratio": test, "wall_time_s": seconds, "epochs": 20 if fidelity == "patient" else 2,
                **pipeline_columns(FIXED_DEFAULTS[config])}  # fmt: skip

    realistic = pd.DataFrame([run("realistic", 0.90, 0.88, 10.0), run("realistic", 0.92, 0.90, 10.0, seed=1)])
    patient = pd.DataFrame([run("patient", 0.93, 0.87, 80.0), run("patient", 0.99, 0.99, 99.0, config="mi-alpha")])
    row = budget_table(realistic, patient).iloc[0]
    assert row["gain (dev)"] == pytest.approx(0.02) and row["gain (test)"] == pytest.approx(-0.02)
    assert row["minutes x"] == pytest.approx(8.0) and (row["dataset"], row["student"]) == ("d", "tiny")


def test_component_importance_is_read_only_where_the_whole_fixed_list_ran() -> None:
    import numpy as np

    from autodistill.store.database import ModelDescriptor, RunRecord, RunStore
    from autodistill.sweep.study_plan import STUDY_CONFIGS
    from study.patient import importance_table

    teacher, student = ModelDescriptor("minilm-l6", 6, 384, 22_713_216), ModelDescriptor("tiny", 2, 128, 4_400_000)
    rng = np.random.default_rng(0)
    records = []
    for dataset, configs in (("whole", STUDY_CONFIGS), ("partial", STUDY_CONFIGS[:5])):
        for seed in range(3):
            for config in configs:
                mi = config.pipeline.inter_loss == "mi"  # the loss decides, and α a little
                ratio = 0.9 + 0.05 * mi + 0.01 * (mi and config.name != "mi-alpha-low") + rng.normal(0, 0.002)
                records.append(RunRecord(dataset, "classification", config.pipeline, teacher, student, ratio, 1.0,
                                         fidelity="patient", seed=seed))  # fmt: skip
    with RunStore(":memory:") as store:
        store.add_runs(records)
        runs = store.runs()
    table = importance_table(runs, "patient")
    assert list(table["dataset"]) == ["whole"], "a partial list would confound the components"
    row = table.iloc[0]
    assert row["top"] == "l_inter" and row["l_inter"] > 0.5 and row["MI-α rank"].startswith("1 of")
    assert row["fewest seeds"] == 3  # a configuration run on fewer seeds than the rest shows here


def test_the_initialisation_check_compares_the_students_at_each_budget_apart() -> None:
    from autodistill.evaluation.noise import NO_KD
    from study.patient import initialisation_check

    def outcome(fidelity: str, student: str, ratio: float, seed: int) -> dict:
        return {"fidelity": fidelity, "dataset": "d", "student_name": student, "configuration": NO_KD, "seed": seed,
                "dev_ratio": ratio, "reported_ratio": ratio, "test_ratio": ratio, "predictions_key": None}  # fmt: skip

    rows = [outcome(f, s, base + lead * (s == "tiny-gd") + 0.001 * k, k)
            for f, base, lead in (("realistic", 0.80, 0.05), ("patient", 0.90, 0.0))
            for s in ("tiny", "tiny-gd") for k in range(3)]  # fmt: skip
    check = initialisation_check(pd.DataFrame(rows), {}, {}).set_index("budget")
    assert check.loc["realistic", "lead"] == pytest.approx(0.05) and check.loc["realistic", "verdict"] == "better"
    assert check.loc["patient", "lead"] == pytest.approx(0.0) and check.loc["patient", "verdict"] == "within noise"
