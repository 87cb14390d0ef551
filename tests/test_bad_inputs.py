"""Bad input, wherever it comes from, ends a command in one line that says what to do, before any
training; long work says what it is doing, also on a pipe; the stored runs can be listed."""

from __future__ import annotations

import dataclasses
import errno
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli_meta import error_of
from test_store import _run

import cli
import engine.training.progress as progress_module
from autodistill.store.database import RunStore
from engine import AutodistillError, load_task, parse_config
from engine.config import TrainSettings
from engine.data.readers import read_file
from engine.models.zoo import check_student
from engine.paths import home
from engine.pipelines.predict import read_inputs, text_columns
from engine.tasks.spec import TaskSpec, TaskType
from engine.teachers.finetune import (
    TEACHER_SETTINGS,
    fine_tune_plan,
    sample_encoding,
    seconds_per_example,
    unread_warning,
)
from engine.training.progress import PlainLines, progress


def _latin1_csv(path: Path) -> Path:
    rows = [f"{i},{'très bon café' if i % 2 else 'mauvais goût'} {i},{i % 2}" for i in range(40)]
    path.write_bytes(("id,text,label\n" + "\n".join(rows) + "\n").encode("latin-1"))
    return path


# -- files ------------------------------------------------------------------------------------------


def test_a_file_in_another_encoding_names_the_encoding_tried_and_how_to_give_its_own(tmp_path):
    path = _latin1_csv(tmp_path / "reviews.csv")
    with pytest.raises(
        AutodistillError, match=r"as utf-8 text \(it holds byte 0x..\); give the file's encoding.*--encoding"
    ):
        load_task(path)
    task = load_task(path, encoding="latin-1")
    assert "très bon café 1" in set(task.train["text"]) | set(task.dev["text"]) | set(task.test["text"])
    with pytest.raises(AutodistillError, match="unknown encoding 'klingon'"):
        read_file(path, "klingon")
    with pytest.raises(AutodistillError, match="applies to local files only"):
        load_task("sst-2", encoding="latin-1")


