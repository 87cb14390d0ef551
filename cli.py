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

from engine.errors import AutodistillError, choices_error

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


def _columns(text_col: str | None, text_pair_col: str | None, label_col: str | None, task: str | None):
    """A file's column mapping from the flags, as a run's config records it; None when none was given."""
    from engine.config import DataColumns

    given = {"task_type": task, "text_col": text_col, "text_pair_col": text_pair_col, "label_col": label_col}
    given = {k: v for k, v in given.items() if v is not None}
    return DataColumns(**given) if given else None


def _load(dataset: str, columns, description: str | None = None):
    from engine.data import load_task

    return load_task(dataset, description=description, **(columns.model_dump() if columns else {}))


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
    from engine.models.zoo import list_models

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
    from engine.training.finetune import TEACHER_SETTINGS, finetune_teacher

    overrides = {"epochs": epochs, "max_length": max_length, "max_train_examples": max_train_examples}
    settings = TrainSettings(**{**TEACHER_SETTINGS.model_dump(), **{k: v for k, v in overrides.items() if v}})
    data = _load(dataset, _columns(text_col, text_pair_col, label_col, task))
    result = finetune_teacher(teacher, data, settings)
    console.print(
        f"teacher {teacher} on {data.spec.name}: dev {result.metric} = {result.dev_score:.4f} "
        f"({result.train_seconds:.0f} s training) -> {result.model_dir}"
    )
    console.print(json.dumps(result.dev_metrics, indent=None))


# ----------------------------------------------------------------------------- distillation

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML/JSON Distiller config")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="run folder (default: under the cache)")]


def _distill_config(config: Path | None, base: dict | None = None, **flags: object) -> DistillConfig:
    """File values (or ``base``), then flags on top; validated once. 'none' switches a component off."""
    from engine.config import load_config_file, merge_overrides, parse_config

    data = load_config_file(config) if config else dict(base or {})
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
        text_col: TextCol = None,
        text_pair_col: PairCol = None,
        label_col: LabelCol = None,
        task: TaskOpt = None,
        output: OutputOpt = None,
        recommendation: Annotated[
            Path | None, typer.Option(help="run a pick of this file from `autodistill recommend`")
        ] = None,
        pick: Annotated[int, typer.Option(help="which pick of --recommendation (1 = the best)")] = 1,
        retrain_candidates: Annotated[
            int,
            typer.Option(
                help="learned teacher team (AutoSKDBERT): then retrain the student from scratch with N of the "
                "candidate distributions saved in phase 2 and report the best"
            ),
        ] = 0,
    ) -> None:
        from engine.training import distributed
        from engine.pipelines.run import finetune, run

        base = None
        if recommendation is not None:
            from autodistill.recommend import load_recommendation

            if config is not None:
                raise AutodistillError("give --config or --recommendation, not both")
            base = load_recommendation(recommendation).pick(pick).engine
        cfg = _distill_config(
            config,
            base,
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
            text_col=text_col,
            text_pair_col=text_pair_col,
            label_col=label_col,
            task_type=task,
        )
        if retrain_candidates and (kind != "distill" or cfg.team is None or cfg.team.mode != "learned"):
            raise AutodistillError("--retrain-candidates needs a teacher team in learned mode (team: mode: learned)")
        result = (run if kind == "distill" else finetune)(cfg, output_dir=output)
        if distributed.is_main():  # `accelerate launch`: one report, from the main process
            _print_run(result)
        if retrain_candidates:
            _retrain(cfg, result, retrain_candidates, output)

    return command


def _retrain(cfg: DistillConfig, learned, limit: int, output: Path | None) -> None:
    """AutoSKDBERT's reported result (§3.3): the best student retrained with a fixed candidate θ."""
    from engine.teachers.learned import retrain_candidates

    root = Path(output or learned.output_dir) / "candidates"
    runs = retrain_candidates(cfg, learned, limit=limit, output_root=root)
    table = Table("phase-2 step", "θ (team order)", "dev " + learned.metric, "ratio", title="candidates retrained")
    for candidate in runs:
        table.add_row(
            str(candidate.step),
            ", ".join(f"{x:.3f}" for x in candidate.theta),
            f"{candidate.result.student_score:.4f}",
            f"{candidate.result.ratio:.4f}",
        )
    console.print(table)
    best = runs[0]
    console.print(
        f"best candidate: step {best.step}, dev {learned.metric} {best.result.student_score:.4f} "
        f"(learned run itself {learned.student_score:.4f}); student in {best.result.output_dir}/student",
        highlight=False,
    )


