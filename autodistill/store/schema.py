"""The runs store's tables, how a file is recognised as a runs store, and its migrations.

A ``meta`` table marks the file as a runs store and records its schema version, so that
pointing the store at some other file fails with one line instead of writing into it, and
a store written by a newer schema is refused rather than misread. Opening a store of an
older schema migrates it in place, inside the transaction that creates the tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from autodistill.space import legacy
from autodistill.store.records import earlier_row_columns
from engine import AutodistillError

#: Bumped when the tables change shape or vocabulary; a store written by a newer schema is refused.
#: 2: ``augmentation`` holds the engine's operation names (``ra>ca``); a schema-1 store is migrated on open.
#: 3: runs and trials keep the test split's scores beside the dev ones, and runs their budget
#: (fidelity, seed, training examples, epochs, tokens); see :func:`_migrate_test_scores`.
#: 4: ``trials.pruned_after_epoch``: a search's trial stopped early by its pruner (added on open).
#: 5: ``pkd`` is BERT-PKD's [CLS] loss; our runs' earlier per-token ``pkd`` is ``pkd-tokens``;
#:    the authors' imported MI-α runs hold the α their code used, sigmoid of the one they record.
#: 6: runs and trials record the data set's ``split_version``; every earlier row ran on version 1.
#: 7: runs record the ``device`` they trained on and the dev examples they scored per epoch
#:    (``eval_examples``); see :func:`_add_cost_columns`.
#: 8: runs record their process's CPU time and threads; 9: their teacher-cache seconds; 10: their
#:    teacher seconds (see :data:`TEACHER_COLUMN`); 11: their machine's speed probe (see
#:    :data:`SPEED_PROBE_COLUMN`). Each added on open, NULL for the runs before.
#: 12: what a user runs by hand is recorded with source ``user`` (runs and trials), a teacher's
#:    fine-tune as a trial of kind ``teacher``; see :func:`_admit_user_rows`.
SCHEMA_VERSION = 12
#: The first schema whose ``pkd`` is the [CLS] loss (a shipped study older than it is renamed on read).
PKD_CLS_SCHEMA = 5
STORE_FORMAT = "autodistill-runs"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('ours', 'paper', 'user')),
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
    config_json TEXT NOT NULL,
    test_score REAL,
    teacher_test_score REAL,
    test_ratio REAL,
    fidelity TEXT,
    seed INTEGER,
    train_examples INTEGER,
    epochs INTEGER,
    max_length INTEGER,
    split_version INTEGER NOT NULL DEFAULT 1,
    device TEXT,
    eval_examples INTEGER,
    cpu_time_s REAL,
    cpu_threads INTEGER,
    teacher_cache_s REAL,
    teacher_s REAL,
    speed_probe_s REAL
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
    kind TEXT NOT NULL CHECK (kind IN ('distill', 'finetune', 'teacher')),
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
    updated_at TEXT NOT NULL,
    test_score REAL,
    teacher_test_score REAL,
    test_ratio REAL,
    dev_curve TEXT,
    fidelity TEXT,
    pruned_after_epoch INTEGER,
    split_version INTEGER NOT NULL DEFAULT 1,
    source TEXT NOT NULL DEFAULT 'ours' CHECK (source IN ('ours', 'user'))
);
CREATE TABLE IF NOT EXISTS test_predictions (
    key TEXT PRIMARY KEY,
    payload BLOB NOT NULL
);
"""