@pytest.mark.parametrize(
    ("name", "text"),
    [("r.jsonl", '{"text": "Ada met Bob", "label": "x"}\r\n'), ("r.conll", "Ada B-PER\r\nmet O\r\n\r\n")],
)
def test_a_byte_order_mark_that_windows_tools_write_is_not_read_as_text(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(("\ufeff" + text).encode())
    first = read_file(path).iloc[0]
    assert (first["text"] if "text" in first else first["tokens"][0]).startswith("Ada")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_list_of_labels_per_row_is_refused_rather_than_each_combination_made_a_class(tmp_path, suffix):
    rows = pd.DataFrame({"text": [f"news item {i}" for i in range(60)], "labels": [["sports", "tech"], ["tech"]] * 30})
    path = tmp_path / f"news{suffix}"
    if suffix == ".jsonl":
        rows.to_json(path, orient="records", lines=True)
    else:
        rows.to_csv(path, index=False)  # cells such as ['sports', 'tech']
    with pytest.raises(AutodistillError, match=r"holds a list of labels per row \(multi-label, e.g. \['sports', "):
        load_task(path)
    bracketed = pd.DataFrame({"text": [f"item {i}" for i in range(60)], "label": ["[POS]", "[NEG]"] * 30})
    bracketed.to_csv(tmp_path / "names.csv", index=False)
    assert load_task(tmp_path / "names.csv").spec.label_names == ("[NEG]", "[POS]"), "a name in brackets is a label"


def test_predict_and_run_read_a_file_in_the_same_words(tmp_path):
    path = _latin1_csv(tmp_path / "reviews.csv")
    with pytest.raises(AutodistillError) as by_run:
        load_task(path)
    with pytest.raises(AutodistillError) as by_predict:
        read_inputs(path)
    assert str(by_run.value) == str(by_predict.value)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(AutodistillError, match="has no examples"):
        read_inputs(tmp_path / "empty.csv")
    (tmp_path / "broken.jsonl").write_text('{"text": "fine"}\n{"text": \n')
    with pytest.raises(AutodistillError, match="line 2 is not JSON"):
        read_inputs(tmp_path / "broken.jsonl")


def test_predict_finds_the_columns_a_run_looks_for_and_a_second_text_only_for_a_model_of_pairs():
    frame = pd.DataFrame({"sentence": ["a"], "context": ["b"], "words": [["a"]]})
    one_text = TaskSpec("t", TaskType.CLASSIFICATION, "d", ("x", "y"))
    assert text_columns(frame, one_text, None, None) == ("sentence", None)
    assert text_columns(frame, TaskSpec("s", TaskType.SPAN, "d", paired=True), None, None) == ("sentence", "context")
    assert text_columns(frame, TaskSpec("g", TaskType.TOKEN, "d", ("x",)), None, None) == ("words", None)
    with pytest.raises(AutodistillError, match=r"no column 'review' \(--text-col names another\); columns: sentence"):
        text_columns(frame, one_text, "review", None)


def test_a_runs_encoding_is_part_of_its_id_and_leaves_earlier_run_ids_alone():
    from engine.pipelines.result import run_id

    pipeline = {"mapping": "skip", "inter_loss": "mse", "pred_loss": "ce"}  # the default pipeline of that time
    plain = parse_config({"dataset": "x.csv", "columns": {"text_col": "text"}, **pipeline})
    latin = parse_config({"dataset": "x.csv", "columns": {"text_col": "text", "encoding": "latin-1"}, **pipeline})
    assert run_id(plain, "distill") == "01cd56554152"  # the id this run had before runs could name an encoding
    assert run_id(latin, "distill") != run_id(plain, "distill")
    by_f1 = parse_config({"dataset": "x.csv", "columns": {"text_col": "text", "metric": "f1"}, **pipeline})
    assert run_id(by_f1, "distill") != run_id(plain, "distill")


# -- the home and the store -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "said"),
    [(errno.EACCES, "no permission (check its"), (errno.ENOSPC, "no space left on the device (free some")],
)
def test_an_unwritable_or_full_home_ends_a_command_in_one_line_naming_the_folder(monkeypatch, capsys, code, said):
    def refuse(*_args, **_kwargs):
        raise OSError(code, "from the file system", "/x/home")

    monkeypatch.setattr("autodistill.store.database.RunStore.__init__", refuse)
    message = error_of(capsys, "runs", "import")
    assert f"cannot use /x/home: {said}" in message and "AUTODISTILL_HOME" in message


