"""Import of the Distiller authors' published runs (meta_data/reference/) into a runs store.

AutoDistiller needs past runs to learn from; the authors published 1,239 of
theirs with features of the 10 tasks involved. This module maps their columns
to ours (see meta_data/reference/README.md for every mapping decision) so that
their runs and ours live in one store and one vocabulary, the engine's: this is
where their names (``intermediate_strategy``, ``kd_loss_type``, position columns
``contextual``/``random``/``backtranslation``) become DistillConfig field values, and
their recorded MI-α α (a logit in their code) the weight it stood for
(:func:`autodistill.space.legacy.authors_alpha`: their 0.9 is 0.711). The published row is
kept as published in ``full_config["paper_row"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from autodistill.space import Pipeline, augment_of, legacy, stack_from_positions
from autodistill.store.database import DatasetFeatures, ModelDescriptor, RunRecord, RunStore
from engine import paths

REFERENCE_DIR = paths.META_DATA / "reference"
RUNS_FILE = "auto_distiller_tabular_data.csv"
FEATURES_FILE = "dataset_features_50_concat.csv"
TEACHERS_FILE = "teacher_baseline.csv"

#: Featurizer version of the authors' dataset features: not comparable with ours.
PAPER_FEATURIZER = "distiller-paper"
#: The code that produced these runs (the authors' repository at the published commit).
PAPER_CODE = "Cli212/Distiller@a6a48f7"
#: Date of that commit: every imported row gets it, so a re-import is byte-identical.
PAPER_DATE = "2022-04-25T00:00:00+00:00"
EMBEDDING_DIM = 50

_M = 1_000_000
#: Sizes from the paper's Table 6 (ELECTRA-base, absent there, is the published 12 x 768, 110M model).
PAPER_MODELS: dict[str, ModelDescriptor] = {
    d.name: d
    for d in (
        ModelDescriptor("BERT_BASE", 12, 768, 110 * _M),
        ModelDescriptor("Roberta-large", 24, 1024, 335 * _M),
        ModelDescriptor("ELECTRA-large", 24, 1024, 335 * _M),
        ModelDescriptor("ELECTRA_BASE", 12, 768, 110 * _M),
        ModelDescriptor("TinyBERT6", 6, 768, 67 * _M),
        ModelDescriptor("BERT_MEDIUM", 8, 512, 41 * _M),
        ModelDescriptor("BERT_SMALL", 4, 512, 29 * _M),
        ModelDescriptor("TinyBERT4", 4, 312, 14 * _M),
        ModelDescriptor("ELECTRA_SMALL", 12, 256, 14 * _M),
        ModelDescriptor("BERT_MINI", 4, 256, 11 * _M),
        ModelDescriptor("BERT_TINY", 2, 128, 4 * _M),
    )
}

#: Task kinds of the paper's tasks (cloth, a cloze test, fits none of our four kinds).
PAPER_TASK_KINDS: dict[str, str | None] = {
    "mnli": "pair-classification",
    "qqp": "pair-classification",
    "qnli": "pair-classification",
    "mrpc": "pair-classification",
    "rte": "pair-classification",
    "boolq": "pair-classification",
    "sst-2": "classification",
    "cola": "classification",
    "stsb": "regression",
    "cloth": None,
}


def read_csv(name: str, folder: Path = REFERENCE_DIR) -> pd.DataFrame:
    """One reference file as published (BOM and CRLF handled)."""
    return pd.read_csv(folder / name, encoding="utf-8-sig")


def _config(row: Mapping[str, Any]) -> Pipeline:
    """One published row as a point of the space (their column names -> DistillConfig fields)."""
    positions = {op: int(row[name]) for name, op in legacy.OPERATION.items()}
    mi = row["intermediate_loss_type"] == "mi"
    return Pipeline(
        mapping=row["intermediate_strategy"],
        inter_loss=row["intermediate_loss_type"],
        alpha=legacy.authors_alpha(float(row["alpha"])) if mi else None,
        pred_loss=row["kd_loss_type"],
        augment=augment_of(stack_from_positions(positions), bool(row["mixup"])),
        aug_p=float(row["aug_p"]),
        repeated_aug=int(row["repeated_aug"]),
    )


def paper_runs(folder: Path = REFERENCE_DIR) -> list[RunRecord]:
    """The authors' runs as typed records (scores as fractions, published ratios kept)."""
    runs = read_csv(RUNS_FILE, folder)
    teachers = (read_csv(TEACHERS_FILE, folder).set_index(["task", "model"])["score"] / 100).round(6)
    records = []
    for number, row in enumerate(runs.to_dict("records"), start=1):
        config = _config(row)
        records.append(
            RunRecord(
                dataset=row["task"],
                task_kind=PAPER_TASK_KINDS[row["task"]],
                config=config,
                teacher=PAPER_MODELS[row["Teacher"]],
                student=PAPER_MODELS[row["Model"]],
                student_score=float(row["score"]),
                teacher_score=float(teachers[(row["task"], row["Teacher"])]),
                ratio=float(row["ratio"]),
                source="paper",
                featurizer_version=PAPER_FEATURIZER,
                full_config={"pipeline": config.to_dict(), "paper_row": row},
                code_version=PAPER_CODE,
                created_at=PAPER_DATE,
                run_id=f"paper-{number:04d}",
            )
        )
    return records


def paper_features(folder: Path = REFERENCE_DIR) -> list[DatasetFeatures]:
    """The authors' 10 dataset feature vectors, split into context (0–49) and task (50–99) embeddings."""
    table = read_csv(FEATURES_FILE, folder)
    baselines = (read_csv(RUNS_FILE, folder).groupby("task")["baseline_score"].first() / 100).round(6)
    dims = [str(i) for i in range(2 * EMBEDDING_DIM)]
    features = []
    for row in table.to_dict("records"):
        task = row["task"]
        vector = [float(row[d]) for d in dims]
        features.append(
            DatasetFeatures(
                dataset=task,
                featurizer_version=PAPER_FEATURIZER,
                task_kind=PAPER_TASK_KINDS[task],
                n_examples=int(row["#example"]),
                n_labels=int(row["#label"]),
                baseline_score=float(baselines[task]) if task in baselines else None,
                baseline_model="paper-bilstm",
                context_embedding=tuple(vector[:EMBEDDING_DIM]),
                task_embedding=tuple(vector[EMBEDDING_DIM:]),
            )
        )
    return features


def import_reference(store: RunStore, folder: Path = REFERENCE_DIR) -> int:
    """Load the authors' runs and dataset features into ``store``; return how many runs were new.

    Idempotent: run ids are fixed, existing ones are skipped, features are replaced
    by identical values, all in one transaction.
    """
    with store.transaction():
        added = store.add_runs(paper_runs(folder), skip_existing=True)
        for features in paper_features(folder):
            store.put_features(features)
    return added
