"""How results look on the terminal: rich tables and one-line reports, no computation."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from autodistill import Featurized, Recommendation, SearchReport, SweepReport, Trial
    from engine import Predictions, PredictionScore, RunResult

console = Console()
notes = Console(stderr=True)


def say(text: str) -> None:
    """A status line as the library reports it (``on_status``): plain text, no rich markup guessing."""
    console.print(text, highlight=False)


def say_wrapped(text: str, indent: str = "", hanging: str = "   ", whole: str = "") -> None:
    """A long line folded at the console's width (80 when piped), every folded part indented by
    ``hanging``: rich's own folding would start them at column 0 and leave the list of picks ragged.
    Words are never split, so a path or a pipeline label stays whole; nor is ``whole`` (a command)."""
    width = max(40, console.width)
    glued = text.replace(whole, whole.replace(" ", "\0")) if whole else text
    folded = textwrap.fill(
        glued, width, initial_indent=indent, subsequent_indent=hanging, break_long_words=False, break_on_hyphens=False
    )
    console.print(folded.replace("\0", " "), markup=False, highlight=False, soft_wrap=True)


def fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def frame_table(frame: pd.DataFrame, title: str | None = None, digits: int = 3) -> Table:
    table = Table(*[str(c) for c in frame.columns], title=title)
    for row in frame.itertuples(index=False):
        table.add_row(*(fmt(v, digits) for v in row))
    return table


# -- engine --------------------------------------------------------------------------------------------


def datasets(rows: Sequence[tuple[Any, Mapping[str, int]]]) -> None:
    """The catalog: (spec, split sizes) per data set. Names are never cut (a user copies them into the
    next command); at 80 columns the kind folds instead."""
    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
    table.add_column("name", no_wrap=True)
    table.add_column("kind", overflow="fold")
    for numeric in ("labels", "train", "dev", "test"):
        table.add_column(numeric, justify="right")
    table.add_column("metric")
    for spec, sizes in rows:
        labels = str(spec.num_labels) if spec.label_names else "-"
        table.add_row(
            spec.name, spec.kind, labels, *(str(sizes.get(s, "?")) for s in ("train", "dev", "test")), spec.metric
        )
    console.print(table)


def home_usage(home: Any) -> None:
    """The home's parts (:class:`autodistill.HomeFolder`), its caches first."""
    from engine import human_bytes

    usages = home.usage()
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold")
    for column, justify in (("part", "left"), ("size", "right"), ("entries", "right"), ("holds", "left")):
        table.add_column(column, justify=justify, no_wrap=column == "part")
    for cache in (True, False):
        table.add_row("caches" if cache else "kept", style="bold")
        for use in (use for use in usages if use.part.cache is cache):
            table.add_row(f"  {use.part.name}", human_bytes(use.size), str(use.entries), use.part.holds)
    say(f"{home.root}: {human_bytes(sum(use.size for use in usages))}, {human_bytes(home.free)} free on its disk")
    console.print(table)
    say("`autodistill cache clear NAME ...` (or all) deletes caches, rebuilt when a command needs them again")


def models(infos: Sequence[Any], rates: Sequence[float]) -> None:
    """The model list; ``rates``: the learning rate each trains at when none is set (a teacher: its fine-tune's).
    A model that cannot be built with this teacher is listed with its reason under the table. A student
    folder (one ``autodistill pretrain`` made) shows by its folder's name, with the path ``--student``
    takes under the table."""
    table = Table("name", "role", "layers x width", "params", "starts from", "lr")
    folders = [info.name for info in infos if Path(info.name).name != info.name]
    for info, rate in zip(infos, rates, strict=True):
        params = f"{info.params / 1e6:.1f}M" if info.params else "-"
        shape = f"{info.layers} x {info.hidden}" if info.layers else "-"
        table.add_row(Path(info.name).name, info.role, shape, params, info.source, f"{rate:.0e}")
    console.print(table)
    console.print("lr: the peak learning rate a run uses when none is set")
    for folder in folders:
        console.print(f"{Path(folder).name}: --student {folder}", soft_wrap=True)
    for info in infos:
        if info.note:
            console.print(f"{Path(info.name).name}: {info.note}")


def teacher(name: str, dataset: str, result: Any, apart: Mapping[str, object]) -> None:
    """A fine-tuned teacher's dev score and folder; ``apart``: the settings it was made with that are not
    the teacher's own, which runs fine-tune with, so that nobody waits for a run to reuse it."""
    from engine import settings_text

    console.print(
        f"teacher {name} on {dataset}: dev {result.metric} = {result.dev_score:.4f} "
        f"({result.train_seconds:.0f} s training) -> {result.model_dir}"
    )
    console.print(json.dumps(result.dev_metrics, indent=None), soft_wrap=True)  # one line of JSON, unfolded
    if not apart:
        return
    also = f"; a team member named {name}:epochs={apart['epochs']} does" if set(apart) == {"epochs"} else ""
    say(f"note: run and recommend fine-tune {name} with the teacher's own settings, not {settings_text(apart)}, so "
        f"they do not use this one{also}")  # fmt: skip


