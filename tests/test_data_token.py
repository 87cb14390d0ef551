"""Token classification, data side: brown-pos is the Brown Corpus's own hand-corrected tags
folded into 12 universal tags, split by whole texts; each word's tag sits on its first
sub-token and nowhere else; tagging is scored per word."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from installed import installed_source

from engine.data import card_path, catalog, load_task
from engine.data.builders import DATASETS
from engine.data.sources import brown
from engine.errors import AutodistillError
from engine.tasks import encode_split, head_of
from engine.tasks import task_metrics as compute_metrics
from engine.tasks.encoding import IGNORE_INDEX, collate
from engine.tasks.spec import TaskSpec, TaskType
from engine.tasks.token_tagging import word_start_labels

SPEC = DATASETS.get("brown-pos").spec


def corpus_slice(root: Path, per_genre: int = 3) -> Path:
    """A form-C folder holding the first ``per_genre`` texts of each genre of the installed corpus."""
    source = DATASETS.get("brown-pos").asset.locate()
    genres: dict[str, list[str]] = {}
    for line in (source / "cats.txt").read_text(encoding="utf-8").splitlines():
        if line:
            text_id, genre = line.split()
            genres.setdefault(genre, []).append(text_id)
    kept = [text_id for ids in genres.values() for text_id in sorted(ids)[:per_genre]]
    root.mkdir()
    (root / "cats.txt").write_text("".join(f"{t} {g}\n" for g, ids in genres.items() for t in ids if t in kept))
    for text_id in kept:
        shutil.copy(source / text_id, root / text_id)
    return root


@pytest.fixture(scope="module")
def tokenizer():
    from engine.models.zoo import load_tokenizer

    return load_tokenizer("minilm-l6")


# --------------------------------------------------------------------------- the task type


def test_token_is_a_fifth_task_type_scored_by_word_accuracy():
    assert TaskType("token") is TaskType.TOKEN and head_of("token").human_name == "token classification"
    assert head_of("token").default_metric == "accuracy" == SPEC.metric
    assert SPEC.kind == "token" and SPEC.num_labels == 12 == len(brown.UNIVERSAL_TAGS)
    assert list(SPEC.label_names) == sorted(SPEC.label_names), "tag ids follow sorted names"
    assert catalog.columns(SPEC) == ("text", "tokens", "tags")


# --------------------------------------------------------------------------- Brown tags


@pytest.mark.parametrize(
    ("brown_tag", "universal"),
    [
        ("nn", "NOUN"),
        ("np-tl", "NOUN"),  # title mark dropped
        ("nns$-hl", "NOUN"),  # headline mark dropped, possessive kept
        ("pps+bez", "PRON"),  # "it's": a contraction takes its first part's class
        ("md*", "VERB"),  # "can't": a negated modal is a verb
        ("*", "ADV"),  # "not"
        ("fw-in", "X"),  # foreign word, whatever its own class
        ("od", "ADJ"),
        ("ex", "DET"),
        ("to", "PRT"),
        ("``", "PUNCT"),
        ("--", "PUNCT"),
    ],
)
def test_brown_tags_fold_into_universal_tags(brown_tag, universal):
    assert brown.universal_tag(brown_tag) == universal


def test_an_unknown_brown_tag_stops_the_build():
    with pytest.raises(ValueError, match="zzz"):
        brown.universal_tag("zzz")


def test_a_word_may_hold_a_slash():
    assert brown.parse_line("\tabout/rb 1/2/cd mile/nn ./.") == (["about", "1/2", "mile", "."], ["rb", "cd", "nn", "."])


# --------------------------------------------------------------------------- building


def test_building_a_slice_keeps_words_and_tags_aligned_and_texts_whole(tmp_path):
    installed_source("brown-pos")
    root = corpus_slice(tmp_path / "brown")
    built = brown.build_brown_pos(root, seed=1961)
    frame = built.frame
    assert len(frame) == 15 * 3 * brown.PER_TEXT, "6 sentences from each of 3 texts of 15 genres"
    assert (frame["tokens"].str.len() == frame["tags"].str.len()).all()
    assert frame["tokens"].str.len().between(brown.MIN_WORDS, brown.MAX_WORDS).all()
    assert (frame["text"] == frame["tokens"].str.join(" ")).all()
    assert not frame["text"].duplicated().any()
    assert built.notes["sentences_in_corpus"] > len(frame)

    encoded = catalog._encode(frame, SPEC)
    assert all(isinstance(tag, int) and 0 <= tag < SPEC.num_labels for row in encoded["tags"] for tag in row)
    splits = catalog._split(encoded, SPEC, seed=1961)
    assert sum(map(len, splits.values())) == len(frame)
    texts = {name: set(frame.set_index("text").loc[part["text"], "group"]) for name, part in splits.items()}
    assert not (texts["train"] & texts["dev"] or texts["train"] & texts["test"] or texts["dev"] & texts["test"])
    assert all(len(texts[name]) == 15 for name in ("dev", "test")), "one text of each genre in dev and test"


@pytest.mark.parametrize(
    ("brown_tag", "base"),
    [("np-tl", "np"), ("nns$-hl", "nns$"), ("pps+bez", "pps"), ("md*", "md"), ("*", "*"), ("fw-in", "fw")],
)
def test_the_fine_set_keeps_each_brown_base_tag(brown_tag, base):
    assert brown.base_tag(brown_tag) == base and base in brown.FINE_SPEC.label_names


def test_fine_tags_refine_the_universal_ones_on_the_same_words(tmp_path):
    installed_source("brown-pos")
    root = corpus_slice(tmp_path / "brown")
    fine = brown.build_brown_pos_fine(root, seed=1961).frame.set_index("text")
    coarse = brown.build_brown_pos(root, seed=1961).frame.set_index("text")
    shared = fine.index.intersection(coarse.index)
    assert len(shared) > 100, "one seed draws (almost) the same sentences"
    for text in shared:
        assert [brown.BASE_TAGS[tag] for tag in fine.at[text, "tags"]] == coarse.at[text, "tags"]
    spec = brown.FINE_SPEC
    encoded = catalog._encode(fine.reset_index(), spec)
    assert len({tag for row in encoded["tags"] for tag in row}) > 40 and spec.num_labels == 93


def test_the_prepared_set_has_fixed_sizes_and_its_card_matches():
    installed_source("brown-pos")
    first = json.loads((catalog.prepare("brown-pos", split_version=1) / catalog.STATS_FILE).read_text())
    assert first["sizes"] == {"train": 2376, "dev": 312, "test": 312}
    folder = catalog.prepare("brown-pos")
    stats = json.loads((folder / catalog.STATS_FILE).read_text())
    assert stats["sizes"] == {"train": 2376, "dev": 5000, "test": 5000}
    task = load_task("brown-pos")
    assert task.spec == SPEC and list(task.train.columns) == ["text", "tokens", "tags"]
    words = sum(len(row) for row in task.train["tokens"])
    assert words == sum(stats["tags"]["train"].values()) > 40_000
    card = card_path("brown-pos").read_text(encoding="utf-8")
    assert "| 2376 | 5000 | 5000 | 12376 |" in card and f"> {SPEC.description}" in card


@pytest.mark.parametrize(
    ("word", "case"),
    [
        *[("jury", "lower"), ("Jury", "title"), ("I", "title"), ("McCormick", "title"), ("FBI", "upper")],
        *[("U.S.", "upper"), ("1961", "lower"), (",", "lower"), ("A", "title")],
    ],
)
def test_a_word_is_cased_lower_title_or_upper(word, case):
    assert brown.case_of(word) == case


def test_the_case_set_lowers_the_words_of_the_pos_selection(tmp_path):
    installed_source("brown-pos")
    root = corpus_slice(tmp_path / "brown")
    cased = brown.build_brown_case(root, seed=1961).frame.set_index("text")
    pos = brown.build_brown_pos(root, seed=1961).frame
    pos = pos.assign(text=pos["text"].str.lower()).drop_duplicates("text").set_index("text")
    shared = cased.index.intersection(pos.index)
    assert len(shared) > 100, "one seed draws (almost) the same sentences"
    assert (cased.index == cased.index.str.lower()).all(), "no capital is left for the student to read"
    for text in shared:
        words = pos.at[text, "tokens"]
        assert cased.at[text, "tags"] == [brown.case_of(word) for word in words]
    assert {tag for tags in cased["tags"] for tag in tags} >= {"lower", "title"}


# --------------------------------------------------------------------------- encoding


def test_only_the_first_sub_token_of_each_word_is_labelled():
    #            [CLS] un ##believ ##able news [SEP]
    word_ids = [None, 0, 0, 0, 1, None]
    labels = word_start_labels(word_ids, [3, 5])
    assert labels.tolist() == [IGNORE_INDEX, 3, IGNORE_INDEX, IGNORE_INDEX, 5, IGNORE_INDEX]


def _frame(sentences: list[tuple[list[str], list[int]]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [" ".join(words) for words, _ in sentences],
            "tokens": [words for words, _ in sentences],
            "tags": [tags for _, tags in sentences],
        }
    )


@pytest.mark.slow
def test_minilm_sub_tokens_carry_their_word_tag_on_the_first_piece_only(tokenizer):
    words = ["They", "tried", "to", "outface", "Kennedy's", "supporters", "."]
    tags = [7, 10, 8, 10, 5, 5, 9]
    split = encode_split(_frame([(words, tags)]), SPEC, tokenizer, 64, train=True)
    pieces = tokenizer.convert_ids_to_tokens(split.input_ids[0])
    labels = split.labels[0]
    assert len(labels) == len(pieces) and labels.dtype == np.int64
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and labels[0] == labels[-1] == IGNORE_INDEX
    starts = [i for i, piece in enumerate(pieces) if labels[i] != IGNORE_INDEX]
    assert [labels[i] for i in starts] == tags, "one label per word, in order"
    assert all(not pieces[i].startswith("##") for i in starts)
    continuation = [i for i, piece in enumerate(pieces) if piece.startswith("##")]
    assert continuation and all(labels[i] == IGNORE_INDEX for i in continuation)


@pytest.mark.slow
def test_truncation_drops_the_tail_words_labels_and_collate_pads_with_ignore(tokenizer):
    long = (["word"] * 30, [5] * 30)
    short = (["Yes", "."], [11, 9])
    split = encode_split(_frame([long, short]), SPEC, tokenizer, 16, train=True)
    assert split.labels.dtype == object and split.labels.shape == (2,)
    assert len(split.input_ids[0]) == 16 and int((split.labels[0] != IGNORE_INDEX).sum()) == 14
    batch = collate(split, [1, 0], tokenizer.pad_token_id)
    assert batch["labels"].shape == batch["input_ids"].shape == (2, 16)
    assert batch["labels"].dtype == torch.long
    assert batch["labels"][0].tolist() == [IGNORE_INDEX, 11, 9] + [IGNORE_INDEX] * 13
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()


@pytest.mark.slow
def test_other_task_types_still_collate_flat_labels(tokenizer):
    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "Toy.", ("neg", "pos"))
    split = encode_split(pd.DataFrame({"text": ["good", "bad film"], "label": [1, 0]}), spec, tokenizer, 16, train=True)
    batch = collate(split, [0, 1], tokenizer.pad_token_id)
    assert batch["labels"].tolist() == [1, 0]


# --------------------------------------------------------------------------- metrics


def test_tagging_is_scored_per_word_with_macro_f1_over_tags():
    gold = [[0, 1, 1], [2, 0]]
    pred = [[0, 1, 2], [2, 1]]
    scores = compute_metrics(TaskType.TOKEN, pred, gold)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    # tag 0: P 1/1 R 1/2 -> 2/3; tag 1: P 1/2 R 1/2 -> 1/2; tag 2: P 1/2 R 1/1 -> 2/3
    assert scores["f1"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)


def test_a_sentence_decoded_to_the_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="sentence 1"):
        compute_metrics(TaskType.TOKEN, [[0], [1, 1]], [[0], [1]])


# --------------------------------------------------------------------------- user files


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_jsonl_file_of_word_and_tag_lists_loads_as_a_token_task(tmp_path):
    rows = [{"words": [f"w{i}", "runs"], "ner_tags": ["B-X" if i % 2 else "O", "O"]} for i in range(20)]
    rows.append({"words": [], "ner_tags": []})
    task = load_task(_write_jsonl(tmp_path / "tagged.jsonl", rows))
    assert task.spec.task_type == TaskType.TOKEN and task.spec.label_names == ("B-X", "O")
    assert sum(len(task.split(s)) for s in ("train", "dev", "test")) == 20
    assert task.extra["notes"]["missing_dropped"] == 1, "a sentence without words is dropped and counted"
    row = task.train.iloc[0]
    assert row["text"] == " ".join(row["tokens"]) and len(row["tags"]) == 2


def test_a_csv_of_python_lists_as_pandas_writes_them_loads_and_numpys_print_is_refused(tmp_path):
    words = ["it's", 'say "hi"']  # quotes of both kinds inside words
    rows = [{"tokens": [f"w{i}", *words], "ner_tags": ["B-X" if i % 2 else "O", "O", "O"]} for i in range(20)]
    pd.DataFrame(rows).to_csv(tmp_path / "tagged.csv", index=False)  # cells such as ['w0', "it's", 'say "hi"']
    task = load_task(str(tmp_path / "tagged.csv"))
    assert task.spec.task_type == TaskType.TOKEN and task.spec.label_names == ("B-X", "O")
    assert all(list(row[1:]) == words for row in task.train["tokens"])
    printed = pd.DataFrame({key: [np.array(value) for value in column] for key, column in pd.DataFrame(rows).items()})
    printed.to_csv(tmp_path / "printed.csv", index=False)  # cells such as ['w0' "it's" 'say "hi"']
    with pytest.raises(AutodistillError, match=r"a cell holds \['w0' \"it's\".*numpy's print of an array"):
        load_task(str(tmp_path / "printed.csv"))


def test_numpys_print_of_integer_tags_is_refused_as_numpys_print(tmp_path):
    rows = [{"tokens": [f"w{i}", "b", "c"], "tags": np.array([0, 2, i % 3])} for i in range(12)]
    pd.DataFrame(rows).to_csv(tmp_path / "ids.csv", index=False)  # cells such as [0 2 1]
    with pytest.raises(AutodistillError, match=r"a cell holds \[0 2 0\], numpy's print of an array"):
        load_task(str(tmp_path / "ids.csv"))


def test_integer_tags_are_kept_as_ids(tmp_path):
    rows = [{"tokens": ["a", "b", "c"], "tags": [0, 2, i % 3]} for i in range(12)]
    rows = [{**row, "tokens": [*row["tokens"][:2], f"c{i}"]} for i, row in enumerate(rows)]
    task = load_task(_write_jsonl(tmp_path / "ids.jsonl", rows), task_type="token")
    assert task.spec.label_names == ("0", "1", "2")
    assert all(list(row[:2]) == [0, 2] for row in task.train["tags"])


def test_words_and_tags_that_do_not_pair_up_are_refused_naming_the_row(tmp_path):
    rows = [{"tokens": ["a", "b"], "tags": ["X", "Y"]}, {"tokens": ["a", "b", "c"], "tags": ["X"]}]
    with pytest.raises(AutodistillError, match=r"row 1 of .*has 3 words but 1 tags"):
        load_task(_write_jsonl(tmp_path / "bad.jsonl", rows))


@pytest.mark.parametrize("flags", [{"text_col": "sentence_words", "label_col": "pos"}, {"label_col": "pos"}])
def test_the_usual_column_flags_name_a_tagging_files_word_and_tag_lists(tmp_path, flags):
    name = "sentence_words" if "text_col" in flags else "words"
    rows = [{name: [f"w{i}", "runs"], "pos": ["NOUN", "VERB"]} for i in range(20)]
    task = load_task(_write_jsonl(tmp_path / "pos.jsonl", rows), **flags)
    assert task.spec.task_type == TaskType.TOKEN and task.spec.label_names == ("NOUN", "VERB")
    assert task.extra["columns"]["tags"] == "pos"


def test_a_text_column_of_plain_strings_stays_a_text_column(tmp_path):
    rows = [{"text": f"[{i}] runs" if i else "[music playing]", "label": ["a", "b"][i % 2]} for i in range(20)]
    task = load_task(_write_jsonl(tmp_path / "plain.jsonl", rows))
    assert task.spec.task_type == TaskType.CLASSIFICATION


def test_tag_lists_beside_plain_text_are_not_claimed_as_a_tagging_file(tmp_path):
    rows = [{"text": f"w{i} runs", "pos": json.dumps(["NOUN", "VERB"]) if i % 2 else '["X"]'} for i in range(20)]
    with pytest.raises(AutodistillError, match=r"'pos' .* holds a list of labels per row"):  # class labels, not tags
        load_task(_write_jsonl(tmp_path / "mixed.jsonl", rows), label_col="pos")


def _conll(sentences: list[list[str]]) -> str:
    """CoNLL-2003's layout: a document marker, then one line per word, a blank line after each sentence."""
    return "-DOCSTART- -X- -X- O\n\n" + "".join("".join(f"{line}\n" for line in words) + "\n" for words in sentences)


