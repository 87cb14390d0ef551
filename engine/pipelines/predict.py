"""Batch inference with a saved student (or any fine-tuned folder autodistill wrote).

The folder is a plain Hugging Face model folder, or one ``autodistill export`` wrote
(an ONNX graph, run through onnxruntime); ``autodistill_task.json`` beside the weights
records the task (labels, pairing, task type) so predictions come out in the data
set's own label names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer

from engine.data.loaders import USUAL_NAMES
from engine.data.readers import EXTENSIONS, read_file, read_text_lines
from engine.data.resolution import metric_standard_error
from engine.errors import AutodistillError
from engine.pipelines.onnx_model import OnnxModel
from engine.pipelines.result import ExamplePredictions
from engine.tasks import encode_split, task_head
from engine.tasks.head import row_place
from engine.tasks.spec import TaskSpec
from engine.training.trainer import batch_logits

TASK_FILE = "autodistill_task.json"
#: How an input file is read where neither the caller nor the task file says (the run found its
#: columns by their usual names, or its folder was saved before the task file recorded them):
#: a column None is looked up under the names the run itself looks for (:func:`text_columns`).
DEFAULT_INPUTS = {"text_col": None, "text_pair_col": None, "label_col": None, "max_length": 128}


@dataclass(frozen=True)
class PredictionScore:
    """A labelled input's score: the task's headline metric over the rows that carry a label."""

    metric: str
    value: float
    rows: int
    column: str
    #: Labels the model never learned: scored as wrong.
    unknown: tuple[str, ...]
    #: The standard error measured on the rows' own terms, where the metric is one sum over another
    #: (:meth:`engine.pipelines.result.ExamplePredictions.standard_error`).
    measured_error: float | None = None

    @property
    def standard_error(self) -> float:
        """How finely ``rows`` examples resolve the score: measured where it could be, else the bound of
        :func:`engine.data.resolution.metric_standard_error`."""
        if self.measured_error is not None and math.isfinite(self.measured_error):  # NaN: one row
            return self.measured_error
        return metric_standard_error(self.metric, self.value, self.rows)


@dataclass(frozen=True)
class Predictions:
    """The input's rows with a ``prediction`` column; the score where the input holds labels, or why
    a label column found by its usual name was not scored."""

    frame: pd.DataFrame
    score: PredictionScore | None = None
    unscored: str | None = None
    #: The answer the model gave every row, where it gave one only (:meth:`TaskHead.one_answer`).
    one_answer: str | None = None


def read_inputs(path: Path, text_col: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """CSV, JSONL or Parquet (read as ``run`` reads a data set, every column kept), or plain
    text (one example per line, in column ``text_col``, ``text`` by default)."""
    if not path.exists():
        raise AutodistillError(f"input file {str(path)!r} does not exist")
    if path.suffix in (".txt", ""):
        frame = pd.DataFrame({text_col or "text": read_text_lines(path, encoding)})
    elif path.suffix in EXTENSIONS:
        frame = read_file(path, encoding)
    else:
        raise AutodistillError(f"unsupported input {path.suffix!r}; use one of: {', '.join(EXTENSIONS)} or .txt")
    if frame.empty:
        raise AutodistillError(f"input file {str(path)!r} has no examples")
    return frame


def text_columns(
    frame: pd.DataFrame, spec: TaskSpec, text_col: str | None, text_pair_col: str | None
) -> tuple[str, str | None]:
    """The input's text column and second-text column (None: it has none, or the model reads one text):
    the ones named, else the first present of the names a run looks for (a tagger's word lists first,
    then plain text)."""
    looked = (
        (text_col,)
        if text_col
        else tuple(dict.fromkeys([*USUAL_NAMES[task_head(spec).text_column], *USUAL_NAMES["text"]]))
    )
    text = next((column for column in looked if column in frame.columns), None)
    if text is None:
        columns = ", ".join(map(str, frame.columns))
        raise AutodistillError(
            f"input has no column {' or '.join(map(repr, looked))} (--text-col names another); columns: {columns}"
        )
    if not spec.paired:
        return text, None
    pairs = (text_pair_col,) if text_pair_col else USUAL_NAMES["text_pair"]
    return text, next((column for column in pairs if column in frame.columns and column != text), None)


def predict_file(
    model_dir: Path,
    input_path: Path,
    *,
    text_col: str | None = None,
    text_pair_col: str | None = None,
    label_col: str | None = None,
    max_length: int | None = None,
    batch_size: int = 32,
    encoding: str | None = None,
    probabilities: bool = False,
) -> Predictions:
    """Predict every example of ``input_path``: its rows with every column they had, plus a
    ``prediction`` column and, if asked (classification only), a ``p_<label>`` column per class;
    and, where the input holds labels (``label_col``, else the run's label column or one under a
    label's usual name), the predictions' score against them. The columns and length left unset are
    those the student was trained with (:func:`inputs_of`)."""
    meta = read_task_file(Path(model_dir))
    spec = task_spec(meta)
    head = task_head(spec)
    recorded = inputs_of(meta, text_col=text_col, text_pair_col=text_pair_col, max_length=max_length)
    if probabilities and not head.class_probabilities:
        raise AutodistillError(f"class probabilities need a classification model; this one is {spec.task_type}")
    frame = read_inputs(Path(input_path), recorded["text_col"], encoding)
    references = reference_column(frame, spec, label_col, recorded["label_col"])
    text, pair = text_columns(frame, spec, recorded["text_col"], recorded["text_pair_col"])
    inputs = head.prediction_inputs(frame[text])
    if pair is not None:
        inputs["text_pair"] = frame[pair].astype(str).to_numpy()
    if spec.paired and pair is None:
        wanted = recorded["text_pair_col"] or " or ".join(USUAL_NAMES["text_pair"])
        raise AutodistillError(f"this model needs text pairs: add a {wanted} column to the input (--text-pair-col)")
    preds, table = _predict_rows(Path(model_dir), meta, spec, inputs, recorded["max_length"], batch_size, probabilities)
    out = frame.reset_index(drop=True).assign(prediction=head.named(preds, spec))
    if table is not None:
        out = out.assign(**{f"p_{name}": table[:, i] for i, name in enumerate(spec.label_names)})
    one_answer = head.one_answer(preds, spec)
    if references is None:
        return Predictions(out, one_answer=one_answer)
    try:
        score = score_references(frame[references], inputs, preds, spec, str(input_path))
    except AutodistillError as error:
        if label_col:
            raise
        return Predictions(out, unscored=f"not scored against column {references!r}: {error}", one_answer=one_answer)
    return Predictions(out, score, one_answer=one_answer)


def _predict_rows(
    model_dir: Path,
    meta: dict,
    spec: TaskSpec,
    inputs: pd.DataFrame,
    max_length: int,
    batch_size: int,
    probabilities: bool,
) -> tuple[list, np.ndarray | None]:
    """The model's prediction for each row of ``inputs``, in their order, and the class probabilities if asked."""
    head = task_head(spec)
    if "onnx_file" in meta:  # an exported folder: the graph it names, on the CPU
        model, device = OnnxModel(model_dir / meta["onnx_file"]), "cpu"
    else:
        model = head.model_class.from_pretrained(model_dir)
        device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    split = encode_split(head.blank_labels(inputs), spec, tokenizer, max_length, train=False)
    preds: list = [None] * len(split)
    table = np.zeros((len(split), len(spec.label_names)), dtype=np.float32) if probabilities else None
    for indices, logits in batch_logits(model.to(device), spec, split, tokenizer.pad_token_id, batch_size, device):
        for row, pred in zip(indices, head.decode(logits, spec, split, indices), strict=True):
            preds[row] = pred  # batches come in length order: each result goes back to its row
        if table is not None:
            table[indices] = torch.softmax(logits[0].float(), dim=-1).cpu().numpy()
    return preds, table


def reference_column(frame: pd.DataFrame, spec: TaskSpec, given: str | None, recorded: str | None) -> str | None:
    """The input column holding the labels to score against: ``given`` (an error where absent), else the
    run's own label column (``recorded``) or the first found under the usual names of the type's labels,
    else None."""
    if given and given not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise AutodistillError(f"input has no label column {given!r} (--label-col); columns: {columns}")
    if given:
        return given
    role = task_head(spec).reference_column
    return next((column for column in (recorded, *USUAL_NAMES[role]) if column in frame.columns), None)


def score_references(
    cells: pd.Series, inputs: pd.DataFrame, preds: list, spec: TaskSpec, origin: str
) -> PredictionScore:
    """``preds`` (for the rows of ``inputs``) scored by the task's metric against the labels in ``cells``,
    over the rows that have one."""
    labelled = np.flatnonzero(cells.notna().to_numpy())
    head = task_head(spec)
    kept = [preds[row] for row in labelled]
    gold, unknown = head.references(
        cells.iloc[labelled], inputs.iloc[labelled], kept, spec, lambda row: row_place("all", row, origin)
    )
    scored = [i for i, reference in enumerate(gold) if reference is not None]  # None: a span row with no answer
    if not scored:
        raise AutodistillError(f"column {cells.name!r} holds no label")
    found = ExamplePredictions(
        str(spec.task_type), spec.metric, [kept[i] for i in scored], [gold[i] for i in scored], spec.label_names
    )  # scored and resolved as a run's test predictions are
    return PredictionScore(
        spec.metric, found.score(), len(scored), str(cells.name), tuple(sorted(unknown)), found.standard_error()
    )


def read_task_file(model_dir: Path) -> dict:
    """The folder's ``autodistill_task.json``; a folder without one is refused in one line."""
    task_file = model_dir / TASK_FILE
    if not task_file.exists():
        held = sorted(str(found.parent) for found in model_dir.glob(f"*/{TASK_FILE}"))  # a run folder's student
        hint = f"; the model folders in it: {', '.join(held)}" if held else ""
        raise AutodistillError(f"{str(model_dir)!r} is not an autodistill model folder (no {TASK_FILE}){hint}")
    meta = json.loads(task_file.read_text())
    if "onnx_file" in meta and not (model_dir / meta["onnx_file"]).exists():
        raise AutodistillError(f"{str(model_dir)!r} names the graph {meta['onnx_file']} but it is not there")
    return meta


def inputs_of(meta: dict, **given: str | int | None) -> dict:
    """The text, second-text and label columns and the token length to read inputs with: each one ``given``
    unless None, else the one the task file records from the run, else :data:`DEFAULT_INPUTS`."""
    recorded = {**DEFAULT_INPUTS, **meta.get("inputs", {})}
    return {key: recorded[key] if given.get(key) is None else given[key] for key in DEFAULT_INPUTS}


def task_spec(meta: dict) -> TaskSpec:
    """The task a saved model was trained for, from its task file."""
    return TaskSpec(
        meta["name"],
        meta["task_type"],
        meta["description"],
        tuple(meta["label_names"]),
        meta["paired"],
        meta["metric"],
        tuple(meta["label_scale"]) if meta.get("label_scale") else None,
    )