def run_result(result: RunResult) -> None:
    table = Table("", "dev " + result.metric, "params", "CPU ms/example")
    for who in ("teacher", "student"):
        table.add_row(
            who,
            f"{getattr(result, f'{who}_score'):.4f}",
            f"{getattr(result, f'{who}_params') / 1e6:.1f}M",
            f"{getattr(result, f'{who}_latency_ms'):.1f}",
        )
    console.print(table)
    config = result.config
    console.print(
        f"distillation ratio {result.ratio:.4f} | {how_trained(result)}, lr {config['train']['lr']:g} | "
        f"{result.examples_per_second:.1f} train examples/s | "
        f"{result.wall_seconds:.0f} s | student saved in {result.output_dir}/student",
        soft_wrap=True,
    )
    if result.team:
        team_lines(result.team, result.metric)
    if result.one_answer is not None:
        from engine import from_scratch, one_answer_note

        remedies = ["more epochs", "another --lr"]
        if from_scratch(config["student"]):  # a fresh preset: a pretrained one learns from fewer examples
            remedies.append("a pretrained student (`autodistill models list`)")
        say(f"warning: {one_answer_note('the student', result.one_answer)}; try {', '.join(remedies)}")
    if (line := dev_resolution_line(result)) is not None:
        say(line)


def team_lines(team: Mapping[str, Any], metric: str) -> None:
    """A team run's members with their fine-tuned dev scores (the table's teacher is the best of them)
    and, for a learned team, θ after phase 1 beside uniform and what teacher selection dropped: where θ
    barely left uniform, the drop tells little about which teacher helps."""
    members = ", ".join(f"{m['name']} {m['dev_score']:.3f}" for m in team["members"])
    say_wrapped(f"team (dev {metric}): {members}; the table's teacher is {team['reference']}, the best on dev")
    if team.get("phase1_theta"):
        theta = " / ".join(f"{x:.3f}" for x in team["phase1_theta"])
        dropped = ", ".join(team.get("dropped") or []) or "none"
        uniform = 1 / len(team["phase1_theta"])
        say_wrapped(f"θ after phase 1: {theta} (uniform {uniform:.3f}); dropped by teacher selection: {dropped}")


def how_trained(result: RunResult) -> str:
    """A run's pipeline and budget in the words advice names them: ``logit KD + ra (4 cached copies), ce
    prediction loss, 20 epochs``, so that the run a pick named is seen to be the one that ran; copies an
    ``autodistill augment`` folder gave are named by it."""
    config = result.config
    epochs = f"{len(result.history) or config['train']['epochs']} epochs"
    if result.kind == "finetune":
        return f"no KD (labels alone), {epochs}"
    how = "logit KD" if config.get("inter_loss") is None else f"{config['inter_loss']} over {config['mapping']}"
    augment = list(config.get("augment") or [])
    text = [name for name in augment if name != "mixup"]  # a stack, applied in order, as advice writes it
    policy = "+".join(([">".join(text)] if text else []) + (["mixup"] if "mixup" in augment else []))
    if policy:
        how += f" + {policy}"
    if text and config.get("aug_dir"):
        how += f" (copies read from {config['aug_dir']})"
    elif text and config.get("aug_copies"):
        how += f" ({config['aug_copies']} {config['aug_mode']} copies)"
    return f"{how}, {config.get('pred_loss')} prediction loss, {epochs}"


#: A dev score known no better than this (one standard error) is said to be coarse after a run.
COARSE_DEV = 0.02


def dev_resolution_line(result: RunResult) -> str | None:
    """How finely the dev split resolves the student's score, where it is coarse: on a small file's dev
    split, runs whose scores differ by less than its standard error are not told apart."""
    from engine import dev_standard_error

    n = result.scored_examples.get("dev")
    se = dev_standard_error(result)
    return _coarse_line(
        n, se, f"its {result.metric} is known to", "runs that differ by less than that are within its noise"
    )


def _coarse_line(n: int | None, se: float, known: str, meaning: str) -> str | None:
    """``dev holds N examples: <known> about +-SE (one standard error); <meaning>`` where the standard error
    is :data:`COARSE_DEV` or coarser (None otherwise, or where it is not known)."""
    if not se >= COARSE_DEV:
        return None
    return f"dev holds {n:,} examples: {known} about +-{se:.3f} (one standard error); {meaning}"