def test_a_conll_file_reads_its_first_column_as_words_and_its_last_as_tags(tmp_path):
    sentences = [[f"w{i} NN B-NP {'B-PER' if i % 2 else 'O'}", "runs VBZ B-NP O"] for i in range(20)]
    (tmp_path / "ner.conll").write_text(_conll(sentences) + "tail NN B-NP O")
    task = load_task(str(tmp_path / "ner.conll"))
    assert task.spec.task_type == TaskType.TOKEN and task.spec.label_names == ("B-PER", "O")
    assert sum(len(task.split(s)) for s in ("train", "dev", "test")) == 21, "the last sentence needs no blank line"
    assert sorted(task.extra["columns"].items()) == [("tags", "tags"), ("tokens", "tokens")]
    pos = load_task(str(tmp_path / "ner.conll"), label_col="column_2")
    assert pos.spec.label_names == ("NN", "VBZ")
    with pytest.raises(AutodistillError, match=r"at least 2 distinct tags; tag column 'column_3' .* has 1 \('B-NP'\)"):
        load_task(str(tmp_path / "ner.conll"), label_col="column_3")


def test_a_tab_separated_conll_line_keeps_a_word_that_holds_a_space(tmp_path):
    (tmp_path / "t.conll").write_text(_conll([[f"New York{i}\tB-LOC", "is\tO"] for i in range(20)]))
    assert {row[0] for row in load_task(str(tmp_path / "t.conll")).train["tokens"]} <= {
        f"New York{i}" for i in range(20)
    }


