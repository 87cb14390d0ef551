"""The data catalog: list the packaged data sets, prepare them once, load them as TaskData.

``prepare`` runs a builder from :mod:`engine.data.sources`, then does what every
data set shares: encode labels as ids of the sorted class names, split train/dev/test
with the data set's fixed seed (stratified on the label, or on binned targets for
regression), and write ``{train,dev,test}.parquet``, ``stats.json`` and
``spec.json`` under ``<home>/datasets/<name>/``. The folder appears in one rename,
so a crash never leaves a half-written data set that a later run would trust.

Splits are versioned. Version 1 is the split above. A data set whose source holds
more than its capped sample also has version 2 (``<name>.split2/``): the same
training split, with dev and test drawn anew, and larger, from every row outside it
(:func:`_resplit`). Runs record the version they ran on, so scores on the two are
never mixed by accident.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from engine import paths
from engine.data import sources  # noqa: F401  (registers the builders)
from engine.data.builders import DATASETS, Built, Dataset, MissingAssetError
from engine.data.resolution import LOW_RESOLUTION_TEST, low_resolution
from engine.data.schema import SPLITS, TaskData
from engine.data.splits import FRACTIONS, draw_like, split_indices
from engine.errors import AutodistillError
from engine.tasks import head_of
from engine.tasks.spec import TaskSpec

SPEC_FILE = "spec.json"
STATS_FILE = "stats.json"
#: Every catalog set's split sizes per split version, written with the cards (``python -m engine.data``),
#: so that the study's noise model knows a test split's size without building the data set.
SIZES_FILE = paths.META_DATA / "cards" / "split_sizes.json"


def columns(spec: TaskSpec) -> tuple[str, ...]:
    """The normalised columns a task's frames carry."""
    return head_of(spec.task_type).frame_columns(spec)


def list_datasets() -> list[TaskSpec]:
    """Specs of every catalog data set, by name."""
    return [DATASETS.get(name).spec for name in sorted(DATASETS.names())]


def _locate(name: str) -> Path:
    """The raw source of ``name``; a missing one names the data set it blocks."""
    try:
        return DATASETS.get(name).asset.locate()
    except MissingAssetError as error:
        raise MissingAssetError(f"cannot prepare data set {name!r}: {error}") from None


def missing_asset(name: str) -> str | None:
    """Why ``name`` cannot be prepared on this machine, or None when its raw source is installed."""
    try:
        _locate(name)
    except MissingAssetError as error:
        return str(error)
    return None


def latest_split_version(source: str) -> int:
    """The split version a run on ``source`` gets unless it names one: a catalog set's latest,
    1 for anything else (a file's or hub set's splits have never changed)."""
    return DATASETS.get(source).split_version if source in DATASETS else 1


def resolve_split_version(name: str, requested: int | None) -> int:
    """``requested`` checked against the versions catalog set ``name`` has (None: the latest)."""
    latest = DATASETS.get(name).split_version
    if requested is None:
        return latest
    if not 1 <= requested <= latest:
        have = "split version 1 only" if latest == 1 else f"split versions 1 to {latest}"
        raise AutodistillError(f"data set {name!r} has {have}, not split version {requested}")
    return requested


def dataset_dir(name: str, version: int = 1) -> Path:
    """Where split ``version`` of ``name`` is (or would be) prepared; raises for names outside the catalog."""
    DATASETS.get(name)
    return paths.subdir("datasets") / (name if version == 1 else f"{name}.split{version}")


def dataset_family(name: str) -> str:
    """The family ``name`` is held out with: data sets sharing source examples share one; any other
    data set (a file, a hub set, a catalog set without siblings) is a family of its own."""
    if name not in DATASETS:
        return name
    return DATASETS.get(name).family or name


def card_path(name: str) -> Path:
    """The data card of a catalog data set."""
    DATASETS.get(name)
    return paths.META_DATA / "cards" / f"{name}.md"


def _spec_record(spec: TaskSpec) -> dict:
    """The spec as JSON reads it back (tuples become lists); the label scale is derived at load time."""
    record = json.loads(json.dumps(dataclasses.asdict(spec)))
    record.pop("label_scale", None)
    return record


def _meta(entry: Dataset, version: int) -> dict:
    """What spec.json records: the spec, and what a prepared copy was built from."""
    return {
        "spec": _spec_record(entry.spec),
        "builder_version": entry.version,
        "split_version": version,
        "seed": entry.seed,
        "fractions": list(entry.fractions),
        "eval_sizes": list(entry.eval_sizes) if version > 1 and entry.eval_sizes else None,
        "source": {
            "kind": entry.asset.kind,
            "package": entry.asset.package,
            "version": entry.asset.version(),
            "licence": entry.asset.licence,
        },
    }


