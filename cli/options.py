"""Options shared by several commands, declared once.

Two kinds:

* single options (``--store``, ``--dataset``, ``--description``...) are ``Annotated``
  aliases a command names as a parameter type;
* groups of config fields (the training budget, a file's column mapping, a run's
  whole pipeline) are :class:`SchemaFlags`: generated from the pydantic schema
  (:class:`engine.DistillConfig`, :class:`engine.TrainSettings`,
  :class:`engine.DataColumns`), so a flag has the field's name, type, description
  and default, and a value means on the command line what it means in a config
  file. :func:`with_flags` puts a group's flags into a command's signature (Typer
  builds options from signatures) and hands the command the values given as one
  argument.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from engine import (
    PRETRAINED_STUDENTS,
    STUDENT_PRESETS,
    DataColumns,
    DistillConfig,
    PretrainConfig,
    TrainSettings,
)

# -- single options ----------------------------------------------------------------------------------

#: What an input path must be, checked by the parser before a command starts (one usage line naming
#: the path otherwise): an existing file, or an existing folder.
EXISTING_FILE: dict[str, Any] = {"exists": True, "dir_okay": False, "readable": True}
EXISTING_FOLDER: dict[str, Any] = {"exists": True, "file_okay": False}

DatasetOpt = Annotated[
    str,
    typer.Option("--dataset", "-d", help="catalog name, local CSV/TSV/JSON(L)/Parquet, or HF hub name"),
]
StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="runs store (SQLite) file (default: <autodistill home>/runs.sqlite)")
]
SourceOpt = Annotated[str, typer.Option(help="whose runs: ours (sweeps) | paper (the authors' 1,239)")]
DescriptionOpt = Annotated[
    str | None,
    typer.Option(help="one or two sentences: what the task asks and how its input looks (default: the data card's)"),
]
BaselineOpt = Annotated[str, typer.Option(help="baseline-score model: bilstm (the paper's) | linear (faster)")]
TeacherOpt = Annotated[str, typer.Option(help="teacher preset, HF id or model folder")]
StudentOpt = Annotated[
    str,
    typer.Option(help=f"{'|'.join([*STUDENT_PRESETS, *PRETRAINED_STUDENTS])}|layers=0,2,4|HF id|folder (models list)"),
]
SeedOpt = Annotated[int, typer.Option(help="seed of the random configurations")]
TimeLimitOpt = Annotated[float, typer.Option(help="AutoGluon seconds to train a predictor")]
DesignOpt = Annotated[
    str | None,
    typer.Option(
        help="predictor design, by name (an unknown name lists the known ones; default: the nested evaluation's winner)"
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML/JSON Distiller config", **EXISTING_FILE)]


def out_option(help: str) -> Any:
    """The path a command writes, named ``--out`` with ``--output`` and ``-o`` as the same flag: every command
    takes each spelling, so one learned on ``run -o`` is not refused by ``recommend`` or ``export``."""
    return typer.Option("--out", "--output", "-o", help=help)


OutputOpt = Annotated[Path | None, out_option("run folder (default: under the cache)")]


# -- groups of config fields -------------------------------------------------------------------------

#: Flag spellings that differ from the field name (``--task`` for ``task_type``...).
FLAG_NAMES: dict[str, tuple[str, ...]] = {
    "dataset": ("--dataset", "-d"),
    "task_type": ("--task", "--task-type"),
    "aug_workers": ("--aug-workers", "--workers"),
    "teacher_cache": ("--teacher-cache/--no-teacher-cache",),  # a switch both ways: the default is on
}

#: The help panel of each model's flags: the block of a config file the value goes to.
PANELS: dict[type[BaseModel], str] = {
    DistillConfig: "Pipeline (config file: top level)",
    TrainSettings: "Training (config file: train)",
    DataColumns: "Columns of a local file or hub data set (config file: columns)",
    PretrainConfig: "General distillation",
}

#: Fields holding registry names: ``--help`` lists the names (see :class:`cli.app.SchemaCommand`).
COMPONENT_FIELDS = ("mapping", "inter_loss", "pred_loss", "critic", "augment", "report_to")


def _flag_type(annotation: Any) -> type | None:
    """The command-line type of a field (``str | None`` -> str, a Literal -> its values' type,
    ``tuple[str, ...]`` -> str, split by the schema); None for nested blocks a file sets (``team``)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _flag_type(rest[0]) if len(rest) == 1 else None
    if typing.get_origin(annotation) is Literal:
        return type(args[0])
    if typing.get_origin(annotation) is tuple:
        return str if args and args[0] is str else None
    return annotation if annotation in (str, int, float, bool) else None


def _help(name: str, info: FieldInfo, show_default: bool) -> str:
    """The field's description (or its name), its Literal choices, and the schema's default."""
    text = info.description or name.replace("_", " ")
    if typing.get_origin(info.annotation) is Literal:
        text += f" ({' | '.join(map(str, typing.get_args(info.annotation)))})"
    if typing.get_origin(info.annotation) is tuple:
        text += " (comma-separated, in order)"
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    if show_default and default not in (None, ()) and "(unset:" not in text:  # it says what unset means
        text += f" (default: {default})"
    return text


