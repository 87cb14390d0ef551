"""One vocabulary: the meta layer names configurations one way, recognises logit KD one way, and takes
its component names from the engine's registries, so a component registered in the engine is a choice
of recommend's space with no line of ``autodistill/`` touched."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd

from autodistill.space import Pipeline, logit_kd
from autodistill.store.configurations import configurations, is_logit_kd, logit_kd_keys
from autodistill.store.records import pipeline_columns

MSE_RA = Pipeline(mapping="skip", inter_loss="mse", alpha=None, augment=("ra",), aug_p=0.1)
MI_MIXUP = Pipeline(mapping="emd", inter_loss="mi", alpha=0.5, pred_loss="mse", augment=("mixup",))


def test_a_stored_run_and_a_point_have_one_key() -> None:
    points = [MSE_RA, MI_MIXUP, logit_kd("ce"), Pipeline(inter_loss="cos", alpha=None, augment=("ca", "bt"))]
    stored = pd.DataFrame([pipeline_columns(p) for p in points])
    assert list(configurations(stored)) == [p.key for p in points]
    assert MSE_RA.key == "mse / skip / ce / ra p0.1" and MI_MIXUP.key == "mi-0.5 / emd / mse / mixup"


def test_augmentation_knobs_make_configurations_of_their_own() -> None:
    four = Pipeline(mapping="skip", inter_loss="mse", alpha=None, augment=("ra",), aug_p=0.1, repeated_aug=4)
    half = Pipeline(mapping="skip", inter_loss="mse", alpha=None, augment=("ra",), aug_p=0.5)
    assert len({MSE_RA.key, four.key, half.key}) == 3 and four.key.endswith("ra p0.1 x4")


def test_stored_empty_cells_read_as_no_augmentation() -> None:
    stored = pd.DataFrame([{**pipeline_columns(logit_kd("mse")), "augmentation": None, "alpha": float("nan")}])
    assert configurations(stored).iloc[0] == logit_kd("mse").key


def test_logit_kd_is_recognised_one_way_on_runs_and_on_keys() -> None:
    points = [logit_kd("ce"), logit_kd("mse"), MSE_RA, MI_MIXUP]
    stored = pd.DataFrame([pipeline_columns(p) for p in points])
    assert list(is_logit_kd(stored)) == [p.logit_only and not p.augment for p in points] == [True, True, False, False]
    assert set(configurations(stored)[is_logit_kd(stored)]) == logit_kd_keys()


REGISTER_AND_ADVISE = textwrap.dedent(
    """
    from engine.augment.base import AUGMENTERS, TextOperation
    from engine.kd.mapping import MAPPINGS, SkipMapping

    @MAPPINGS.register("first")
    class FirstMapping(SkipMapping):
        name = "first"
        def teacher_layer(self, j):
            return j

    @AUGMENTERS.register("upper")
    class Upper(TextOperation):
        name = "upper"
        def backend(self):
            return "str.upper"
        def augment(self, items, rngs):
            return [type(item)(item.text.upper(), item.span) for item in items]

    import pandas as pd
    from autodistill.advice.cost import cost_inputs, levels_by_column
    from autodistill.bridge import space_for
    from autodistill.space import ADVICE_SPACE
    from autodistill.store.records import pipeline_columns

    points = list(space_for("classification", ADVICE_SPACE).configurations())
    new = [p for p in points if p.mapping == "first" and "upper" in p.augment]
    assert new, "the registered mapping and augmenter are not in recommend's space"
    rows = pd.DataFrame([pipeline_columns(new[0])]).assign(
        student_params=1, teacher_params=2, train_examples=10, epochs=1, max_length=8, eval_examples=5,
        task_kind="classification", device="cpu", input_words=4.0, speed_probe_s=float("nan"))
    inputs = cost_inputs(rows)
    assert inputs.loc[0, "aug_upper"] == 1.0 and "first" in levels_by_column()["mapping"]
    print("advised:", new[0].key)
    """
)


def test_a_mapping_and_an_augmenter_registered_in_the_engine_enter_recommends_space() -> None:
    done = subprocess.run([sys.executable, "-c", REGISTER_AND_ADVISE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "advised: " in done.stdout and "/ first /" in done.stdout and "upper" in done.stdout