@pytest.mark.parametrize(
    ("lines", "needs"),
    [(["a O", "b"], "line 4 holds 1 column.s. where its first word line holds 2"), (["a NN O", "b O"], "holds 3")],
)
def test_a_conll_line_with_a_column_too_few_or_too_many_is_refused_naming_it(tmp_path, lines, needs):
    (tmp_path / "bad.conll").write_text(_conll([lines]))
    with pytest.raises(AutodistillError, match=needs):
        load_task(str(tmp_path / "bad.conll"))


def test_a_conll_file_of_words_alone_reads_as_sentences_to_predict_and_is_refused_for_training(tmp_path):
    from engine.data.readers import read_file

    (tmp_path / "new.conll").write_text(_conll([["The", "cat", "sleeps"], ["Dogs", "run"]]))
    assert read_file(tmp_path / "new.conll")["tokens"].tolist() == [["The", "cat", "sleeps"], ["Dogs", "run"]]
    with pytest.raises(AutodistillError, match=r"no tag column beside the words .* can be predicted on, not trained"):
        load_task(str(tmp_path / "new.conll"))


def test_a_txt_data_file_is_pointed_to_the_conll_extension(tmp_path):
    (tmp_path / "train.txt").write_text(_conll([["a O"]]))
    with pytest.raises(AutodistillError, match=r"unsupported file type '.txt'.*reads as .conll"):
        load_task(str(tmp_path / "train.txt"))
    with pytest.raises(AutodistillError, match=r"no train file .*it holds: train.txt; .*reads as .conll"):
        load_task(str(tmp_path))


