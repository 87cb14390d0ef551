"""Name checks of a config against every component registry, where configs are parsed.

:mod:`engine.config` is a schema and imports no component; this module imports
every registry (registering their entries as a side effect) and checks the names
a config uses. :func:`parse_config` is the edge: a file, CLI flags or the meta
layer's sampled values become a :class:`DistillConfig` whose every name exists.
:func:`engine.run` checks again, for configs built in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from engine.augment import AUGMENTERS
from engine.config import DEFAULT_PIPELINE, DistillConfig, format_validation_error
from engine.errors import AutodistillError, choices_error
from engine.kd.losses import CRITICS, INTER_LOSSES, PRED_LOSSES
from engine.kd.mapping import MAPPINGS
from engine.registry import Registry
from engine.tasks import TASK_HEADS
from engine.teachers import learned, policies  # noqa: F401  (register the teacher policies)
from engine.teachers.learned import SOFT_TARGET_LOSSES
from engine.teachers.objective import TEACHER_POLICIES
from engine.tracking import TRACKERS

#: Config field -> the registry its value must name (None values mean "off" and pass).
FIELD_REGISTRIES: dict[str, Registry] = {
    "mapping": MAPPINGS,
    "inter_loss": INTER_LOSSES,
    "pred_loss": PRED_LOSSES,
    "critic": CRITICS,
}


def check_components(config: DistillConfig) -> DistillConfig:
    """Refuse, in one line, any name no registry knows (the valid names listed)."""
    for field, registry in FIELD_REGISTRIES.items():
        value = getattr(config, field)
        if value is not None and value not in registry:
            off = ["none"] if field in DEFAULT_PIPELINE else []  # the fields that `none` switches off
            raise choices_error(registry.kind, value, [*registry.listed(), *off])
    for name in config.augment:
        AUGMENTERS.get(name)
    for name in config.train.report_to:
        TRACKERS.get(name)
    if config.team is not None:
        TEACHER_POLICIES.get(config.team.mode)
        if config.team.mode == "learned" and config.pred_loss is not None:
            SOFT_TARGET_LOSSES.get(config.pred_loss)
    return config


def component_names(*, every: bool = False) -> dict[str, list[str]]:
    """Every registry's names offered to users, keyed by what the user types them into (for help and
    the meta layer); ``every``: with the names kept only so that stored runs still read."""
    registries = {**FIELD_REGISTRIES, "augment": AUGMENTERS, "team.mode": TEACHER_POLICIES, "task": TASK_HEADS,
                  "report_to": TRACKERS}  # fmt: skip
    return {field: registry.names() if every else registry.listed() for field, registry in registries.items()}


def augmenter_kinds() -> dict[str, str]:
    """Each augmentation operation's kind: ``text`` (rewrites an example's words, and stacks in order)
    or ``embedding`` (acts on the embedded batch inside the objective, so it comes after every text
    operation). What the meta layer's space needs to place a newly registered operation."""
    return {name: AUGMENTERS.get(name).kind for name in AUGMENTERS.names()}


def parse_config(
    data: dict[str, Any], source: str = "config", flag_of: Callable[[tuple[str | int, ...]], str | None] | None = None
) -> DistillConfig:
    """Validate a raw mapping: the schema (pydantic's report as one line naming the field, or the
    flag that set it: :func:`~engine.config.format_validation_error`), then every component name."""
    try:
        config = DistillConfig.model_validate(data)
    except ValidationError as exc:
        raise AutodistillError(format_validation_error(exc, source, flag_of)) from None
    return check_components(config)
