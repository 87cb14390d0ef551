"""The Distiller search space (Appendix H), written in the engine's config terms."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from autodistill.bridge import space_for
from autodistill.space import (
    ADVICE_SPACE,
    DEFAULT_SPACE,
    Pipeline,
    SearchSpace,
    legacy,
    logit_kd,
    stack_from_positions,
)
from engine import AutodistillError, component_names


def test_alpha_belongs_to_mi_only() -> None:
    assert Pipeline(inter_loss="mi", alpha=0.5).inter_level == "mi-0.5"
    assert Pipeline(inter_loss="mse", alpha=None).inter_level == "mse"
    with pytest.raises(AutodistillError, match="alpha only applies"):
        Pipeline(inter_loss="mse", alpha=0.5)
    with pytest.raises(AutodistillError, match="needs an alpha"):
        Pipeline(inter_loss="mi", alpha=None)


def test_unknown_component_names_list_the_choices() -> None:
    with pytest.raises(AutodistillError, match="choose one of: emd, last, none, skip"):
        Pipeline(mapping="diagonal")
    with pytest.raises(AutodistillError, match="bt, ca, mixup, ra"):
        Pipeline(augment=("synonym",))


def test_augmentation_policy_is_an_ordered_stack_then_mixup() -> None:
    config = Pipeline(augment=("ra", "ca", "mixup"))
    assert config.mixup and config.text_augment == ("ra", "ca")
    assert config.policy == "ra>ca+mixup"
    assert config.positions() == {"ca": 2, "ra": 1, "bt": 0}
    assert stack_from_positions(config.positions()) == ("ra", "ca")
    assert Pipeline().policy == "none"
    with pytest.raises(AutodistillError, match="applies mixup last"):
        Pipeline(augment=("mixup", "ra"))
    with pytest.raises(AutodistillError, match="repeat"):
        Pipeline(augment=("ra", "ra"))


def test_positions_must_form_a_stack() -> None:
    with pytest.raises(AutodistillError, match="not a stack"):
        stack_from_positions({"ca": 2, "ra": 0, "bt": 0})


def test_config_round_trips_through_a_dict() -> None:
    config = Pipeline(mapping="emd", inter_loss="pkd", alpha=None, pred_loss="mse", augment=("bt", "mixup"), aug_p=0.1)
    assert Pipeline.from_dict(config.to_dict()) == config
    with pytest.raises(AutodistillError, match="pipeline field"):
        Pipeline.from_dict({"augmenters": ["random"]})


def test_a_point_sets_only_the_engine_fields_that_act() -> None:
    """α for MI-α only, the augmentation knobs only with text augmentation: the rest keep the engine's defaults."""
    assert Pipeline(inter_loss="cos", alpha=None, augment=("mixup",)).engine_fields() == {
        "mapping": "skip",
        "inter_loss": "cos",
        "pred_loss": "ce",
        "augment": ["mixup"],
    }
    fields = Pipeline(alpha=0.5, augment=("ca",), aug_p=0.5, repeated_aug=4).engine_fields()
    assert (fields["alpha"], fields["aug_p"], fields["repeated_aug"]) == (0.5, 0.5, 4)


def test_the_first_vocabulary_is_read_at_the_edge_only() -> None:
    assert legacy.stack("random>contextual") == "ra>ca" == legacy.stack("ra>ca")
    key = legacy.trial_key(Pipeline(augment=("bt", "ra", "mixup")))
    assert key["augmenters"] == ["backtranslation", "random"] and key["mixup"] is True


def test_enumeration_covers_the_space_once() -> None:
    configs = list(DEFAULT_SPACE.configurations())
    # 8 intermediate levels (5 losses + MI-α at 3 α) x 3 mappings x 2 prediction losses, times
    # 2 mixup x (1 empty stack + 15 ordered stacks x 3 aug_p x 2 repeats).
    assert len(configs) == 8 * 3 * 2 * 2 * (1 + 15 * 3 * 2)
    assert len(set(configs)) == len(configs)


def test_sampling_stays_inside_the_space() -> None:
    space = SearchSpace(inter_losses=("mi",), alphas=(0.9,), max_stack=1)
    rng = random.Random(0)
    drawn = {space.sample(rng) for _ in range(300)}
    assert drawn <= set(space.configurations())
    assert {c.mapping for c in drawn} == {"skip", "last", "emd"}


