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
baselines, which are no Distiller config and so no ``runs`` row). A fourth, ``test_predictions``, keeps
per-example test predictions where they were collected (``engine.run_predictions``), keyed by a run's id
or, for a no-KD baseline (no ``runs`` row), its trial's: two runs on one test split compared example by
example. A ``meta`` table marks the file as a
runs store, so that pointing the store at some other file fails with one line
instead of writing into it.

This module holds the store's connection, transactions, writes and queries; the tables
and their migrations are in :mod:`autodistill.store.schema`, the typed rows in
:mod:`autodistill.store.records`, whose public names are importable from here too.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import time
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pandas as pd

from autodistill.store.records import (
    EXPORT_NAMES,
    SOURCES,
    DatasetFeatures,
    ModelDescriptor,
    RunRecord,
    TrialRecord,
    code_version,
    earlier_row_columns,
    earlier_run_columns,
    features_from_row,
    nullable,
    record_from_row,
    trial_from_row,
)
from autodistill.store.schema import (
    RUN_COLUMNS,
    SCHEMA_VERSION,
    STORE_FORMAT,
    TRIAL_COLUMNS,
    create_tables,
    stored_version,
)
from engine import AutodistillError, ExamplePredictions, choices_error, dataset_names, paths

__all__ = [
    "EXPORT_FORMATS",
    "SCHEMA_VERSION",
    "SOURCES",
    "STORE_FORMAT",
    "DatasetFeatures",
    "ModelDescriptor",
    "RunRecord",
    "RunStore",
    "TrialRecord",
    "code_version",
    "earlier_row_columns",
    "earlier_run_columns",
    "export_frame",
    "nullable",
    "open_store",
    "record_from_row",
    "stored_runs",
    "trial_from_row",
]

EXPORT_FORMATS = (".csv", ".parquet")


class StoredPredictions(Mapping[str, ExamplePredictions]):
    """Key (run id, a baseline's trial id) -> test predictions, read from the store one at a time as looked up."""

    def __init__(self, store: RunStore, keys: set[str]) -> None:
        self._store, self._keys = store, keys

    def __getitem__(self, key: str) -> ExamplePredictions:
        if key not in self._keys:
            raise KeyError(key)
        return self._store.read_test_predictions(key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._keys))

    def __len__(self) -> int:
        return len(self._keys)


