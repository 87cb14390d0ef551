"""load_task on local files: every format, every task kind, column mapping, split filling,
and one clear line for every mistake a user can make."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from engine import hub, paths
from engine.data import load_task
from engine.data.schema import SPLITS
from engine.errors import AutodistillError
from engine.tasks.span import GOLD_COLUMN
from engine.tasks.spec import TaskType

FORMATS = ("csv", "tsv", "jsonl", "parquet")


def write(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` in the format named by ``path``'s extension."""
    if path.suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in frame.to_dict(orient="records")))
    return path


def reviews(n: int = 40) -> pd.DataFrame:
    """A single-sentence task whose label column is not named the usual way."""
    stars = ["pos", "neg", "meh", "pos"]
    return pd.DataFrame({"review": [f"review number {i}" for i in range(n)], "stars": stars * (n // 4)})


def pairs(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sentence1": [f"first {i}" for i in range(n)],
            "sentence2": [f"second {i}" for i in range(n)],
            "label": [i % 2 for i in range(n)],
        }
    )


def scores(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"sentence {i}" for i in range(n)], "score": [i / 8 for i in range(n)]})


def squad(n: int = 40) -> pd.DataFrame:
    contexts = [f"The answer number {i} is hidden in here." for i in range(n)]
    return pd.DataFrame(
        {
            "question": [f"where is answer {i}?" for i in range(n)],
            "context": contexts,
            "answers": [{"text": [f"number {i}"], "answer_start": [11]} for i in range(n)],
        }
    )


def assert_clean_splits(task, columns: list[str]) -> None:
    for split in SPLITS:
        assert list(task.split(split).columns) == columns and len(task.split(split)) > 0
    texts = pd.concat([task.split(s)["text"] for s in SPLITS])
    assert not texts.duplicated().any()


@pytest.mark.parametrize("fmt", FORMATS)
def test_single_sentence_file_with_mapped_columns(tmp_path, fmt):
    path = write(reviews(), tmp_path / f"reviews.{fmt}")
    task = load_task(path, text_col="review", label_col="stars")
    assert task.spec.task_type == TaskType.CLASSIFICATION and task.spec.name == "reviews"
    assert task.spec.label_names == ("meh", "neg", "pos")  # sorted names give the ids
    assert_clean_splits(task, ["text", "label"])
    assert sum(len(task.split(s)) for s in SPLITS) == 40
    assert task.split("train")["label"].value_counts().to_dict() == {2: 16, 1: 8, 0: 8}


@pytest.mark.parametrize("fmt", FORMATS)
def test_sentence_pair_file_found_by_usual_names(tmp_path, fmt):
    task = load_task(write(pairs(), tmp_path / f"pairs.{fmt}"))
    assert task.spec.kind == "pair-classification" and task.spec.label_names == ("0", "1")
    assert_clean_splits(task, ["text", "text_pair", "label"])
    row = task.train.iloc[0]
    assert row["text"].replace("first", "second") == row["text_pair"]


@pytest.mark.parametrize(("first", "second"), [("premise", "hypothesis"), ("question1", "question2")])
def test_nli_and_question_pair_files_are_found_by_their_own_column_names(tmp_path, first, second):
    task = load_task(write(pairs().rename(columns={"sentence1": first, "sentence2": second}), tmp_path / "nli.csv"))
    assert task.spec.kind == "pair-classification" and task.extra["columns"]["text_pair"] == second


@pytest.mark.parametrize("fmt", FORMATS)
def test_float_targets_make_a_regression_task(tmp_path, fmt):
    task = load_task(write(scores(), tmp_path / f"scores.{fmt}"), label_col="score")
    assert task.spec.task_type == TaskType.REGRESSION and task.spec.num_labels == 1
    assert_clean_splits(task, ["text", "label"])
    assert task.train["label"].dtype == "float64"