def test_the_advice_space_adds_logit_kd_as_the_study_runs_it() -> None:
    advice = list(ADVICE_SPACE.configurations())
    logit = [c for c in advice if c.logit_only]
    assert set(advice) - set(logit) == set(DEFAULT_SPACE.configurations())
    # no mapping, no α and no augmentation (nothing to learn logit KD with augmentation from)
    assert logit == [logit_kd("ce"), logit_kd("mse")] and logit[0].mapping == "none" and not logit[0].augment


def test_the_papers_space_draws_as_before_and_the_advice_space_can_draw_logit_kd() -> None:
    rng = random.Random(7)
    first = [DEFAULT_SPACE.sample(rng) for _ in range(2)]  # what seed 7 drew before logit KD was an option
    assert first == [
        Pipeline(mapping="emd", inter_loss="mi", alpha=0.1, augment=("ca", "ra"), repeated_aug=4),
        Pipeline(mapping="skip", inter_loss="l2", alpha=None, augment=("ca", "bt", "ra"), aug_p=0.5),
    ]
    rng = random.Random(0)
    drawn = {ADVICE_SPACE.sample(rng) for _ in range(2000)}
    assert drawn <= set(ADVICE_SPACE.configurations())
    assert any(c.logit_only for c in drawn)


def _digest(points: list[Pipeline]) -> str:
    text = "\n".join(json.dumps(p.to_dict(), sort_keys=True) for p in points)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("space", "count", "digest", "labels"),
    [
        (DEFAULT_SPACE, 8736, "7fac3662230258b8", ("mse / skip / ce / none", "l2 / skip / ce / ra>ca>bt+mixup")),
        (ADVICE_SPACE, 8738, "d7d3cd90cc13d13d", ("mse / skip / ce / none", "l2 / skip / ce / ra>ca>bt+mixup")),
        (
            space_for("regression"),
            4368,
            "4f96b4e7c4f7a159",
            ("mse / skip / mse / none", "cos / skip / mse / ra>ca>bt+mixup"),
        ),
        (space_for("token", ADVICE_SPACE), 98, "ab6b349ba255eab9", ("mse / skip / ce / none", "ce / emd / mse / none")),
    ],
)
def test_the_enumeration_is_the_one_recommend_has_always_scored(space, count, digest, labels) -> None:
    """Frozen from the enumeration before the space's rules became one declaration: every point,
    in the same order (the order breaks ties between equal scores, and trial ids hash points)."""
    points = list(space.configurations())
    assert len(points) == count
    assert (points[0].label, points[1234 % count].label) == labels
    assert _digest(points) == digest


def test_a_seed_draws_the_sweep_it_always_drew() -> None:
    """Frozen from the sampler before the space's rules became one declaration: a sweep's trials
    (and so their trial ids and run ids) come from these draws."""
    rng = random.Random(7)
    drawn = [DEFAULT_SPACE.sample(rng) for _ in range(200)]
    assert drawn[199].label == "mi-0.1 / skip / mse / ca"
    assert _digest(drawn) == "1e4dfcc2a16c4884"


def test_optuna_asks_for_the_points_the_enumeration_holds() -> None:
    """The third reader of the declaration: each point's parameters give the point back."""
    optuna = pytest.importorskip("optuna")
    from autodistill.search.space import params_of, suggest_pipeline

    for point in [*list(ADVICE_SPACE.configurations())[::97], logit_kd("mse")]:
        assert suggest_pipeline(optuna.trial.FixedTrial(params_of(point)), ADVICE_SPACE) == point
    assert params_of(Pipeline(inter_loss="cos", alpha=None)) == {
        "inter_loss": "cos",
        "mapping": "skip",
        "pred_loss": "ce",
        "stack": "none",
        "mixup": False,
    }


def test_the_space_speaks_the_engines_vocabulary() -> None:
    engine_losses = component_names()["inter_loss"]
    assert set(DEFAULT_SPACE.inter_loss_choices()) == set(engine_losses) - {"pkd-tokens"}
    assert Pipeline(inter_loss="pkd-tokens", alpha=None).inter_level == "pkd-tokens"  # a stored point may hold it
    with pytest.raises(AutodistillError, match=r"choose one of: .*pkd-tokens"):
        Pipeline(inter_loss="kl", alpha=None)


def test_one_label_for_a_pipeline() -> None:
    assert Pipeline(alpha=0.9, augment=("ca", "mixup")).label == "mi-0.9 / skip / ce / ca+mixup"
    assert logit_kd("ce").label == "none / none / ce / none"