def _is_current(folder: Path, entry: Dataset, version: int) -> bool:
    """A prepared copy is reused only if it was written by this builder version for this spec and split."""
    try:
        meta = json.loads((folder / SPEC_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        meta.get("builder_version") == entry.version
        and meta.get("spec") == _spec_record(entry.spec)
        and meta.get("split_version", 1) == version
        and meta.get("eval_sizes") == (list(entry.eval_sizes) if version > 1 and entry.eval_sizes else None)
    )


def _encode(frame: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
    """The builder's targets as the model reads them (class and tag names as ids, floats, offsets)."""
    return head_of(spec.task_type).label_ids(frame, spec)


def strata(frame: pd.DataFrame, task_type: str) -> np.ndarray:
    """What a split is stratified on, as the task type's head says (the class, the target's decile...)."""
    return head_of(task_type).strata(frame)


def split_frame(
    frame: pd.DataFrame,
    task_type: str,
    seed: int,
    groups: pd.Series | None = None,
    fractions: tuple[float, ...] = FRACTIONS,
) -> dict[str, pd.DataFrame]:
    """Seeded stratified train/dev/test frames of one frame."""
    group_values = None if groups is None else groups.to_numpy()
    parts = split_indices(strata(frame, task_type), seed, fractions, group_values)
    return {name: frame.iloc[rows].reset_index(drop=True) for name, rows in zip(SPLITS, parts, strict=True)}


def _split(
    frame: pd.DataFrame, spec: TaskSpec, seed: int, fractions: tuple[float, ...] = FRACTIONS
) -> dict[str, pd.DataFrame]:
    """Split version 1. Official test sets are kept; dev is then carved from train in the usual
    dev:train ratio. The frames keep the builder's extra columns (``group``, ``stratum``)."""
    groups = frame.get("group")
    if "split" not in frame:
        splits = split_frame(frame, spec.task_type, seed, groups, fractions)
    else:
        train = frame[frame["split"] == "train"].reset_index(drop=True)
        dev_share = fractions[1] / (fractions[0] + fractions[1])
        parts = split_indices(strata(train, spec.task_type), seed, (1 - dev_share, dev_share))
        test = frame[frame["split"] == "test"]
        splits = {
            "train": train.iloc[parts[0]],
            "dev": train.iloc[parts[1]],
            "test": test.iloc[np.random.default_rng(seed).permutation(len(test))],
        }
    return {name: part.reset_index(drop=True) for name, part in splits.items()}


def _resplit(
    first: dict[str, pd.DataFrame], pool: pd.DataFrame | None, entry: Dataset, source_examples: int
) -> dict[str, pd.DataFrame]:
    """Split version 2: version 1's training split as it is; dev and test of ``entry.eval_sizes``
    drawn from version 1's dev and test and the rows the builder's cap left out.

    Rows are drawn with the training split's stratum shares, so a class-balanced training split
    gets balanced dev and test splits. With groups (addresses, texts) a group outside training goes
    whole to dev or to test, the left-out rows of a training group are not used, and each split
    keeps the stratum mix its groups bring (a group carries its own: an address has one party)."""
    train, spec = first["train"], entry.spec
    rest = pd.concat([first["dev"], first["test"], *([] if pool is None else [pool])], ignore_index=True)
    grouped = "group" in rest
    if grouped:
        rest = rest[~rest["group"].isin(set(train["group"]))].reset_index(drop=True)
    shares = tuple(n / sum(entry.eval_sizes) for n in entry.eval_sizes)
    parts = split_indices(strata(rest, spec.task_type), entry.seed, shares, rest.get("group"))
    splits = {"train": train}
    for split, rows, wanted in zip(("dev", "test"), parts, entry.eval_sizes, strict=True):
        part = rest.iloc[rows].reset_index(drop=True)
        reference = strata(part if grouped else train, spec.task_type)
        drawn = draw_like(strata(part, spec.task_type), reference, wanted, entry.seed)
        if len(drawn) < wanted:
            dev, test = entry.eval_sizes
            raise AutodistillError(
                f"data set {spec.name!r}: split version 2 asks for {dev:,} dev and {test:,} test examples, but its "
                f"source holds {source_examples:,} examples, {len(rest):,} of them usable outside the {len(train):,} "
                f"of training, and {len(drawn):,} fit the {split} split"
            )
        splits[split] = part.iloc[np.random.default_rng(entry.seed).permutation(drawn)].reset_index(drop=True)
    return splits


def _versioned_splits(built: Built, entry: Dataset, version: int) -> dict[str, pd.DataFrame]:
    """The ``version`` splits of a builder's output, in the task's normalised columns."""
    frame = _encode(built.frame, entry.spec)
    splits = _split(frame, entry.spec, entry.seed, entry.fractions)
    if version > 1:
        if "split" in frame:
            raise AutodistillError(f"data set {entry.spec.name!r} keeps its source's official test split")
        pool = None if built.pool is None or built.pool.empty else _encode(built.pool, entry.spec)
        splits = _resplit(splits, pool, entry, len(frame) + (0 if pool is None else len(pool)))
    return {name: part[list(columns(entry.spec))].reset_index(drop=True) for name, part in splits.items()}


def _stats(splits: dict[str, pd.DataFrame], spec: TaskSpec, built: Built) -> dict:
    """Sizes, label distribution or target summary, what the builder dropped, and how many clean
    examples the source holds in all (the capped sample and what the cap left out)."""
    stats: dict = {
        "sizes": {name: len(part) for name, part in splits.items()},
        "source_examples": len(built.frame) + (0 if built.pool is None else len(built.pool)),
        "notes": built.notes,
    }
    stats.update(head_of(spec.task_type).summary(splits, spec))
    words = {
        col: pd.concat(splits.values())[col].str.split().str.len()
        for col in ("text", "text_pair", "answer_text")
        if col in columns(spec)
    }
    stats["mean_words"] = {col: round(float(n.mean()), 1) for col, n in words.items()}
    return stats


def _publish(tmp: Path, final: Path) -> None:
    """Move a finished folder into place; a concurrent run that got there first wins."""
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}-old-", dir=final.parent))
        os.replace(final, old / final.name)
        shutil.rmtree(old)
    try:
        os.replace(tmp, final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(tmp)


def prepare(name: str, *, force: bool = False, split_version: int | None = None) -> Path:
    """Build, split and write split ``split_version`` (default: the latest) of catalog data set
    ``name``; reuse the prepared copy unless ``force``."""
    entry = DATASETS.get(name)
    version = resolve_split_version(name, split_version)
    final = dataset_dir(name, version)
    if not force and _is_current(final, entry, version):
        return final
    built = entry.build(_locate(name), entry.seed)
    splits = _versioned_splits(built, entry, version)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        for split, part in splits.items():
            part.to_parquet(tmp / f"{split}.parquet", index=False)
        stats = _stats(splits, entry.spec, built)
        (tmp / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
        (tmp / SPEC_FILE).write_text(json.dumps(_meta(entry, version), indent=2) + "\n")
        _publish(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final


def read_prepared(name: str, split_version: int | None = None) -> tuple[dict, dict]:
    """``(spec.json, stats.json)`` of a prepared data set, preparing it first if needed."""
    folder = prepare(name, split_version=split_version)
    return json.loads((folder / SPEC_FILE).read_text()), json.loads((folder / STATS_FILE).read_text())


@dataclasses.dataclass(frozen=True)
class SplitResolution:
    """What the noise model needs of a data set's test split, and whether the study's claims count it."""

    name: str
    split_version: int
    metric: str
    test_examples: int
    #: Why pass/fail claims leave the data set out ("" when they count it).
    claims_note: str


def claims_note(name: str, test_examples: int, split_version: int | None = None) -> str:
    """Why the study leaves ``name``'s split ``split_version`` (default: the latest) out of pass/fail
    claims: its registered reason, else a test split too small to resolve them (and whether a later
    split version is larger); "" when it counts."""
    if note := DATASETS.get(name).claims_note:
        return note
    if not low_resolution(test_examples):
        return ""
    latest = DATASETS.get(name).split_version
    later = recorded_sizes().get(name, {}).get(str(latest), {}).get("test", 0)
    small = f"low resolution: its test split holds {test_examples:,} examples, fewer than {LOW_RESOLUTION_TEST:,}"
    if (split_version or latest) < latest and not low_resolution(later):
        return f"{small} (split version {split_version}; version {latest}'s holds {later:,})"
    return f"{small}, and its source cannot give more"


def recorded_sizes() -> dict[str, dict[str, dict[str, int]]]:
    """``{name: {split version: {split: examples}}}`` as the cards recorded them (none: empty)."""
    return json.loads(SIZES_FILE.read_text()) if SIZES_FILE.exists() else {}


def split_resolution(name: str, split_version: int | None = None) -> SplitResolution:
    """The test split of ``name`` at ``split_version`` (default: the latest), by the recorded sizes."""
    version = resolve_split_version(name, split_version)
    sizes = recorded_sizes().get(name, {}).get(str(version))
    if sizes is None:
        raise AutodistillError(
            f"no split sizes recorded for {name!r} version {version}; run python -m engine.data {name}"
        )
    test_examples = sizes["test"]
    metric = DATASETS.get(name).spec.metric
    return SplitResolution(name, version, metric, test_examples, claims_note(name, test_examples, version))


def load(name: str, split_version: int | None = None) -> TaskData:
    """Split ``split_version`` (default: the latest) of a catalog data set as TaskData, preparing it
    on first use; ``extra["split_version"]`` says which it is, for the run to record."""
    entry = DATASETS.get(name)
    version = resolve_split_version(name, split_version)
    folder = prepare(name, split_version=version)
    frames = {split: pd.read_parquet(folder / f"{split}.parquet") for split in SPLITS}
    extra = {"source": "catalog", "path": str(folder), "split_version": version}
    return TaskData(spec=entry.spec, **frames, extra=extra)
