"""The meta-layer commands: features, runs, evaluate, importance, sweep, recommend, run --recommendation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import toy_frame
from test_recommend import CONFIGS, fake_corpus_text, fake_finetune_teacher, fill_store
from typer.testing import CliRunner

import cli
import engine
from engine import Predictions, PredictionScore, load_task

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(cli.typer_app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def error_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What `autodistill ARGS` prints on stderr when it refuses (exit status 2, one line, after any
    progress lines the command printed there before it stopped)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.app(list(args))
    assert exit_info.value.code == 2
    *progress, message = capsys.readouterr().err.strip().splitlines()
    assert message.startswith("error:") and not any(line.startswith(("error", "Traceback")) for line in progress)
    return message


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    toy_frame(400, 0).to_csv(path, index=False)
    return path


@pytest.fixture
def store_file(tmp_path: Path, reviews: Path) -> Path:
    from autodistill.store.database import RunStore

    path = tmp_path / "ours.sqlite"
    with RunStore(path) as store:
        fill_store(store, load_task(str(reviews)))
    return path


def test_runs_import_then_export(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    assert "imported 1239 new runs (1239 paper runs stored) and the features of 10 tasks" in invoke(
        "runs", "import", "--store", str(store)
    )
    assert "imported 0 new runs" in invoke("runs", "import", "--store", str(store))  # idempotent
    assert "wrote 1239 paper runs" in invoke("runs", "export", str(tmp_path / "runs.csv"), "--store", str(store))
    frame = pd.read_csv(tmp_path / "runs.csv")
    assert len(frame) == 1239 and {"inter_loss", "mapping", "dev_ratio", "test_ratio", "config_json"} <= set(
        frame.columns
    )


def test_features_of_a_local_file(tmp_path: Path, reviews: Path) -> None:
    store = tmp_path / "runs.sqlite"
    out = invoke(
        "features",
        "--dataset",
        str(reviews),
        "--description",
        "Is this short movie review positive or negative?",
        "--baseline",
        "linear",
        "--store",
        str(store),
    )
    assert "task embedding" in out and "#examples" in out and "stored in" in out
    from autodistill.store.database import RunStore

    with RunStore(store) as runs_store:
        (features,) = runs_store.features("glove50-tfidf.v2+linear")
    assert features.dataset == "reviews" and len(features.task_embedding) == 50


def test_evaluate_and_importance_on_our_runs(store_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autodistill.evaluation import lodo as evaluate

    monkeypatch.setattr(evaluate, "corpus_text", fake_corpus_text)  # these fake data sets have no text
    out = invoke("evaluate", "--lodo", "--source", "ours", "--time-limit", "5", "--store", str(store_file))
    assert "mean Spearman over 3 held-out data sets" in out and "paper, Figure 5: 0.33" in out
    out = invoke("evaluate", "--source", "ours", "--nested", "--designs", "lgbm", "--store", str(store_file))
    assert "nested Spearman" in out and "tuned Spearman" in out and "any design" in out
    plot = tmp_path / "importance.png"
    out = invoke("importance", "--source", "ours", "--plot", str(plot), "--store", str(store_file))
    assert "l_inter" in out and plot.stat().st_size > 0


def test_sweep_dry_run_lists_the_trials(reviews: Path) -> None:
    out = invoke("sweep", "--datasets", str(reviews), "--students", "tiny,layers=0,2", "--n", "2", "--dry-run")
    assert out.count("no-KD baseline") == 2 and out.count("distill") == 4
    assert out.count(f"│ {reviews.name} ") == 6, "a file shows by its name, whole, not as a cut path"


def test_recommend_then_run_a_pick(
    store_file: Path, reviews: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "finetune_teacher", fake_finetune_teacher)
    out_file = tmp_path / "rec.json"
    args = ["--dataset", str(reviews), "--description", "Is this short movie review positive or negative?",
            "--top", "3", "--out", str(out_file)]  # fmt: skip
    out = invoke("recommend", *args, "--explain", "--store", str(store_file))
    said = runner.invoke(cli.typer_app, ["recommend", *args, "--store", str(store_file)], catch_exceptions=False)
    advice = said.stdout.splitlines()  # the answer; progress lines go to stderr
    assert len(advice) <= 15 and advice[1].startswith("advice: ") and "run it: autodistill run" in said.stdout
    assert ("logit KD first:" in said.stdout) != ("beats logit KD on the evidence:" in said.stdout)
    assert "weighing the pipeline space" in said.stderr and "weighing the pipeline space" not in said.stdout
    # readable in an 80-column terminal and a file: only a path longer than a line overruns, alone on its line
    assert all(len(line) <= 80 or str(out_file) in line for line in advice)
    assert "predicted dev-ratio gain over logit KD" in out and "recommended in" in out
    assert "logit KD: ~" in out and "gain over logit KD" in out and "min" in out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("1. "))
    last = next(i for i, line in enumerate(lines) if line.startswith("logit KD: ~"))
    assert all(line[0].isdigit() or line.startswith("   ") for line in lines[first:last])  # folds stay indented
    assert any(str(out_file) in line for line in lines)  # a path is never split inside
    printed = runner.invoke(cli.typer_app, ["recommend", *args, "--json", "--store", str(store_file)])
    assert json.loads(printed.stdout)["picks"] == json.loads(out_file.read_text())["picks"]  # the record, alone
    picks = json.loads(out_file.read_text())["picks"]
    assert len(picks) == 3

    ran = []

    def capture(config, output_dir=None):
        ran.append(config)
        raise _Stop

    monkeypatch.setattr(engine, "run", capture)
    with pytest.raises(_Stop):
        cli.typer_app(["run", "--recommendation", str(out_file), "--pick", "2", "--epochs", "1"], standalone_mode=False)
    assert ran[0].model_dump(mode="json") == {
        **picks[1]["engine"],
        "train": {**picks[1]["engine"]["train"], "epochs": 1},
    }


def test_a_files_column_mapping_travels_from_recommend_to_run(
    store_file: Path, reviews: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "finetune_teacher", fake_finetune_teacher)
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(reviews).rename(columns={"text": "review", "label": "stars"}).to_csv(renamed, index=False)
    out_file = tmp_path / "rec.json"
    mapping = ["--text-col", "review", "--label-col", "stars"]
    invoke("recommend", "--dataset", str(renamed), *mapping, "--description", "Is this review positive?",
           "--top", "1", "--out", str(out_file), "--store", str(store_file))  # fmt: skip
    assert json.loads(out_file.read_text())["picks"][0]["engine"]["columns"]["text_col"] == "review"

    ran = []

    def capture(config, output_dir=None):
        ran.append(config)
        raise _Stop

    monkeypatch.setattr(engine, "run", capture)
    for args in (["--recommendation", str(out_file)], ["--dataset", str(renamed), *mapping]):
        with pytest.raises(_Stop):
            cli.typer_app(["run", *args], standalone_mode=False)
        columns = ran[-1].columns
        assert (columns.text_col, columns.label_col) == ("review", "stars")


class _Stop(Exception):
    """Raised instead of printing a run result, once the config has been captured."""


def test_bad_input_is_refused_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, reviews: Path) -> None:
    from autodistill.store.database import RunStore

    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("these are my notes, not a database\n" * 50)
    assert "is not a runs store" in error_of(capsys, "evaluate", "--store", str(not_a_store))
    assert "no runs store at" in error_of(capsys, "importance", "--store", str(tmp_path / "missing.sqlite"))
    assert "--description is empty" in error_of(capsys, "features", "--dataset", str(reviews), "--description", " ")
    empty = tmp_path / "empty.sqlite"
    RunStore(empty).close()
    message = error_of(capsys, "evaluate", "--source", "ours", "--store", str(empty))
    assert "autodistill sweep" in message
    message = error_of(capsys, "evaluate", "--nested", "--designs", "lgbm,forest", "--store", str(empty))
    assert "unknown predictor design 'forest'; choose one of: autogluon, global, kernel, lambdarank, lgbm" in message
    message = error_of(capsys, "evaluate", "--design", "forest", "--store", str(empty))
    assert "unknown predictor design 'forest'" in message
    message = error_of(capsys, "recommend", "--dataset", str(reviews), "--store", str(empty), "--no-shipped")
    assert "autodistill sweep" in message
    small = tmp_path / "small.csv"
    toy_frame(40, 0).to_csv(small, index=False)
    message = error_of(capsys, "features", "--dataset", str(small), "--description", "Positive or negative?")
    assert "at least 50" in message


def test_augment_writes_copies_a_run_can_read(tmp_path: Path, reviews: Path) -> None:
    out = tmp_path / "aug"
    printed = invoke(
        "augment", "--dataset", str(reviews), "--augment", "ra", "--copies", "2", "--max-train-examples", "40",
        "--workers", "0", "--out", str(out),
    )  # fmt: skip
    printed = " ".join(printed.split())
    assert "wrote 2 augmented copies of 40 examples" in printed
    assert f"a run reads them with --aug-dir {out} --augment ra --seed 42" in printed, "the flags, not a config key"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["text_ops"] == ["ra"] and manifest["copies"] == 2
    copies = [pd.read_parquet(out / f"copy-{k:03d}.parquet") for k in range(2)]
    assert len(copies[0]) == 40 and copies[0]["text"].tolist() != copies[1]["text"].tolist()


def test_augment_and_retrain_refuse_what_cannot_work(capsys: pytest.CaptureFixture[str], reviews: Path) -> None:
    message = error_of(capsys, "augment", "-d", str(reviews), "--augment", "mixup", "--out", "x")
    assert "mixup mixes embeddings" in message
    message = error_of(capsys, "run", "-d", str(reviews), "--retrain-candidates", "2")
    assert "learned mode" in message


def test_runs_import_from_the_shipped_study(tmp_path: Path, store_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import autodistill.store.shipped

    invoke("study", "export", "--store", str(store_file), "--folder", str(tmp_path / "study"))
    monkeypatch.setattr(autodistill.store.shipped, "STUDY_DIR", tmp_path / "study")
    printed = invoke("runs", "import", "--from", "study", "--store", str(tmp_path / "fresh.sqlite"))
    assert f"imported {3 * (len(CONFIGS) + 1)} new runs" in printed.replace("\n", " ")  # fill_store's runs


def test_a_bad_setting_outside_a_whole_config_is_one_line_too(capsys):
    assert "epochs" in error_of(capsys, "teacher", "train", "--dataset", "bbc-news", "--epochs", "0")


def test_usage_errors_are_one_line_with_where_to_find_help(capsys):
    assert "No such command 'finetun'" in error_of(capsys, "teacher", "finetun")
    message = error_of(capsys, "run", "--dataset", "bbc-news", "--epochs", "three")
    assert "'--epochs'" in message and "autodistill run --help" in message


def test_the_catalog_table_keeps_every_name_whole_in_80_columns(monkeypatch):
    """`data list` is where a user finds the name to type next: a name cut to "wordnet-genus-…" cannot
    be copied. The catalog's own specs, with made-up sizes (preparing every set is slow)."""
    from io import StringIO

    from rich.console import Console

    from cli import render

    out = StringIO()
    monkeypatch.setattr(render, "console", Console(file=out, width=80))
    specs = engine.list_datasets()
    render.datasets([(spec, {"train": 104_953, "dev": 5_000, "test": 5_000}) for spec in specs])
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert [line.split()[0] for line in lines[1:]] == [spec.name for spec in specs]


