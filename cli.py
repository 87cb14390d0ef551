"""The ``autodistill`` command line: a thin layer over the engine and the meta layer.

Each command parses flags, calls one library function and prints its result.
User mistakes surface as :class:`~engine.errors.AutodistillError` and are printed
as one line (exit status 2) rather than a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from engine.errors import AutodistillError

typer_app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.splitlines()[0])
data_app = typer.Typer(no_args_is_help=True, help="The offline data set catalog.")
models_app = typer.Typer(no_args_is_help=True, help="Teachers and students.")
teacher_app = typer.Typer(no_args_is_help=True, help="Teacher fine-tuning (cached).")
typer_app.add_typer(data_app, name="data")
typer_app.add_typer(models_app, name="models")
typer_app.add_typer(teacher_app, name="teacher")

console = Console()

DatasetOpt = Annotated[
    str, typer.Option("--dataset", "-d", help="catalog name, local CSV/JSONL/Parquet, or HF hub name")
]
TextCol = Annotated[str | None, typer.Option(help="column holding the text (local files / hub)")]
PairCol = Annotated[str | None, typer.Option(help="column holding the second text (pair and span tasks)")]
LabelCol = Annotated[str | None, typer.Option(help="column holding the label or target")]
TaskOpt = Annotated[
    str | None, typer.Option("--task", help="classification | regression | span (default: inferred)")
]


def _load(
    dataset: str, text_col: str | None, text_pair_col: str | None, label_col: str | None, task: str | None
):
    from engine.data import load_task

    return load_task(
        dataset, task_type=task, text_col=text_col, text_pair_col=text_pair_col, label_col=label_col
    )


# ----------------------------------------------------------------------------- data


@data_app.command("list")
def data_list() -> None:
    """List the catalog's data sets with their task kinds and sizes."""
    from engine.data import dataset_sizes, list_datasets

    table = Table("name", "kind", "labels", "train", "dev", "test", "metric")
    for spec in list_datasets():
        sizes = dataset_sizes(spec.name)
        labels = str(spec.num_labels) if spec.label_names else "-"
        table.add_row(
            spec.name,
            spec.kind,
            labels,
            *(str(sizes.get(s, "?")) for s in ("train", "dev", "test")),
            spec.metric,
        )
    console.print(table)


@data_app.command("show")
def data_show(name: str) -> None:
    """Print a data set's card, split sizes and label distribution."""
    from engine.data import show

    console.print(show(name))


@data_app.command("prepare")
def data_prepare(
    name: str, force: Annotated[bool, typer.Option(help="rebuild even if cached")] = False
) -> None:
    """Build a catalog data set's fixed train/dev/test splits into the cache."""
    from engine.data import prepare

    console.print(f"prepared {name} in {prepare(name, force=force)}")


# ----------------------------------------------------------------------------- models


@models_app.command("list")
def models_list(
    teacher: Annotated[str, typer.Option(help="teacher the students derive from")] = "minilm-l6",
) -> None:
    """Show teachers and students with parameter counts."""
    from engine.zoo import list_models

    table = Table("name", "role", "layers", "hidden", "params", "note")
    for info in list_models(teacher):
        params = f"{info.params / 1e6:.1f}M" if info.params else "-"
        table.add_row(info.name, info.role, str(info.layers), str(info.hidden), params, info.note)
    console.print(table)


# ----------------------------------------------------------------------------- teacher


@teacher_app.command("train")
def teacher_train(
    dataset: DatasetOpt,
    teacher: Annotated[str, typer.Option(help="preset, HF id or model folder")] = "minilm-l6",
    epochs: Annotated[int | None, typer.Option(help="training epochs")] = None,
    max_length: Annotated[int | None, typer.Option(help="max tokens per example")] = None,
    max_train_examples: Annotated[int | None, typer.Option(help="cap on training examples")] = None,
    text_col: TextCol = None,
    text_pair_col: PairCol = None,
    label_col: LabelCol = None,
    task: TaskOpt = None,
) -> None:
    """Fine-tune a teacher on a data set (cached; resumes if interrupted)."""
    from engine.config import TrainSettings
    from engine.finetune import TEACHER_SETTINGS, finetune_teacher

    overrides = {"epochs": epochs, "max_length": max_length, "max_train_examples": max_train_examples}
    settings = TrainSettings(**{**TEACHER_SETTINGS.model_dump(), **{k: v for k, v in overrides.items() if v}})
    data = _load(dataset, text_col, text_pair_col, label_col, task)
    result = finetune_teacher(teacher, data, settings)
    console.print(
        f"teacher {teacher} on {data.spec.name}: dev {result.metric} = {result.dev_score:.4f} "
        f"({result.train_seconds:.0f} s training) -> {result.model_dir}"
    )
    console.print(json.dumps(result.dev_metrics, indent=None))


# ----------------------------------------------------------------------------- entry point


def app(argv: list[str] | None = None) -> None:
    """Console entry point: run the Typer app, print user errors as one line."""
    try:
        typer_app(args=argv, standalone_mode=False)
    except AutodistillError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        Console(stderr=True).print("interrupted; rerun the same command to resume")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit codes
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    app()