def pretrained(folder: Path, record: dict[str, Any]) -> None:
    """What a general distillation made, what it cost, and how to use it."""
    config = record["config"]
    say(
        f"{config['student']} general-distilled{'' if record.get('starts_from', 'fresh') == 'fresh' else ' further'} "
        f"from {config['teacher']}: {record['steps']:,} steps on "
        f"{record['corpus_words']:,} words, relation loss {record['first_loss']:.3f} -> {record['final_loss']:.3f}, "
        f"{record['seconds'] / 60:.1f} min on {record['machine']}"
    )
    say(f"saved in {folder}; distil into it with: autodistill run --student {folder} --dataset NAME")


def exported(report: Any) -> None:
    """An export's measurements (:class:`engine.ExportReport`): every form of the model side by side."""
    table = Table("", f"test {report.metric}", "batch 1 (ms)", "batch 32 (ms)", "size (MB)", title="CPU, one thread")
    for row in report.rows:
        table.add_row(
            row.name,
            f"{row.score:.4f}",
            f"{row.latency_batch1_ms:.2f}",
            f"{row.latency_batch32_ms:.1f}",
            f"{row.size_mb:.1f}",
        )
    console.print(table)
    for note in report.notes:
        say(note)
    say(f"exported to {report.folder} ({report.test_examples} test examples of {report.dataset})")


def candidates(learned: RunResult, runs: Sequence[Any]) -> None:
    """AutoSKDBERT's retrained candidates, ranked on dev (which chose them) and reported on test (§3.3)."""
    table = Table(
        "phase-2 step", "θ (team order)", "dev " + learned.metric, "test " + learned.metric, "test ratio",
        title="candidates retrained (ranked on dev; test: the untouched split, '-' where not read)",
    )  # fmt: skip
    for candidate in runs:
        theta = ", ".join(f"{x:.3f}" for x in candidate.theta)
        result = candidate.result
        table.add_row(
            str(candidate.step), theta, f"{result.student_score:.4f}", _test(result), fmt(result.test_ratio, 4)
        )
    console.print(table)
    best = runs[0]
    scored = f"test {learned.metric} {_test(best.result)}" if best.result.student_test_metrics else "dev only"
    say(
        f"best candidate (by dev): step {best.step}, {scored}, dev {best.result.student_score:.4f} "
        f"(learned run itself: test {_test(learned)}, dev {learned.student_score:.4f}); "
        f"student in {best.result.output_dir}/student"
    )


def _test(result: RunResult) -> str:
    """A run's test score, or '-' for a run that read no test split."""
    score = result.student_test_metrics.get(result.metric)
    return "-" if score is None else f"{score:.4f}"


def augmented(manifest: Mapping[str, Any], out: Any) -> None:
    kept = sum(c["examples"] for c in manifest["counts"])
    dropped = sum(sum(c["dropped"].values()) for c in manifest["counts"])
    say(
        f"wrote {_counted(manifest['copies'], 'augmented copy', 'augmented copies')} of "
        f"{manifest['source_examples']} examples ({kept} kept, "
        f"{dropped} dropped as invalid for the task) with {', '.join(manifest['text_ops'])} to {out}; a run reads "
        f"them with --aug-dir {out} --augment {','.join(manifest['text_ops'])} --seed {manifest['seed']} (aug_dir, "
        "augment and train.seed in a config)"
    )


def run_list(runs: pd.DataFrame, limit: int, store_path: Any) -> None:
    """The listed runs as plain aligned text (a run's row stays on one line however narrow the
    terminal, so it can be read, grepped and cut), and how many there are beyond the ones shown."""
    shown = runs.head(limit) if limit > 0 else runs
    console.print(f"runs in {store_path}:", markup=False, highlight=False, soft_wrap=True)  # one line, any path
    text = shown.assign(created_at=shown["created_at"].str[:16]).map(fmt).to_string(index=False)
    console.print(text, markup=False, highlight=False, soft_wrap=True)  # wide rows stay whole on a pipe
    if len(shown) < len(runs):
        say(f"showing the newest {len(shown)} of {len(runs)} runs (--limit 0 lists all)")