def test_a_store_that_cannot_be_opened_is_not_called_not_a_store(tmp_path):
    path = tmp_path / "runs.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    holder.execute("BEGIN EXCLUSIVE")  # another process writing it (rollback journal: readers wait)
    try:
        with pytest.raises(AutodistillError, match=r"cannot open the runs store .*another process holds it locked"):
            RunStore(path, timeout_s=0.1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    (tmp_path / "notes.sqlite").write_text("notes\n" * 200)
    with pytest.raises(AutodistillError, match="is not a runs store"):
        RunStore(tmp_path / "notes.sqlite")


# -- names and keys, before any training --------------------------------------------------------------


def test_an_unknown_config_key_names_the_nearest_valid_one(tmp_path, capsys):
    with pytest.raises(AutodistillError, match=r"train\.epoch: unknown key; did you mean 'epochs'\?"):
        parse_config({"dataset": "sst-2", "train": {"epoch": 1}})
    with pytest.raises(AutodistillError, match=r"columns\.text_column: unknown key; did you mean 'text_col'\?"):
        parse_config({"dataset": "x.csv", "columns": {"text_column": "t"}})
    with pytest.raises(AutodistillError, match=r"zzz: unknown key; valid keys: teacher, student, dataset"):
        parse_config({"dataset": "sst-2", "zzz": 1})
    config = tmp_path / "run.yaml"
    config.write_text("dataset: sst-2\nmapings: skip\n")
    assert "mapings: unknown key; did you mean 'mapping'?" in error_of(capsys, "run", "--config", str(config))


def test_a_bad_student_is_refused_before_the_teacher_is_fine_tuned(tmp_path, capsys):
    data = tmp_path / "reviews.csv"
    pd.DataFrame({"text": [f"good {i}" if i % 2 else f"bad {i}" for i in range(60)], "label": [0, 1] * 30}).to_csv(
        data, index=False
    )
    message = error_of(capsys, "run", "--dataset", str(data), "--student", "giant", "--epochs", "1")
    assert "unknown student 'giant'" in message
    message = error_of(capsys, "run", "--dataset", str(data), "--student", "layers=0,9")
    assert "bad layer subset [0, 9]: need distinct increasing indices in 0..5" in message
    assert not (home() / "finetuned").exists() or not any((home() / "finetuned").iterdir())
    check_student("tiny", "minilm-l6")  # a good name passes


def test_a_length_past_the_models_positions_names_both_before_the_teacher_is_fine_tuned(capsys):
    message = error_of(capsys, "run", "--dataset", "vader-valence", "--student", "tiny", "--max-length", "1502")
    assert message == (
        "error: --max-length 1502 is longer than the models read (positions: teacher 'minilm-l6' 512 and student "
        "'tiny' 512); use --max-length 512 or less"
    )
    assert not (home() / "finetuned").exists() or not any((home() / "finetuned").iterdir())


def test_a_path_of_the_wrong_kind_is_refused_in_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    message = error_of(capsys, "predict", "--model", str(tmp_path / "model"), "--input", str(tmp_path))
    assert f"'{tmp_path}' is a directory" in message and "--input" in message
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nhello\n")
    assert "is a file" in error_of(capsys, "predict", "--model", str(texts), "--input", str(texts))
    assert "does not exist" in error_of(capsys, "run", "--config", str(tmp_path / "nope.yaml"))


# -- progress ---------------------------------------------------------------------------------------


def test_on_a_pipe_progress_is_plain_lines_at_a_steady_interval(monkeypatch, capsys):
    clock = iter([1.0, 2.0, 11.0, 12.0, 21.0, 30.0])
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(progress_module, "PLAIN_INTERVAL_S", 10.0)
    lines = PlainLines("distilling tiny on toy", total=6, first=0, started=0.0)
    for done in range(1, 7):
        lines.update(done)
    printed = capsys.readouterr().err.strip().splitlines()
    assert printed == [
        "distilling tiny on toy: step 1/6 (17%), 1.00 steps/s, 5 s left",
        "distilling tiny on toy: step 3/6 (50%), 0.27 steps/s, 11 s left",
        "distilling tiny on toy: step 5/6 (83%), 0.24 steps/s, 4 s left",
        "distilling tiny on toy: step 6/6 (100%), 0.20 steps/s, 0 s left",
    ]
    early = PlainLines("pretraining", total=100, first=0, started=20.0)
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: 20.001)
    early.update(1)  # a millisecond in: no rate to read yet
    assert capsys.readouterr().err.strip() == "pretraining: step 1/100 (1%), time left not known yet"
    PlainLines("one step", total=1, first=0, started=20.0).update(1)  # done at once: nothing is left to time
    assert capsys.readouterr().err.strip() == "one step: step 1/1 (100%)"
    PlainLines("caching teacher outputs", total=8, first=0, started=18.0, unit="example").update(8)
    assert capsys.readouterr().err.strip() == "caching teacher outputs: example 8/8 (100%), 4.00 examples/s, 0 s left"
    monkeypatch.undo()  # the real clock again
    with progress("x", 3) as advance:  # pytest's stderr is no terminal: plain lines, not a bar
        advance(1)
    assert capsys.readouterr().err.startswith("x: step 1/3 (33%)")
    assert progress_module.latest_position() == progress_module.Position("x", 1, 3)