def test_data_list_prepares_nothing_and_writes_nothing_in_its_home(monkeypatch, tmp_path):
    """The sizes come from the recorded cards: a fresh home lists the catalog at once and stays empty
    (so an unwritable home lists it too)."""
    from engine.data import catalog

    def refuse(*_args, **_kwargs):
        raise AssertionError("data list prepared a data set")

    monkeypatch.setattr(catalog, "prepare", refuse)
    home = tmp_path / "read-only-home"
    home.mkdir()
    home.chmod(0o500)
    monkeypatch.setenv("AUTODISTILL_HOME", str(home))
    output = invoke("data", "list")
    wordnet_span = next(line for line in output.splitlines() if line.startswith("wordnet-span "))
    sizes = catalog.recorded_sizes()["wordnet-span"][str(catalog.latest_split_version("wordnet-span"))]
    assert f" {sizes['test']} " in f"{wordnet_span} " and list(home.iterdir()) == []


def test_data_show_says_how_a_file_of_yours_is_read(tmp_path: Path) -> None:
    stars = tmp_path / "stars.csv"
    toy_frame(200, 0).assign(label=lambda f: f["label"] * 4 + 1).rename(columns={"text": "review"}).to_csv(stars)
    as_classes = invoke("data", "show", str(stars), "--text-col", "review")
    assert as_classes.startswith("stars: classification, 2 labels; metric: accuracy")
    assert as_classes.splitlines()[1] == "columns: 'review' as text, 'label'", "which column was read as what"
    assert "| label | train | dev | test |" in as_classes and "--task-type sets it" in as_classes
    as_target = invoke("data", "show", str(stars), "--text-col", "review", "--task-type", "regression")
    assert as_target.startswith("stars: regression; metric: spearman") and "| max | 5.0 |" in as_target
    assert "--task-type sets it" not in as_target
    assert "rows left out: duplicates " in as_target  # 200 draws of a few words repeat some texts
    holes = toy_frame(200, 0).rename(columns={"text": "review"})
    holes.loc[[3, 5], "label"] = None  # two rows without a label: left out, and said so
    holes.to_csv(tmp_path / "holes.csv")
    assert "rows left out: missing 2" in invoke("data", "show", str(tmp_path / "holes.csv"), "--text-col", "review")
    assert "tokens and lose the rest" not in as_classes, "a few words each: nothing is cut"
    articles = toy_frame(200, 0).assign(text=lambda f: f["text"] + " and the story goes on" * 40)
    articles.to_csv(tmp_path / "articles.csv")
    said = " ".join(invoke("data", "show", str(tmp_path / "articles.csv")).split())
    assert "read by minilm-l6's tokenizer: 100% of the training examples run to 128 tokens and lose the rest" in said