def predictions(done: Predictions, output: Any) -> None:
    """To stdout as CSV, or to ``output`` in the format its suffix names (the formats a run reads; CSV
    for any other); then the score, on stderr where stdout holds the predictions."""
    frame = done.frame
    if output is None:
        # Written as it is: the console would fold rows at its width (80 when piped), splitting a long text's row.
        sys.stdout.write(_cells_as_json(frame).to_csv(index=False))
        sys.stdout.flush()
    elif output.suffix in (".jsonl", ".json"):
        frame.to_json(output, orient="records", lines=output.suffix == ".jsonl", force_ascii=False)
    elif output.suffix == ".parquet":
        frame.to_parquet(output, index=False)
    else:
        _cells_as_json(frame).to_csv(output, index=False, sep="\t" if output.suffix == ".tsv" else ",")
    if output is not None:
        say(f"wrote {len(frame):,} predictions to {output}")
    lines = [score_line(done.score)] if done.score else [done.unscored] if done.unscored else []
    if done.one_answer is not None:
        share = "; the score is that answer's alone" if done.score else ""
        lines.append(f"warning: the model answers {done.one_answer!r} to every row{share}")
    for line in lines:
        (console if output is not None else notes).print(line, highlight=False, markup=False)


def _cells_as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """List and mapping cells (a tagger's words and tags, a SQuAD ``answers`` cell) as JSON text, the
    form a run reads back from a CSV cell, where pandas would write Python's ``['a', 'b']``."""

    def plain(value: object) -> object:
        return value.tolist() if isinstance(value, np.ndarray) else value

    def cell(value: object) -> object:
        value = plain(value)
        if isinstance(value, Mapping):
            return json.dumps({key: plain(inner) for key, inner in value.items()}, ensure_ascii=False)
        return json.dumps(value, ensure_ascii=False) if isinstance(value, list | tuple) else value

    return frame.apply(lambda column: column.map(cell) if column.dtype == object else column)


def score_line(score: PredictionScore) -> str:
    """``accuracy 0.953 ± 0.003 against column 'label' (5,000 labelled rows)``; labels the model never learned."""
    line = (
        f"{score.metric} {score.value:.3f} ± {score.standard_error:.3f} against column {score.column!r} "
        f"({score.rows:,} labelled rows)"
    )
    if score.unknown:
        named = ", ".join(map(repr, score.unknown[:5])) + (", ..." if len(score.unknown) > 5 else "")
        line += f"; labels the model never learned, scored as wrong: {named}"
    return line


# -- meta layer ----------------------------------------------------------------------------------------


def _vector(values: Sequence[float]) -> str:
    head = ", ".join(f"{x:+.3f}" for x in values[:5])
    return f"[{head}, ...] ({len(values)} dims, L2 norm {float(np.linalg.norm(values)):.3f})"


def features(done: Featurized, stored_in: Any | None) -> None:
    f, spec = done.features, done.task.spec
    table = Table("feature", "value", title=f"{f.dataset} ({f.featurizer_version})")
    table.add_row("task kind", str(f.task_kind))
    table.add_row("#examples (train)", str(f.n_examples))
    table.add_row("#labels", str(f.n_labels))
    table.add_row(f"baseline score ({f.baseline_model}, dev {spec.metric})", fmt(f.baseline_score, 4))
    table.add_row(f"context embedding (TF-IDF over {done.corpus} data sets)", _vector(f.context_embedding))
    table.add_row("task embedding (description)", _vector(f.task_embedding))
    table.add_row("vocabulary (words with GloVe vectors)", f"{len(f.vocabulary):,}")
    console.print(table)
    say(f"description: {spec.description}")
    if stored_in is not None:
        say(f"stored in {stored_in}")


def evaluation(result: pd.DataFrame, *, source: str, models: str, top_k: int, paper_mean: float) -> None:
    names = {f"top{top_k}_ratio": f"top-{top_k} ratio", "best_ratio": "best ratio", "mean_ratio": "mean ratio"}
    shown = result.rename(columns={**names, "spearman": "Spearman"})
    console.print(frame_table(shown, title=f"leave-one-dataset-out, {source} runs, {models} predictor"))
    mean = float(result.loc[result["dataset"] == "mean", "spearman"].iloc[0])
    say(
        f"mean Spearman over {len(result) - 1} held-out data sets: {mean:.2f} (paper, Figure 5: {paper_mean}, "
        "pooled over its students; here within each teacher, student and budget)"
    )
    say(
        f"per teacher, student and budget, weighted by runs: top-{top_k} ratio, the mean actual ratio of the "
        f"{top_k} runs ranked highest; best/mean ratio, the best run (an oracle) and the average run (a random pick)"
    )


