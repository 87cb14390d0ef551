"""CPU latency for the study's headline: each (teacher, student) pair of the runs timed once.

The only numbers on ``docs/study.md`` not read from the store: they are measured
when the page is written, on the machine that writes it, with untrained models
built as the engine builds them (latency depends on the architectures and the
tokens, not on the weights).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pandas as pd

from engine import AutodistillError, TrainSettings, load_task
from study.tables import main_budgets

#: ``(teacher, student, data set, max length)`` -> the teacher's and the student's CPU milliseconds per example.
LatencyFn = Callable[[str, str, str, int], tuple[float, float]]
#: Dev examples timed per model (the first ones of the split), as the engine's runs do.
LATENCY_EXAMPLES = 16


def _run_max_length(config_json: str) -> int | None:
    return json.loads(config_json).get("budget", {}).get("max_length")


def latency_plan(runs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Where each (teacher, student) pair of the runs is timed: latency depends only on the two
    architectures and the sequence length, so once per pair, on the data set with most of the pair's
    runs (ties: the first by name) at the ``max_length`` of that (data set, student)'s main budget (the
    runs' own budget without trials, the engine's default without either)."""
    main = main_budgets(trials) if not trials.empty else pd.Series(dtype=object)
    rows = []
    for (teacher, student), group in runs.groupby(["teacher_name", "student_name"], sort=True):
        counts = group["dataset"].value_counts()
        dataset = min(counts.index[counts == counts.max()])
        if (dataset, student) in main.index:
            max_length = json.loads(main[(dataset, student)])["max_length"]
        else:
            lengths = group.loc[group["dataset"] == dataset, "config_json"].map(_run_max_length).dropna()
            max_length = int(lengths.mode().iloc[0]) if not lengths.empty else TrainSettings().max_length
        rows.append({"teacher": teacher, "student": student, "measured on": dataset, "max length": int(max_length)})
    return pd.DataFrame(rows).set_index(["teacher", "student"])


def cpu_latencies(teacher: str, student: str, dataset: str, max_length: int) -> tuple[float, float]:
    """The teacher's and the student's CPU milliseconds per single-example forward, by the engine's own
    :func:`engine.cpu_latency_ms`, on the first dev examples of ``dataset`` cut at ``max_length``.

    The models are built as the engine builds them (:func:`engine.load_task_model` and
    :func:`engine.build_student`) but left untrained: the timing depends on the architecture and the
    tokens only. Torch runs on one thread while timing (restored after), so the figure does not depend on
    how many cores the machine has free.
    """
    task = load_task(dataset)  # first: an unknown data set fails before any model is loaded
    import torch

    from engine import build_student, cpu_latency_ms, encode_split, load_task_model, load_tokenizer

    tokenizer = load_tokenizer(teacher)
    dev = encode_split(task.dev.iloc[:LATENCY_EXAMPLES], task.spec, tokenizer, max_length, train=False)
    teacher_model = load_task_model(teacher, task.spec)
    student_model = build_student(student, teacher, task.spec)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        teacher_ms = cpu_latency_ms(teacher_model, dev, tokenizer.pad_token_id, LATENCY_EXAMPLES)
        student_ms = cpu_latency_ms(student_model, dev, tokenizer.pad_token_id, LATENCY_EXAMPLES)
    finally:
        torch.set_num_threads(threads)
    return teacher_ms, student_ms


def measure_latencies(
    plan: pd.DataFrame, latency_fn: LatencyFn, on_status: Callable[[str], None] = lambda _text: None
) -> pd.DataFrame:
    """``plan`` (:func:`latency_plan`) with each pair's teacher and student milliseconds and the speed-up
    (teacher / student); a pair that cannot be timed gets NaNs and its one-line reason under ``error``."""
    rows = []
    for (teacher, student), where in plan.iterrows():
        on_status(f"CPU latency of {teacher} and {student} on {where['measured on']}")
        try:
            teacher_ms, student_ms = latency_fn(teacher, student, where["measured on"], int(where["max length"]))
            error = None
        except AutodistillError as exc:
            teacher_ms, student_ms, error = math.nan, math.nan, str(exc)
        rows.append({"teacher ms": teacher_ms, "student ms": student_ms, "error": error})
    table = plan.assign(**pd.DataFrame(rows, index=plan.index))
    return table.assign(**{"speed-up": table["teacher ms"] / table["student ms"]})


def speedup_map(latencies: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(teacher, student) -> CPU speed-up, for :func:`study.tables.headline`, from :func:`measure_latencies`' table."""
    return {pair: float(value) for pair, value in latencies["speed-up"].items()}