class RunStore:
    """A runs store at ``path`` (default ``<home>/runs.sqlite``), created on first use; ``read_only``
    opens an existing one without writing anything, not even SQLite's WAL index, so that a store on a
    read-only disk or in a folder of someone else's can be read."""

    def __init__(self, path: str | Path | None = None, *, timeout_s: float = 60.0, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.timeout_s = timeout_s
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._depth = 0
        try:
            self._conn = _connect_read_only(self.path, timeout_s) if read_only else _connect(self.path, timeout_s)
        except sqlite3.DatabaseError as error:
            raise open_error(self.path, error) from None
        try:
            self._open()
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise open_error(self.path, error) from None
        except Exception:
            self._conn.close()
            raise

    def _open(self) -> None:
        version = stored_version(self._conn, self.path)
        if self.read_only:
            if version != SCHEMA_VERSION:
                raise AutodistillError(
                    f"the runs store {self.path} uses schema {version}, older than this autodistill's "
                    f"{SCHEMA_VERSION}; open it once with a command that writes (`autodistill runs import`) "
                    "to upgrade it"
                )
            return
        self._conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        # Switching a fresh file to WAL needs an exclusive lock, and SQLite answers BUSY there
        # without waiting when several processes create the store at once: retry it like a write.
        self._execute_when_unlocked("PRAGMA journal_mode = WAL")
        with self.transaction():
            create_tables(self._conn, version)

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
        sql = f"{verb} INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"
        with self.transaction():
            before = self._conn.total_changes
            try:
                self._conn.executemany(sql, (record.as_row() for record in records))
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
        frame = export_frame(self.runs())
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
                f"INSERT OR REPLACE INTO trials ({', '.join(TRIAL_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(TRIAL_COLUMNS))})",
                trial.as_row(),
            )

    def trials(self, status: str | None = None, source: str | None = None) -> pd.DataFrame:
        """The trials log (one row per trial id), optionally only ``"done"`` or ``"failed"`` ones, of one source."""
        where = [(column, value) for column, value in (("status", status), ("source", source)) if value]
        sql = "SELECT * FROM trials" + (" WHERE " + " AND ".join(f"{c} = ?" for c, _ in where) if where else "")
        return pd.read_sql_query(sql + " ORDER BY trial_id", self._conn, params=[value for _, value in where])

    # -- per-example test predictions ------------------------------------------------------------------

    def put_test_predictions(self, predictions: Mapping[str, ExamplePredictions]) -> None:
        """Store (or replace) test predictions, keyed by run id (a baseline's: trial id), in one transaction."""
        rows = [(key, zlib.compress(p.to_json().encode())) for key, p in predictions.items()]
        with self.transaction():
            self._conn.executemany("INSERT OR REPLACE INTO test_predictions VALUES (?, ?)", rows)

    def test_predictions(self, keys: Iterable[str] | None = None) -> Mapping[str, ExamplePredictions]:
        """The stored test predictions under ``keys`` (run ids, a baseline's trial id; all by default; keys
        without any are absent), each
        read from the file when looked up (while the store is open): a study's runs hold gigabytes of them,
        a comparison needs few."""
        stored = self.predicted_runs()
        return StoredPredictions(self, stored if keys is None else stored & set(keys))

    def read_test_predictions(self, key: str) -> ExamplePredictions:
        """One run's stored test predictions (``key``: its id, a baseline's trial id); none is refused in one line."""
        row = self._conn.execute("SELECT payload FROM test_predictions WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise AutodistillError(f"no test predictions under {key!r} in {self.path}")
        return ExamplePredictions(**json.loads(zlib.decompress(row[0])))

    def predicted_runs(self) -> set[str]:
        """The keys (run ids, baselines' trial ids) that have test predictions stored."""
        return {row[0] for row in self._conn.execute("SELECT key FROM test_predictions")}

    # -- dataset features ---------------------------------------------------------------------------

    def put_features(self, features: DatasetFeatures) -> None:
        """Store (or replace) one data set's features for its featurizer version."""
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", features.as_row()
            )

    def features(self, featurizer_version: str) -> list[DatasetFeatures]:
        """Every data set's features under one featurizer version (vocabularies included)."""
        rows = self._conn.execute(
            "SELECT dataset, featurizer_version, task_kind, n_examples, n_labels, baseline_score, "
            "baseline_model, context_embedding, task_embedding, vocabulary FROM features "
            "WHERE featurizer_version = ? ORDER BY dataset",
            (featurizer_version,),
        ).fetchall()
        return [features_from_row(row) for row in rows]

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


def export_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs table as exports write it: the dev scores named as such (``dev_score``, ``dev_ratio``)
    beside the test ones, and ``scored_on`` saying whether a run has a test score or is "dev only"."""
    frame = runs.rename(columns=EXPORT_NAMES)
    frame["scored_on"] = frame["test_score"].notna().map({True: "test", False: "dev only"})
    return frame


def default_path() -> Path:
    """The home's runs store, ``<home>/runs.sqlite``."""
    return paths.home() / "runs.sqlite"


def _connect(path: Path, timeout_s: float) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=timeout_s, isolation_level=None)