def test_a_hub_tagging_sets_tag_ids_keep_the_hubs_tag_names(monkeypatch):
    import datasets

    from engine import hub

    features = datasets.Features(
        {
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=["O", "B-PER", "I-PER"])),
        }
    )
    rows = {"tokens": [[f"w{i}", "Ada", "Lovelace"] for i in range(40)], "ner_tags": [[0, 1, 2]] * 40}
    loaded = datasets.DatasetDict(train=datasets.Dataset.from_dict(rows, features=features))
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", lambda *args: loaded)
    task = load_task("someone/ner-set")
    assert task.spec.task_type == TaskType.TOKEN and task.spec.label_names == ("O", "B-PER", "I-PER")
    assert list(task.train["tags"].iloc[0]) == [0, 1, 2]


def _conllu(n: int) -> str:
    """A CoNLL-U file of ``n`` sentences, each with a contraction over two words and an empty node."""
    sentence = (
        "# sent_id = {i}\n# text = Don't go{i}.\n"
        "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\n"
        "2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_\n"
        "3\tgo{i}\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n"
        "3.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t0:root\t_\n"
        "4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\n\n"
    )
    return "".join(sentence.format(i=i) for i in range(n))


def test_a_conllu_treebank_tags_its_syntactic_words_with_upos_or_a_field_named(tmp_path):
    (tmp_path / "ud.conllu").write_text(_conllu(20))
    task = load_task(str(tmp_path / "ud.conllu"))
    assert task.spec.label_names == ("AUX", "PART", "PUNCT", "VERB") and task.extra["columns"]["tags"] == "upos"
    row = task.train.iloc[0]
    assert list(row["tokens"])[:2] == ["Do", "n't"] and len(row["tags"]) == 4, "no contraction line, no empty node"
    assert load_task(str(tmp_path / "ud.conllu"), label_col="deprel").spec.label_names == (
        "advmod",
        "aux",
        "punct",
        "root",
    )
    (tmp_path / "bad.conllu").write_text("1\tDo\tdo\n\n")
    with pytest.raises(AutodistillError, match=r"could not read .*bad.conllu as CoNLL-U"):
        load_task(str(tmp_path / "bad.conllu"))