typer_app.command(
    "run", help="Distil a student with a Distiller pipeline (flags or --config); resumes if interrupted."
)(_run_command("distill"))
typer_app.command("finetune", help="The no-KD baseline: fine-tune the student on labels alone with the same settings.")(
    _run_command("finetune")
)


@typer_app.command("augment")
def augment_command(
    out: Annotated[Path, typer.Option("--out", help="folder for the copies; pass it to a run as aug_dir")],
    copies: Annotated[int, typer.Option(help="augmented copies of the training split (K)")] = 4,
    config: ConfigOpt = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="catalog name or file")] = None,
    augment: Annotated[str | None, typer.Option(help="comma-separated stack, e.g. ca,ra,bt")] = None,
    aug_p: Annotated[float | None, typer.Option(help="share of words each operation changes")] = None,
    max_train_examples: Annotated[int | None, typer.Option(help="cap on training examples")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (the same seed as live augmentation)")] = None,
    workers: Annotated[int | None, typer.Option(help="augmentation worker processes (0: in this process)")] = None,
) -> None:
    """Pre-generate K augmented copies of the training split (TinyBERT-style) for runs to read with aug_dir."""
    from engine.augment.pregenerated import pregenerate
    from engine.data.loaders import load_task

    cfg = _distill_config(
        config,
        dataset=dataset,
        augment=augment,
        aug_p=aug_p,
        max_train_examples=max_train_examples,
        seed=seed,
        aug_workers=workers,
    )
    manifest = pregenerate(load_task(cfg.dataset), cfg, copies, out)
    kept = sum(c["examples"] for c in manifest["counts"])
    dropped = sum(sum(c["dropped"].values()) for c in manifest["counts"])
    console.print(
        f"wrote {copies} augmented copies of {manifest['source_examples']} examples ({kept} kept, {dropped} dropped "
        f"as invalid for the task) with {', '.join(manifest['text_ops'])} to {out}; run with aug_dir: {out} and "
        f"the same augment stack and seed",
        highlight=False,
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
    from engine.pipelines.predict import predict_file

    frame = predict_file(model, input, text_col=text_col, text_pair_col=text_pair_col, max_length=max_length)
    if output is None:
        console.print(frame.to_csv(index=False), end="", markup=False, highlight=False)
    elif output.suffix == ".jsonl":
        frame.to_json(output, orient="records", lines=True)
    else:
        frame.to_csv(output, index=False)


# ----------------------------------------------------------------------------- meta layer (AutoDistiller)

runs_app = typer.Typer(no_args_is_help=True, help="The runs store: import the authors' runs, export to CSV/Parquet.")
typer_app.add_typer(runs_app, name="runs")
study_app = typer.Typer(no_args_is_help=True, help="This project's Distiller study: ship its runs, write its report.")
typer_app.add_typer(study_app, name="study")

StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="runs store (SQLite) file (default: <autodistill home>/runs.sqlite)")
]
SourceOpt = Annotated[str, typer.Option(help="whose runs: ours (sweeps) | paper (the authors' 1,239)")]
DescriptionOpt = Annotated[
    str | None,
    typer.Option(help="one or two sentences: what the task asks and how its input looks (default: the data card's)"),
]
BaselineOpt = Annotated[str, typer.Option(help="baseline-score model: bilstm (the paper's) | linear (faster)")]
EpochsOpt = Annotated[int | None, typer.Option(help="per-trial budget: training epochs")]
MaxTrainOpt = Annotated[int | None, typer.Option(help="per-trial budget: cap on training examples")]
MaxEvalOpt = Annotated[int | None, typer.Option(help="per-trial budget: cap on dev examples scored")]
MaxLengthOpt = Annotated[int | None, typer.Option(help="per-trial budget: max tokens per example")]
BatchSizeOpt = Annotated[int | None, typer.Option(help="per-trial budget: batch size")]
LrOpt = Annotated[float | None, typer.Option(help="per-trial budget: learning rate")]
SeedOpt = Annotated[int, typer.Option(help="seed of the random configurations")]


