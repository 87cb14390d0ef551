"""``load_task``: one entry point for catalog names, local files and Hugging Face hub names.

Whatever the source, the result is a :class:`~engine.data.schema.TaskData` with
the normalised columns, so the rest of the engine never asks where data came from
(the rows themselves are read by :mod:`engine.data.readers`).
User columns are mapped to normalised ones by the ``*_col`` arguments (or found
under their usual names), the task type is inferred when the data leave no doubt,
and every mistake is reported as a one-line :class:`AutodistillError` before
anything is written. What differs between task types (their columns, how their
labels are checked and numbered, how the type is recognised) is asked of the task
heads (:mod:`engine.tasks`); this module never branches on the task type.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from engine.data import catalog
from engine.data.builders import DATASETS
from engine.data.readers import EXTENSIONS, looks_like_path, read_hub, read_local
from engine.data.schema import SPLITS, TaskData
from engine.data.splits import FRACTIONS, dedup, split_indices, stratified_sample
from engine.errors import AutodistillError, choices_error
from engine.tasks import TASK_HEADS, TaskHead, head_of
from engine.tasks.head import row_place
from engine.tasks.spec import TaskSpec

#: The task heads, in the order type inference asks them.
_HEADS: list[TaskHead] = sorted((TASK_HEADS.get(name) for name in TASK_HEADS), key=lambda head: head.inference_rank)
#: Normalised column -> the column names it is looked up under when no ``*_col`` is given:
#: the shared text columns, then each task type's own.
USUAL_NAMES = {
    "text": (
        "text",
        "sentence",
        "sentence1",
        "question",
        "review",
        "content",
        "comment",
        "tweet",
        "article",
        "document",
        "body",
        "premise",
        "question1",
    ),
    "text_pair": ("text_pair", "sentence2", "context", "hypothesis", "question2"),
    **{role: names for name in TASK_HEADS for role, names in TASK_HEADS.get(name).usual_names.items()},
}
#: Normalised column -> the ``load_task`` argument that maps a user column onto it.
OPTION = {
    "text": "text_col",
    "text_pair": "text_pair_col",
    "label": "label_col",
    "answer_text": "answer_col",
    "answer_start": "answer_start_col",
}


def option_name(role: str) -> str:
    """How a user names ``role``'s column: the flag they type, and the key a config file takes."""
    return f"--{OPTION[role].replace('_', '-')} (columns.{OPTION[role]} in a config)"


def load_task(
    source: str | os.PathLike[str],
    *,
    task_type: str | None = None,
    text_col: str | None = None,
    text_pair_col: str | None = None,
    label_col: str | None = None,
    answer_col: str | None = None,
    answer_start_col: str | None = None,
    encoding: str | None = None,
    metric: str | None = None,
    name: str | None = None,
    description: str | None = None,
    max_examples: int | None = None,
    seed: int = 0,
    split_version: int | None = None,
) -> TaskData:
    """Load ``source`` as a task with train/dev/test splits.

    ``source`` is a catalog name (prepared on first use), a CSV/TSV/JSONL/Parquet file,
    a folder of ``train``/``dev`` (or ``validation``)/``test`` files, or a Hugging Face
    hub name (``"name"`` or ``"name:config"``). Splits that a source lacks are made
    with ``seed``: a lone file gets a stratified 80/10/10 split (duplicates removed);
    without a dev set, dev is carved from train; without a test set, the dev set
    becomes the test set and dev is carved from train, as the GLUE papers report dev.
    ``max_examples`` keeps a seeded stratified sample of at most that many rows per split.
    ``encoding`` decodes a local text file (default UTF-8). ``metric`` makes another of the task
    type's metrics the headline (macro F1 for a class that dominates, say); default: the type's own.
    ``split_version`` picks a catalog data set's version of its splits (default: the latest);
    other sources have one version, 1.
    """
    options = (text_col, text_pair_col, label_col, answer_col, answer_start_col)
    given = dict(zip(OPTION, options, strict=True))
    if max_examples is not None and max_examples < 1:
        raise AutodistillError(f"max_examples must be a positive number of rows, got {max_examples}")
    if split_version not in (None, 1) and str(source) not in DATASETS:
        raise AutodistillError(f"{source}: split versions belong to catalog data sets; a file or hub set has 1 only")
    data = _from_source(str(source), given, _task_type(task_type), seed, encoding, split_version)
    overrides = {key: value for key, value in (("name", name), ("description", description)) if value}
    if overrides:
        data.spec = dataclasses.replace(data.spec, **overrides)
    if max_examples is not None:
        _sample_splits(data, max_examples, seed)
    head = head_of(data.spec.task_type)
    data.spec = head.fit_spec(data.spec, data.train)
    if metric is not None and metric != data.spec.metric:
        if metric not in head.metric_choices(data.spec):
            raise choices_error(f"metric for this {head.human_name} task", metric, head.metric_choices(data.spec))
        data.spec = dataclasses.replace(data.spec, metric=metric)
    return data


