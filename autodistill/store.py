"""The runs store: every distillation run and every dataset's features, in one SQLite file.

AutoDistiller learns from past runs, so the runs must survive crashes and
parallel workers. The store is an embedded SQLite database (stdlib ``sqlite3``,
nothing to install or serve) in WAL mode:

* every write is one ``BEGIN IMMEDIATE … COMMIT`` transaction, so a process
  killed mid-write leaves no partial row (SQLite rolls the WAL back on the next
  open);
* writers from several processes queue on SQLite's write lock with a busy
  timeout, and taking the lock is retried with back-off until ``timeout_s``,
  so concurrent writers all land;
* readers never block writers (WAL).

Three tables: ``runs`` (one row per run; the Distiller config both as columns for
querying and as JSON for the full picture), ``features`` (dataset features,
keyed by data set and featurizer version, because features computed by
different featurizers are not comparable) and ``trials`` (the sweep's log:
every trial it ran, finished or failed with its error line, and the no-KD
baselines, which are no Distiller config and so no ``runs`` row). A ``meta`` table marks the file as a
runs store, so that pointing the store at some other file fails with one line
instead of writing into it.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sqlite3
import subprocess
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from autodistill import legacy
from autodistill.space import STACK_SEP, Pipeline, augment_of
from engine import AutodistillError, choices_error, paths

#: Bumped when the tables change shape or vocabulary; a store written by a newer schema is refused.
#: 2: ``augmentation`` holds the engine's operation names (``ra>ca``); a schema-1 store is migrated on open.
SCHEMA_VERSION = 2
STORE_FORMAT = "autodistill-runs"
SOURCES = ("ours", "paper")
EXPORT_FORMATS = (".csv", ".parquet")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('ours', 'paper')),
    dataset TEXT NOT NULL,
    task_kind TEXT,
    inter_loss TEXT NOT NULL,
    alpha REAL,
    mapping TEXT NOT NULL,
    pred_loss TEXT NOT NULL,
    augmentation TEXT NOT NULL,
    mixup INTEGER NOT NULL,
    aug_p REAL NOT NULL,
    repeated_aug INTEGER NOT NULL,
    teacher_name TEXT NOT NULL,
    teacher_layers INTEGER,
    teacher_hidden INTEGER,
    teacher_params INTEGER,
    student_name TEXT NOT NULL,
    student_layers INTEGER,
    student_hidden INTEGER,
    student_params INTEGER,
    student_score REAL NOT NULL,
    teacher_score REAL NOT NULL,
    ratio REAL NOT NULL,
    wall_time_s REAL,
    featurizer_version TEXT NOT NULL,
    code_version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    config_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_dataset ON runs (source, dataset);
CREATE TABLE IF NOT EXISTS features (
    dataset TEXT NOT NULL,
    featurizer_version TEXT NOT NULL,
    task_kind TEXT,
    n_examples INTEGER NOT NULL,
    n_labels INTEGER NOT NULL,
    baseline_score REAL,
    baseline_model TEXT NOT NULL,
    context_embedding TEXT NOT NULL,
    task_embedding TEXT NOT NULL,
    vocabulary BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (dataset, featurizer_version)
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('distill', 'finetune')),
    dataset TEXT NOT NULL,
    student_name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    run_id TEXT,
    student_score REAL,
    teacher_score REAL,
    ratio REAL,
    error TEXT,
    wall_time_s REAL,
    budget_json TEXT NOT NULL,
    config_json TEXT NOT NULL,
    code_version TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

_RUN_COLUMNS = [
    "run_id",
    "source",
    "dataset",
    "task_kind",
    "inter_loss",
    "alpha",
    "mapping",
    "pred_loss",
    "augmentation",
    "mixup",
    "aug_p",
    "repeated_aug",
    "teacher_name",
    "teacher_layers",
    "teacher_hidden",
    "teacher_params",
    "student_name",
    "student_layers",
    "student_hidden",
    "student_params",
    "student_score",
    "teacher_score",
    "ratio",
    "wall_time_s",
    "featurizer_version",
    "code_version",
    "created_at",
    "config_json",
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version plus the git commit when running from a checkout, so runs can be traced to code."""
    try:
        version = metadata.version("autodistill")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        if commit:
            version = f"{version}+g{commit}"
    return version


@dataclass(frozen=True)
class ModelDescriptor:
    """What the predictor knows of a teacher or student: its size, not its weights."""

    name: str
    layers: int
    hidden: int
    params: int


