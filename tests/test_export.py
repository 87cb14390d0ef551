"""ONNX export: the graph answers as the PyTorch student does on every task type, int8 accuracy is
measured rather than assumed, the card shows both beside the teacher, and predict reads the folder."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import cli
import engine.pipelines.deploy as deploy
import engine.pipelines.run as engine_run
from engine.components import parse_config
from engine.config import TrainSettings
from engine.errors import AutodistillError
from engine.models.batch import model_inputs
from engine.models.zoo import build_student, load_tokenizer
from engine.pipelines.export import task_file
from engine.pipelines.onnx_model import INT8_FILE, ONNX_FILE, OnnxModel, export_onnx, quantize_int8
from engine.pipelines.predict import predict_file
from engine.tasks import encode_split, task_head
from engine.tasks.encoding import collate
from engine.tasks.span import span_metrics
from engine.tasks.spec import TaskSpec, TaskType
from engine.training.trainer import evaluate_model

TINY_TEACHER = TrainSettings(epochs=2, batch_size=16, lr=1e-4, max_length=16)
ANIMALS = ["cat", "dog", "horse", "cow"]


def _frame(task_type: str, n: int = 12, seed: int = 0) -> pd.DataFrame:
    """A few examples of each task type, of different lengths so that batches are padded."""
    rng = np.random.default_rng(seed)
    words = [
        " ".join(rng.choice(["good", "bad", "movie", "plot", "cat", "runs"], int(rng.integers(2, 9)))) for _ in range(n)
    ]
    if task_type == "token":
        return pd.DataFrame(
            {
                "text": words,
                "tokens": [w.split() for w in words],
                "tags": [[i % 2 for i, _ in enumerate(w.split())] for w in words],
            }
        )
    frame = pd.DataFrame({"text": words, "label": rng.integers(0, 2, n)})
    if task_type == "pair":
        return frame.assign(text_pair=words[::-1])
    if task_type == "regression":
        return frame.assign(label=rng.normal(size=n))
    if task_type == "span":
        animals = [str(rng.choice(ANIMALS)) for _ in range(n)]
        contexts = [f"the quick {a} jumped {w}" for a, w in zip(animals, words, strict=True)]
        return pd.DataFrame(
            {"text": "which animal?", "text_pair": contexts, "answer_start": 10, "answer_text": animals}
        )
    return frame


SPECS = {
    "classification": TaskSpec("c", TaskType.CLASSIFICATION, "d", ("neg", "pos")),
    "pair": TaskSpec("p", TaskType.CLASSIFICATION, "d", ("no", "yes"), paired=True),
    "regression": TaskSpec("r", TaskType.REGRESSION, "d", label_scale=(0.0, 1.0)),
    "span": TaskSpec("s", TaskType.SPAN, "d", paired=True),
    "token": TaskSpec("t", TaskType.TOKEN, "d", ("A", "B")),
}


@pytest.mark.parametrize("task_type", list(SPECS))
def test_the_onnx_graph_gives_the_pytorch_outputs_on_every_task_type(task_type, tmp_path):
    spec, tokenizer = SPECS[task_type], load_tokenizer("minilm-l6")
    torch.manual_seed(0)
    student = build_student("tiny", "minilm-l6", spec).eval()
    split = encode_split(_frame(task_type), spec, tokenizer, 32, train=False)
    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        export_onnx(student, collate(split, [0, 1], tokenizer.pad_token_id), tmp_path / ONNX_FILE)
    assert [str(w.message) for w in heard] == [], "the exporter's chatter stays off the user's terminal"
    quantize_int8(tmp_path / ONNX_FILE, tmp_path / INT8_FILE)
    batch = collate(split, list(range(len(split))), tokenizer.pad_token_id)  # another batch size and length
    head = task_head(spec)
    with torch.no_grad():
        ours = head.logits(student(**model_inputs(student, batch)))
    for graph, tolerance in ((ONNX_FILE, 1e-4), (INT8_FILE, None)):
        model = OnnxModel(tmp_path / graph)
        theirs = head.logits(model(**model_inputs(model, batch)))
        assert [t.shape for t in theirs] == [o.shape for o in ours]
        if tolerance is not None:
            assert max(float((a - b).abs().max()) for a, b in zip(ours, theirs, strict=True)) < tolerance
    assert (tmp_path / INT8_FILE).stat().st_size < (tmp_path / ONNX_FILE).stat().st_size / 2


def test_predict_scores_a_span_model_against_the_answers_a_file_holds(tmp_path):
    spec, tokenizer = SPECS["span"], load_tokenizer("minilm-l6")
    torch.manual_seed(0)
    folder = tmp_path / "student"
    build_student("tiny", "minilm-l6", spec).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "autodistill_task.json").write_text(json.dumps(task_file(spec, {"train": {"max_length": 32}})))
    frame = _frame("span").rename(columns={"text": "question", "text_pair": "context"})
    answers = [{"text": [a], "answer_start": [10]} for a in frame.pop("answer_text")]
    frame = frame.drop(columns="answer_start").assign(answers=[*answers[:-2], {"text": [], "answer_start": []}, None])
    frame.to_json(tmp_path / "squad.jsonl", orient="records", lines=True)
    predictions = predict_file(folder, tmp_path / "squad.jsonl")
    gold = [a["text"][0] for a in answers[:-2]]
    expected = span_metrics(list(predictions.frame["prediction"][:-2]), gold)["f1"]
    assert predictions.score.rows == len(gold), "a row with no answer, and one with no answers cell, are not scored"
    assert predictions.score.column == "answers" and predictions.score.value == pytest.approx(expected)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny distilled toy run (as tests/test_run_e2e.py's), exported with int8."""
    from conftest import toy_task_data

    task = toy_task_data()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTODISTILL_HOME", str(tmp_path_factory.mktemp("export-home")))
        patch.setattr(engine_run, "TEACHER_SETTINGS", TINY_TEACHER)
        patch.setattr(deploy, "TEACHER_SETTINGS", TINY_TEACHER)
        train = {"epochs": 6, "batch_size": 16, "lr": 1e-3, "max_length": 16}
        config = parse_config(
            {"dataset": "toy", "student": "tiny", "mapping": None, "inter_loss": None, "train": train}
        )
        result = engine_run.run(config, task=task, show_progress=False)
        report = deploy.export_model(Path(result.output_dir) / "student", quantize="int8", task=task)
    return task, result, report