def test_a_teacher_fine_tune_says_its_steps_time_and_cache_before_it_starts(toy_task, tmp_path):
    folder = tmp_path / "finetuned" / "minilm-l6__toy__abc"

    def plan(padded: float = 20.0) -> str:
        return fine_tune_plan("minilm-l6", toy_task, TEACHER_SETTINGS, folder, padded)

    assert "fine-tuning teacher minilm-l6 on toy first: 300 steps (50 epochs of 96 training examples" in plan()
    assert "whatever the student's budget" in plan() and f"cached in {folder}, so later runs on this data" in plan()
    assert "no earlier fine-tune of this teacher" in plan()

    def earlier(name: str, speed: float, padded: float | None = None) -> None:
        (tmp_path / "finetuned" / name).mkdir(parents=True)
        record = {"examples_per_second": speed, "settings": TEACHER_SETTINGS.model_dump(), "padded_length": padded}
        (tmp_path / "finetuned" / name / "result.json").write_text(json.dumps(record))

    earlier("minilm-l6__other__def", 8.0)  # saved before lengths were recorded: its speed, said to be so
    assert "about 10 min (judged by earlier fine-tunes on texts of unrecorded length);" in plan()  # 4,800 / 8 s
    earlier("minilm-l6__short__a", 8.0, padded=10.0)
    earlier("minilm-l6__long__b", 2.0, padded=40.0)  # 4x the tokens, 4x the time: the fit is proportional
    assert "about 20 min (judged by 2 earlier fine-tunes, for 20 padded tokens an example);" in plan()
    reseeded = TEACHER_SETTINGS.model_copy(update={"seed": 7})  # a team member "minilm-l6:seed=7"
    said = fine_tune_plan("minilm-l6", toy_task, reseeded, folder, 20.0, label="minilm-l6:seed=7")
    assert said.startswith("fine-tuning teacher minilm-l6:seed=7 on toy first")  # as the team names it
    assert "judged by 2 earlier fine-tunes" in said  # another seed costs the same
    assert "so later runs on this data skip it" in said, "a team member may name the seed"
    longer = TEACHER_SETTINGS.model_copy(update={"max_length": 2 * TEACHER_SETTINGS.max_length})
    said = fine_tune_plan("minilm-l6", toy_task, longer, folder, 20.0)
    assert "no earlier fine-tune" in said
    assert said.endswith("but runs fine-tune with the teacher's own settings, not max_length=256"), "none reuses it"
    member = fine_tune_plan("minilm-l6", toy_task, longer, folder, 20.0, label="minilm-l6:epochs=5")
    assert member.endswith("so later runs on this data skip it"), "a team member's settings are its spec's"


def test_a_text_the_teachers_vocabulary_cannot_read_is_warned_of_before_it_fine_tunes(toy_task):
    from engine.models.zoo import load_tokenizer

    tokenizer = load_tokenizer("minilm-l6")

    def warned(task):
        return unread_warning("minilm-l6", task, tokenizer, sample_encoding(task, tokenizer, TEACHER_SETTINGS))

    assert warned(toy_task) is None  # English: none unknown
    thai = toy_task.train.assign(text=["หนังเรื่องนี้ดีมาก " + text for text in toy_task.train["text"]])
    said = warned(dataclasses.replace(toy_task, train=thai))
    assert said.startswith("warning: 17% of minilm-l6's word pieces on toy's text are unknown ([UNK])")


def test_a_cached_teacher_that_cannot_read_the_text_says_so_again_on_every_use(toy_task, capsys):
    from engine.teachers.finetune import finetune_teacher

    thai = dataclasses.replace(toy_task, train=toy_task.train.assign(text="หนังเรื่องนี้ดีมาก " + toy_task.train["text"]))
    settings = TrainSettings(epochs=1, batch_size=32, lr=1e-4, max_length=16)
    first = finetune_teacher("minilm-l6", thai, settings)
    assert first.unread.startswith("warning: ") and first.unread in " ".join(capsys.readouterr().err.split())
    again = finetune_teacher("minilm-l6", thai, settings)  # cached: nothing trains, the warning is said again
    assert again.unread == first.unread and first.unread in " ".join(capsys.readouterr().err.split())
    assert finetune_teacher("minilm-l6", toy_task, settings, show_progress=False).unread is None


