"""``autodistill data``, ``models``, ``teacher`` and ``cache``: the catalog, the model zoo, cached teachers,
the home folder's disk use."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import render
from cli.app import cache_app, data_app, journal, models_app, teacher_app
from cli.options import COLUMNS, TEACHER_BUDGET, DatasetOpt, TeacherOpt, with_flags
from engine import DataColumns


@data_app.command("list")
def data_list() -> None:
    """List the catalog's data sets with their task kinds and split sizes (none is prepared to list them)."""
    from engine import latest_split_version, list_datasets, recorded_sizes

    sizes = recorded_sizes()
    render.datasets([
        (spec, sizes.get(spec.name, {}).get(str(latest_split_version(spec.name)), {})) for spec in list_datasets()
    ])  # fmt: skip


@data_app.command("show")
@with_flags(columns=COLUMNS)
def data_show(name: str, columns: DataColumns | None) -> None:
    """Print a catalog data set's card, split sizes and label distribution; for a file or hub data set, how
    autodistill reads it (task type, splits, labels or targets), with the column flags a run would take."""
    from engine import (
        DEFAULT_TEACHER,
        TrainSettings,
        column_options,
        length_cut,
        list_datasets,
        load_task,
        show_dataset,
        show_task,
    )

    if columns is None and name in {spec.name for spec in list_datasets()}:
        render.console.print(show_dataset(name))
    else:
        task = load_task(name, **column_options(columns))
        render.console.print(show_task(task))
        cut = length_cut(task, DEFAULT_TEACHER, TrainSettings())
        if cut:
            render.console.print(f"read by {DEFAULT_TEACHER}'s tokenizer: {cut}")
        if columns is None or columns.task_type is None:
            render.console.print("the task type is inferred from the columns; --task-type sets it")


@data_app.command("prepare")
def data_prepare(name: str, force: Annotated[bool, typer.Option(help="rebuild even if cached")] = False) -> None:
    """Build a catalog data set's fixed train/dev/test splits into the cache."""
    from engine import prepare_dataset

    render.console.print(f"prepared {name} in {prepare_dataset(name, force=force)}")


@models_app.command("list")
def models_list(teacher: Annotated[str, typer.Option(help="teacher the students derive from")] = "minilm-l6") -> None:
    """Show teachers and students with parameter counts, the weights each starts from and its default rate."""
    from engine import TEACHER_SETTINGS, list_models, unset_lr

    infos = list_models(teacher)
    rates = [TEACHER_SETTINGS.lr if info.role == "teacher" else unset_lr(info.name) for info in infos]
    render.models(infos, rates)


@teacher_app.command("train")
@with_flags(settings=TEACHER_BUDGET, columns=COLUMNS)
def teacher_train(
    dataset: DatasetOpt, settings: dict[str, Any], columns: DataColumns | None, teacher: TeacherOpt = "minilm-l6"
) -> None:
    """Fine-tune a teacher on a data set (cached; resumes if interrupted)."""
    from engine import TEACHER_SETTINGS, TrainSettings, column_options, finetune_teacher, load_task, settings_apart

    data = load_task(dataset, **column_options(columns))
    chosen = TrainSettings(**{**TEACHER_SETTINGS.model_dump(), **settings})
    result = finetune_teacher(teacher, data, chosen)
    render.teacher(teacher, data.spec.name, result, settings_apart(chosen))
    journal("record_user_teacher", result, dataset=dataset)


@cache_app.command("list")
def cache_list() -> None:
    """Show what the home folder (AUTODISTILL_HOME) holds, the disk each part takes, and which are caches."""
    from autodistill import HomeFolder

    render.home_usage(HomeFolder())


@cache_app.command("clear")
def cache_clear(
    names: Annotated[list[str], typer.Argument(help="caches to clear (`cache list` names them), or all")],
    force: Annotated[bool, typer.Option(help="clear while another autodistill process uses the home")] = False,
) -> None:
    """Delete caches; each entry comes back when a command needs it. Entries another process is building stay."""
    from autodistill import HomeFolder
    from engine import human_bytes

    home = HomeFolder()
    freed, busy = home.clear(names, force=force)
    kept = f"; {len(busy)} kept, in use by another process" if busy else ""
    render.say(f"freed {human_bytes(freed)}{kept}; {human_bytes(home.free)} free now")
