"""``autodistill export``: the student as an ONNX graph (and int8), measured before it ships.

Quantization changes what a model predicts, and users of distilled models report
accuracy drops after ONNX int8 that nobody had measured. So an export scores every
form of the model on the run's untouched test split and times it on the CPU with one
thread at batch 1 and 32, beside the PyTorch student and the fine-tuned teacher, and
writes the table into the exported folder's model card. The fp32 graph must give the
PyTorch student's outputs on the test examples (within :data:`TOLERANCE`) or the export
is refused. The exported folder holds the graph(s), the tokenizer, ``config.json`` and
the task file, so ``autodistill predict`` reads it like a student folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import AutoTokenizer, PreTrainedModel

from engine.config import DistillConfig
from engine.data import load_task
from engine.data.schema import TaskData
from engine.errors import AutodistillError, choices_error
from engine.models.batch import model_inputs
from engine.models.zoo import load_task_model
from engine.pipelines.export import Measured, deployment_section, load_section, onnx_load_section, with_deployment
from engine.pipelines.latency import measure_latency, model_latency, torch_threads
from engine.pipelines.onnx_model import INT8_FILE, ONNX_FILE, OnnxModel, export_onnx, quantize_int8
from engine.pipelines.predict import TASK_FILE, read_task_file, task_spec
from engine.pipelines.result import run_config
from engine.tasks import encode_split, task_head
from engine.tasks.encoding import EncodedSplit, collate
from engine.tasks.spec import TaskSpec
from engine.teachers.finetune import TEACHER_SETTINGS, cached_teacher
from engine.training.trainer import evaluate_model

FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)
#: Largest difference allowed between the fp32 graph's outputs and the PyTorch student's.
TOLERANCE = 1e-3
#: The measurements of an export, beside its graphs.
EXPORT_FILE = "export.json"
#: Timed forwards per latency figure (after one warm-up).
TIMED = {1: 32, 32: 8}


@dataclass
class ExportReport:
    """Where the export went and what it measured."""

    folder: Path
    dataset: str
    metric: str
    test_examples: int
    rows: list[Measured]
    max_abs_diff: float
    notes: list[str] = field(default_factory=list)


def export_model(
    model_dir: Path,
    *,
    fmt: str = "onnx",
    quantize: str | None = None,
    out: Path | None = None,
    task: TaskData | None = None,
) -> ExportReport:
    """Export the student in ``model_dir`` (a run's ``student/``) as ``fmt``, measure it, card it."""
    if fmt not in FORMATS:
        raise choices_error("export format", fmt, FORMATS)
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise choices_error("quantization", quantize, QUANTIZATIONS)
    model_dir = Path(model_dir)
    meta = read_task_file(model_dir)
    if "onnx_file" in meta:
        raise AutodistillError(f"{str(model_dir)!r} is already an exported ONNX folder; export its run's student/")
    spec, config = task_spec(meta), run_config(model_dir)
    task = task or load_task(config.dataset, **config.data_options())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    test = encode_split(task.test, spec, tokenizer, config.train.max_length, train=False)
    if len(test) < 2:
        raise AutodistillError(f"the test split of {task.spec.name!r} has {len(test)} examples; export needs 2")
    student = task_head(spec).model_class.from_pretrained(model_dir).eval()
    out = Path(out) if out else model_dir.with_name(f"{model_dir.name}-onnx")
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(student, collate(test, [0, 1], tokenizer.pad_token_id), out / ONNX_FILE)
    diff = max_difference(student, OnnxModel(out / ONNX_FILE), spec, test, tokenizer.pad_token_id)
    if diff > TOLERANCE:
        (out / ONNX_FILE).unlink()
        raise AutodistillError(f"the ONNX graph's outputs differ from PyTorch's by {diff:.2g} (> {TOLERANCE}); refused")
    graphs = {"student (ONNX fp32)": out / ONNX_FILE}
    if quantize:
        quantize_int8(out / ONNX_FILE, out / INT8_FILE)
        graphs["student (ONNX int8)"] = out / INT8_FILE
    graph_file = INT8_FILE if quantize else ONNX_FILE
    rows, notes = measure_all(student, graphs, spec, task, config, test, tokenizer.pad_token_id, model_dir)
    notes.insert(0, f"This folder's graph is `{graph_file}`: `autodistill predict --model <this folder>` runs it.")
    notes.append(f"The fp32 graph's outputs differ from the PyTorch student's by at most {diff:.2g} on these examples.")
    report = ExportReport(out, task.spec.name, spec.metric, len(test), rows, diff, notes)
    write_folder(out, model_dir, student, tokenizer, meta, graph_file, report)
    return report


@torch.no_grad()
def max_difference(student: nn.Module, graph: OnnxModel, spec: TaskSpec, split: EncodedSplit, pad_id: int) -> float:
    """Largest absolute difference of the head's outputs, PyTorch against the graph, on up to 64 examples
    (padded batches of 16, so that masking is exercised too)."""
    head, worst = task_head(spec), 0.0
    for start in range(0, min(len(split), 64), 16):
        batch = collate(split, list(range(start, min(start + 16, len(split)))), pad_id)
        ours = head.logits(student(**model_inputs(student, batch)))
        theirs = head.logits(graph(**model_inputs(graph, batch)))
        worst = max(worst, *(float((a - b).abs().max()) for a, b in zip(ours, theirs, strict=True)))
    return worst


def measure(
    name: str,
    model: nn.Module,
    spec: TaskSpec,
    split: EncodedSplit,
    pad_id: int,
    size: float,
    model_dir: Path | None = None,
) -> Measured:
    """Test score, then CPU latency with one thread at batch 1 and 32. A PyTorch model saved in
    ``model_dir`` is timed through its latency record, so the figure its run showed is the one
    shown here."""
    with torch_threads(1):
        score = evaluate_model(model, spec, split, pad_id, 32)[spec.metric]
    timed = [
        model_latency(model_dir, model, split, pad_id, batch_size=b, examples=TIMED[b])
        if model_dir is not None
        else measure_latency(model, split, pad_id, TIMED[b], batch_size=b, threads=1)
        for b in (1, 32)
    ]
    return Measured(name, score, timed[0].ms, timed[1].ms, size, busy=any(t.busy for t in timed))


def measure_all(
    student: PreTrainedModel,
    graphs: dict[str, Path],
    spec: TaskSpec,
    task: TaskData,
    config: DistillConfig,
    test: EncodedSplit,
    pad_id: int,
    model_dir: Path,
) -> tuple[list[Measured], list[str]]:
    """The teacher (where its fine-tune is cached), the PyTorch student and each graph, measured alike."""
    rows, notes = [], []
    teacher = cached_teacher(config.teacher, task, TEACHER_SETTINGS)
    if teacher is None:
        notes.append(f"Teacher not measured: no fine-tune of {config.teacher!r} on {task.spec.name!r} is cached here.")
    else:
        teacher_tokenizer = AutoTokenizer.from_pretrained(teacher.model_dir)
        teacher_test = encode_split(task.test, spec, teacher_tokenizer, config.train.max_length, train=False)
        model = load_task_model(str(teacher.model_dir), spec)
        pad, size = teacher_tokenizer.pad_token_id, _mb(teacher.model_dir)
        rows.append(measure("teacher (PyTorch)", model, spec, teacher_test, pad, size, teacher.model_dir))
    rows.append(measure("student (PyTorch)", student, spec, test, pad_id, _mb(model_dir), model_dir))
    for name, path in graphs.items():
        rows.append(measure(name, OnnxModel(path, threads=1), spec, test, pad_id, path.stat().st_size / 1e6))
    return rows, notes


def _mb(folder: Path) -> float:
    """Megabytes of a Hugging Face folder's weights."""
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors")) / 1e6


def write_folder(
    out: Path, model_dir: Path, student: PreTrainedModel, tokenizer, meta: dict, graph: str, report: ExportReport
) -> None:
    """Tokenizer, ``config.json`` (labels), the task file naming the graph predict runs, the card, and
    the measurements as data (:data:`EXPORT_FILE`, which a run's report page reads)."""
    tokenizer.save_pretrained(out)
    student.config.save_pretrained(out)
    (out / TASK_FILE).write_text(json.dumps({**meta, "onnx_file": graph}, indent=2))
    card = (model_dir / "README.md").read_text() if (model_dir / "README.md").exists() else ""
    section = deployment_section(report.rows, report.metric, report.dataset, report.test_examples, report.notes)
    card = card.replace(load_section(task_spec(meta)), "")  # no transformers weights here: the section says how
    (out / "README.md").write_text(with_deployment(card, f"{section}\n{onnx_load_section(graph)}"))
    measured = {**asdict(report), "folder": str(report.folder)}
    (out / EXPORT_FILE).write_text(json.dumps(measured, indent=2))