@pytest.mark.parametrize("fmt", ("jsonl", "parquet", "csv", "json-in-csv"))
def test_squad_style_answers_make_a_span_task(tmp_path, fmt):
    """A CSV holds each answers cell as text: the Python form pandas writes, or JSON."""
    frame = squad().assign(answers=lambda f: f["answers"].map(json.dumps)) if fmt == "json-in-csv" else squad()
    task = load_task(write(frame, tmp_path / f"qa.{fmt.removeprefix('json-in-')}"))
    assert task.spec.task_type == TaskType.SPAN and task.spec.paired
    assert_clean_splits(task, ["text", "text_pair", "answer_text", "answer_start"])
    for row in task.train.itertuples():
        assert row.text_pair[row.answer_start : row.answer_start + len(row.answer_text)] == row.answer_text


@pytest.mark.parametrize("fmt", ("jsonl", "csv"))
def test_every_answer_of_a_squad_row_is_kept_for_scoring_and_the_first_trained_on(tmp_path, fmt):
    frame = squad().assign(answers=[{"text": [f"number {i}", f"answer number {i}", f"number {i}"],
                                     "answer_start": [11, 4, 11]} for i in range(40)])  # fmt: skip
    task = load_task(write(frame, tmp_path / f"qa.{fmt}"))
    row = task.dev.iloc[0]
    number = row["answer_text"].removeprefix("number ")
    assert row["answer_start"] == 11 and row[GOLD_COLUMN] == (f"number {number}", f"answer number {number}")
    assert GOLD_COLUMN not in load_task(write(squad(), tmp_path / f"one.{fmt}")).dev, "one answer a row: no column"


def test_a_span_split_is_scored_against_every_answer_and_trained_on_the_first(tmp_path):
    from engine.models.zoo import load_tokenizer
    from engine.tasks import head_of
    from engine.tasks.encoding import EncodeSettings

    frame = squad().assign(answers=[{"text": [f"number {i}", "hidden"]} for i in range(40)])
    task = load_task(write(frame, tmp_path / "qa.jsonl"))
    head, how = head_of("span"), EncodeSettings(load_tokenizer("minilm-l6"), 32, train=False)
    split = head.encode(task.dev, task.spec, how)
    assert split.answers[0] == (task.dev["answer_text"].iloc[0], "hidden")
    assert head.metrics(["hidden"] * len(split), head.gold(split))["exact_match"] == 1.0


def test_squads_own_json_reads_as_a_span_task_and_a_passages_questions_share_a_split(tmp_path):
    paragraphs = [
        {"context": f"Passage {p} holds number {p} and word {p}.",
         "qas": [{"id": f"{p}-{q}", "question": f"what does passage {p} hold ({q})?",
                  "answers": [{"text": f"number {p}", "answer_start": len(f"Passage {p} holds ")}] if q < 2 else [],
                  "is_impossible": q == 2} for q in range(3)]}
        for p in range(40)
    ]  # fmt: skip
    document = json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]})
    (tmp_path / "train-v2.0.json").write_text(document)
    task = load_task(str(tmp_path / "train-v2.0.json"))
    assert task.spec.task_type == TaskType.SPAN and task.extra["notes"]["unanswerable_dropped"] == 40
    contexts = [set(task.split(split)["text_pair"]) for split in SPLITS]
    assert sum(len(c) for c in contexts) == 40 and not (contexts[0] & contexts[1] or contexts[0] & contexts[2])
    (tmp_path / "folder").mkdir()
    for split in ("train", "test"):  # dev is drawn from train, a passage's questions together
        (tmp_path / "folder" / f"{split}.json").write_text(document)
    carved = load_task(str(tmp_path / "folder"))
    assert not set(carved.train["text_pair"]) & set(carved.dev["text_pair"]) and len(carved.dev) > 0


def test_span_answer_start_is_found_when_absent(tmp_path):
    frame = squad().assign(answer=[f"number {i}" for i in range(40)]).drop(columns="answers")
    task = load_task(write(frame, tmp_path / "qa.csv"), answer_col="answer")
    assert set(task.train["answer_start"]) == {11}