def nested_evaluation(result: Any, *, source: str, reported: str) -> None:
    """Nested LODO: per design the clean figure beside the tuned one, then each outer fold's choice."""
    summary = result.summary.rename(
        columns={"nested": "nested Spearman", "tuned": "tuned Spearman", "tuned_choice": "best on all (tuned)"}
    )
    console.print(frame_table(summary, title=f"nested leave-one-dataset-out, {source} runs, scored on {reported}"))
    folds = result.folds[result.folds["design"] == result.summary["design"].iloc[-1]].drop(columns=["design"])
    shown = folds.rename(columns={"chosen": "chosen in the inner folds", "inner": "inner Spearman"})
    console.print(frame_table(shown, title="outer folds, choosing among all designs"))
    say(
        "nested: design and hyper-parameters chosen by leave-one-dataset-out on the other data sets only, "
        "then scored on the held-out one; tuned: the best mean over all data sets, chosen on the figure it "
        "reports (optimistic)"
    )


#: The fANOVAs left out that :func:`importance` names; the rest are counted.
LEFT_OUT_NAMED = 5


def importance(report: Any, source: str, names: Mapping[str, str], *, pooled: bool = False) -> None:
    """Two tables, as Figures 2 and 6: one row per fANOVA (a data set of a student<-teacher group),
    then each group's mean and the overall one; components, then pairs of components; then the
    fANOVAs left out and why, the first few named."""
    table = report.table
    unit = "data set, all teachers and students pooled" if pooled else "(teacher, student) group and data set"
    components = [c for c in table.index if " x " not in str(c)]
    pairs = [c for c in table.index if " x " in str(c)]
    for rows, what in ((components, "component"), (pairs, "pair of components")):
        shown = table.loc[rows].T.reset_index(names="runs of")
        shown["runs of"] = shown["runs of"].map(_cell_name)
        shown.columns = ["runs of", *(" x ".join(names.get(part, part) for part in str(c).split(" x ")) for c in rows)]
        title = f"fANOVA share of ratio variance per {what}, per {unit}, {source} runs"
        console.print(frame_table(shown, title=title, digits=2))
    if report.left_out:
        named = [f"{_cell_name(cell)} ({why})" for cell, why in list(report.left_out.items())[:LEFT_OUT_NAMED]]
        more = len(report.left_out) - len(named)
        say_wrapped(f"left out, as their runs cannot rank the components: {'; '.join(named)}"
                    + (f"; and {more} more" if more > 0 else ""), hanging="  ")  # fmt: skip


def trials(planned: Sequence[Trial]) -> None:
    """The trials a sweep would run; a local file shows by its name, as in :func:`sweep`'s table."""
    table = Table("trial", "kind", "data set", "student", "configuration")
    for trial in planned:
        what = trial.config.label if trial.config else "no-KD baseline"
        table.add_row(trial.trial_id, trial.kind, _data_name(trial.dataset), trial.student, what)
    console.print(table)


def sweep(report: SweepReport, store_path: Any) -> None:
    """Per data set and student: trials done and failed, the no-KD, best and mean KD dev ratios, then each
    best configuration on a line of its own. Names are never cut (a local file shows by its name, its folder
    in the lines above), so the table fits 80 columns."""
    summary = report.summary()
    table = Table(title="sweep (ratio = student / teacher dev score)")
    for name in ("data set", "student"):
        table.add_column(name, no_wrap=True)
    for name in ("trials", "done", "failed", "no-KD", "best KD", "mean KD"):
        table.add_column(name, justify="right")
    rows = summary.to_dict("records")
    for row in rows:
        numbers = [row[name] for name in ("trials", "done", "failed", "no-KD", "best KD", "mean KD")]
        table.add_row(_data_name(row["dataset"]), row["student"], *(fmt(v) for v in numbers))
    console.print(table)
    for row in rows:
        if row["best configuration"]:
            say_wrapped(f"best KD on {_data_name(row['dataset'])} with {row['student']}: {row['best configuration']}")
    say(
        f"{len(report.trials)} trials: {report.ran} run now, {report.skipped} already logged; "
        f"{len(report.failed)} failed; store {store_path}"
    )
    for record in report.failed[:5]:
        say(f"  failed {record.trial_id} ({record.dataset}, {record.student_name}): {record.error}")


def _counted(n: int, one: str, many: str) -> str:
    """``1 trial``, ``2 trials``: a count with its noun in the number it takes."""
    return f"{n} {one if n == 1 else many}"


def _data_name(dataset: str) -> str:
    """A data set as a table names it: a local file or folder by its name, a catalog or hub name whole."""
    return Path(dataset).name if Path(dataset).exists() else dataset


def _cell_name(cell: str) -> str:
    """An fANOVA's column (``"<student><-<teacher>: <data set>"``, or the data set pooled) with a local file
    by its name (:func:`_data_name`)."""
    group, sep, dataset = cell.partition(": ")
    return f"{group}: {_data_name(dataset)}" if sep else _data_name(cell)