def test_the_card_shows_teacher_student_and_both_graphs_measured_on_test(exported):
    task, result, report = exported
    names = [row.name for row in report.rows]
    assert names == ["teacher (PyTorch)", "student (PyTorch)", "student (ONNX fp32)", "student (ONNX int8)"]
    by_name = {row.name: row for row in report.rows}
    assert by_name["student (ONNX fp32)"].score == by_name["student (PyTorch)"].score  # same predictions
    assert report.max_abs_diff < deploy.TOLERANCE and report.test_examples == len(task.test)
    assert all(row.latency_batch1_ms > 0 and row.latency_batch32_ms > row.latency_batch1_ms for row in report.rows)
    assert by_name["student (ONNX int8)"].size_mb < by_name["student (ONNX fp32)"].size_mb / 2
    card = (report.folder / "README.md").read_text()
    assert card.count("## Deployment") == 1 and "Distillation ratio" in card  # the run's card, then the section
    for row in report.rows:
        assert f"| {row.name} | {row.score:.4f} |" in card
    # one figure per model: the export shows the latencies the run recorded (and its report shows)
    assert by_name["teacher (PyTorch)"].latency_batch1_ms == result.teacher_latency_ms
    assert by_name["student (PyTorch)"].latency_batch1_ms == result.student_latency_ms
    assert f"{result.student_latency_ms:.2f} ms" in card.partition("## Deployment")[0]


def test_int8_accuracy_is_measured_on_the_test_split_not_assumed(exported):
    task, _, report = exported
    tokenizer = load_tokenizer(str(report.folder))
    test = encode_split(task.test, task.spec, tokenizer, 16, train=False)
    measured = evaluate_model(OnnxModel(report.folder / INT8_FILE), task.spec, test, tokenizer.pad_token_id, 32)
    assert report.rows[-1].score == measured["accuracy"]


def test_predict_reads_an_exported_folder_as_it_reads_the_student(exported, tmp_path):
    task, result, report = exported
    inputs = tmp_path / "in.csv"
    task.test.head(16).to_csv(inputs, index=False)
    assert json.loads((report.folder / "autodistill_task.json").read_text())["onnx_file"] == INT8_FILE
    from_graph = predict_file(report.folder, inputs, max_length=16).frame["prediction"]
    gold = task.test.head(16)["label"].map({0: "neg", 1: "pos"})
    assert (from_graph == gold).mean() > 0.8
    fp32 = (report.folder / "autodistill_task.json").read_text().replace(INT8_FILE, ONNX_FILE)
    (report.folder / "autodistill_task.json").write_text(fp32)
    from_student = predict_file(Path(result.output_dir) / "student", inputs, max_length=16).frame["prediction"]
    assert list(predict_file(report.folder, inputs, max_length=16).frame["prediction"]) == list(from_student)


def test_what_cannot_be_exported_is_refused_in_one_line(exported, tmp_path):
    _, result, report = exported
    student = Path(result.output_dir) / "student"
    with pytest.raises(AutodistillError, match="unknown export format 'tflite'; choose one of: onnx"):
        deploy.export_model(student, fmt="tflite")
    with pytest.raises(AutodistillError, match="unknown quantization 'int4'; choose one of: int8"):
        deploy.export_model(student, quantize="int4")
    with pytest.raises(AutodistillError, match="already an exported ONNX folder"):
        deploy.export_model(report.folder)
    with pytest.raises(AutodistillError, match="not an autodistill model folder"):
        deploy.export_model(tmp_path)
    with pytest.raises(AutodistillError, match=f"model folders in it: {student}"):  # the run folder, not its student
        deploy.export_model(Path(result.output_dir))
    with pytest.raises(SystemExit) as stopped:
        cli.app(["export", "--model", str(student), "--format", "tflite"])
    assert stopped.value.code == 2


