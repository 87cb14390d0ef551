"""A finished run's predictions on its test split, one per example, beside the references.

Two runs scored on the same test examples share most of that split's sampling error: both see the
same hard and easy examples. Their scores alone cannot say how much, so a comparison of two runs
has to treat their errors as independent and overstate the noise of their difference. With each
run's per-example predictions kept, a caller can resample the test examples once for both runs and
score each resample (a paired bootstrap), which measures the sampling error of the difference itself.

A run writes ``test_predictions.json`` into its folder when it scores the test split. A run stored
before that keeps its student, so :func:`run_predictions` scores it again on exactly the examples
it was scored on (its config's seeded cap) and refuses, in one line, when the score it gets is not
the one the run recorded.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from engine.data.schema import TaskData
from engine.errors import AutodistillError
from engine.pipelines import reuse
from engine.pipelines.result import (
    RESULT_FILE,
    ExamplePredictions,
    RunResult,
    run_config,
    write_predictions,
    written_predictions,
)
from engine.tasks import task_head
from engine.tasks.encoding import EncodedSplit, limit_examples
from engine.tasks.spec import TaskSpec
from engine.training.trainer import predict

#: How far a re-scored run's headline metric may be from the recorded one (batched float arithmetic
#: on another machine differs in the last digits; a different example set or model differs by far more).
RESCORE_TOLERANCE = 1e-4


def split_predictions(spec: TaskSpec, preds: list, split: EncodedSplit) -> ExamplePredictions:
    """``preds`` of ``split``'s examples beside its references."""
    return ExamplePredictions(str(spec.task_type), spec.metric, preds, task_head(spec).gold(split), spec.label_names)


def run_predictions(output_dir: str | Path, task: TaskData | None = None) -> ExamplePredictions:
    """The test predictions of the finished run in ``output_dir``: as it wrote them, or, for a run that
    predates them, its saved student scored again on its test examples (then written beside it).
    ``task``: the run's data, as handed to ``engine.run`` (default: loaded by the name its config gives)."""
    output_dir = Path(output_dir)
    written = written_predictions(output_dir)
    if written is not None:
        return written
    write_predictions(output_dir, _rescore(output_dir, task))
    written = written_predictions(output_dir)  # as written: floats at their float32 digits
    assert written is not None
    return written


def _rescore(output_dir: Path, task: TaskData | None) -> ExamplePredictions:
    """The saved student on the run's test examples; refused where the run kept no student, scored no
    test split, or scores differently now."""
    if not (output_dir / RESULT_FILE).exists():
        raise AutodistillError(f"{str(output_dir)!r} holds no finished run (no {RESULT_FILE})")
    result = RunResult.load(output_dir)
    recorded = result.student_test_metrics.get(result.metric)
    if recorded is None:
        raise AutodistillError(f"run {result.run_id} was not scored on a test split: it has no test predictions")
    student_dir = output_dir / "student"
    if not student_dir.exists():
        raise AutodistillError(
            f"run {result.run_id} kept no student ({student_dir} is missing): it cannot be re-scored"
        )
    found = _predict_test(student_dir, task)
    score = found.score()
    if not math.isclose(score, recorded, abs_tol=RESCORE_TOLERANCE):
        raise AutodistillError(
            f"run {result.run_id}'s student scores {result.metric} {score:.5f} on its test split now, "
            f"not the {recorded:.5f} it recorded: its predictions would not be the run's"
        )
    return found


def _predict_test(student_dir: Path, task: TaskData | None) -> ExamplePredictions:
    """The student in ``student_dir`` on the test examples its run scored (the config's seeded cap)."""
    config = run_config(student_dir)
    task = task or reuse.task(config.dataset, config.data_options())
    frame = limit_examples(task.test, config.train.max_eval_examples, config.train.seed)
    head = task_head(task.spec)
    tokenizer = reuse.tokenizer(str(student_dir))
    split = reuse.encoded(frame, task.spec, tokenizer, config.train.max_length, train=False, source=task.test)
    model = head.model_class.from_pretrained(student_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    preds = predict(model.to(device), task.spec, split, tokenizer.pad_token_id, 64, device)
    return split_predictions(task.spec, preds, split)
