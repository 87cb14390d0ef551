"""The fixed default pipelines: what they set in a run's config, and their names."""

from __future__ import annotations

import pytest

from autodistill.space.defaults import FIXED_DEFAULTS, fixed_default
from engine import AutodistillError, parse_config


def _config(name: str, **kwargs: bool) -> object:
    return parse_config({"dataset": "toy", **fixed_default(name, **kwargs).engine_fields()})


def test_logit_default_switches_the_intermediate_term_off() -> None:
    config = _config("logit")
    assert (config.mapping, config.inter_loss, config.augment) == (None, None, ())


def test_recipes_set_their_papers_components() -> None:
    tinybert, mi = _config("tinybert"), _config("mi-alpha")
    assert (tinybert.inter_loss, tinybert.mapping, tinybert.pred_loss) == ("mse", "skip", "ce")
    assert (mi.inter_loss, mi.alpha, mi.mapping, mi.pred_loss) == ("mi", 0.711, "skip", "ce")  # the authors' 0.9


def test_regression_takes_mse_and_unknown_names_are_refused() -> None:
    assert {fixed_default(n, regression=True).pred_loss for n in FIXED_DEFAULTS} == {"mse"}
    with pytest.raises(AutodistillError, match="fixed default"):
        fixed_default("bert-emd")
