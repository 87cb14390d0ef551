"""The Distiller search space (Appendix H), written in the engine's config terms."""

from __future__ import annotations

import random

import pytest

from autodistill.space import legacy
from autodistill.space.pipeline import (
    ADVICE_SPACE,
    DEFAULT_SPACE,
    Pipeline,
    SearchSpace,
    logit_kd,
    stack_from_positions,
)
from engine import AutodistillError


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