def test_explicit_task_type_wins_over_inference(tmp_path):
    frame = reviews().assign(stars=[i % 5 + 1 for i in range(40)])
    path = write(frame, tmp_path / "stars.csv")
    assert load_task(path, text_col="review", label_col="stars").spec.task_type == TaskType.CLASSIFICATION
    task = load_task(path, text_col="review", label_col="stars", task_type="regression")
    assert task.spec.task_type == TaskType.REGRESSION and task.train["label"].max() <= 5.0


def test_lone_file_split_is_seeded_and_deduplicated(tmp_path):
    frame = pd.concat([reviews(), reviews().head(4)], ignore_index=True)
    path = write(frame, tmp_path / "reviews.csv")
    first = load_task(path, text_col="review", label_col="stars")
    again = load_task(path, text_col="review", label_col="stars")
    assert all(first.split(s).equals(again.split(s)) for s in SPLITS)
    assert first.extra["notes"]["duplicates_dropped"] == 4
    other = load_task(path, text_col="review", label_col="stars", seed=1)
    assert not other.test.equals(first.test)


def test_folder_with_train_and_test_gets_dev_carved_from_train(tmp_path):
    write(reviews(80), tmp_path / "train.parquet")
    write(reviews(40).assign(review=lambda f: "held out " + f["review"]), tmp_path / "test.parquet")
    task = load_task(tmp_path, text_col="review", label_col="stars", name="mine", description="Mine.")
    assert (task.spec.name, task.spec.description) == ("mine", "Mine.")
    assert len(task.test) == 40 and len(task.train) + len(task.dev) == 80
    assert task.test["text"].str.startswith("held out").all()
    assert task.extra["made"] == f"no dev split: dev is drawn from train ({len(task.dev)} rows, seed 0)"


def test_folder_without_test_reports_validation_as_test(tmp_path):
    from engine.data.cards import data_notes

    write(pairs(80), tmp_path / "train.jsonl")
    write(pairs(20).assign(sentence1=lambda f: "val " + f["sentence1"]), tmp_path / "validation.jsonl")
    task = load_task(tmp_path)
    assert len(task.test) == 20 and task.test["text"].str.startswith("val").all()
    assert len(task.train) + len(task.dev) == 80
    assert data_notes(task)[0] == (
        f"no test split: the dev split given is scored as test, and dev is drawn from train ({len(task.dev)} rows, "
        "seed 0)"
    )
    write(pairs(20), tmp_path / "test.jsonl")
    assert load_task(tmp_path).extra["made"] is None, "every split named: nothing was moved"


def test_a_test_file_without_labels_is_left_out_and_said_so(tmp_path):
    """A competition's test file keeps its labels back: the dev file given is scored as test instead."""
    write(reviews(80), tmp_path / "train.csv")
    write(reviews(40).assign(review=lambda f: "dev " + f["review"]), tmp_path / "dev.csv")
    write(reviews(40).drop(columns="stars"), tmp_path / "test.csv")
    task = load_task(tmp_path, text_col="review", label_col="stars")
    assert len(task.test) == 40 and task.test["text"].str.startswith("dev").all()
    assert task.extra["made"].startswith("the test file holds no 'stars' column, so it is left out (predict labels")
    (tmp_path / "dev.csv").unlink()
    only_train = load_task(tmp_path, text_col="review", label_col="stars")
    assert sum(len(only_train.split(s)) for s in ("train", "dev", "test")) == 80
    assert only_train.extra["made"].endswith("train, dev and test are drawn from the train file")


def test_split_column_is_honoured(tmp_path):
    frame = reviews(60).assign(split=["train"] * 40 + ["validation"] * 10 + ["test"] * 10)
    task = load_task(write(frame, tmp_path / "r.csv"), text_col="review", label_col="stars")
    assert [len(task.split(s)) for s in SPLITS] == [40, 10, 10]