def test_a_run_on_a_small_dev_split_says_how_finely_it_resolves_the_score():
    from types import SimpleNamespace

    from cli.render import dev_resolution_line

    def line(dev: int | None) -> str | None:
        scored = {} if dev is None else {"dev": dev}
        return dev_resolution_line(SimpleNamespace(scored_examples=scored, metric="accuracy", student_score=0.8))

    assert line(100) == (
        "dev holds 100 examples: its accuracy is known to about +-0.040 (one standard error); runs that differ by "
        "less than that are within its noise"
    )
    assert line(5000) is None and line(None) is None  # fine enough, or a run stored without its counts


def test_a_taggers_dev_resolution_is_measured_on_its_sentences_not_bounded_by_their_count(tmp_path):
    """150 sentences bound a tagger's accuracy at +-0.026; the words tagged in them resolve it several times finer."""
    from types import SimpleNamespace

    from cli.render import dev_resolution_line
    from engine import ExamplePredictions, dev_standard_error
    from engine.pipelines.result import write_predictions

    rng = np.random.default_rng(0)
    refs = [[int(t) for t in rng.integers(0, 3, size=int(n))] for n in rng.integers(10, 30, size=150)]
    preds = [[t if rng.random() < 0.88 else (t + 1) % 3 for t in sentence] for sentence in refs]
    write_predictions(tmp_path, ExamplePredictions("token", "accuracy", preds, refs))
    result = SimpleNamespace(scored_examples={"dev": 150, "test": 150}, metric="accuracy", student_score=0.88,
                             output_dir=str(tmp_path))  # fmt: skip
    assert dev_standard_error(result) < 0.01 and dev_resolution_line(result) is None
    result.output_dir = str(tmp_path / "moved")  # its predictions not at hand: the bound, said
    assert "its accuracy is known to about +-0.027" in dev_resolution_line(result)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_predictions_are_written_in_the_format_their_file_names(tmp_path, suffix):
    from cli.render import predictions
    from engine.data.readers import read_file

    frame = pd.DataFrame({"text": ["très bien, merci", "no"], "prediction": ["pos", "neg"]})
    predictions(Predictions(frame), tmp_path / f"out{suffix}")
    pd.testing.assert_frame_equal(read_file(tmp_path / f"out{suffix}"), frame)  # read back as a run reads it