def test_a_teacher_fine_tunes_time_grows_with_length_at_most_in_proportion():
    def at(padded: float, *records: tuple[float, float]) -> float:
        earlier = [{"examples_per_second": speed, "padded_length": length} for length, speed in records]
        return seconds_per_example(earlier, padded)[0]

    assert at(80.0, (10.0, 2.0), (40.0, 8.0)) == pytest.approx(0.25)  # faster on longer texts: noise, not cheaper
    assert at(40.0, (10.0, 10.0), (20.0, 2.5)) == pytest.approx(0.2 * 40 / np.sqrt(200))  # 4x for 2x: proportional
    # Two fine-tunes of one data set, a token apart, the longer faster by chance: no slope can be read off them,
    # and a 4x longer text is judged at 4x their time, not at their time (a teacher took 11 min, judged 3).
    assert at(140.0, (35.4, 45.0), (35.0, 41.2)) == pytest.approx(4 * np.sqrt(1 / 45.0 / 41.2), rel=0.02)
    earlier = [{"examples_per_second": 40.0, "padded_length": 35.0}]
    seconds, said = seconds_per_example(earlier, 70.0)
    assert seconds == pytest.approx(0.05) and said == (
        " (judged by 1 earlier fine-tune, for 70 padded tokens an example, scaled in proportion from about 35)"
    )


# -- listing runs -----------------------------------------------------------------------------------


def test_runs_list_filters_by_data_set_student_and_fidelity(tmp_path, capsys):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.add_runs([_run("a1"), _run("a2", dataset="sst-2"), _run("a3", dataset="sst-2", fidelity="cheap")])
    cli.app(["runs", "list", "--store", str(path), "--dataset", "sst-2"])
    out = capsys.readouterr().out
    assert "a2" in out and "a3" in out and "a1" not in out
    cli.app(["runs", "list", "--store", str(path), "--fidelity", "cheap", "--student", "minilm-l3"])
    lines = capsys.readouterr().out.splitlines()
    header = next(k for k, line in enumerate(lines) if line.split()[:1] == ["run_id"])
    assert [line.split()[0] for line in lines[header + 1 :]] == ["a3"]
    cli.app(["runs", "list", "--store", str(path), "--limit", "1"])
    assert "showing the newest 1 of 3 runs" in capsys.readouterr().out
    message = error_of(capsys, "runs", "list", "--store", str(path), "--dataset", "sst2")
    assert "has data set 'sst2'; it holds: bbc-news, sst-2" in message


def test_listing_opens_a_store_read_only_and_never_creates_one(tmp_path, capsys):
    assert "no runs store at" in error_of(capsys, "runs", "list")  # a fresh home holds none
    assert not (home() / "runs.sqlite").exists(), "a read must not create the store"
    path = tmp_path / "shared" / "runs.sqlite"
    with RunStore(path) as store:
        store.add_runs([_run("a1")])
    before = {p.name: p.stat().st_mtime_ns for p in path.parent.iterdir()}
    cli.app(["runs", "list", "--store", str(path)])
    assert "a1" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in path.parent.iterdir()} == before, "listing wrote to the folder"


def test_a_truncated_store_is_called_corrupt(tmp_path, capsys):
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.add_runs([_run(f"r{i}") for i in range(200)])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "is corrupt" in error_of(capsys, "runs", "list", "--store", str(path))


def test_a_misspelt_data_set_leaves_no_run_folder_and_an_unknown_mapping_lists_none(capsys):
    assert "is not a catalog data set" in error_of(capsys, "run", "--dataset", "vader-valenc", "--student", "tiny")
    assert not (home() / "runs").exists() or not list((home() / "runs").rglob("config.yaml"))
    message = error_of(capsys, "run", "--dataset", "vader-valence", "--mapping", "diag")
    assert message.endswith("unknown layer mapping 'diag'; choose one of: emd, last, none, skip")


def test_a_bad_flag_value_is_named_as_typed_and_a_files_as_written(tmp_path, capsys):

    assert error_of(capsys, "run", "--dataset", "vader-valence", "--epochs", "0") == (
        "error: --epochs 0: Input should be greater than or equal to 1"
    )
    assert error_of(capsys, "teacher", "train", "--dataset", "vader-valence", "--lr=-1").startswith("error: --lr -1.0:")
    assert error_of(capsys, "pretrain", "--student", "tiny", "--relation-heads", "0").startswith(
        "error: --relation-heads 0:"
    )
    written = tmp_path / "run.yaml"
    written.write_text("dataset: vader-valence\ntrain: {epochs: 0}\n")
    from_file = error_of(capsys, "run", "--config", str(written), "--lr", "0.1")
    assert from_file.startswith(f"error: {written}: train.epochs:")