def _from_source(
    source: str,
    given: Mapping[str, str | None],
    wanted: str | None,
    seed: int,
    encoding: str | None,
    split_version: int | None,
) -> TaskData:
    """The task in the catalog, a local file or folder, or the hub, whichever ``source`` names."""
    path = Path(source).expanduser()
    local = source not in DATASETS and (path.exists() or looks_like_path(source))
    if encoding and not local:
        raise AutodistillError(f"encoding={encoding!r} applies to local files only, not to {source!r}")
    if source in DATASETS:
        return _from_catalog(source, given, wanted, split_version)
    if path.exists():
        frames, origin = read_local(path, encoding)
        label_names: dict[str, list[str]] = {}
    elif looks_like_path(source):
        raise AutodistillError(f"file not found: {source}")
    else:
        frames, label_names = read_hub(source)
        origin = f"hub data set {source!r}"
    return _build(frames, origin, default_name(source), given, wanted, label_names, seed)


def _sample_splits(data: TaskData, max_examples: int, seed: int) -> None:
    """Keep a seeded stratified sample of at most ``max_examples`` rows of each split."""
    for split in SPLITS:
        part = data.split(split)
        rows = stratified_sample(catalog.strata(part, data.spec.task_type), max_examples, seed)
        setattr(data, split, part.iloc[rows].reset_index(drop=True))


def _task_type(value: str | None) -> str | None:
    """A task type's name, checked against the registered heads (None: inferred from the columns)."""
    return None if value is None else head_of(value).name


def default_name(source: str) -> str:
    """The name a data set loads under, and its runs carry: ``data/reviews.csv`` -> ``reviews``; a folder or
    hub name keeps its last part."""
    path = Path(source)
    return path.stem if path.suffix in EXTENSIONS else path.name or source


def _from_catalog(
    name: str, given: Mapping[str, str | None], wanted: str | None, split_version: int | None
) -> TaskData:
    mapped = [f"{OPTION[role]}={col!r}" for role, col in given.items() if col]
    if mapped:
        raise AutodistillError(
            f"catalog data set {name!r} has fixed columns; {', '.join(mapped)} applies to files only"
        )
    spec = DATASETS.get(name).spec
    if wanted is not None and wanted is not spec.task_type:
        raise AutodistillError(f"catalog data set {name!r} is a {spec.task_type} task, not {wanted}")
    return catalog.load(name, split_version)


# --------------------------------------------------------------------------- normalising


def _resolve_columns(available: list[str], given: Mapping[str, str | None], origin: str) -> dict[str, str]:
    """Normalised column -> user column, from the ``*_col`` arguments or the usual names."""
    resolved = {}
    for role, usual in USUAL_NAMES.items():
        if given.get(role):
            if given[role] not in available:
                raise AutodistillError(
                    f"{role} column {given[role]!r} not found in {origin}; "
                    f"available columns: {', '.join(map(str, available))}"
                )
            resolved[role] = given[role]
            continue
        candidates = [c for c in usual if c in available and c not in resolved.values()]
        if len(candidates) > 1 and candidates[0] != role:
            choose = f"choose one with {option_name(role)}" if role in OPTION else f"rename the one to use {role!r}"
            raise AutodistillError(f"{origin} has several possible {role} columns ({', '.join(candidates)}); {choose}")
        if candidates:
            resolved[role] = candidates[0]
    if not any(head.text_column in resolved for head in _HEADS):
        raise AutodistillError(
            f"no text column in {origin} (looked for {', '.join(USUAL_NAMES['text'])}); "
            f"pass {option_name('text')}; available columns: {', '.join(map(str, available))}"
        )
    return resolved