@dataclass(frozen=True)
class RunRecord:
    """One finished distillation run. ``ratio`` defaults to student score / teacher score (§3.4)."""

    dataset: str
    task_kind: str | None
    config: Pipeline
    teacher: ModelDescriptor
    student: ModelDescriptor
    student_score: float
    teacher_score: float
    ratio: float | None = None
    source: str = "ours"
    wall_time_s: float | None = None
    featurizer_version: str = ""
    full_config: Mapping[str, Any] | None = None
    code_version: str = field(default_factory=code_version)
    created_at: str = field(default_factory=_now)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise choices_error("run source", self.source, SOURCES)
        if self.ratio is None:
            if self.teacher_score <= 0:
                raise AutodistillError(
                    f"teacher score {self.teacher_score!r} on {self.dataset!r} is not positive; "
                    "the distillation ratio (student / teacher) is undefined"
                )
            object.__setattr__(self, "ratio", self.student_score / self.teacher_score)
        if self.full_config is None:
            object.__setattr__(self, "full_config", {"pipeline": self.config.to_dict()})

    def _row(self) -> tuple[Any, ...]:
        cfg = self.config
        return (
            self.run_id,
            self.source,
            self.dataset,
            self.task_kind,
            cfg.inter_loss,
            cfg.alpha,
            cfg.mapping,
            cfg.pred_loss,
            cfg.stack,
            int(cfg.mixup),
            cfg.aug_p,
            cfg.repeated_aug,
            self.teacher.name,
            self.teacher.layers,
            self.teacher.hidden,
            self.teacher.params,
            self.student.name,
            self.student.layers,
            self.student.hidden,
            self.student.params,
            self.student_score,
            self.teacher_score,
            self.ratio,
            self.wall_time_s,
            self.featurizer_version,
            self.code_version,
            self.created_at,
            json.dumps(self.full_config, sort_keys=True),
        )


@dataclass(frozen=True)
class DatasetFeatures:
    """The dataset side of the predictor's input (paper Table 7), for one featurizer version.

    ``vocabulary`` is the set of words the data set contains; it is kept so that
    the IDF weights of a data set featurized later can count this one (Table 7's
    N_w). The teacher score is not here: it belongs to a (data set, teacher) pair
    and travels with each run.
    """

    dataset: str
    featurizer_version: str
    task_kind: str | None
    n_examples: int
    n_labels: int
    baseline_score: float | None
    baseline_model: str
    context_embedding: tuple[float, ...]
    task_embedding: tuple[float, ...]
    vocabulary: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TrialRecord:
    """One sweep trial's outcome: a distillation (its run is in ``runs``) or a no-KD baseline.

    ``status`` is ``"done"`` or ``"failed"`` (then ``error`` holds the one-line reason
    and the scores are None). ``budget`` and ``config`` are JSON-ready mappings.
    """

    trial_id: str
    kind: str
    dataset: str
    student_name: str
    status: str
    budget: Mapping[str, Any]
    config: Mapping[str, Any]
    run_id: str | None = None
    student_score: float | None = None
    teacher_score: float | None = None
    ratio: float | None = None
    error: str | None = None
    wall_time_s: float | None = None
    code_version: str = field(default_factory=code_version)
    updated_at: str = field(default_factory=_now)

    def _row(self) -> tuple[Any, ...]:
        return (
            self.trial_id,
            self.kind,
            self.dataset,
            self.student_name,
            self.status,
            self.run_id,
            self.student_score,
            self.teacher_score,
            self.ratio,
            self.error,
            self.wall_time_s,
            json.dumps(self.budget, sort_keys=True),
            json.dumps(self.config, sort_keys=True),
            self.code_version,
            self.updated_at,
        )