def note(text: str) -> None:
    """A progress line on stderr, so that what a command answers (stdout) can be read or piped alone."""
    notes.print(text, highlight=False, soft_wrap=True)


def advice(rec: Recommendation, top: int, path: Any) -> None:
    """The decision in a dozen lines at 80 columns: what to run and why, its gain over logit KD with
    the interval and its minutes, then each alternative on one line (training longer among them, past
    ``top`` or over ``--budget`` too), logit KD's price, the command. Picks predicted to lose to logit KD
    beyond their interval are left out (``--explain`` shows all)."""
    alone = rec.command == "finetune"
    first, *rest = rec.picks[:top]
    teacher = f"{rec.teacher} (dev {rec.teacher_score:.3f})"  # what every ratio below is a share of
    say_wrapped(f"{rec.dataset_name} ({rec.task_kind}, {rec.metric}): {teacher} -> {rec.student}")
    _warn_teacher(rec)
    if alone:  # not to distil: every pick is an alternative
        gain = "" if rec.alone is None else f", {_interval(rec.alone)}"
        say_wrapped(f"advice: train {rec.student} alone, no KD{gain} (cheaper than logit KD's {_minutes_text(first)})")
        rest = [first, *rest]
    else:
        say_wrapped(f"advice: {_short_name(first, rec)}, {_gain_short(first)}, ~{fmt(first.minutes, 1)} min")
    if rec.verdict:
        say_wrapped(rec.verdict, indent="  ", hanging="  ")
    shown = [p for p in rest if p.gain is None or p.gain.high >= 0]
    hidden = len(rest) - len(shown)
    longer = rec.patient  # training longer: a row of its own where it is no row yet, or over --budget (rank 0)
    listed = [p.rank for p in ([] if alone else [first]) + shown]
    if longer is not None and longer.gain is not None and longer.gain.high >= 0 and longer.rank not in listed:
        shown.append(longer)
    if shown:
        last = "-. over --budget" if any(not pick.rank for pick in shown) else "minutes here"  # rank 0: over it
        say(f"alternatives (dev-ratio gain over logit KD, 80% interval; {last}):")
        for pick in shown:
            rank = f"{pick.rank}." if pick.rank else "-."
            over = not pick.rank and pick.minutes_range is not None  # over --budget by its range's top: say it
            minutes = f"≤{fmt(pick.minutes_range[1], 1)} min" if over else f"~{fmt(pick.minutes, 1)} min"
            line = f"{rank} {_short_name(pick, rec)}  {_gain_short(pick)}  {minutes}"
            say_wrapped(line, "  ", "     ")
    if hidden:
        say(f"  ({hidden} more predicted to lose to logit KD: --explain lists them)")
    if not alone and (rec.alone is not None or rec.probe is not None):
        why = "; ".join(
            ([] if rec.alone is None else [_interval(rec.alone)]) + ([] if rec.probe is None else [rec.probe.summary])
        )
        command = f"(`finetune --recommendation {path}`)"
        say_wrapped(f"train {rec.student} alone (no KD): {why}  {command}", hanging="  ", whole=command)
    if rec.logit_kd is not None and not _default(first):
        say(f"logit KD, the default it is weighed against: {_minutes_text(rec.logit_kd)}")
    if (coarse := _coarse_dev(rec)) is not None:
        say_wrapped(coarse, hanging="  ")
    say_wrapped(
        f"run it: autodistill {rec.command} --recommendation {path}" + ("" if alone else " --pick 1"), hanging="  "
    )
    say(f"(--explain: every pick, its evidence and a legend; --json: the record; {rec.timings['total_s']:.0f} s)")


def _coarse_dev(rec: Recommendation) -> str | None:
    """Where the data set's dev split is small: how finely a run's dev ratio is known on it, so that a
    predicted gain is not expected to show on the user's own runs (None where it resolves
    :data:`COARSE_DEV` or finer)."""
    from engine import ratio_standard_error

    n = rec.dev_examples
    se = rec.dev_ratio_se  # measured on the probe's predictions, where it could be; else the bound on n
    if se is None:
        se = ratio_standard_error(rec.metric, rec.teacher_score, n) if n else float("nan")
    return _coarse_line(n, se, "a run's dev ratio is known there to", "your own runs will not tell smaller gains apart")


def _warn_teacher(rec: Recommendation) -> None:
    """A teacher that answers one label everywhere: the advice below distils a constant."""
    if rec.teacher_one_answer is not None:
        from engine import one_answer_note

        say_wrapped(
            f"warning: {one_answer_note('the teacher', rec.teacher_one_answer)}, and every ratio below is to that "
            "constant; more examples or another --teacher",
            hanging="  ",
        )