#: The test split's scores (NULL for runs stored before schema 3: they were scored on dev only).
TEST_COLUMNS = ("test_score", "teacher_test_score", "test_ratio")
#: What a run's budget was, as the predictor reads it (``fidelity``: the study's label, or NULL).
BUDGET_COLUMNS = ("fidelity", "seed", "train_examples", "epochs", "max_length")
#: Where a run's wall time was measured and how many dev examples it scored per epoch (schema 7).
COST_COLUMNS = ("device", "eval_examples")
#: The process CPU seconds of a run and its threads (schema 8): with the wall time, whether it had its cores.
CPU_COLUMNS = ("cpu_time_s", "cpu_threads")
#: The seconds a run spent getting its teacher's outputs before training (schema 9): a run that built
#: the teacher-output cache spent minutes there, one that found it ready a fraction of a second.
TEACHER_CACHE_COLUMN = "teacher_cache_s"
#: The seconds a run spent getting its teacher (schema 10): minutes where it fine-tuned the teacher (the
#: first run of a data set on a machine) or waited for the process that did, seconds where it loaded it.
TEACHER_COLUMN = "teacher_s"
#: Seconds of a fixed workload timed on the run's device before it started (schema 11): the machine's
#: speed, which sets a run's wall time as much as its pipeline does.
SPEED_PROBE_COLUMN = "speed_probe_s"
#: The ``trials`` table's columns added by schema 3 (``dev_curve``: the dev score after each epoch;
#: ``fidelity``: as the run's, so that no-KD baselines line up with the runs of their budget).
TRIAL_COLUMNS_V3 = ("test_score", "teacher_test_score", "test_ratio", "dev_curve", "fidelity")

#: The ``runs`` table's columns, in the order of :meth:`RunRecord.as_row <autodistill.store.records.RunRecord.as_row>`.
RUN_COLUMNS = [
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
    *TEST_COLUMNS,
    *BUDGET_COLUMNS,
    "split_version",
    *COST_COLUMNS,
    *CPU_COLUMNS,
    TEACHER_CACHE_COLUMN,
    TEACHER_COLUMN,
    SPEED_PROBE_COLUMN,
]


#: The ``trials`` table's columns, in the order of
#: :meth:`TrialRecord.as_row <autodistill.store.records.TrialRecord.as_row>`.
TRIAL_COLUMNS = [
    "trial_id",
    "kind",
    "dataset",
    "student_name",
    "status",
    "run_id",
    "student_score",
    "teacher_score",
    "ratio",
    "error",
    "wall_time_s",
    "budget_json",
    "config_json",
    "code_version",
    "updated_at",
    *TRIAL_COLUMNS_V3,
    "pruned_after_epoch",
    "split_version",
    "source",
]


