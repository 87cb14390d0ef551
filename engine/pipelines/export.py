"""The student's export: a standard Hugging Face folder with a model card.

The folder loads with plain ``transformers`` (no autodistill needed); the card
records the scores, sizes, latency and the Distiller configuration (Eq. 1) that
produced it, and ``autodistill_task.json`` what :mod:`engine.pipelines.predict`
needs to decode its outputs. An ONNX export (:mod:`engine.pipelines.deploy`) adds a
deployment section: test score, latency and size of each form of the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from transformers import PreTrainedModel

from engine.pipelines.result import RunResult
from engine.tasks import one_answer_note, task_head
from engine.tasks.spec import TaskSpec


def save_student(student: PreTrainedModel, tokenizer, spec: TaskSpec, result: RunResult, folder: Path) -> None:
    """Save a standard HF folder (loads with plain ``transformers``) plus a model card."""
    student.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "autodistill_task.json").write_text(json.dumps(task_file(spec, result.config), indent=2))
    (folder / "README.md").write_text(model_card(spec, result))


def task_file(spec: TaskSpec, config: dict) -> dict:
    """What prediction needs to read the folder's outputs as the task's labels, and the inputs as the
    run read them (``config``: the run's config as data): a file like the one it was trained on then
    predicts without naming its columns again. Columns the run left to their usual names are left out:
    prediction has its own defaults for them (:data:`engine.pipelines.predict.DEFAULT_INPUTS`)."""
    columns = config.get("columns") or {}
    named = {role: columns[role] for role in ("text_col", "text_pair_col", "label_col") if columns.get(role)}
    return {
        "name": spec.name,
        "task_type": spec.task_type,
        "label_names": list(spec.label_names),
        "paired": spec.paired,
        "metric": spec.metric,
        "description": spec.description,
        "label_scale": spec.label_scale,
        "inputs": {**named, "max_length": config["train"]["max_length"]},
    }


def model_card(spec: TaskSpec, result: RunResult) -> str:
    """The folder's README: scores, sizes, latency, how to load it, and the config that made it."""
    what = "Knowledge-distilled" if result.kind == "distill" else "Fine-tuned (no distillation)"
    config_yaml = yaml.safe_dump(result.config, sort_keys=False)
    return f"""---
library_name: transformers
tags: [knowledge-distillation, autodistill]
---
# {spec.name} student ({result.student_params / 1e6:.1f}M parameters)

{what} with autodistill from teacher `{result.config["teacher"]}` (fine-tuned on `{spec.name}`,
{result.teacher_params / 1e6:.1f}M parameters) on data set `{spec.name}` ({spec.kind}).

| | dev {spec.metric} | parameters | CPU latency / example |
| --- | --- | --- | --- |
| teacher | {result.teacher_score:.4f} | {result.teacher_params:,} | {latency_text(result, "teacher")} |
| student | {result.student_score:.4f} | {result.student_params:,} | {latency_text(result, "student")} |

Distillation ratio (student / teacher dev score): **{result.ratio:.4f}**. Latency: CPU, one thread, batch 1,
median of repeats.{busy_note(result)}{one_answer_warning(result)}

Task: {spec.description}

{load_section(spec)}
## Distiller configuration (paper Eq. 1)

```yaml
{config_yaml}```
"""


def latency_text(result: RunResult, who: str) -> str:
    """``who``'s latency as the run recorded it (the figure every page shows), marked when timed busy."""
    return f"{getattr(result, f'{who}_latency_ms'):.2f} ms" + BUSY_MARK * (who in result.latency_busy)


def one_answer_warning(result: RunResult) -> str:
    """A warning for a student that answers one label everywhere: its score is that label's share."""
    if result.one_answer is None:
        return ""
    return f"\n\n**Warning:** {one_answer_note('this student', result.one_answer)}."


def busy_note(result: RunResult) -> str:
    return f" {BUSY_MARK} {BUSY_NOTE}." if result.latency_busy else ""


#: Where a card's snippets put the folder; a reader puts their own path there.
FOLDER_PLACEHOLDER = "path/to/this/folder"


def load_section(spec: TaskSpec) -> str:
    """How to load a student folder: it holds the weights, so plain transformers does."""
    auto_class = task_head(spec).model_class.__name__
    return f"""Load it with plain transformers:

```python
from transformers import {auto_class}, AutoTokenizer
model = {auto_class}.from_pretrained("{FOLDER_PLACEHOLDER}")
```
"""


def onnx_load_section(graph: str) -> str:
    """How to load an exported folder: it holds a graph and a tokenizer, not transformers weights,
    so onnxruntime runs the graph on what the tokenizer gives (the graph's own input names pick
    the tensors it takes: MPNet's has no token types)."""
    return f"""Load it with onnxruntime (this folder holds an ONNX graph, not PyTorch weights;
`autodistill predict --model {FOLDER_PLACEHOLDER}` also reads it):

```python
import onnxruntime
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{FOLDER_PLACEHOLDER}")
session = onnxruntime.InferenceSession("{FOLDER_PLACEHOLDER}/{graph}", providers=["CPUExecutionProvider"])
encoded = tokenizer(["a text to score"], return_tensors="np")
wanted = {{i.name for i in session.get_inputs()}}
outputs = session.run(None, {{name: encoded[name] for name in wanted}})
print(dict(zip([o.name for o in session.get_outputs()], outputs)))  # logits, or start/end logits
```
"""


@dataclass
class Measured:
    """One model's test score, CPU latency (one thread) and size, as the deployment table shows it."""

    name: str
    score: float
    latency_batch1_ms: float
    latency_batch32_ms: float
    size_mb: float
    busy: bool = False  # timed on a busy machine: the latencies may be too high


#: How pages mark a latency timed on a busy machine (engine.pipelines.latency.Latency.busy).
BUSY_MARK = "*"
BUSY_NOTE = "timed while other work loaded the machine: the figure may be too high"

#: The heading of the card's deployment section; a new export replaces the section under it.
DEPLOYMENT_HEADING = "## Deployment (measured by `autodistill export`)"


def deployment_section(rows: list[Measured], metric: str, dataset: str, examples: int, notes: list[str]) -> str:
    """The exported model's card section: every model measured the same way, side by side."""
    lines = [
        DEPLOYMENT_HEADING,
        "",
        f"Test split of `{dataset}` ({examples} examples). Latency: CPU, one thread, median milliseconds per "
        "forward pass, repeated until stable, at batch size 1 and 32 (a PyTorch model's, as its run recorded).",
        "",
        f"| model | test {metric} | batch 1 | batch 32 | size on disk |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {r.name} | {r.score:.4f} | {r.latency_batch1_ms:.2f} ms{BUSY_MARK * r.busy} "
            f"| {r.latency_batch32_ms:.1f} ms{BUSY_MARK * r.busy} | {r.size_mb:.1f} MB |"
            for r in rows
        ),
        "",
        *(f"- {note}" for note in notes),
        *([f"- {BUSY_MARK} {BUSY_NOTE}"] if any(r.busy for r in rows) else []),
    ]
    return "\n".join(lines) + "\n"


def with_deployment(card: str, section: str) -> str:
    """``card`` with ``section`` in place of an earlier deployment section, or appended."""
    head, _, _ = card.partition(DEPLOYMENT_HEADING)
    return head.rstrip("\n") + "\n\n" + section