def test_max_examples_keeps_a_stratified_sample_per_split(tmp_path):
    path = write(reviews(400), tmp_path / "r.csv")
    task = load_task(path, text_col="review", label_col="stars", max_examples=20)
    assert [len(task.split(s)) for s in SPLITS] == [20, 20, 20]
    assert task.train["label"].value_counts().to_dict() == {2: 10, 0: 5, 1: 5}


# --------------------------------------------------------------------------- mistakes


def refused(match: str, source: object, **options) -> str:
    """Assert ``load_task`` refuses in one line mentioning ``match``, writing nothing."""
    with pytest.raises(AutodistillError, match=match) as error:
        load_task(source, **options)
    message = str(error.value)
    assert "\n" not in message
    assert not (paths.home() / "datasets").exists() or not any((paths.home() / "datasets").iterdir())
    return message


def test_missing_file(tmp_path):
    refused("file not found", tmp_path / "nope.csv")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("hello\n")
    message = refused("unsupported file type '.txt'", path)
    assert ".csv, .tsv, .jsonl, .json, .parquet" in message
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    refused(r"unsupported file type '.xlsx' .*; save the sheet as CSV", tmp_path / "sheet.xlsx")


@pytest.mark.parametrize("sep", [";", "|"])
def test_a_csv_saved_with_another_separator_is_read_by_its_header(tmp_path, sep):
    rows = reviews().assign(review=lambda f: f["review"] + ", with a comma")
    path = tmp_path / "r.csv"
    rows.to_csv(path, index=False, sep=sep)
    task = load_task(str(path), text_col="review", label_col="stars")
    assert task.spec.num_labels == rows["stars"].nunique() and task.train["text"].str.endswith(", with a comma").all()