def _browser() -> str | None:
    """A headless Chromium (Debian's chromium-headless-shell or chromium), if installed."""
    import shutil

    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")


def test_the_run_report_opens_in_a_real_browser_and_shows_the_runs_numbers(exported, tmp_path):
    import subprocess

    from engine.pipelines.report import write_report

    _, result, report = exported
    page = write_report(Path(result.output_dir), tmp_path / "report.html")
    history = json.loads((Path(result.output_dir) / "result.json").read_text())["history"]
    assert all("train/kd" in h and "train/loss" in h for h in history)  # the curves' data: each epoch's terms
    browser = _browser()
    if browser is None:
        pytest.skip("no headless Chromium: scripts/setup.sh installs Debian's chromium-headless-shell as root")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(tmp_path / "profile")]
    shown = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = shown.stdout
    assert f"{result.student_score:.4f}" in dom and f"{result.teacher_score:.4f}" in dom
    assert f"{result.ratio:.4f}" in dom and f"{result.student_params:,}" in dom
    assert f"{result.test_ratio:.4f}" in dom and f"{result.student_test_metrics['accuracy']:.4f}" in dom
    assert f"{report.rows[-1].score:.4f}" in dom and "student (ONNX int8)" in dom  # the export's table
    assert dom.count("<svg") == 1 and "l_pred(f^T(x), f^S(x))" in dom and "inter_loss" in dom
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1100,1400", page.as_uri()], timeout=120, check=True)
    assert shot.stat().st_size > 10_000


def _python_block(card: str, after: str) -> str:
    """The first python code block of ``card`` after the line starting with ``after``."""
    rest = card[card.index(after) :]
    return rest.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_exported_cards_loading_snippet_runs_and_gives_the_graphs_outputs(exported, capsys):
    _, _, report = exported
    card = (report.folder / "README.md").read_text()
    assert "ForSequenceClassification" not in card  # the student card's transformers snippet fails here
    snippet = _python_block(card, "Load it with onnxruntime").replace("path/to/this/folder", str(report.folder))
    exec(compile(snippet, "card", "exec"), {})  # the reader's copy-paste, as printed
    printed = capsys.readouterr().out
    assert printed.startswith("{'logits': array([[") and "dtype=float32" in printed


def test_predict_keeps_the_inputs_columns_and_writes_class_probabilities(exported, tmp_path):
    task, result, _ = exported
    inputs = tmp_path / "in.csv"
    task.test.head(6).assign(id=[f"r{i}" for i in range(6)]).to_csv(inputs, index=False)
    out = predict_file(Path(result.output_dir) / "student", inputs, max_length=16, probabilities=True).frame
    assert list(out.columns) == [*task.test.columns, "id", "prediction", "p_neg", "p_pos"]
    assert list(out["id"]) == [f"r{i}" for i in range(6)]
    assert np.allclose(out["p_neg"] + out["p_pos"], 1.0, atol=1e-5)
    assert list(out["prediction"]) == ["pos" if p > 0.5 else "neg" for p in out["p_pos"]]


def test_predict_to_stdout_writes_each_row_whole(exported, tmp_path, capsys):
    """Drug reviews: rows of texts past 80 characters had been folded at the console's width, so that the
    CSV read back held 690 rows for 379."""
    _, result, _ = exported
    inputs = tmp_path / "long.csv"
    texts = [" ".join(["a rather long review of the drug"] * 8), "short"]
    pd.DataFrame({"text": texts}).to_csv(inputs, index=False)
    cli.app(["predict", "--model", str(Path(result.output_dir) / "student"), "--input", str(inputs)])
    back = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(back["text"]) == texts and len(back) == 2


def test_predict_reads_a_latin1_file_when_told_its_encoding_and_says_how_when_not(exported, tmp_path, capsys):
    _, result, _ = exported
    student = Path(result.output_dir) / "student"
    inputs = tmp_path / "café.csv"
    inputs.write_bytes("id,text\n1,un café très bon\n".encode("latin-1"))
    with pytest.raises(SystemExit) as stopped:
        cli.app(["predict", "--model", str(student), "--input", str(inputs)])
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and len(error.strip().splitlines()) == 1
    assert "as utf-8 text (it holds byte 0xe9)" in error and "--encoding" in error
    out = predict_file(student, inputs, max_length=16, encoding="latin-1").frame
    assert out.loc[0, "text"] == "un café très bon" and out.loc[0, "id"] == 1