def stored_version(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of the store at ``path`` (the current one for a new, empty file).

    Any other SQLite file, or a file that is no SQLite database, is refused, as is a
    store of a schema newer than this code's.
    """
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorname", "") != "SQLITE_NOTADB":
            raise  # an SQLite file that cannot be read now (locked, no permission): the caller says so
        raise AutodistillError(f"{path} is not a runs store (not an SQLite database)") from None
    if not tables:
        return SCHEMA_VERSION
    if "meta" not in tables:
        raise AutodistillError(f"{path} is not a runs store (an SQLite database of something else)")
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    if meta.get("format") != STORE_FORMAT:
        raise AutodistillError(f"{path} is not a runs store (its meta table names no runs store)")
    version = int(meta.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise AutodistillError(
            f"{path} uses runs-store schema {meta['schema_version']}, newer than this "
            f"autodistill's {SCHEMA_VERSION}; upgrade autodistill"
        )
    return version


def create_tables(conn: sqlite3.Connection, version: int) -> None:
    """Create whatever tables are missing and bring a store of schema ``version`` up to date.

    Call it inside an open transaction: executescript() would commit that transaction
    first, so the statements run one by one.
    """
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.executemany(
        "INSERT OR IGNORE INTO meta VALUES (?, ?)",
        [("format", STORE_FORMAT), ("schema_version", str(SCHEMA_VERSION))],
    )
    for target, migrate in MIGRATIONS:
        if version < target:
            migrate(conn)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Schema 1 named text augmenters by long names; rename them to the engine's, once, on open."""
    rows = conn.execute("SELECT run_id, augmentation FROM runs WHERE augmentation != ''").fetchall()
    conn.executemany(
        "UPDATE runs SET augmentation = ? WHERE run_id = ?",
        [(legacy.stack(text), run_id) for run_id, text in rows],
    )


#: Runs of ours stored before schema 3 that were trained at most this many examples of at most
#: this many tokens were the shipped study's cheap budget (192 examples, 48 tokens).
CHEAP_CAP = (192, 48)


def fidelity_of(train_examples: int | None, max_length: int) -> str | None:
    """``cheap`` for a budget within :data:`CHEAP_CAP` (the shipped study's), else None (no study
    fidelity): the rule the schema-3 migration applies to old runs, for new ones run at that budget."""
    within = train_examples is not None and train_examples <= CHEAP_CAP[0] and max_length <= CHEAP_CAP[1]
    return "cheap" if within else None


def _migrate_test_scores(conn: sqlite3.Connection) -> None:
    """Schema 2 kept dev scores only: add the test and budget columns (NULL test: "dev only").

    The budget columns are read back from each run's ``config_json``, where every run of ours
    kept its budget, so the predictor sees them for old runs too; the authors' runs keep NULL.
    """
    runs = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    for column, kind in zip(TEST_COLUMNS + BUDGET_COLUMNS, ("REAL",) * 3 + ("TEXT",) + ("INTEGER",) * 4, strict=True):
        if column not in runs:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    trials = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
    for column, kind in zip(TRIAL_COLUMNS_V3, ("REAL", "REAL", "REAL", "TEXT", "TEXT"), strict=True):
        if column not in trials:
            conn.execute(f"ALTER TABLE trials ADD COLUMN {column} {kind}")
    conn.execute(
        "UPDATE runs SET seed = json_extract(config_json, '$.budget.seed'), "
        "train_examples = json_extract(config_json, '$.train_examples'), "
        "epochs = json_extract(config_json, '$.budget.epochs'), "
        "max_length = json_extract(config_json, '$.budget.max_length') WHERE source = 'ours'"
    )
    conn.execute(
        "UPDATE runs SET fidelity = 'cheap' WHERE source = 'ours' AND train_examples <= ? AND max_length <= ?",
        CHEAP_CAP,
    )


def _add_pruned_column(conn: sqlite3.Connection) -> None:
    """Schema 4 logs where a search's pruner stopped a trial; earlier trials all ran to the end (NULL)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
    if "pruned_after_epoch" not in columns:
        conn.execute("ALTER TABLE trials ADD COLUMN pruned_after_epoch INTEGER")


def _migrate_pkd_tokens(conn: sqlite3.Connection) -> None:
    """Before schema 5 our ``pkd`` was computed per token: name it ``pkd-tokens`` in runs and trials.

    Run and trial ids stay: the engine and the sweep hash ``pkd-tokens`` as ``pkd``, so they
    are what those runs and trials would be given today (their run folders resume as before).
    """
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    selected = cursor.execute("SELECT run_id, source, inter_loss, config_json FROM runs WHERE source = 'ours'")
    runs = [legacy.per_token_pkd(dict(row)) for row in selected.fetchall()]
    trials = [legacy.per_token_pkd(dict(row)) for row in cursor.execute("SELECT trial_id, config_json FROM trials")]
    conn.executemany(
        "UPDATE runs SET inter_loss = ?, config_json = ? WHERE run_id = ?",
        [(r["inter_loss"], r["config_json"], r["run_id"]) for r in runs],
    )
    conn.executemany(
        "UPDATE trials SET config_json = ? WHERE trial_id = ?", [(t["config_json"], t["trial_id"]) for t in trials]
    )


def _migrate_paper_alpha(conn: sqlite3.Connection) -> None:
    """Before schema 5 the authors' MI-α runs were stored with their recorded α, which their code
    passed through a sigmoid: store the α they ran with (:func:`legacy.authors_alpha`)."""
    rows = conn.execute(
        "SELECT run_id, alpha, config_json FROM runs WHERE source = 'paper' AND inter_loss = 'mi'"
    ).fetchall()
    updates = []
    for run_id, recorded, config_json in rows:
        alpha = legacy.authors_alpha(recorded)
        config = json.loads(config_json)
        config["pipeline"]["alpha"] = alpha
        updates.append((alpha, json.dumps(config, sort_keys=True), run_id))
    conn.executemany("UPDATE runs SET alpha = ?, config_json = ? WHERE run_id = ?", updates)


def _add_split_version(conn: sqlite3.Connection) -> None:
    """Before schema 6 every run and trial ran on its data set's first split version: say so (1)."""
    for table in ("runs", "trials"):
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if "split_version" not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN split_version INTEGER NOT NULL DEFAULT 1")


def _add_cost_columns(conn: sqlite3.Connection) -> None:
    """Before schema 7 runs recorded neither their device nor their dev examples per epoch: add both,
    derived from each row as :func:`~autodistill.store.records.earlier_run_columns` says (runs of
    ours: the CPU, and the budget's cap on dev examples within the split's size)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    if set(COST_COLUMNS) <= columns:
        return
    conn.execute("ALTER TABLE runs ADD COLUMN device TEXT")
    conn.execute("ALTER TABLE runs ADD COLUMN eval_examples INTEGER")
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    rows = cursor.execute("SELECT run_id, source, dataset, split_version, config_json FROM runs").fetchall()
    derived = [{**earlier_row_columns(r), **r} for r in map(dict, rows)]
    conn.executemany("UPDATE runs SET device = :device, eval_examples = :eval_examples WHERE run_id = :run_id", derived)


def _add_cpu_columns(conn: sqlite3.Connection) -> None:
    """Before schema 8 runs recorded no CPU time: add the columns, NULL for those runs (not known)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    for column, kind in zip(CPU_COLUMNS, ("REAL", "INTEGER"), strict=True):
        if column not in columns:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")


def _seconds_column(column: str) -> Callable[[sqlite3.Connection], None]:
    """A migration adding one runs column of seconds that earlier runs did not record (NULL: not known)."""

    def add(conn: sqlite3.Connection) -> None:
        if column not in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} REAL")

    return add


