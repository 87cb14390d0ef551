"""The ``autodistill`` command line: a thin layer over the engine and the meta layer.

Each command parses flags, calls one library function and prints its result.
User mistakes surface as :class:`~engine.errors.AutodistillError` and are printed
as one line (exit status 2) rather than a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from engine.errors import AutodistillError

if TYPE_CHECKING:
    from engine.config import DistillConfig

typer_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Distil big NLP models into small ones, and learn which distillation pipeline to use.",
)
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
TaskOpt = Annotated[str | None, typer.Option("--task", help="classification | regression | span (default: inferred)")]


def _load(dataset: str, text_col: str | None, text_pair_col: str | None, label_col: str | None, task: str | None):
    from engine.data import load_task

    return load_task(dataset, task_type=task, text_col=text_col, text_pair_col=text_pair_col, label_col=label_col)


# ----------------------------------------------------------------------------- data


@data_app.command("list")
def data_list() -> None:
    """List the catalog's data sets with their task kinds and sizes."""
    from engine.data import list_datasets
    from engine.data.catalog import read_prepared

    table = Table("name", "kind", "labels", "train", "dev", "test", "metric")
    for spec in list_datasets():
        sizes = read_prepared(spec.name)[1]["sizes"]
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
def data_prepare(name: str, force: Annotated[bool, typer.Option(help="rebuild even if cached")] = False) -> None:
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


# ----------------------------------------------------------------------------- distillation

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML/JSON Distiller config")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="run folder (default: under the cache)")]


def _distill_config(config: Path | None, **flags: object) -> DistillConfig:
    """File values, then flags on top; validated once. 'none' switches a component off."""
    from engine.config import load_config_file, merge_overrides, parse_config

    data = load_config_file(config) if config else {}
    for key in ("mapping", "inter_loss"):
        if flags.get(key) == "none":
            flags[key] = None
            data[key] = None
    if flags.get("augment") is not None:
        flags["augment"] = tuple(a for a in str(flags["augment"]).split(",") if a)
    merged = merge_overrides(data, flags)
    return parse_config(merged, source=str(config) if config else "flags")


def _print_run(result) -> None:
    table = Table("", "dev " + result.metric, "params", "CPU ms/example")
    table.add_row(
        "teacher",
        f"{result.teacher_score:.4f}",
        f"{result.teacher_params / 1e6:.1f}M",
        f"{result.teacher_latency_ms:.1f}",
    )
    table.add_row(
        "student",
        f"{result.student_score:.4f}",
        f"{result.student_params / 1e6:.1f}M",
        f"{result.student_latency_ms:.1f}",
    )
    console.print(table)
    console.print(
        f"distillation ratio {result.ratio:.4f} | {result.examples_per_second:.1f} train examples/s | "
        f"{result.wall_seconds:.0f} s | student saved in {result.output_dir}/student"
    )


def _run_command(kind: str):
    def command(
        config: ConfigOpt = None,
        dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="catalog name or file")] = None,
        teacher: Annotated[str | None, typer.Option(help="teacher preset, HF id or folder")] = None,
        student: Annotated[str | None, typer.Option(help="tiny|mini|small|tinybert4|layers=0,2,4|HF id")] = None,
        mapping: Annotated[str | None, typer.Option(help="skip | last | emd | none")] = None,
        inter_loss: Annotated[str | None, typer.Option(help="mse | l2 | cos | pkd | ce | mi | none")] = None,
        alpha: Annotated[float | None, typer.Option(help="MI-alpha interpolation in [0, 1]")] = None,
        critic: Annotated[str | None, typer.Option(help="MI-alpha critic: transformer | mlp")] = None,
        pred_loss: Annotated[str | None, typer.Option(help="ce | mse")] = None,
        temperature: Annotated[float | None, typer.Option(help="prediction-loss temperature")] = None,
        augment: Annotated[str | None, typer.Option(help="comma-separated augmentation stack")] = None,
        epochs: Annotated[int | None, typer.Option(help="training epochs")] = None,
        batch_size: Annotated[int | None, typer.Option(help="batch size")] = None,
        lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
        max_length: Annotated[int | None, typer.Option(help="max tokens per example")] = None,
        max_train_examples: Annotated[int | None, typer.Option(help="cap on training examples")] = None,
        seed: Annotated[int | None, typer.Option(help="random seed")] = None,
        output: OutputOpt = None,
    ) -> None:
        from engine.run import finetune, run

        cfg = _distill_config(
            config,
            dataset=dataset,
            teacher=teacher,
            student=student,
            mapping=mapping,
            inter_loss=inter_loss,
            alpha=alpha,
            critic=critic,
            pred_loss=pred_loss,
            temperature=temperature,
            augment=augment,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_length=max_length,
            max_train_examples=max_train_examples,
            seed=seed,
        )
        _print_run((run if kind == "distill" else finetune)(cfg, output_dir=output))

    return command


typer_app.command(
    "run", help="Distil a student with a Distiller pipeline (flags or --config); resumes if interrupted."
)(_run_command("distill"))
typer_app.command("finetune", help="The no-KD baseline: fine-tune the student on labels alone with the same settings.")(
    _run_command("finetune")
)


@typer_app.command("predict")
def predict_command(
    model: Annotated[Path, typer.Option(help="a student folder written by `autodistill run`")],
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV / JSONL / Parquet / TXT file")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write predictions here (CSV/JSONL)")] = None,
    text_col: Annotated[str, typer.Option(help="text column of the input")] = "text",
    text_pair_col: Annotated[str, typer.Option(help="second-text column (pair and span tasks)")] = "text_pair",
    max_length: Annotated[int, typer.Option(help="max tokens per example")] = 128,
) -> None:
    """Batch inference with a distilled student."""
    from engine.predict import predict_file

    frame = predict_file(model, input, text_col=text_col, text_pair_col=text_pair_col, max_length=max_length)
    if output is None:
        console.print(frame.to_csv(index=False), end="", markup=False, highlight=False)
    elif output.suffix == ".jsonl":
        frame.to_json(output, orient="records", lines=True)
    else:
        frame.to_csv(output, index=False)


# ----------------------------------------------------------------------------- entry point


def app(argv: list[str] | None = None) -> None:
    """Console entry point: run the Typer app, print user errors as one line."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own rich bars report progress; HF's per-load bars are noise
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