def _infer_type(frame: pd.DataFrame, columns: Mapping[str, str], origin: str) -> str:
    """The first task type (by inference rank) whose head recognises the columns."""
    for head in _HEADS:
        if head.recognises(frame, columns):
            return head.name
    if "tokens" in columns and "tags" not in columns:
        raise AutodistillError(
            f"no tag column beside the words in {origin} (looked for {', '.join(USUAL_NAMES['tags'])}): words alone "
            f"can be predicted on, not trained on; pass {option_name('label')} to name the tags; available "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    raise AutodistillError(
        f"no label column in {origin} (looked for {', '.join(USUAL_NAMES['label'])}); "
        f"pass {option_name('label')}, or {option_name('answer_text')} for a span task; available columns: "
        f"{', '.join(map(str, frame.columns))}"
    )


def _fill_splits(
    frames: dict[str, pd.DataFrame], task_type: str, seed: int, notes: dict[str, int], origin: str
) -> tuple[dict[str, pd.DataFrame], str | None]:
    """Make the splits a source lacks (see :func:`load_task`), and say how, where the source named some
    splits but not all (None: it named all three, or none and was split as the docs say)."""
    if "all" not in frames and "train" not in frames:
        raise AutodistillError(f"no train split in {origin}; it has: {', '.join(frames)}")
    head = head_of(task_type)
    if "all" in frames or set(frames) == {"train"}:
        frame = frames.get("all", frames.get("train"))
        frame, dropped = dedup(frame, ["text", "text_pair"], list(head.target_columns))
        notes.update(dropped)
        return catalog.split_frame(frame, task_type, seed, head.split_groups(frame)), None
    made = None
    if "test" not in frames:
        frames = {"train": frames["train"], "test": frames["dev"]}
        made = "no test split: the dev split given is scored as test, and dev is drawn from train"
    if "dev" not in frames:
        train = frames["train"]
        dev_share = FRACTIONS[1] / (FRACTIONS[0] + FRACTIONS[1])
        groups = head.split_groups(train)
        keep, carved = split_indices(catalog.strata(train, task_type), seed, (1 - dev_share, dev_share),
                                     None if groups is None else groups.to_numpy())  # fmt: skip
        frames = {**frames, "train": train.iloc[keep], "dev": train.iloc[carved]}
        made = (made or "no dev split: dev is drawn from train") + f" ({len(carved):,} rows, seed {seed})"
    return {split: frames[split].reset_index(drop=True) for split in SPLITS}, made


def _needed(task_type: str, columns: Mapping[str, str], available: list[str], origin: str) -> list[str]:
    """The normalised columns a task of ``task_type`` keeps; a missing required one is an error."""
    head = head_of(task_type)
    for role in head.required_columns:
        if role not in columns:
            raise AutodistillError(
                f"a {task_type} task needs a {role} column; none found in {origin} (looked for "
                f"{', '.join(USUAL_NAMES[role])}); available columns: {', '.join(map(str, available))}"
            )
    return [role for role in head.columns if role in columns]


def _normalise(
    part: pd.DataFrame,
    split: str,
    columns: Mapping[str, str],
    needed: list[str],
    head: TaskHead,
    origin: str,
    notes: dict,
) -> pd.DataFrame:
    """One split with normalised column names, rows lacking a value dropped (and counted)."""
    missing = [columns[role] for role in needed if columns[role] not in part]
    if missing:
        raise AutodistillError(
            f"{split} split of {origin} lacks column {missing[0]!r}; available columns: "
            f"{', '.join(map(str, part.columns))}"
        )
    part = part[[columns[role] for role in needed]].set_axis(needed, axis=1)
    complete = part[[c for c in needed if c != "answer_start"]].notna().all(axis=1)
    notes["missing_dropped"] += int((~complete).sum())
    part = part[complete].astype({col: str for col in ("text", "text_pair") if col in part})
    part, dropped = head.check_rows(part, lambda row: row_place(split, row, origin))
    for reason, count in dropped.items():
        notes[reason] += count
    return part


def _without_unlabelled_test(
    frames: dict[str, pd.DataFrame], columns: Mapping[str, str], head: TaskHead
) -> tuple[dict[str, pd.DataFrame], str | None]:
    """``frames`` less a test file without the label column (a competition's test file: labels kept
    back), and that column's name; the frames as they are where the test file has its labels."""
    labels = [columns[role] for role in head.required_columns if role in head.target_columns and role in columns]
    test = frames.get("test")
    if test is None or "train" not in frames or not labels or any(label in test for label in labels):
        return frames, None
    return {split: part for split, part in frames.items() if split != "test"}, labels[0]


def _build(
    frames: dict[str, pd.DataFrame],
    origin: str,
    name: str,
    given: Mapping[str, str | None],
    wanted: str | None,
    hub_names: Mapping[str, list[str]],
    seed: int,
) -> TaskData:
    """Normalise, validate and split the frames read from a file, folder or hub data set."""
    first = frames.get("train", next(iter(frames.values())))  # columns are read off train where there is one
    if sum(len(f) for f in frames.values()) == 0:
        raise AutodistillError(f"data set {origin} is empty")
    columns = _resolve_columns(list(first.columns), given, origin)
    for head in _HEADS:
        columns = head.claim_columns(first, columns, named=[role for role, column in given.items() if column])
    task_type = wanted or _infer_type(first, columns, origin)
    needed = _needed(task_type, columns, list(first.columns), origin)
    head = head_of(task_type)
    frames, unlabelled = _without_unlabelled_test(frames, columns, head)
    notes = {"missing_dropped": 0, "unanswerable_dropped": 0}
    normalised = {
        split: _normalise(part, split, columns, needed, head, origin, notes) for split, part in frames.items()
    }
    if sum(len(f) for f in normalised.values()) == 0:
        raise AutodistillError(f"data set {origin} is empty once rows with missing values are dropped")

    label_col = columns.get(head.target_columns[0], "")  # the class or target column; a tagger's tag lists
    normalised, label_names, dropped = head.number_labels(normalised, label_col, origin, hub_names.get(label_col))
    notes.update(dropped)

    splits, made = _fill_splits(normalised, task_type, seed, notes, origin)
    if unlabelled:
        rest = made or "train, dev and test are drawn from the train file"
        made = f"the test file holds no {unlabelled!r} column, so it is left out (predict labels it); {rest}"
    if any(splits[split].empty for split in SPLITS):
        sizes = ", ".join(f"{s} {len(splits[s])}" for s in SPLITS)
        raise AutodistillError(f"too few examples in {origin} to fill every split ({sizes})")
    spec = TaskSpec(
        name=name,
        task_type=task_type,
        description=f"User-provided {task_type} task loaded from {origin}.",
        label_names=label_names,
        paired="text_pair" in needed,
    )
    # A head that reads whole texts, one or two (a tagger's words come with their sentence as text, say)
    unread = _texts(first, {columns[role] for role in needed}) if "text_pair" in head.columns else []
    extra = {"source": origin, "columns": columns, "notes": notes, "made": made, "unread": unread}
    return TaskData(spec=spec, **splits, extra=extra)


def _texts(frame: pd.DataFrame, read: set[str]) -> list[str]:
    """The columns of ``frame`` besides ``read`` that hold text (most cells have a space: not ids, not
    labels), which a run would not read: a pair's second text left unnamed trains on half of each example."""
    unread = []
    for column in frame.columns:
        cells = frame[column].dropna()
        if column in read or cells.empty or not all(isinstance(cell, str) for cell in cells.head(200)):
            continue
        if cells.head(200).str.contains(" ").mean() >= 0.5:
            unread.append(str(column))
    return unread