def _admit_user_rows(conn: sqlite3.Connection) -> None:
    """Before schema 12 a run's source and a trial's kind were checked against shorter lists, and trials
    had no source: rebuild both tables under today's checks (SQLite cannot alter a check), every row
    kept, every earlier trial a sweep's (``ours``)."""
    for table, columns in (("runs", RUN_COLUMNS), ("trials", TRIAL_COLUMNS[:-1])):
        conn.execute(f"ALTER TABLE {table} RENAME TO {table}_before")
        create = next(s for s in SCHEMA.split(";") if f"EXISTS {table} (" in s)
        conn.execute(create)
        listed = ", ".join(columns)
        conn.execute(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {table}_before")
        conn.execute(f"DROP TABLE {table}_before")
    conn.execute(next(s for s in SCHEMA.split(";") if "INDEX IF NOT EXISTS runs_by_dataset" in s))


#: (schema version, migration): a store older than the version is brought up to it, in this order, on open.
MIGRATIONS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [
    (2, _migrate_v1),
    (3, _migrate_test_scores),
    (4, _add_pruned_column),
    (PKD_CLS_SCHEMA, _migrate_pkd_tokens),
    (5, _migrate_paper_alpha),
    (6, _add_split_version),
    (7, _add_cost_columns),
    (8, _add_cpu_columns),
    (9, _seconds_column(TEACHER_CACHE_COLUMN)),
    (10, _seconds_column(TEACHER_COLUMN)),
    (11, _seconds_column(SPEED_PROBE_COLUMN)),
    (12, _admit_user_rows),
]
