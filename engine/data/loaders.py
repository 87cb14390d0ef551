"""``load_task``: one entry point for catalog names, local files and Hugging Face hub names.

Whatever the source, the result is a :class:`~engine.data.schema.TaskData` with
the normalised columns, so the rest of the engine never asks where data came from
(the rows themselves are read by :mod:`engine.data.readers`).
User columns are mapped to normalised ones by the ``*_col`` arguments (or found
under their usual names), the task type is inferred when the data leave no doubt,
and every mistake is reported as a one-line :class:`AutodistillError` before
anything is written. Token-tagged files (a word-list and a tag-list column) are
checked and numbered by :mod:`engine.data.token_files`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from engine.data import catalog, token_files
from engine.data.builders import DATASETS
from engine.data.readers import EXTENSIONS, looks_like_path, read_hub, read_local
from engine.data.schema import SPLITS, TaskData, TaskSpec, TaskType
from engine.data.splits import FRACTIONS, dedup, split_indices, stratified_sample
from engine.errors import AutodistillError, choices_error

#: Normalised column -> the column names it is looked up under when no ``*_col`` is given.
USUAL_NAMES = {
    "text": ("text", "sentence", "sentence1", "question"),
    "text_pair": ("text_pair", "sentence2", "context"),
    "label": ("label", "labels", "target", "score"),
    "answer_text": ("answer_text", "answers"),
    "answer_start": ("answer_start",),
    "tokens": ("tokens", "words"),
    "tags": ("tags", "ner_tags", "pos_tags", "upos"),
}
#: Normalised column -> the ``load_task`` argument that maps a user column onto it.
OPTION = {
    "text": "text_col",
    "text_pair": "text_pair_col",
    "label": "label_col",
    "answer_text": "answer_col",
    "answer_start": "answer_start_col",
}


def load_task(
    source: str | os.PathLike[str],
    *,
    task_type: TaskType | str | None = None,
    text_col: str | None = None,
    text_pair_col: str | None = None,
    label_col: str | None = None,
    answer_col: str | None = None,
    answer_start_col: str | None = None,
    name: str | None = None,
    description: str | None = None,
    max_examples: int | None = None,
    seed: int = 0,
    split_version: int | None = None,
) -> TaskData:
    """Load ``source`` as a task with train/dev/test splits.

    ``source`` is a catalog name (prepared on first use), a CSV/JSONL/Parquet file,
    a folder of ``train``/``dev`` (or ``validation``)/``test`` files, or a Hugging Face
    hub name (``"name"`` or ``"name:config"``). Splits that a source lacks are made
    with ``seed``: a lone file gets a stratified 80/10/10 split (duplicates removed);
    without a dev set, dev is carved from train; without a test set, the dev set
    becomes the test set and dev is carved from train, as the GLUE papers report dev.
    ``max_examples`` keeps a seeded stratified sample of at most that many rows per split.
    ``split_version`` picks a catalog data set's version of its splits (default: the latest);
    other sources have one version, 1.
    """
    options = (text_col, text_pair_col, label_col, answer_col, answer_start_col)
    given = dict(zip(OPTION, options, strict=True))
    if max_examples is not None and max_examples < 1:
        raise AutodistillError(f"max_examples must be a positive number of rows, got {max_examples}")
    if str(source) in DATASETS:
        data = _from_catalog(str(source), given, _task_type(task_type), split_version)
    elif split_version not in (None, 1):
        raise AutodistillError(f"{source}: split versions belong to catalog data sets; a file or hub set has 1 only")
    else:
        data = _from_source(str(source), given, _task_type(task_type), seed)
    overrides = {key: value for key, value in (("name", name), ("description", description)) if value}
    if overrides:
        data.spec = dataclasses.replace(data.spec, **overrides)
    if max_examples is not None:
        _sample_splits(data, max_examples, seed)
    if data.spec.task_type is TaskType.REGRESSION:
        labels = data.train["label"].astype(float)
        std = float(labels.std(ddof=0))
        data.spec = dataclasses.replace(data.spec, label_scale=(float(labels.mean()), std if std > 0 else 1.0))
    return data


def _from_source(source: str, given: Mapping[str, str | None], wanted: TaskType | None, seed: int) -> TaskData:
    """The task in a local file or folder, or on the hub, whichever ``source`` names."""
    path = Path(source).expanduser()
    if path.exists():
        frames, origin = read_local(path)
        label_names: dict[str, list[str]] = {}
    elif looks_like_path(source):
        raise AutodistillError(f"file not found: {source}")
    else:
        frames, label_names = read_hub(source)
        origin = f"hub data set {source!r}"
    return _build(frames, origin, _default_name(source), given, wanted, label_names, seed)


def _sample_splits(data: TaskData, max_examples: int, seed: int) -> None:
    """Keep a seeded stratified sample of at most ``max_examples`` rows of each split."""
    for split in SPLITS:
        part = data.split(split)
        rows = stratified_sample(catalog.strata(part, data.spec.task_type), max_examples, seed)
        setattr(data, split, part.iloc[rows].reset_index(drop=True))


def _task_type(value: TaskType | str | None) -> TaskType | None:
    if value is None or isinstance(value, TaskType):
        return value
    try:
        return TaskType(value)
    except ValueError:
        raise choices_error("task type", value, [t.value for t in TaskType]) from None


def _default_name(source: str) -> str:
    """``data/reviews.csv`` -> ``reviews``; a folder or hub name keeps its last part."""
    path = Path(source)
    return path.stem if path.suffix in EXTENSIONS else path.name or source


def _from_catalog(
    name: str, given: Mapping[str, str | None], wanted: TaskType | None, split_version: int | None
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
            choose = f"choose one with {OPTION[role]}" if role in OPTION else f"rename the one to use {role!r}"
            raise AutodistillError(f"{origin} has several possible {role} columns ({', '.join(candidates)}); {choose}")
        if candidates:
            resolved[role] = candidates[0]
    if "text" not in resolved and "tokens" not in resolved:
        raise AutodistillError(
            f"no text column in {origin} (looked for {', '.join(USUAL_NAMES['text'])}); "
            f"pass text_col; available columns: {', '.join(map(str, available))}"
        )
    return resolved


def _is_continuous(labels: pd.Series) -> bool:
    """Numeric labels with a fractional value: a regression target, not class ids."""
    if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        return False
    values = labels.to_numpy(dtype=float)
    return bool(np.any(values != np.round(values)))


def _infer_type(frame: pd.DataFrame, columns: Mapping[str, str], origin: str) -> TaskType:
    if "tokens" in columns and "tags" in columns:
        return TaskType.TOKEN
    if "answer_text" in columns:
        return TaskType.SPAN
    if "label" not in columns:
        raise AutodistillError(
            f"no label column in {origin} (looked for {', '.join(USUAL_NAMES['label'])}); "
            f"pass label_col (or answer_col for a span task); available columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    return TaskType.REGRESSION if _is_continuous(frame[columns["label"]].dropna()) else TaskType.CLASSIFICATION


def _first(value: object, key: str) -> object:
    """First answer of a SQuAD-style ``{"text": [...], "answer_start": [...]}`` cell, else the cell."""
    if isinstance(value, Mapping):
        value = value.get(key)
    if isinstance(value, list | tuple | np.ndarray):
        return value[0] if len(value) else None
    return value


def _where(split: str, row: object, origin: str) -> str:
    """``row 3 of data.csv`` or ``dev row 3 of folder``: rows count from 0 in the file they came from."""
    return f"row {row} of {origin}" if split == "all" else f"{split} row {row} of {origin}"


def _span_rows(frame: pd.DataFrame, split: str, origin: str) -> pd.DataFrame:
    """Answer text and start per row, checked against the context; unanswerable rows are dropped."""
    answers = frame["answer_text"]
    text = answers.map(lambda v: _first(v, "text"))
    if "answer_start" in frame:
        start = frame["answer_start"].map(lambda v: _first(v, "answer_start"))
    else:
        start = answers.map(lambda v: _first(v, "answer_start") if isinstance(v, Mapping) else None)
    frame = frame.assign(answer_text=text, answer_start=start)
    frame = frame[frame["answer_text"].map(lambda t: isinstance(t, str) and t != "")]
    starts = []
    for row, context, answer, given in zip(
        frame.index, frame["text_pair"], frame["answer_text"], frame["answer_start"], strict=True
    ):
        if given is None or pd.isna(given):
            found = context.find(answer)
            if found < 0:
                raise AutodistillError(
                    f"span answer {answer!r} not found in its context ({_where(split, row, origin)})"
                )
            starts.append(found)
        elif context[int(given) : int(given) + len(answer)] == answer:
            starts.append(int(given))
        else:
            raise AutodistillError(
                f"span answer {answer!r} is not at answer_start {int(given)} of its context "
                f"({_where(split, row, origin)})"
            )
    return frame.assign(answer_start=np.asarray(starts, dtype="int64"))


def _class_ids(frames: dict[str, pd.DataFrame], names: list[str] | None, origin: str, column: str) -> list[str]:
    """Encode labels in place as ids of the sorted class names (or the hub's own names)."""
    if names is not None:  # hub ClassLabel: already ids; -1 marks an unlabelled (hidden test) row
        for split, part in frames.items():
            frames[split] = part[part["label"] >= 0].reset_index(drop=True)
        return names
    labels = pd.concat([part["label"] for part in frames.values()])
    if _is_continuous(labels):
        example = labels[labels != labels.round()].iloc[0]
        raise AutodistillError(
            f"label column {column!r} of {origin} holds continuous values (e.g. {example}); use task_type='regression'"
        )
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    values = sorted(set(labels.astype("int64") if numeric else labels.astype(str)))
    ids = {value: i for i, value in enumerate(values)}
    for split, part in frames.items():
        key = part["label"].astype("int64") if numeric else part["label"].astype(str)
        frames[split] = part.assign(label=key.map(ids).astype("int64"))
    return [str(v) for v in values]


def _targets(frames: dict[str, pd.DataFrame], origin: str, column: str) -> None:
    """Regression targets as float, in place; a non-number is an error naming it."""
    for split, part in frames.items():
        numbers = pd.to_numeric(part["label"], errors="coerce")
        bad = numbers.isna()
        if bad.any():
            row = bad.idxmax()
            raise AutodistillError(
                f"regression target column {column!r} is not numeric: "
                f"{part['label'][row]!r} ({_where(split, row, origin)})"
            )
        frames[split] = part.assign(label=numbers.astype("float64"))


def _fill_splits(
    frames: dict[str, pd.DataFrame], task_type: TaskType, seed: int, notes: dict[str, int], origin: str
) -> dict[str, pd.DataFrame]:
    """Make the splits a source lacks (see :func:`load_task`)."""
    if "all" not in frames and "train" not in frames:
        raise AutodistillError(f"no train split in {origin}; it has: {', '.join(frames)}")
    if "all" in frames or set(frames) == {"train"}:
        frame = frames.get("all", frames.get("train"))
        inputs = ["text", "text_pair"]
        targets = {TaskType.SPAN: ["answer_start", "answer_text"], TaskType.TOKEN: ["tags"]}.get(task_type, ["label"])
        frame, dropped = dedup(frame, inputs, targets)
        notes.update(dropped)
        return catalog.split_frame(frame, task_type, seed)
    if "test" not in frames:
        frames = {"train": frames["train"], "test": frames["dev"]}
    if "dev" not in frames:
        train = frames["train"]
        dev_share = FRACTIONS[1] / (FRACTIONS[0] + FRACTIONS[1])
        keep, carved = split_indices(catalog.strata(train, task_type), seed, (1 - dev_share, dev_share))
        frames = {**frames, "train": train.iloc[keep], "dev": train.iloc[carved]}
    return {split: frames[split].reset_index(drop=True) for split in SPLITS}


def _needed(task_type: TaskType, columns: Mapping[str, str], available: list[str], origin: str) -> list[str]:
    """The normalised columns a task of ``task_type`` keeps; a missing required one is an error."""
    if task_type is TaskType.SPAN:
        needed, required = ["text", "text_pair", "answer_text", "answer_start"], ("text_pair", "answer_text")
    elif task_type is TaskType.TOKEN:
        needed, required = ["tokens", "tags"], ("tokens", "tags")
    else:
        needed, required = ["text", "text_pair", "label"], ("label",)
    for role in required:
        if role not in columns:
            raise AutodistillError(
                f"a {task_type} task needs a {role} column; none found in {origin} (looked for "
                f"{', '.join(USUAL_NAMES[role])}); available columns: {', '.join(map(str, available))}"
            )
    return [role for role in needed if role in columns]


def _normalise(
    part: pd.DataFrame, split: str, columns: Mapping[str, str], needed: list[str], origin: str, notes: dict
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
    if "tokens" in part:
        part, empty = token_files.token_rows(part, lambda row: _where(split, row, origin))
        notes["missing_dropped"] += empty
    if "answer_text" in part:
        answered = _span_rows(part, split, origin)
        notes["unanswerable_dropped"] += len(part) - len(answered)
        part = answered
    return part


def _encode_classes(
    frames: dict[str, pd.DataFrame], hub_names: list[str] | None, origin: str, column: str, notes: dict
) -> tuple[dict[str, pd.DataFrame], tuple[str, ...]]:
    """Class ids and names; splits left with no labelled row (hidden hub test sets) are removed."""
    labelled = sum(map(len, frames.values()))
    names = tuple(_class_ids(frames, hub_names, origin, column))
    notes["unlabelled_dropped"] = labelled - sum(map(len, frames.values()))
    frames = {split: part for split, part in frames.items() if len(part)}
    present = sorted(set(pd.concat([f["label"] for f in frames.values()]))) if frames else []
    if len(present) < 2:
        only = repr(names[present[0]]) if present else "none"
        raise AutodistillError(
            f"classification needs at least 2 distinct labels; label column {column!r} of {origin} "
            f"has {len(present)} ({only})"
        )
    return frames, names


def _build(
    frames: dict[str, pd.DataFrame],
    origin: str,
    name: str,
    given: Mapping[str, str | None],
    wanted: TaskType | None,
    hub_names: Mapping[str, list[str]],
    seed: int,
) -> TaskData:
    """Normalise, validate and split the frames read from a file, folder or hub data set."""
    first = next(iter(frames.values()))
    if sum(len(f) for f in frames.values()) == 0:
        raise AutodistillError(f"data set {origin} is empty")
    columns = _resolve_columns(list(first.columns), given, origin)
    task_type = wanted or _infer_type(first, columns, origin)
    needed = _needed(task_type, columns, list(first.columns), origin)
    notes = {"missing_dropped": 0, "unanswerable_dropped": 0}
    normalised = {split: _normalise(part, split, columns, needed, origin, notes) for split, part in frames.items()}
    if sum(len(f) for f in normalised.values()) == 0:
        raise AutodistillError(f"data set {origin} is empty once rows with missing values are dropped")

    label_names: tuple[str, ...] = ()
    if task_type is TaskType.CLASSIFICATION:
        label_col = columns["label"]
        normalised, label_names = _encode_classes(normalised, hub_names.get(label_col), origin, label_col, notes)
    elif task_type is TaskType.TOKEN:
        normalised, label_names = token_files.encode_tags(normalised, origin)
    elif task_type is TaskType.REGRESSION:
        _targets(normalised, origin, columns["label"])
        if pd.concat([f["label"] for f in normalised.values()]).nunique() < 2:
            raise AutodistillError(f"regression target column {columns['label']!r} of {origin} is constant")

    splits = _fill_splits(normalised, task_type, seed, notes, origin)
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
    return TaskData(spec=spec, **splits, extra={"source": origin, "columns": columns, "notes": notes})