def _open_store(path: Path | None, *, must_exist: bool = False):
    """The runs store; a named file that is missing is refused for commands that only read."""
    from autodistill.store import RunStore

    if must_exist and path is not None and not path.exists():
        raise AutodistillError(
            f"no runs store at {path}; fill one with `autodistill runs import` or `autodistill sweep` (--store {path})"
        )
    return RunStore(path)


def _load_described(dataset: str, description: str | None, columns):
    """A data set for the meta layer, with its description (the task embedding's source) checked."""
    if description is not None and not description.strip():
        raise AutodistillError(
            "--description is empty; describe the task in one or two plain sentences "
            "(what it asks and how its input looks): the task embedding is built from it"
        )
    data = _load(dataset, columns, description)
    if description is None and data.spec.description.startswith("User-provided "):
        console.print(
            f"note: {data.spec.name} has no description, so the task embedding is built from "
            f"{data.spec.description!r}; pass --description for a better one",
            highlight=False,
        )
    return data


def _budget(**fields: int | None):
    from autodistill.bridge import make_budget

    return make_budget(**fields)


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _frame_table(frame, title: str | None = None, digits: int = 3) -> Table:
    table = Table(*[str(c) for c in frame.columns], title=title)
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v, digits) for v in row))
    return table


@typer_app.command("features")
def features_command(
    dataset: DatasetOpt,
    description: DescriptionOpt = None,
    baseline: BaselineOpt = "bilstm",
    save: Annotated[bool, typer.Option(help="store them in the runs store (recommend and sweeps reuse them)")] = True,
    store: StoreOpt = None,
    text_col: TextCol = None,
    text_pair_col: PairCol = None,
    label_col: LabelCol = None,
    task: TaskOpt = None,
) -> None:
    """Compute a data set's AutoDistiller features (paper Table 7) and print them."""
    import numpy as np

    from autodistill.baseline import BaselineSettings
    from autodistill.features import featurize

    data = _load_described(dataset, description, _columns(text_col, text_pair_col, label_col, task))
    with _open_store(store) as runs_store:
        features = featurize(data, store=runs_store, baseline=BaselineSettings(model=baseline))
        if save:
            runs_store.put_features(features)
        others = len([f for f in runs_store.features(features.featurizer_version) if f.dataset != data.spec.name])
    table = Table("feature", "value", title=f"{features.dataset} ({features.featurizer_version})")

    def vector(values: tuple[float, ...]) -> str:
        head = ", ".join(f"{x:+.3f}" for x in values[:5])
        return f"[{head}, ...] ({len(values)} dims, L2 norm {float(np.linalg.norm(values)):.3f})"

    table.add_row("task kind", str(features.task_kind))
    table.add_row("#examples (train)", str(features.n_examples))
    table.add_row("#labels", str(features.n_labels))
    table.add_row(
        f"baseline score ({features.baseline_model}, dev {data.spec.metric})", _fmt(features.baseline_score, 4)
    )
    table.add_row(f"context embedding (TF-IDF over {others + 1} data sets)", vector(features.context_embedding))
    table.add_row("task embedding (description)", vector(features.task_embedding))
    table.add_row("vocabulary (words with GloVe vectors)", f"{len(features.vocabulary):,}")
    console.print(table)
    console.print(f"description: {data.spec.description}", highlight=False)
    if save:
        console.print(f"stored in {runs_store.path}", highlight=False)


@runs_app.command("import")
def runs_import(
    origin: Annotated[
        str,
        typer.Option(
            "--from",
            help="paper: the Distiller authors' 1,239 runs and 10 tasks' features; study: this project's own "
            "runs on the catalog (meta_data/study/)",
        ),
    ] = "paper",
    store: StoreOpt = None,
) -> None:
    """Import published runs into the store (idempotent: runs already there are skipped)."""
    from autodistill.reference import PAPER_FEATURIZER, import_reference
    from autodistill.shipped import STUDY_DIR, import_study

    if origin not in ("paper", "study"):
        raise choices_error("--from", origin, ("paper", "study"))
    with _open_store(store) as runs_store:
        if origin == "paper":
            added = import_reference(runs_store)
            total = len(runs_store.runs(source="paper"))
            tasks = len(runs_store.features(PAPER_FEATURIZER))
            what = f"{total} paper runs stored) and the features of {tasks} tasks"
        else:
            added = import_study(runs_store, STUDY_DIR)
            what = f"{len(runs_store.runs(source='ours'))} runs of ours stored) from {STUDY_DIR}"
        path = runs_store.path
    console.print(f"imported {added} new runs ({what} into {path}", highlight=False)