@dataclass(frozen=True)
class SchemaFlags:
    """Flags generated from config fields; :meth:`given` reads back the values passed.

    Every flag defaults to None, "not given", so that a config file, a recommendation's
    pick or the schema's default applies; ``panel`` (default: the model's, :data:`PANELS`)
    and ``show_defaults`` let a group say whose defaults apply (a teacher's settings are
    not the schema's).
    """

    fields: tuple[tuple[type[BaseModel], str], ...]
    panel: str | None = None
    show_defaults: bool = True
    build: Callable[[dict[str, Any]], Any] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, model: type[BaseModel], *names: str, **options: Any) -> SchemaFlags:
        """The flags of ``names`` (default: every field with a command-line type) of ``model``."""
        names = names or tuple(n for n, f in model.model_fields.items() if _flag_type(f.annotation) is not None)
        return cls(tuple((model, name) for name in names), **options)

    def __add__(self, other: SchemaFlags) -> SchemaFlags:
        return SchemaFlags(self.fields + other.fields, self.panel, self.show_defaults, self.build)

    def parameters(self) -> list[inspect.Parameter]:
        """One keyword parameter per field, typed ``Annotated[T | None, typer.Option(...)] = None``."""
        params = []
        for model, name in self.fields:
            info = model.model_fields[name]
            flag_type = _flag_type(info.annotation)
            if flag_type is None:
                raise TypeError(f"{model.__name__}.{name} has no command-line type")
            option = typer.Option(
                *FLAG_NAMES.get(name, (f"--{name.replace('_', '-')}",)),
                help=_help(name, info, self.show_defaults),
                show_default=False,
                rich_help_panel=self.panel or PANELS[model],
            )
            annotation = Annotated[flag_type | None, option]
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
        return params

    def given(self, values: dict[str, Any]) -> Any:
        """Remove this group's values from ``values``; the ones given (not None), built if asked."""
        chosen = {name: values.pop(name) for _, name in self.fields}
        chosen = {name: value for name, value in chosen.items() if value is not None}
        return self.build(chosen) if self.build is not None else chosen


F = TypeVar("F", bound=Callable[..., Any])


def with_flags(**groups: SchemaFlags) -> Callable[[F], F]:
    """Replace each parameter named in ``groups`` by that group's flags in the signature Typer
    reads; the command receives the group's :meth:`SchemaFlags.given` result under that name."""

    def decorate(func: F) -> F:
        hints = typing.get_type_hints(func, include_extras=True)
        own = [
            param.replace(annotation=hints.get(name, param.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
            for name, param in inspect.signature(func).parameters.items()
            if name not in groups
        ]
        generated = [param for group in groups.values() for param in group.parameters()]

        def command(**values: Any) -> Any:
            for name, group in groups.items():
                values[name] = group.given(values)
            return func(**values)

        command.__signature__ = inspect.Signature(own + generated)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in own + generated}
        for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(command, attribute, getattr(func, attribute))
        return typing.cast(F, command)

    return decorate


def _columns(given: Mapping[str, Any]) -> DataColumns | None:
    """A file's column mapping as a run's config records it; None when no flag was given."""
    return DataColumns(**given) if given else None


def _budget(given: Mapping[str, Any]) -> TrainSettings:
    from autodistill import make_budget

    return make_budget(**given)


#: The training budget a meta command gives each run (its seed flag is the configurations' seed).
BUDGET_FIELDS = ("epochs", "batch_size", "lr", "max_length", "max_train_examples", "max_eval_examples", "report_to")
BUDGET = SchemaFlags.of(TrainSettings, *BUDGET_FIELDS, panel="Per-trial budget", build=_budget)
#: The same flags over a teacher's own fine-tuning settings (engine.TEACHER_SETTINGS), as given.
TEACHER_BUDGET = replace(BUDGET, panel="Teacher fine-tuning settings", show_defaults=False, build=None)
#: How a local file or hub data set maps onto its task.
COLUMNS = SchemaFlags.of(DataColumns, build=_columns)
#: Every flag of a run: the pipeline, its training settings and the file's columns.
RUN = SchemaFlags.of(DistillConfig) + SchemaFlags.of(TrainSettings) + SchemaFlags.of(DataColumns)
#: What ``autodistill augment`` reads of a pipeline: its data, its augmentation and the sampling seed.
AUGMENT = (
    SchemaFlags.of(DistillConfig, "dataset", "augment", "aug_p", "ca_model", "bt_model", "bt_pivot", "aug_workers")
    + SchemaFlags.of(TrainSettings, "max_train_examples", "seed")
    + SchemaFlags.of(DataColumns)
)

#: ``autodistill pretrain``: the student, its teacher, the corpus and the schedule.
PRETRAIN = SchemaFlags.of(PretrainConfig, build=lambda given: PretrainConfig(**given))


def pipeline_config(
    config: Path | None, flags: Mapping[str, Any], recommendation: Path | None = None, pick: int | None = 1
) -> DistillConfig:
    """A run's config as a file (or a recommendation's pick) gives it with the flags on top,
    validated once by the schema, the same way whichever way a value came; ``pick`` None: the
    recommendation's config for training the student alone."""
    from engine import AutodistillError, load_config_file, merge_overrides, parse_config

    if recommendation is not None:
        from autodistill import load_recommendation

        if config is not None:
            raise AutodistillError("give --config or --recommendation, not both")
        advice = load_recommendation(recommendation)
        base = advice.alone_engine() if pick is None else advice.pick(pick).engine
    else:
        base = load_config_file(config) if config else {}
    if config is not None or recommendation is not None:
        return parse_config(merge_overrides(base, dict(flags)), source=str(config or recommendation))
    return parse_config(merge_overrides(base, dict(flags)), source="flags", flag_of=partial(flag_of, given=set(flags)))


def flag_of(loc: tuple[str | int, ...], given: Collection[str]) -> str | None:
    """The flag that set the field at a validation error's ``loc``: None where no flag in ``given``
    (field names, or the flags as typed) did, so a value read from a file is never blamed on a flag."""
    name = next((str(part) for part in reversed(loc) if isinstance(part, str)), None)
    flag = None if name is None else FLAG_NAMES.get(name, (f"--{name.replace('_', '-')}",))[0]
    return flag if flag is not None and (name in given or flag in given) else None
