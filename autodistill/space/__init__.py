"""The pipeline space: its points (:mod:`~autodistill.space.pipeline`), its rules and readers
(:mod:`~autodistill.space.search_space`), the fixed defaults (:mod:`~autodistill.space.defaults`) and the
vocabulary older data was written in (:mod:`~autodistill.space.legacy`)."""

from autodistill.space.pipeline import (
    DEFAULT_AUG_P,
    DEFAULT_REPEATED_AUG,
    LOGIT_ONLY,
    STACK_SEP,
    Pipeline,
    augment_of,
    configuration_key,
    inter_level,
    logit_kd,
    mappings,
    pipeline_label,
    policy_name,
    pred_losses,
    stack_from_positions,
    text_augmenters,
)
from autodistill.space.search_space import ADVICE_SPACE, DEFAULT_SPACE, SPACE_COMPONENTS, SearchSpace, acting_values

__all__ = [
    "ADVICE_SPACE",
    "DEFAULT_AUG_P",
    "DEFAULT_REPEATED_AUG",
    "DEFAULT_SPACE",
    "LOGIT_ONLY",
    "SPACE_COMPONENTS",
    "STACK_SEP",
    "Pipeline",
    "SearchSpace",
    "acting_values",
    "augment_of",
    "configuration_key",
    "inter_level",
    "logit_kd",
    "mappings",
    "pipeline_label",
    "policy_name",
    "pred_losses",
    "stack_from_positions",
    "text_augmenters",
]