def test_bio_tags_are_scored_by_whole_entities_and_a_name_file_headlines_entity_f1(tmp_path):
    from engine.pipelines.result import ExamplePredictions, write_predictions, written_predictions

    names = ("B-PER", "I-PER", "O")
    gold = [[0, 1, 2, 0]]  # "Ada Lovelace met Bob": two names
    half = [[0, 2, 2, 0]]  # the first cut short: only Bob is found whole
    scores = compute_metrics("token", half, gold, names)
    assert scores["entity_f1"] == pytest.approx(0.5) and scores["accuracy"] == pytest.approx(0.75)
    assert "entity_f1" not in compute_metrics("token", gold, gold, ("NOUN", "VERB", "X")), "no entities in POS tags"
    unlearned = compute_metrics("token", [[0, 1, 2, 2, 2]], [[0, 1, 2, -1, -1]], names)  # predict's never-learned tag
    assert unlearned["entity_f1"] == pytest.approx(2 / 3), "Ada Lovelace found, the unlearned two-word name missed"
    write_predictions(tmp_path, ExamplePredictions("token", "entity_f1", half, gold, names))
    assert written_predictions(tmp_path).score() == pytest.approx(0.5), "a stored run's tags keep their names"
    (tmp_path / "ner.conll").write_text(_conll([[f"Ada{i} B-PER", "Lovelace I-PER", "met O"] for i in range(20)]))
    assert load_task(str(tmp_path / "ner.conll")).spec.metric == "entity_f1"
    assert load_task(str(tmp_path / "ner.conll"), metric="accuracy").spec.metric == "accuracy", "the user's choice"
    (tmp_path / "pos.conll").write_text(_conll([[f"Ada{i} NOUN", "met VERB"] for i in range(20)]))
    with pytest.raises(AutodistillError, match="'entity_f1'; choose one of: accuracy, f1"):
        load_task(str(tmp_path / "pos.conll"), metric="entity_f1")


@pytest.mark.parametrize(
    ("names", "gold", "half"),
    [
        (("B-PER", "E-PER", "O", "S-PER"), [[0, 1, 2, 3]], [[0, 2, 2, 3]]),  # BIOES: "Ada Lovelace met Bob"
        (("B-PER", "L-PER", "O", "U-PER"), [[0, 1, 2, 3]], [[0, 2, 2, 3]]),  # BILOU: the same names
        (("I-PER", "O"), [[0, 0, 1, 0]], [[0, 1, 1, 0]]),  # IOB1: a name starts at I- after O
    ],
)
def test_bioes_bilou_and_iob1_tags_are_scored_by_whole_entities(names, gold, half):
    """The first name cut short loses it; the one-word name is still found."""
    assert compute_metrics("token", half, gold, names)["entity_f1"] == pytest.approx(0.5)
    assert compute_metrics("token", gold, gold, names)["entity_f1"] == pytest.approx(1.0)


def test_tags_outside_an_entity_scheme_get_no_entity_metric():
    for names in (("B-NP", "I-NP", "NOUN"), ("B-", "O"), ("B-X", "Q-X", "O"), ("O",)):
        assert "entity_f1" not in compute_metrics("token", [[0]], [[0]], names), names