def _connect_read_only(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection that writes nothing. With no write-ahead log beside the store, its file is the
    whole store and is read as it is (``immutable=1``: no WAL index made, which a read-only folder
    could not hold). With one (a writer is at work, or died), the log holds the newest runs and is
    read through ``mode=ro``, which needs the index beside it."""
    base = f"file:{urllib.parse.quote(str(path.resolve()))}"
    live = path.with_name(path.name + "-wal").exists()
    return sqlite3.connect(f"{base}?{'mode=ro' if live else 'immutable=1'}", uri=True, timeout=timeout_s,
                           isolation_level=None)  # fmt: skip


def open_error(path: Path, error: sqlite3.DatabaseError) -> AutodistillError:
    """Why an intact store (or a place for one) cannot be opened, and what to do: a file that is
    no SQLite database is refused apart (:func:`autodistill.store.schema.stored_version`)."""
    name = getattr(error, "sqlite_errorname", "")
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return AutodistillError(f"cannot open the runs store {path}: another process holds it locked; retry later")
    if name == "SQLITE_FULL":
        return AutodistillError(f"cannot open the runs store {path}: its disk is full; free some space there")
    if name == "SQLITE_CORRUPT":
        return AutodistillError(
            f"the runs store {path} is corrupt ({error}); restore it from a copy, or give another --store"
        )
    return AutodistillError(
        f"cannot open the runs store {path}: {error} (can you write to {path.parent}? "
        "give a writable --store or AUTODISTILL_HOME)"
    )


def open_store(path: str | Path | None = None, *, must_exist: bool = False, read_only: bool = False) -> RunStore:
    """The runs store at ``path``; with ``must_exist`` (commands that read), a named file that is missing
    is refused with how to fill one, rather than created empty; ``read_only`` (commands that only read)
    refuses a missing store, the home's included, and opens the file without writing to it."""
    where = Path(path) if path is not None else default_path()
    if (read_only or (must_exist and path is not None)) and not where.exists():
        option = f" (--store {path})" if path is not None else ""
        raise AutodistillError(
            f"no runs store at {where} yet; `autodistill run`, `finetune`, `sweep`, `search` and `runs import` "
            f"fill one{option}"
        )
    return RunStore(path, read_only=read_only)


#: What ``autodistill runs list`` shows of each run: what tells runs apart, and their scores.
LIST_COLUMNS = (
    "run_id", "source", "kind", "dataset", "student_name", "fidelity", "inter_loss", "mapping", "pred_loss",
    "augmentation", "dev_score", "test_score", "dev_ratio", "created_at",
)  # fmt: skip
#: A trial without a ``runs`` row under the names of :data:`LIST_COLUMNS` (its trial id as its run id).
TRIAL_LIST_NAMES = {
    "trial_id": "run_id", "student_score": "dev_score", "ratio": "dev_ratio", "updated_at": "created_at",
}  # fmt: skip


def listed_rows(store: RunStore, source: str | None) -> pd.DataFrame:
    """The runs, and the finished trials that have no run row: no-KD baselines and teachers (a user's
    ``finetune`` and ``teacher train``, a sweep's baselines); a search's pruned trials are left out."""
    runs = export_frame(store.runs(source=source)).assign(kind="distill")
    trials = store.trials(status="done", source=source) if source != "paper" else store.trials().iloc[:0]
    whole = trials[trials["run_id"].isna() & trials["pruned_after_epoch"].isna()].drop(columns="run_id")
    kept = [frame for frame in (runs, whole.rename(columns=TRIAL_LIST_NAMES)) if not frame.empty]
    return pd.concat(kept, ignore_index=True) if kept else runs


def list_runs(
    store: RunStore,
    *,
    source: str | None = None,
    dataset: str | None = None,
    student: str | None = None,
    fidelity: str | None = None,
) -> pd.DataFrame:
    """The store's runs (and baselines and teachers, :func:`listed_rows`) matching every filter given,
    newest first; a filter that matches no run
    is refused in one line naming the values the store holds, so a typo is not read as "no runs". A
    ``dataset`` given as a file's path matches that file's rows, under either name they carry
    (:func:`engine.dataset_names`)."""
    runs = listed_rows(store, source)
    if runs.empty:
        which = f"no {source!r} runs" if source else "no runs"
        raise AutodistillError(
            f"the runs store {store.path} holds {which}; `autodistill run`, `finetune` and `sweep` fill it"
        )
    for name, column, value in (
        ("data set", "dataset", dataset),
        ("student", "student_name", student),
        ("fidelity", "fidelity", fidelity),
    ):
        if value is None:
            continue
        wanted = dataset_names(value) if column == "dataset" else {value}
        if not wanted & set(runs[column].dropna()):
            held = ", ".join(sorted(map(str, runs[column].dropna().unique()))) or "none"
            raise AutodistillError(f"no run in {store.path} has {name} {value!r}; it holds: {held}")
        runs = runs[runs[column].isin(wanted)]
    return runs.sort_values(["created_at", "run_id"], ascending=[False, True])[list(LIST_COLUMNS)]


def stored_runs(store: RunStore, source: str) -> pd.DataFrame:
    """The store's runs of ``source``; none is refused, naming the command that makes them."""
    runs = store.runs(source=source)
    if runs.empty:
        fill = "`autodistill runs import`" if source == "paper" else "`autodistill sweep`"
        raise AutodistillError(f"the runs store {store.path} has no {source!r} runs; fill it with {fill}")
    return runs