def nullable(value: Any) -> Any:
    """SQLite NULL and a CSV's empty cell (NaN once read by pandas) both mean "absent"."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def record_from_row(row: Mapping[str, Any]) -> RunRecord:
    """A run back from one row of the runs table, as SQLite or an export (CSV/Parquet) holds it."""
    stack = tuple(row["augmentation"].split(STACK_SEP)) if nullable(row["augmentation"]) else ()
    config = Pipeline(
        mapping=row["mapping"],
        inter_loss=row["inter_loss"],
        alpha=nullable(row["alpha"]),
        pred_loss=row["pred_loss"],
        augment=augment_of(stack, bool(row["mixup"])),
        aug_p=float(row["aug_p"]),
        repeated_aug=int(row["repeated_aug"]),
    )

    def size(value: Any) -> int | None:
        value = nullable(value)
        return None if value is None else int(value)

    teacher, student = (
        ModelDescriptor(
            row[f"{who}_name"], size(row[f"{who}_layers"]), size(row[f"{who}_hidden"]), size(row[f"{who}_params"])
        )
        for who in ("teacher", "student")
    )
    return RunRecord(
        dataset=row["dataset"],
        task_kind=nullable(row["task_kind"]),
        config=config,
        teacher=teacher,
        student=student,
        student_score=float(row["student_score"]),
        teacher_score=float(row["teacher_score"]),
        ratio=float(row["ratio"]),
        source=row["source"],
        wall_time_s=nullable(row["wall_time_s"]),
        featurizer_version=row["featurizer_version"],
        full_config=json.loads(row["config_json"]),
        code_version=row["code_version"],
        created_at=row["created_at"],
        run_id=row["run_id"],
    )


def trial_from_row(row: Mapping[str, Any]) -> TrialRecord:
    """A trial back from one row of the trials table (SQLite, or a CSV export's empty cells)."""

    def number(name: str) -> float | None:
        value = nullable(row[name])
        return None if value is None else float(value)

    return TrialRecord(
        trial_id=row["trial_id"],
        kind=row["kind"],
        dataset=row["dataset"],
        student_name=row["student_name"],
        status=row["status"],
        budget=json.loads(row["budget_json"]),
        config=json.loads(row["config_json"]),
        run_id=nullable(row["run_id"]),
        student_score=number("student_score"),
        teacher_score=number("teacher_score"),
        ratio=number("ratio"),
        error=nullable(row["error"]),
        wall_time_s=number("wall_time_s"),
        code_version=row["code_version"],
        updated_at=row["updated_at"],
    )


def _pack_words(words: frozenset[str]) -> bytes | None:
    return zlib.compress("\n".join(sorted(words)).encode()) if words else None


def _unpack_words(blob: bytes | None) -> frozenset[str]:
    return frozenset(zlib.decompress(blob).decode().split("\n")) if blob else frozenset()


class RunStore:
    """A runs store at ``path`` (default ``<home>/runs.sqlite``), created on first use."""

    def __init__(self, path: str | Path | None = None, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path) if path is not None else paths.home() / "runs.sqlite"
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        self._depth = 0
        try:
            self._open()
        except Exception:
            self._conn.close()
            raise

    def _open(self) -> None:
        try:
            tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError:
            raise AutodistillError(f"{self.path} is not a runs store (not an SQLite database)") from None
        if tables and "meta" not in tables:
            raise AutodistillError(f"{self.path} is not a runs store (an SQLite database of something else)")
        version = self._check_meta() if tables else SCHEMA_VERSION
        self._conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        # Switching a fresh file to WAL needs an exclusive lock, and SQLite answers BUSY there
        # without waiting when several processes create the store at once: retry it like a write.
        self._execute_when_unlocked("PRAGMA journal_mode = WAL")
        with self.transaction():
            # executescript() would commit the open transaction first, so run statement by statement.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.executemany(
                "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                [("format", STORE_FORMAT), ("schema_version", str(SCHEMA_VERSION))],
            )
            if version < 2:
                self._migrate_v1()

    def _check_meta(self) -> int:
        meta = dict(self._conn.execute("SELECT key, value FROM meta"))
        if meta.get("format") != STORE_FORMAT:
            raise AutodistillError(f"{self.path} is not a runs store (its meta table names no runs store)")
        version = int(meta.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise AutodistillError(
                f"{self.path} uses runs-store schema {meta['schema_version']}, newer than this "
                f"autodistill's {SCHEMA_VERSION}; upgrade autodistill"
            )
        return version

    def _migrate_v1(self) -> None:
        """Schema 1 named text augmenters by long names; rename them to the engine's, once, on open."""
        rows = self._conn.execute("SELECT run_id, augmentation FROM runs WHERE augmentation != ''").fetchall()
        self._conn.executemany(
            "UPDATE runs SET augmentation = ? WHERE run_id = ?",
            [(legacy.stack(text), run_id) for run_id, text in rows],
        )
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))

    # -- transactions -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: everything inside commits together or not at all. Nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0

    def _begin(self) -> None:
        self._execute_when_unlocked("BEGIN IMMEDIATE")

    def _execute_when_unlocked(self, statement: str) -> None:
        # The busy timeout already waits inside SQLite; the loop covers the cases where SQLite
        # gives up early (e.g. a lock upgrade that would deadlock) and adds jittered back-off.
        deadline = time.monotonic() + self.timeout_s
        delay = 0.01
        while True:
            try:
                self._conn.execute(statement)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                if time.monotonic() > deadline:
                    raise AutodistillError(
                        f"runs store {self.path} stayed locked by another writer for {self.timeout_s:.0f} s"
                    ) from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)

    # -- runs -------------------------------------------------------------------------------------------

    def add_run(self, record: RunRecord) -> None:
        """Store one run; a run id already present is an error (runs are immutable facts)."""
        self.add_runs([record])

    def add_runs(self, records: Iterable[RunRecord], *, skip_existing: bool = False) -> int:
        """Store runs in one transaction and return how many were new.

        ``skip_existing`` makes re-imports idempotent: rows whose run id is already
        stored are left as they are instead of failing the whole batch.
        """
        verb = "INSERT OR IGNORE" if skip_existing else "INSERT"
        sql = f"{verb} INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})"
        with self.transaction():
            before = self._conn.total_changes
            try:
                self._conn.executemany(sql, (record._row() for record in records))
            except sqlite3.IntegrityError as error:
                raise AutodistillError(f"cannot store run: {error} (run ids must be unique)") from None
            return self._conn.total_changes - before

    def runs(self, source: str | None = None, dataset: str | None = None) -> pd.DataFrame:
        """All stored runs as a flat table (one column per field), optionally for one source/data set."""
        if source is not None and source not in SOURCES:
            raise choices_error("run source", source, SOURCES)
        where, args = [], []
        for column, value in (("source", source), ("dataset", dataset)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY run_id"
        frame = pd.read_sql_query(sql, self._conn, params=args)
        frame["mixup"] = frame["mixup"].astype(bool)
        return frame

    def run(self, run_id: str) -> RunRecord:
        """The typed record of one run."""
        cursor = self._conn.cursor()
        cursor.row_factory = sqlite3.Row
        row = cursor.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise AutodistillError(f"no run {run_id!r} in {self.path}")
        return record_from_row(dict(row))

    def export(self, path: str | Path) -> Path:
        """Write the runs table to CSV or Parquet, chosen by the file extension."""
        path = Path(path)
        if path.suffix.lower() not in EXPORT_FORMATS:
            raise choices_error("export format", path.suffix or path.name, EXPORT_FORMATS)
        frame = self.runs()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        return path

    # -- sweep trials ---------------------------------------------------------------------------------

    def record_trial(self, trial: TrialRecord, run: RunRecord | None = None) -> None:
        """Log a trial's outcome (replacing an earlier attempt) and store its run, in one transaction."""
        with self.transaction():
            if run is not None:
                self.add_runs([run], skip_existing=True)
            self._conn.execute(
                f"INSERT OR REPLACE INTO trials VALUES ({', '.join('?' * 15)})",
                trial._row(),
            )

    def trials(self, status: str | None = None) -> pd.DataFrame:
        """The trials log (one row per trial id), optionally only ``"done"`` or ``"failed"`` ones."""
        sql = "SELECT * FROM trials" + (" WHERE status = ?" if status else "") + " ORDER BY trial_id"
        return pd.read_sql_query(sql, self._conn, params=[status] if status else [])

    # -- dataset features ---------------------------------------------------------------------------

    def put_features(self, features: DatasetFeatures) -> None:
        """Store (or replace) one data set's features for its featurizer version."""
        row = (
            features.dataset,
            features.featurizer_version,
            features.task_kind,
            features.n_examples,
            features.n_labels,
            features.baseline_score,
            features.baseline_model,
            json.dumps(list(features.context_embedding)),
            json.dumps(list(features.task_embedding)),
            _pack_words(features.vocabulary),
            _now(),
        )
        with self.transaction():
            self._conn.execute("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def features(self, featurizer_version: str) -> list[DatasetFeatures]:
        """Every data set's features under one featurizer version (vocabularies included)."""
        rows = self._conn.execute(
            "SELECT dataset, featurizer_version, task_kind, n_examples, n_labels, baseline_score, "
            "baseline_model, context_embedding, task_embedding, vocabulary FROM features "
            "WHERE featurizer_version = ? ORDER BY dataset",
            (featurizer_version,),
        ).fetchall()
        return [
            DatasetFeatures(
                *row[:7],
                context_embedding=tuple(json.loads(row[7])),
                task_embedding=tuple(json.loads(row[8])),
                vocabulary=_unpack_words(row[9]),
            )
            for row in rows
        ]

    def featurizer_versions(self) -> list[str]:
        """The featurizer versions that have features stored, so errors can list them."""
        return [row[0] for row in self._conn.execute("SELECT DISTINCT featurizer_version FROM features")]

    # -- lifetime -------------------------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path | None = None, *, must_exist: bool = False) -> RunStore:
    """The runs store at ``path``; with ``must_exist`` (commands that only read), a named file
    that is missing is refused with how to fill one, rather than created empty."""
    if must_exist and path is not None and not Path(path).exists():
        raise AutodistillError(
            f"no runs store at {path}; fill one with `autodistill runs import` or `autodistill sweep` (--store {path})"
        )
    return RunStore(path)


def stored_runs(store: RunStore, source: str) -> pd.DataFrame:
    """The store's runs of ``source``; none is refused, naming the command that makes them."""
    runs = store.runs(source=source)
    if runs.empty:
        fill = "`autodistill runs import`" if source == "paper" else "`autodistill sweep`"
        raise AutodistillError(f"the runs store {store.path} has no {source!r} runs; fill it with {fill}")
    return runs