def _short_name(pick: Any, rec: Recommendation | None = None) -> str:
    """A pick's pipeline label (its augmentation knobs are in ``--explain``), logit KD by name; with
    ``rec``, its epochs where they are not logit KD's (a pick at the longer budget)."""
    name = pick.config.name
    return f"{name}, {_epochs(pick)} epochs" if rec is not None and _longer(pick, rec) else name


def _longer(pick: Any, rec: Recommendation) -> bool:
    """Whether ``pick`` trains for other epochs than logit KD, the default, does."""
    return rec.logit_kd is not None and _epochs(pick) != _epochs(rec.logit_kd)


def _epochs(pick: Any) -> Any:
    """The epochs a pick trains for, as its engine config says."""
    return pick.engine.get("train", {}).get("epochs")


def _default(pick: Any) -> bool:
    """Whether ``pick`` is logit KD at this budget, the default every gain is measured from (logit KD
    trained longer, or on augmented copies, is a pick with a gain of its own)."""
    return pick.config.logit_only and pick.gain is None


def _gain_short(pick: Any) -> str:
    """``+0.009 [+0.006, +0.012]``: the one number a pick is judged by, with its interval."""
    if _default(pick):
        return "the default"
    return "gain not known (no comparable runs)" if pick.gain is None else _interval(pick.gain)


def _interval(gain: Any) -> str:
    """``+0.009 [+0.006, +0.012]``: a gain over logit KD with its interval."""
    return f"{gain.mean:+.3f} [{gain.low:+.3f}, {gain.high:+.3f}]"


def recommendation(rec: Recommendation, top: int, path: Any, legend: str) -> None:
    """``--explain``: the picks as short lines (an 80-column terminal and a piped file read the same):
    each pick's configuration and predicted minutes, then its gain over logit KD with the interval and
    what backs it; every pick, those predicted to lose included; logit KD's place; a legend."""
    say_wrapped(f"{rec.dataset_name}: {rec.teacher} -> {rec.student}, {rec.candidates} configurations weighed")
    _warn_teacher(rec)
    if rec.verdict:
        say_wrapped(rec.verdict)
    for p in rec.picks[:top]:
        say_wrapped(f"{p.rank}. {_pick_name(p, rec)}  {_minutes_text(p)}")
        say_wrapped(f"{_gain_text(p)}" + (f"; {p.reason}" if p.reason else ""), indent="   ", hanging="     ")
    if rec.logit_kd is not None:
        d = rec.logit_kd
        say_wrapped(f"logit KD: {_minutes_text(d)}, #{d.rank} of the distinct pipelines by predicted gain")
    if rec.alone is not None:
        alone = f"train {rec.student} alone (no KD): gain over logit KD {_interval(rec.alone)}"
        say_wrapped(f"{alone}; {rec.alone.evidence}")
    if rec.probe is not None:
        say_wrapped(f"probe of {rec.student} alone: {rec.probe.summary} ({rec.probe.pairs} pairs set it)")
    if rec.patient is not None and rec.patient.gain is not None:
        longer = rec.patient
        say_wrapped(
            f"train longer ({f'pick {longer.rank}' if longer.rank else 'over --budget'}): {_short_name(longer)} "
            f"for {_epochs(longer)} epochs against "
            f"logit KD at this budget: {_interval(longer.gain)} dev ratio, from {longer.reason}"
        )
    say_wrapped(legend)
    say_wrapped(
        f"teacher dev {rec.metric} {rec.teacher_score:.4f}; learned from {rec.n_runs} {rec.source} runs over "
        f"{len(rec.trained_on)} data sets ({', '.join(rec.trained_on)})"
    )
    say_wrapped(f"recommended in {rec.timings['total_s']:.1f} s ({_timing_parts(rec.timings)}); saved to {path}")
    say_wrapped(f"run pick K with `autodistill run --recommendation {path} --pick K`")


def trial_plan(plan: Any) -> None:
    """What a trial runs, before it runs: its size and predicted time, each alternative's predicted gain."""
    say_wrapped(plan.line)
    for pipeline, gain, minutes in zip(plan.alternatives, plan.gains, plan.minutes[1:], strict=True):
        per_run = "" if minutes is None else f"; ~{_duration(minutes)} a run"
        known = "not predicted" if gain is None else f"{gain.mean:+.3f} [{gain.low:+.3f}, {gain.high:+.3f}]"
        say_wrapped(f"- {pipeline.label}: gain over logit KD {known}{per_run}", indent="  ", hanging="    ")


def _duration(minutes: float) -> str:
    """Minutes as read at a glance: seconds under one minute."""
    return f"{minutes * 60:.0f} s" if minutes < 1 else f"{minutes:.1f} min"