@pytest.mark.parametrize("suffix", [".csv", ".tsv", None])
def test_a_taggers_word_lists_are_written_as_json_a_run_reads_back(tmp_path, capsys, suffix):
    from cli.render import predictions
    from engine.data.readers import read_file

    answers = [{"text": ["très"], "answer_start": [0]}, {"text": np.array(["no"]), "answer_start": np.array([0])}]
    frame = pd.DataFrame(
        {"tokens": [["très", "bien"], np.array(["no"])], "answers": answers, "prediction": ["ADV ADV", "DET"]}
    )
    out = tmp_path / f"out{suffix}" if suffix else None
    predictions(Predictions(frame), out)
    written = read_file(out) if out else pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert [json.loads(cell) for cell in written["tokens"]] == [["très", "bien"], ["no"]]
    assert json.loads(written["answers"][1]) == {"text": ["no"], "answer_start": [0]}, "a SQuAD answers cell too"
    assert list(written["prediction"]) == ["ADV ADV", "DET"]


def test_a_score_goes_to_stderr_where_the_predictions_fill_stdout(capsys, tmp_path):
    from cli.render import predictions

    frame = pd.DataFrame({"text": ["a", "b"], "label": ["pos", "x"], "prediction": ["pos", "neg"]})
    score = PredictionScore("accuracy", 0.5, 2, "label", ("x",))
    predictions(Predictions(frame, score), None)
    out, err = capsys.readouterr()
    assert pd.read_csv(io.StringIO(out)).equals(frame)
    assert "accuracy 0.500 ± 0.354 against column 'label' (2 labelled rows)" in err and "wrong: 'x'" in err
    predictions(Predictions(frame, unscored="not scored against column 'label': ..."), tmp_path / "out.csv")
    assert capsys.readouterr().out.splitlines()[-1] == "not scored against column 'label': ..."
    predictions(Predictions(frame.assign(prediction="pos"), score, one_answer="pos"), None)
    said = capsys.readouterr().err
    assert "warning: the model answers 'pos' to every row; the score is that answer's alone" in said


def test_a_runs_summary_names_the_pipeline_and_budget_that_ran():
    from types import SimpleNamespace

    from cli.render import how_trained

    def said(kind: str = "distill", **config) -> str:
        base = {"inter_loss": None, "mapping": None, "pred_loss": "ce", "augment": [], "train": {"epochs": 3}}
        return how_trained(SimpleNamespace(kind=kind, history=[{}] * 20, config={**base, **config}))

    assert said() == "logit KD, ce prediction loss, 20 epochs", "the epochs run, not those asked (min_steps adds some)"
    assert said(augment=["ra"], aug_copies=4, aug_mode="cached") == (
        "logit KD + ra (4 cached copies), ce prediction loss, 20 epochs"
    )
    stacked = said(inter_loss="mi", mapping="skip", augment=["ca", "ra", "mixup"])
    assert stacked.startswith("mi over skip + ca>ra+mixup, ")
    assert said(augment=["mixup"], aug_copies=4, aug_mode="cached").startswith("logit KD + mixup, "), "no text copies"
    assert said(augment=["ra", "ca"], aug_dir="aug").startswith("logit KD + ra>ca (copies read from aug), ")
    assert said("finetune") == "no KD (labels alone), 20 epochs"
