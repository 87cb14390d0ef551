"""``autodistill run``, ``finetune``, ``augment``, ``predict``, ``export``, ``report``: a pipeline and its student.

The pipeline flags are the config schema's fields (:data:`cli.options.RUN`), over a
``--config`` file or a recommendation's pick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli import render
from cli.app import SchemaCommand, journal, typer_app
from cli.options import (
    AUGMENT,
    EXISTING_FILE,
    EXISTING_FOLDER,
    PRETRAIN,
    RUN,
    ConfigOpt,
    OutputOpt,
    out_option,
    pipeline_config,
    with_flags,
)
from engine import AutodistillError

RecommendationOpt = Annotated[
    Path | None, typer.Option(help="run a pick of this file from `autodistill recommend`", **EXISTING_FILE)
]
PickOpt = Annotated[int, typer.Option(help="which pick of --recommendation (1 = the best)")]


@typer_app.command("run", cls=SchemaCommand)
@with_flags(flags=RUN)
def run_command(
    flags: dict[str, Any],
    config: ConfigOpt = None,
    output: OutputOpt = None,
    recommendation: RecommendationOpt = None,
    pick: PickOpt = 1,
    retrain_candidates: Annotated[
        int,
        typer.Option(
            help="learned teacher team (AutoSKDBERT): then retrain the student from scratch with N of the "
            "candidate distributions saved in phase 2 and report the best"
        ),
    ] = 0,
) -> None:
    """Distil a student with a Distiller pipeline (flags or --config); resumes if interrupted."""
    from engine import distributed, run
    from engine import retrain_candidates as retrain

    cfg = pipeline_config(config, flags, recommendation, pick)
    if retrain_candidates and (cfg.team is None or cfg.team.mode != "learned"):
        raise AutodistillError("--retrain-candidates needs a teacher team in learned mode (team: mode: learned)")
    result = run(cfg, output_dir=output)
    if distributed.is_main():  # `accelerate launch`: one report, from the main process
        render.run_result(result)
        journal("record_user_run", result)
    if retrain_candidates:
        root = Path(output or result.output_dir) / "candidates"
        render.candidates(result, retrain(cfg, result, limit=retrain_candidates, output_root=root))


@typer_app.command("finetune", cls=SchemaCommand)
@with_flags(flags=RUN)
def finetune_command(
    flags: dict[str, Any],
    config: ConfigOpt = None,
    output: OutputOpt = None,
    recommendation: RecommendationOpt = None,
    pick: Annotated[
        int | None,
        typer.Option(help="which pick of --recommendation sets the budget (default: logit KD's, as the advice)"),
    ] = None,
) -> None:
    """The no-KD baseline: fine-tune the student on labels alone with the same settings."""
    from engine import distributed, finetune

    result = finetune(pipeline_config(config, flags, recommendation, pick), output_dir=output)
    if distributed.is_main():
        render.run_result(result)
        journal("record_user_run", result)


@typer_app.command("augment", cls=SchemaCommand)
@with_flags(flags=AUGMENT)
def augment_command(
    flags: dict[str, Any],
    out: Annotated[Path, out_option("folder for the copies; pass it to a run as aug_dir")],
    copies: Annotated[int, typer.Option(help="augmented copies of the training split (K)")] = 4,
    config: ConfigOpt = None,
) -> None:
    """Pre-generate K augmented copies of the training split (TinyBERT-style) for runs to read with aug_dir."""
    from engine import load_task, pregenerate

    cfg = pipeline_config(config, flags)
    task = load_task(cfg.dataset, **cfg.data_options())
    render.augmented(pregenerate(task, cfg, copies, out), out)


@typer_app.command("pretrain")
@with_flags(config=PRETRAIN)
def pretrain_command(
    config: Any,
    out: Annotated[
        Path | None, out_option("folder to write (default: <home>/models/general/<student>-<corpus>)")
    ] = None,
) -> None:
    """Make a student well-read by general distillation on plain text; resumes if interrupted.

    It writes a Hugging Face folder that `--student FOLDER` accepts: a fresh
    shape, or tiny-gd or a folder going on to your own text."""
    from engine import pretrain

    folder, record = pretrain(config, out)
    render.pretrained(folder, record)


@typer_app.command("predict")
def predict_command(
    model: Annotated[
        Path,
        typer.Option(
            help="a student folder written by `autodistill run`, or one `autodistill export` wrote", **EXISTING_FOLDER
        ),
    ],
    input: Annotated[
        Path, typer.Option("--input", "-i", help="CSV, TSV, JSON(L), Parquet, CoNLL or TXT", **EXISTING_FILE)
    ],
    output: Annotated[Path | None, out_option("predictions file (CSV, TSV, JSON(L), Parquet: by suffix)")] = None,
    text_col: Annotated[
        str | None, typer.Option(help="text column of the input (default: the one the student was trained on)")
    ] = None,
    text_pair_col: Annotated[
        str | None, typer.Option(help="second-text column, pair and span tasks (default: as trained)")
    ] = None,
    label_col: Annotated[
        str | None,
        typer.Option(help="labels to score the predictions against (default: the run's, or a usual name if present)"),
    ] = None,
    max_length: Annotated[int | None, typer.Option(help="max tokens per example (default: as trained)")] = None,
    encoding: Annotated[
        str | None, typer.Option(help="text encoding of a CSV/JSONL/TXT input, e.g. latin-1 (default: utf-8)")
    ] = None,
    probabilities: Annotated[
        bool, typer.Option("--probabilities", help="classification: add a p_<label> column per class")
    ] = False,
) -> None:
    """Batch inference with a distilled student; an input that holds labels is also scored."""
    from engine import predict_file

    predictions = predict_file(
        model,
        input,
        text_col=text_col,
        text_pair_col=text_pair_col,
        label_col=label_col,
        max_length=max_length,
        encoding=encoding,
        probabilities=probabilities,
    )
    render.predictions(predictions, output)


@typer_app.command("export")
def export_command(
    model: Annotated[Path, typer.Option(help="a run's student folder (<run>/student)", **EXISTING_FOLDER)],
    format: Annotated[str, typer.Option("--format", help="onnx")] = "onnx",
    quantize: Annotated[str | None, typer.Option(help="also write an int8 graph (dynamic quantization): int8")] = None,
    out: Annotated[Path | None, out_option("exported folder (default: <model>-onnx beside it)")] = None,
) -> None:
    """Export a student for serving (ONNX, optionally int8), with its test score and CPU latency in the card."""
    from engine import export_model

    render.exported(export_model(model, fmt=format, quantize=quantize, out=out))


@typer_app.command("report")
def report_command(
    run: Annotated[Path, typer.Argument(help="a run folder (holding result.json)", **EXISTING_FOLDER)],
    out: Annotated[Path | None, out_option("the page (default: <run>/report.html)")] = None,
) -> None:
    """Write a run's HTML page: loss curves per Eq. 1 term, teacher/student scores and latency, config, size."""
    from engine import write_report

    render.say(f"wrote {write_report(run, out)}")