def _pick_name(pick: Any, rec: Recommendation) -> str:
    """A pick's pipeline as one label, its augmentation knobs where they act (copies made once and
    cached, where its engine config says so), and its epochs where they are not logit KD's."""
    c = pick.config
    cached = pick.engine.get("aug_mode") == "cached"
    n = pick.engine.get("aug_copies") if cached else c.repeated_aug
    kind = "cached " if cached else ""
    copies = _counted(n, f"{kind}copy", f"{kind}copies")
    knobs = f" (aug_p {c.aug_p:g}, {copies})" if c.text_augment else ""
    epochs = f", {_epochs(pick)} epochs" if _longer(pick, rec) else ""
    return c.name + knobs + epochs


def _minutes_text(pick: Any) -> str:
    """``~4.2 min [2.9-6.8]``: the predicted minutes and the range that held most runs on unseen data sets."""
    known = "" if pick.minutes_range is None else f" [{fmt(pick.minutes_range[0], 1)}-{fmt(pick.minutes_range[1], 1)}]"
    return f"~{fmt(pick.minutes, 1)} min{known}"


def _gain_text(pick: Any) -> str:
    if _default(pick):
        return "the default to beat"
    g = pick.gain
    if g is None:
        return "gain over logit KD: no comparable runs"
    return f"gain over logit KD {g.mean:+.3f} [{g.low:+.3f}, {g.high:+.3f}]; {g.evidence}"


def _timing_parts(timings: Mapping[str, float]) -> str:
    return ", ".join(f"{key.removesuffix('_s')} {value:.1f} s" for key, value in timings.items() if key != "total_s")


def versus_random(results: pd.DataFrame, stats: Mapping[str, tuple[float, float, int]]) -> None:
    """Figure 4: the picks' actual ratios beside random configurations'."""
    ours = results[results["group"] == "AutoDistiller"].reset_index(drop=True)
    rand = results[results["group"] == "random"].reset_index(drop=True)
    table = Table(
        "#", "AutoDistiller pick", "ratio", "random configuration", "ratio", title="actual distillation ratios"
    )
    for k in range(max(len(ours), len(rand))):
        cells = []
        for side in (ours, rand):
            row = side.iloc[k] if k < len(side) else None
            cells += [row["config"].label, fmt(row["ratio"], 4)] if row is not None else ["", ""]
        table.add_row(str(k + 1), *cells)
    console.print(table)
    for group, (mean, std, count) in stats.items():
        if group == "no-KD":
            say(f"no-KD baseline (same student and budget): ratio {fmt(mean, 4)}")
        else:
            say(f"{group}: mean ratio {fmt(mean, 4)} ± {fmt(std, 4)} over {count} finished runs")
    for row in results.itertuples():
        if row.error:
            say(f"  failed ({row.group}): {row.error}")


def search(report: SearchReport, store_path: Any) -> None:
    """The study's trials in order (picks marked), then the best pipeline on dev with its test ratio. A
    pruned trial's ratios are those of its best epoch before it was stopped."""
    table = Table("#", "pick", "pipeline", "state", "epochs", "dev ratio", "test ratio", "seconds",
                  title=f"search {report.study_name} (ratio = student / teacher score)")  # fmt: skip
    for t in report.trials:
        pipeline = t.user_attrs.get("pipeline", "")
        table.add_row(
            str(t.number + 1), fmt(t.user_attrs.get("pick")), pipeline, t.state.name.lower(),
            fmt(t.user_attrs.get("epochs")), fmt(t.user_attrs.get("dev_ratio")), fmt(t.user_attrs.get("test_ratio")),
            fmt(float(t.user_attrs["seconds"]), 0),
        )  # fmt: skip
    console.print(table)
    for note in report.notes:
        say(note)
    if report.best is not None and report.best_pipeline is not None:
        best = report.best
        say(
            f"best on dev: {report.best_pipeline.label}, dev ratio {fmt(best.value)}, "
            f"test ratio {fmt(best.user_attrs.get('test_ratio'))} (trial {best.number + 1})"
        )
        if report.reference is not None:
            say(report.reference)
        if report.dev_resolution is not None:
            n, se = report.dev_resolution
            line = _coarse_line(
                n, se, "a trial's dev ratio is known there to", "trials closer than that are not told apart"
            )
            if line is not None:
                say_wrapped(line, hanging="  ")
        say(f"its student: {report.exported} (ONNX: `autodistill export --model {report.exported} --format onnx`)")
    ran = _counted(report.ran, "trial", "trials")
    say(f"{ran} run now, {len(report.trials)} in the study; every trial is in the store {store_path}")
