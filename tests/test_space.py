"""The Distiller search space (Appendix H) as typed data."""

from __future__ import annotations

import random

import pytest

from autodistill.space import DEFAULT_SPACE, DistillerConfig, SearchSpace, stack_from_positions
from engine.errors import AutodistillError


def test_alpha_belongs_to_mi_only() -> None:
    assert DistillerConfig("mi", 0.5).inter_level == "mi-0.5"
    assert DistillerConfig("mse", None).inter_level == "mse"
    with pytest.raises(AutodistillError, match="alpha only applies"):
        DistillerConfig("mse", 0.5)
    with pytest.raises(AutodistillError, match="needs an alpha"):
        DistillerConfig("mi", None)


def test_unknown_component_names_list_the_choices() -> None:
    with pytest.raises(AutodistillError, match="choose one of: emd, last, skip"):
        DistillerConfig(mapping="diagonal")
    with pytest.raises(AutodistillError, match="backtranslation, contextual, random"):
        DistillerConfig(augmenters=("synonym",))


def test_augmentation_policy_is_an_ordered_stack_then_mixup() -> None:
    config = DistillerConfig(augmenters=("random", "contextual"), mixup=True)
    assert config.policy == "random>contextual+mixup"
    assert config.positions() == {"contextual": 2, "random": 1, "backtranslation": 0}
    assert stack_from_positions(config.positions()) == ("random", "contextual")
    assert DistillerConfig().policy == "none"


def test_positions_must_form_a_stack() -> None:
    with pytest.raises(AutodistillError, match="not a stack"):
        stack_from_positions({"contextual": 2, "random": 0, "backtranslation": 0})


def test_config_round_trips_through_a_dict() -> None:
    config = DistillerConfig("pkd", None, "emd", "mse", ("backtranslation",), True, 0.1, 4)
    assert DistillerConfig.from_dict(config.to_dict()) == config


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