def test_a_run_says_how_many_training_examples_its_length_cuts(toy_task):
    from engine.models.zoo import load_tokenizer
    from engine.pipelines.lengths import cut_line
    from engine.tasks import encode_split

    tokenizer = load_tokenizer("minilm-l6")
    short = encode_split(toy_task.train, toy_task.spec, tokenizer, 4, train=True)  # "w w w w movie": over 4 tokens
    assert cut_line(short, 4) == (
        "100% of the training examples run to 4 tokens and lose the rest; --max-length sets it"
    )
    assert cut_line(encode_split(toy_task.train, toy_task.spec, tokenizer, 64, train=True), 64) is None
    spec = TaskSpec("qa", TaskType.SPAN, "Find the animal.", paired=True)
    far = "the " * 30 + "cat"  # the answer past token 16, the other in reach
    spans = pd.DataFrame({"text": "which animal?", "text_pair": [far, "a dog"], "answer_start": [120, 2]})
    spans = spans.assign(answer_text=["cat", "dog"])
    assert cut_line(encode_split(spans, spec, tokenizer, 16, train=True), 16) == (
        "training examples left out, their answer past token 16: 1; --max-length sets it"
    )


def test_texts_too_short_to_reach_the_length_are_answered_without_a_tokenizer(toy_task, monkeypatch):
    from engine.pipelines import reuse
    from engine.pipelines.lengths import length_cut, most_pieces

    words = pd.DataFrame({"tokens": [["a", "bb"], ["ccc"]], "text_pair": [None, "d e"]})
    assert most_pieces(words).tolist() == [3 + 3, 3 + 5], "each piece covers a character; three special pieces"

    def no_tokenizer(name):
        raise AssertionError("a tokenizer was loaded")

    monkeypatch.setattr(reuse, "tokenizer", no_tokenizer)
    assert length_cut(toy_task, "minilm-l6", TrainSettings()) is None  # "w w w w movie": a dozen characters
    toy_task.train["text"] += " and then some more words" * 6
    with pytest.raises(AssertionError, match="a tokenizer was loaded"):
        length_cut(toy_task, "minilm-l6", TrainSettings())


def test_the_cut_is_read_on_the_examples_a_capped_run_trains_on(toy_task):
    from engine.pipelines.lengths import length_cut
    from engine.tasks.encoding import limit_examples

    long = toy_task.train.index < 24  # a quarter of train runs past 16 tokens
    toy_task.train.loc[long, "text"] += " and then some more words" * 6
    capped = TrainSettings(max_length=16, max_train_examples=10, seed=3)
    share = float(np.mean(limit_examples(toy_task.train, 10, 3).index < 24))
    assert share != 0.25, "a sample that tells the two apart"
    said = length_cut(toy_task, "minilm-l6", capped)
    assert said.startswith(f"{share:.0%} of the training examples run to 16 tokens")


def test_the_cut_at_max_length_is_said_before_the_teacher_fine_tunes(toy_task, monkeypatch, capsys):
    """A file of articles learns it is read to 128 tokens before minutes of teacher fine-tuning, not after."""
    from engine.config import DistillConfig
    from engine.pipelines import run as run_module
    from engine.training.clock import Clock

    class TeacherPhase(Exception):
        pass

    def teacher_starts(*_args, **_kwargs):
        raise TeacherPhase(capsys.readouterr().err)

    monkeypatch.setattr(run_module, "_teacher_or_team", teacher_starts)
    toy_task.train["text"] += " and then some more words" * 2
    config = DistillConfig(dataset="toy", train=TrainSettings(max_length=8))
    with pytest.raises(TeacherPhase) as said:
        run_module.prepare(config, "distill", toy_task, True, Clock())
    assert "toy: 100% of the training examples run to 8 tokens and lose the rest" in str(said.value)