def test_a_tsv_whose_quote_marks_are_text_keeps_one_row_per_line(tmp_path, caplog):
    """GLUE's TSV files write quote marks as text: CSV quoting would run a cell that opens with one on
    into the next lines, and merge their rows."""
    texts = [f'"quoted {i} opens the cell' if i % 10 == 0 else f'a "word" {i}' for i in range(40)]
    (tmp_path / "glue.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts)))
    task = load_task(str(tmp_path / "glue.tsv"))
    assert sorted(pd.concat([task.split(s) for s in SPLITS])["text"]) == sorted(texts)
    assert "read glue.tsv with its quote marks as plain text" in caplog.text


def test_a_quoted_cell_that_holds_a_line_break_stays_one_cell(tmp_path, caplog):
    rows = reviews().assign(review=lambda f: f["review"].where(f.index % 5 > 0, f["review"] + '\nsaid "twice"'))
    rows.to_csv(tmp_path / "r.tsv", sep="\t", index=False)  # pandas quotes those cells
    task = load_task(str(tmp_path / "r.tsv"), text_col="review", label_col="stars")
    assert sum(len(task.split(s)) for s in SPLITS) == 40 and "quote marks" not in caplog.text
    rows = "".join(f"text {i},{i % 2}\n" for i in range(40))
    (tmp_path / "c.csv").write_text('text,label\n"one, two\nthree",1\n' + rows)  # every line one comma
    assert "one, two\nthree" in set(pd.concat([load_task(str(tmp_path / "c.csv")).split(s) for s in SPLITS])["text"])


def test_a_json_file_reads_as_an_array_of_rows_or_as_json_lines(tmp_path):
    rows = reviews().to_dict("records")
    (tmp_path / "array.json").write_text(json.dumps(rows, indent=2))
    (tmp_path / "lines.json").write_text("".join(json.dumps(row) + "\n" for row in rows))
    for name in ("array.json", "lines.json"):
        assert load_task(str(tmp_path / name), text_col="review", label_col="stars").spec.num_labels == 3
    (tmp_path / "strings.json").write_text(json.dumps(["a", "b"]))
    refused("items are not all objects", tmp_path / "strings.json")


def test_misnamed_column_names_it_and_lists_the_available_ones(tmp_path):
    path = write(reviews(), tmp_path / "r.csv")
    message = refused("label column 'rating' not found", path, text_col="review", label_col="rating")
    assert "available columns: review, stars" in message
    unnamed = write(reviews().rename(columns={"review": "opinion"}), tmp_path / "o.csv")
    refused("no text column .* pass --text-col .columns.text_col in a config.", unnamed)
    refused("no label column .* pass --label-col .*, or --answer-col .* for a span task", path)


def test_a_review_and_its_sentiment_are_found_by_name_and_two_texts_ask_which(tmp_path):
    imdb = write(reviews().rename(columns={"stars": "sentiment"}), tmp_path / "imdb.csv")
    task = load_task(imdb)
    assert task.spec.label_names == ("meh", "neg", "pos") and task.extra["columns"] == {
        "text": "review",
        "label": "sentiment",
    }
    both = write(reviews().assign(comment="a comment", sentiment="pos"), tmp_path / "both.csv")
    refused("several possible text columns .review, comment.; choose one with --text-col", both)


@pytest.mark.parametrize(("text", "label"), [("article", "topic"), ("body", "intent"), ("document", "category")])
def test_news_articles_mails_and_documents_are_found_by_name(tmp_path, text, label):
    news = write(reviews().rename(columns={"review": text, "stars": label}).assign(id=1), tmp_path / "news.jsonl")
    assert load_task(news).extra["columns"] == {"text": text, "label": label}


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("text,label\n")
    refused("is empty", path)
    (tmp_path / "blank.jsonl").write_text("\n")
    refused("is empty", tmp_path / "blank.jsonl")


def test_one_label_is_not_a_classification_task(tmp_path):
    path = write(reviews().assign(stars="pos"), tmp_path / "r.csv")
    refused("at least 2 distinct labels.*'pos'", path, text_col="review", label_col="stars")


def test_continuous_labels_are_not_classes(tmp_path):
    path = write(scores(), tmp_path / "s.csv")
    refused("continuous values.*regression", path, label_col="score", task_type="classification")


def test_regression_target_must_be_numeric(tmp_path):
    path = write(reviews(), tmp_path / "r.csv")
    refused("not numeric: 'pos'", path, text_col="review", label_col="stars", task_type="regression")


def test_a_slip_among_regression_scores_is_named_not_read_as_a_class(tmp_path):
    frame = scores().astype({"score": object})
    frame.loc[5, "score"] = "unknown"
    refused(r"not numeric: 'unknown' \(row 5 of ", write(frame, tmp_path / "s.csv"), label_col="score")


def test_span_answer_must_be_in_its_context(tmp_path):
    frame = squad().assign(answer=["number 3"] * 40).drop(columns="answers")
    path = write(frame, tmp_path / "qa.csv")
    refused(r"span answer 'number 3' not found in its context \(row 0 of ", path, answer_col="answer")
    moved = squad().assign(answer_start=3, answer=[f"number {i}" for i in range(40)])
    refused("not at answer_start 3", write(moved, tmp_path / "qa2.jsonl"), answer_col="answer")


def test_unknown_task_type_lists_the_valid_ones(tmp_path):
    refused("unknown task type 'ner'; choose one of: classification, regression, span", "x.csv", task_type="ner")


def test_too_few_rows_to_split(tmp_path):
    refused("too few examples", write(reviews(4), tmp_path / "r.csv"), text_col="review", label_col="stars")


def test_catalog_names_take_no_column_options():
    refused("fixed columns; label_col=.topic. applies to files only", "bbc-news", label_col="topic")


def test_hub_names_fail_fast_and_clearly_offline(monkeypatch):
    monkeypatch.setattr(hub, "hub_reachable", lambda: False)
    message = refused("Hugging Face hub is unreachable", "glue:sst2")
    assert "bbc-news" in message  # and the offline catalog is offered instead


def test_hub_probe_reports_a_closed_port(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert hub.hub_reachable(timeout=1.0) is False


def test_catalog_task_type_must_match():
    refused("'bbc-news' is a classification task, not regression", "bbc-news", task_type="regression")


def test_ambiguous_usual_names_ask_for_a_column_option(tmp_path):
    frame = pairs().rename(columns={"sentence1": "question", "sentence2": "sentence"})
    refused(
        "several possible text columns .sentence, question.; choose one with --text-col .columns.text_col in a",
        write(frame, tmp_path / "q.csv"),
    )
    task = load_task(tmp_path / "q.csv", text_col="question", text_pair_col="sentence")
    assert task.spec.kind == "pair-classification"


def test_hub_splits_and_class_names_are_normalised(monkeypatch):
    """What a GLUE-style hub data set becomes: validation is reported as test (its test labels
    are hidden as -1), dev is carved from train, and the hub's own class names are kept."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
    )

    def split(prefix: str, n: int, hidden: bool = False) -> object:
        rows = {"sentence": [f"{prefix} {i}" for i in range(n)], "label": [-1 if hidden else i % 2 for i in range(n)]}
        return datasets.Dataset.from_dict(rows, features=features)

    loaded = datasets.DatasetDict(train=split("tr", 90), validation=split("va", 20), test=split("te", 10, True))
    calls = []
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", lambda *args: calls.append(args) or loaded)
    task = load_task("glue:sst2")
    assert calls == [("glue", "sst2")]
    assert task.spec.name == "glue:sst2" and task.spec.label_names == ("negative", "positive")
    assert len(task.test) == 20 and task.test["text"].str.startswith("va").all()
    assert len(task.train) + len(task.dev) == 90 and len(task.dev) == 10


def test_a_span_question_longer_than_max_length_is_cut_and_its_example_dropped():
    """Augmentation can lengthen a question past max_length; encoding must not crash on it."""
    from engine.models.zoo import load_tokenizer
    from engine.tasks import encode_split
    from engine.tasks.spec import TaskSpec

    spec = TaskSpec(name="toy-span", task_type=TaskType.SPAN, description="Find the word.", paired=True)
    frame = pd.DataFrame(
        {
            "text": ["what is kept", " ".join(["very"] * 40) + " long question"],
            "text_pair": ["dogs kept in cages", "dogs kept in cages"],
            "answer_start": [5, 5],
            "answer_text": ["kept", "kept"],
        }
    )
    split = encode_split(frame, spec, load_tokenizer("minilm-l6"), 16, train=True)
    assert split.dropped == 1 and split.rows.tolist() == [0]
    assert all(len(ids) <= 16 for ids in split.input_ids)


def test_a_second_text_column_left_unnamed_is_suspected_from_the_rows_it_costs(tmp_path):
    from engine.data.cards import left_out_line

    first = [f"word{i}" for i in range(60)] + [f"word{i}" for i in range(10)]  # ten words in a second pair
    rated = pd.DataFrame(
        {"w1": first, "w2": [f"other{i}" for i in range(70)], "score": [i % 7 + 0.5 for i in range(70)]}
    )
    path = write(rated, tmp_path / "pairs.csv")
    line = left_out_line(load_task(str(path), text_col="w1", label_col="score"))
    assert line.startswith("rows left out: conflicting ") and "--text-pair-col names it" in line
    assert left_out_line(load_task(str(path), text_col="w1", text_pair_col="w2", label_col="score")) is None


def test_a_text_column_no_role_reads_is_named(tmp_path):
    """A word and its gloss: with --text-col word alone, the gloss had been dropped without a word."""
    from engine.data.cards import unread_line

    glossed = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(60)],
            "word": [f"word{i}" for i in range(60)],
            "gloss": [f"a thing of kind {i % 5}" for i in range(60)],
            "match": [i % 2 for i in range(60)],
        }
    )
    path = write(glossed, tmp_path / "glosses.csv")
    said = unread_line(load_task(str(path), text_col="word", label_col="match"))
    assert said == "not read: 'gloss' (text); --text-pair-col reads a second text", "ids and words are no texts"
    assert unread_line(load_task(str(path), text_col="word", text_pair_col="gloss", label_col="match")) is None
    sentences = [f"the cat {i} sat" for i in range(40)]
    tagged = pd.DataFrame(
        {"text": sentences, "tokens": [t.split() for t in sentences], "tags": [["D", "N", "X", "V"]] * 40}
    )
    assert unread_line(load_task(write(tagged, tmp_path / "tags.jsonl"))) is None, (
        "a tagger's sentence beside its words"
    )


def test_a_label_that_only_dev_or_test_holds_is_named_before_training(tmp_path):
    from engine.data.cards import data_notes, untrained_line

    def part(n: int, labels: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"text": [f"example {i} {labels[i % len(labels)]}" for i in range(n)],
                             "label": [labels[i % len(labels)] for i in range(n)]})  # fmt: skip

    write(part(40, ["neg", "pos"]), tmp_path / "train.csv")
    write(part(12, ["neg", "pos", "mixed"]), tmp_path / "dev.csv")
    write(part(12, ["neg", "pos"]), tmp_path / "test.csv")
    task = load_task(str(tmp_path))
    assert untrained_line(task) == (
        "never in train: 'mixed' (dev 4, test 0); no student learns these, so their examples count as wrong"
    )
    assert data_notes(task) == [untrained_line(task)]
    write(part(12, ["neg", "pos"]), tmp_path / "dev.csv")
    assert untrained_line(load_task(str(tmp_path))) is None


def test_a_class_that_dominates_train_is_named_while_accuracy_is_the_headline(tmp_path):
    from engine.data.cards import majority_line

    rows = pd.DataFrame({"text": [f"note number {i}" for i in range(100)], "label": ["spam" if i % 20 == 0 else "ham"
                                                                                    for i in range(100)]})  # fmt: skip
    path = write(rows, tmp_path / "mail.csv")
    assert majority_line(load_task(str(path))) == (
        "'ham' holds 96% of train: accuracy gives 0.96 for answering it every time; --metric f1 (macro) or mcc "
        "weighs every class alike"
    )
    task = load_task(str(path), metric="f1")
    assert task.spec.metric == "f1" and majority_line(task) is None
    assert majority_line(load_task(write(reviews(), tmp_path / "r.csv"), text_col="review", label_col="stars")) is None


@pytest.mark.parametrize(
    ("frame", "metric", "refused"),
    [
        (scores(), "mse", r"unknown metric for this regression task 'mse'; choose one of: pearson, spearman"),
        (squad(), "accuracy", r"span extraction task 'accuracy'; choose one of: exact_match, f1"),
    ],
)
def test_a_metric_the_task_type_cannot_head_is_refused_in_one_line(tmp_path, frame, metric, refused):
    with pytest.raises(AutodistillError, match=refused):
        load_task(write(frame, tmp_path / "data.jsonl"), metric=metric, label_col="score" if "score" in frame else None)


def test_a_label_column_of_mostly_unique_values_is_refused_in_one_line(tmp_path):
    rows = pd.DataFrame({"text": [f"review number {i}" for i in range(60)], "label": [f"id-{i}" for i in range(60)]})
    with pytest.raises(AutodistillError, match=r"has 60 distinct values among 60 rows.*is it the label\?") as info:
        load_task(str(write(rows, tmp_path / "ids.csv")))
    assert "\n" not in str(info.value)
    rows = pd.DataFrame({"text": [f"review number {i}" for i in range(90)], "label": [f"c{i % 30}" for i in range(90)]})
    assert load_task(str(write(rows, tmp_path / "small.csv"))).spec.num_labels == 30  # three rows a class split


def test_labels_that_differ_only_in_case_or_spaces_are_pointed_out(tmp_path):
    from engine.data.cards import variants_line

    def line(frame: pd.DataFrame) -> str | None:
        return variants_line(load_task(str(write(frame, tmp_path / "r.csv")), text_col="review", label_col="stars"))

    upper = reviews().assign(stars=lambda f: f["stars"].where(f.index % 8 != 0, f["stars"].str.upper()))
    assert line(upper) == (
        "labels that differ only in case or spaces are separate classes: 'POS' and 'pos'; fix the file if they are one"
    )
    assert line(reviews()) is None