@runs_app.command("export")
def runs_export(
    file: Annotated[Path, typer.Argument(help="output file: .csv or .parquet")],
    store: StoreOpt = None,
) -> None:
    """Write every stored run (one row per run, config as columns) to CSV or Parquet."""
    with _open_store(store, must_exist=True) as runs_store:
        path = runs_store.export(file)
        counts = runs_store.runs()["source"].value_counts().to_dict()
    listed = ", ".join(f"{n} {source}" for source, n in sorted(counts.items())) or "no runs"
    console.print(f"wrote {listed} runs to {path}", highlight=False)


@study_app.command("export")
def study_export(
    folder: Annotated[Path | None, typer.Option(help="where to write (default: the shipped meta_data/study/)")] = None,
    store: StoreOpt = None,
) -> None:
    """Write the store's own runs, trials and dataset features as the shipped study (commit the folder)."""
    from autodistill.shipped import STUDY_DIR, export_study

    folder = folder or STUDY_DIR
    with _open_store(store, must_exist=True) as runs_store:
        counts = export_study(runs_store, folder)
    console.print(
        f"wrote {counts['runs']} runs, {counts['trials']} trials and {counts['features']} data sets' features "
        f"to {folder}",
        highlight=False,
    )


@study_app.command("report")
def study_report(
    out: Annotated[
        Path | None, typer.Option(help="the markdown page; plots go to <its stem>/ (default: docs/study.md)")
    ] = None,
    holdout: Annotated[
        str | None,
        typer.Option(
            help="two catalog data sets for Figure 4, AutoDistiller's picks against random (default: "
            "wordnet-lexname,sotu-party)"
        ),
    ] = None,
    run_missing: Annotated[
        bool, typer.Option(help="pick for and run the Figure 4 trials the store lacks (else nothing is run)")
    ] = False,
    time_limit: Annotated[float, typer.Option(help="AutoGluon seconds per predictor fit")] = 60.0,
    shipped: Annotated[
        bool, typer.Option(help="report on the shipped study (meta_data/study/) instead of a store")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Write the study page (paper §5: Figures 2-6, Table 3) from the store's runs of ours, tables and PNG plots."""
    import tempfile

    from autodistill.predictor import PredictorSettings
    from autodistill.shipped import STUDY_DIR, import_study
    from autodistill.store import RunStore
    from study.report import DEFAULT_HOLDOUT, DEFAULT_OUT, write_report

    if shipped and (store is not None or run_missing):
        raise AutodistillError("--shipped reports the committed runs as they are: drop --store and --run-missing")
    with tempfile.TemporaryDirectory() as scratch:
        if shipped:
            with RunStore(Path(scratch) / "study.sqlite") as fresh:
                import_study(fresh, STUDY_DIR)
            store = Path(scratch) / "study.sqlite"
        with _open_store(store, must_exist=True) as runs_store:
            path = write_report(
                runs_store,
                out or DEFAULT_OUT,
                holdout=tuple(d.strip() for d in holdout.split(",") if d.strip()) if holdout else DEFAULT_HOLDOUT,
                run_missing=run_missing,
                settings=PredictorSettings(time_limit=time_limit),
                source="the shipped study `meta_data/study/`" if shipped else None,
                on_status=lambda text: console.print(text, highlight=False),
            )
    console.print(f"wrote {path} (plots in {path.parent / path.stem})", highlight=False)


def _require_runs(runs_store, source: str) -> None:
    if runs_store.runs(source=source).empty:
        fill = "`autodistill runs import`" if source == "paper" else "`autodistill sweep`"
        raise AutodistillError(f"the runs store {runs_store.path} has no {source!r} runs; fill it with {fill}")


@typer_app.command("evaluate")
def evaluate_command(
    lodo: Annotated[bool, typer.Option("--lodo/--no-lodo", help="leave-one-dataset-out (the only protocol)")] = True,
    source: SourceOpt = "paper",
    time_limit: Annotated[float | None, typer.Option(help="AutoGluon seconds per fold")] = None,
    models: Annotated[str, typer.Option(help="predictor family: linear | trees | linear+trees")] = "linear",
    top_k: Annotated[int, typer.Option(help="k of the top-k column")] = 5,
    store: StoreOpt = None,
) -> None:
    """How well the predictor ranks configurations on data sets it has not seen (paper §5.4, Figure 5)."""
    from autodistill.evaluate import PAPER_MEAN_SPEARMAN, evaluate_lodo
    from autodistill.predictor import PredictorSettings

    if not lodo:
        raise AutodistillError("only leave-one-dataset-out evaluation is implemented; drop --no-lodo")
    with _open_store(store, must_exist=True) as runs_store:
        _require_runs(runs_store, source)
        result = evaluate_lodo(
            runs_store, source=source, time_limit=time_limit, settings=PredictorSettings(models=models), top_k=top_k
        )
    shown = result.rename(
        columns={
            f"top{top_k}_ratio": f"top-{top_k} ratio",
            "best_ratio": "best ratio",
            "mean_ratio": "mean ratio",
            "spearman": "Spearman",
        }
    )
    console.print(_frame_table(shown, title=f"leave-one-dataset-out, {source} runs, {models} predictor"))
    mean = float(result.loc[result["dataset"] == "mean", "spearman"].iloc[0])
    console.print(
        f"mean Spearman over {len(result) - 1} held-out data sets: {mean:.2f} (paper, Figure 5: {PAPER_MEAN_SPEARMAN})",
        highlight=False,
    )
    console.print(
        f"top-{top_k} ratio: mean actual ratio of the {top_k} runs ranked highest; best/mean ratio: the data set's "
        "best run (an oracle) and average run (a random pick)",
        highlight=False,
    )


@typer_app.command("importance")
def importance_command(
    source: SourceOpt = "paper",
    plot: Annotated[Path | None, typer.Option(help="also save Figures 2 and 6 style bar plots (PNG)")] = None,
    store: StoreOpt = None,
) -> None:
    """fANOVA importance of the four Distiller components and their pairs (paper §5.1, Figures 2 and 6)."""
    from autodistill.importance import COMPONENTS, fanova_importance, plot_importance

    with _open_store(store, must_exist=True) as runs_store:
        _require_runs(runs_store, source)
        table = fanova_importance(runs_store.runs(source=source))
    names = {**COMPONENTS}
    shown = table.reset_index()
    shown["component"] = [
        " x ".join(names.get(part, part) for part in str(c).split(" x ")) + f" ({c})" for c in shown["component"]
    ]
    console.print(_frame_table(shown, title=f"fANOVA share of ratio variance, {source} runs", digits=2))
    if plot is not None:
        console.print(f"plot saved to {plot_importance(table, plot)}", highlight=False)


@typer_app.command("sweep")
def sweep_command(
    datasets: Annotated[str, typer.Option(help="comma-separated data sets (catalog names or files)")],
    students: Annotated[str, typer.Option(help="comma-separated students, e.g. tiny,layers=0,2,4")] = "tiny",
    n: Annotated[
        int, typer.Option("--n", help="random configurations per data set (each run with every student)")
    ] = 10,
    teacher: Annotated[str, typer.Option(help="teacher preset, HF id or folder")] = "minilm-l6",
    epochs: EpochsOpt = None,
    max_train_examples: MaxTrainOpt = None,
    max_eval_examples: MaxEvalOpt = None,
    max_length: MaxLengthOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    workers: Annotated[int, typer.Option(help="trials at a time (0: in this process)")] = 1,
    backend: Annotated[str, typer.Option(help="local (worker processes) | ray")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local Ray)")] = None,
    seed: SeedOpt = 0,
    retry_failed: Annotated[bool, typer.Option(help="rerun trials logged as failed")] = False,
    features: Annotated[
        bool, typer.Option(help="featurize the data sets first (needed to learn from the runs)")
    ] = True,
    baseline: BaselineOpt = "bilstm",
    dry_run: Annotated[bool, typer.Option(help="list the trials and exit")] = False,
    store: StoreOpt = None,
) -> None:
    """Random search over the Distiller space (paper §4) plus each student's no-KD baseline; resumable."""
    from autodistill.baseline import BaselineSettings
    from autodistill.sweep import parse_students, plan, run_sweep

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    student_list = parse_students(students)
    budget = _budget(
        epochs=epochs,
        max_train_examples=max_train_examples,
        max_eval_examples=max_eval_examples,
        max_length=max_length,
        batch_size=batch_size,
        lr=lr,
    )
    if dry_run:
        from engine.data import load_task

        trials = plan({d: load_task(d) for d in names}, student_list, n, seed=seed, teacher=teacher, budget=budget)
        table = Table("trial", "kind", "data set", "student", "configuration")
        for trial in trials:
            c = trial.config
            what = f"{c.inter_level} / {c.mapping} / {c.pred_loss} / {c.policy}" if c else "no-KD baseline"
            table.add_row(trial.trial_id, trial.kind, trial.dataset, trial.student, what)
        console.print(table)
        return
    with _open_store(store) as runs_store:
        report = run_sweep(
            names,
            student_list,
            n,
            runs_store,
            seed=seed,
            teacher=teacher,
            budget=budget,
            workers=workers,
            backend=backend,
            address=address,
            retry_failed=retry_failed,
            featurize=features,
            baseline=BaselineSettings(model=baseline),
            on_status=lambda text: console.print(text, highlight=False),
        )
        path = runs_store.path
    console.print(_frame_table(report.summary(), title="sweep (ratio = student / teacher dev score)"))
    console.print(
        f"{len(report.trials)} trials: {report.ran} run now, {report.skipped} already logged; "
        f"{len(report.failed)} failed; store {path}",
        highlight=False,
    )
    for record in report.failed[:5]:
        console.print(
            f"  failed {record.trial_id} ({record.dataset}, {record.student_name}): {record.error}", highlight=False
        )


@typer_app.command("recommend")
def recommend_command(
    dataset: DatasetOpt,
    description: DescriptionOpt = None,
    teacher: Annotated[str, typer.Option(help="teacher preset, HF id or folder")] = "minilm-l6",
    student: Annotated[str, typer.Option(help="tiny|mini|small|tinybert4|layers=0,2,4|HF id")] = "layers=0,2,4",
    top: Annotated[int, typer.Option(help="how many picks to print and save")] = 5,
    out: Annotated[Path | None, typer.Option(help="write the picks here (default: <home>/recommendations/)")] = None,
    source: SourceOpt = "ours",
    predictor: Annotated[Path | None, typer.Option(help="a saved predictor folder instead of training one")] = None,
    unseen: Annotated[bool, typer.Option(help="leave this data set's own runs out of training")] = False,
    shipped: Annotated[
        bool, typer.Option(help="a store without runs of ours first imports the project's study (meta_data/study/)")
    ] = True,
    time_limit: Annotated[float, typer.Option(help="AutoGluon seconds to train the predictor")] = 60.0,
    baseline: BaselineOpt = "bilstm",
    run_top: Annotated[int, typer.Option(help="then run the top N picks (paper Figure 4)")] = 0,
    vs_random: Annotated[int, typer.Option(help="... and N random configurations, to compare")] = 0,
    seed: SeedOpt = 0,
    epochs: EpochsOpt = None,
    max_train_examples: MaxTrainOpt = None,
    max_eval_examples: MaxEvalOpt = None,
    max_length: MaxLengthOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    store: StoreOpt = None,
    text_col: TextCol = None,
    text_pair_col: PairCol = None,
    label_col: LabelCol = None,
    task: TaskOpt = None,
) -> None:
    """Recommend Distiller pipelines for a data set from the store's runs (paper §3.4, §5.4)."""
    import time

    from autodistill.baseline import BaselineSettings
    from autodistill.predictor import PredictorSettings
    from autodistill.recommend import SCORE_MEANING, recommend
    from autodistill.shipped import STUDY_DIR
    from engine.paths import subdir
    from study.figure4 import group_stats, run_versus_random

    started = time.perf_counter()
    columns = _columns(text_col, text_pair_col, label_col, task)
    data = _load_described(dataset, description, columns)
    budget = _budget(
        epochs=epochs,
        max_train_examples=max_train_examples,
        max_eval_examples=max_eval_examples,
        max_length=max_length,
        batch_size=batch_size,
        lr=lr,
    )
    with _open_store(store, must_exist=not shipped) as runs_store:  # the shipped study fills a new store
        rec = recommend(
            data,
            runs_store,
            dataset=dataset,
            teacher=teacher,
            student=student,
            top=max(top, run_top),
            source=source,
            budget=budget,
            baseline=BaselineSettings(model=baseline),
            settings=PredictorSettings(time_limit=time_limit),
            predictor=predictor,
            unseen=unseen,
            shipped=STUDY_DIR if shipped else None,
            columns=columns,
            on_status=lambda text: console.print(text, highlight=False),
        )
        elapsed = time.perf_counter() - started
        table = Table(
            "#",
            "intermediate",
            "mapping",
            "pred loss",
            "augmentation",
            "aug_p",
            "repeats",
            "score",
            "predicted ratio",
            title=f"top {top} of {rec.candidates} configurations for {rec.dataset_name} ({teacher} -> {student})",
        )
        for p in rec.picks[:top]:
            c = p.config
            text_aug = bool(c.text_augment)
            table.add_row(
                str(p.rank),
                c.inter_level,
                c.mapping,
                c.pred_loss,
                c.policy,
                _fmt(c.aug_p, 1) if text_aug else "-",
                str(c.repeated_aug) if text_aug else "-",
                _fmt(p.score),
                _fmt(p.predicted_ratio),
            )
        console.print(table)
        console.print(SCORE_MEANING, highlight=False)
        console.print(
            f"teacher dev {rec.metric} {rec.teacher_score:.4f}; predictor trained on {rec.n_runs} {source} runs over "
            f"{len(rec.trained_on)} data sets ({', '.join(rec.trained_on)})",
            highlight=False,
        )
        path = out or subdir("recommendations") / f"{rec.dataset_name}.json"
        rec.save(path)
        t = rec.timings
        console.print(
            f"recommended in {elapsed:.1f} s (teacher {t['teacher_s']:.1f} s, features {t['features_s']:.1f} s, "
            f"models {t['models_s']:.1f} s, predictor {t['predictor_s']:.1f} s, scoring {t['scoring_s']:.1f} s); "
            f"saved to {path}; run pick K with `autodistill run --recommendation {path} --pick K`",
            highlight=False,
        )
        if run_top or vs_random:
            results = run_versus_random(
                rec, data, runs_store, top=run_top, random_n=vs_random, seed=seed, budget=budget
            )
            _print_versus(results, group_stats(results))


def _print_versus(results, stats) -> None:
    ours = results[results["group"] == "AutoDistiller"].reset_index(drop=True)
    rand = results[results["group"] == "random"].reset_index(drop=True)
    table = Table(
        "#", "AutoDistiller pick", "ratio", "random configuration", "ratio", title="actual distillation ratios"
    )

    def describe(c) -> str:
        return f"{c.inter_level} / {c.mapping} / {c.pred_loss} / {c.policy}"

    for k in range(max(len(ours), len(rand))):
        left = ours.iloc[k] if k < len(ours) else None
        right = rand.iloc[k] if k < len(rand) else None
        table.add_row(
            str(k + 1),
            describe(left["config"]) if left is not None else "",
            _fmt(left["ratio"], 4) if left is not None else "",
            describe(right["config"]) if right is not None else "",
            _fmt(right["ratio"], 4) if right is not None else "",
        )
    console.print(table)
    for group, (mean, std, count) in stats.items():
        if group == "no-KD":
            console.print(f"no-KD baseline (same student and budget): ratio {_fmt(mean, 4)}", highlight=False)
        else:
            console.print(
                f"{group}: mean ratio {_fmt(mean, 4)} ± {_fmt(std, 4)} over {count} finished runs", highlight=False
            )
    for row in results.itertuples():
        if row.error:
            console.print(f"  failed ({row.group}): {row.error}", highlight=False)


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
