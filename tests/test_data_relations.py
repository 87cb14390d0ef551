"""The sets built from WordNet's hand-recorded relations (wordnet-relation-pair, wordnet-genus-span)
and from people's ratings (simlex-999, vader-valence): each label is one a person recorded, read
the way the card says. Built on small hand-written files in the sources' layouts, and checked
against the real files where they are installed."""

from __future__ import annotations

import numpy as np
import pytest
from wordnet_files import write_wordnet

from engine.data import catalog
from engine.data.builders import DATASETS, MissingAssetError
from engine.data.sources import simlex, vader, wordnet_relations
from engine.data.sources.wordnet import Pointer, parse_line

DATABASE = {
    "noun": [
        "00000001 05 n 01 dog 0 002 @ 00000002 n 0000 %p 00000003 n 0000 | a domestic canine animal",
        "00000002 05 n 01 canine 0 001 ~ 00000001 n 0000 | a carnivorous mammal",
        "00000003 08 n 01 tail 0 002 #p 00000001 n 0000 @ 00000007 n 0000 | the hindmost part of an animal",
        "00000004 05 n 02 puppy 0 pup 0 001 @ 00000001 n 0000 | a young of dogs",
        "00000005 05 n 01 beagle 0 001 @ 00000006 n 0000 | a small hunting dog that tracks by scent",
        "00000006 05 n 02 hunting 0 hunting_dog 0 001 ~ 00000005 n 0000 | a dog bred for hunting",
        "00000007 08 n 01 body_part 0 000 | any part of an organism",
    ],
    "adj": [
        "00000010 00 a 02 hot 0 warm 0 001 ! 00000011 a 0101 | of high temperature",
        "00000011 00 a 01 cold 0 001 ! 00000010 a 0101 | of low temperature",
    ],
}


def test_pointers_are_read_with_their_target_and_words():
    real = (
        "02085374 05 n 02 toy_dog 0 toy 0 002 @ 02084071 n 0000 ~ 02085620 n 0000 | "
        "any of several breeds of very small dogs kept purely as pets"
    )
    synset = parse_line(real, "noun")
    assert synset.lemmas == ("toy dog", "toy")
    assert synset.pointers == (Pointer("@", 2084071, "noun", 0, 0), Pointer("~", 2085620, "noun", 0, 0))
    antonym = parse_line(DATABASE["adj"][0], "adj")
    assert antonym.pointers == (Pointer("!", 11, "adj", 1, 1),)


def test_each_relation_is_read_once_in_a_random_direction_with_its_inverse_label(tmp_path):
    from engine.data.sources.wordnet import read_synsets

    synsets = read_synsets(write_wordnet(tmp_path / "wn", DATABASE))
    rows, repeated = wordnet_relations.relation_rows(synsets, np.random.default_rng(0))
    dog, canine = "dog: a domestic canine animal", "canine: a carnivorous mammal"
    expected = {
        (dog, canine, "kind-of"),
        (dog, "tail: the hindmost part of an animal", "has-part"),
        ("tail: the hindmost part of an animal", "body part: any part of an organism", "kind-of"),
        ("puppy: a young of dogs", dog, "kind-of"),
        ("beagle: a small hunting dog that tracks by scent", "hunting: a dog bred for hunting", "kind-of"),
        ("hot: of high temperature", "cold: of low temperature", "opposite"),
    }
    forward = {"has-kind": "kind-of", "part-of": "has-part", "opposite": "opposite"}
    found = set(rows.itertuples(index=False, name=None))
    as_recorded = {(a, b, label) if (a, b, label) in expected else (b, a, forward[label]) for a, b, label in found}
    assert as_recorded == expected, "every pointer once (the #p and ~ ends are the same pairs), none made up"
    assert repeated == 1, "the antonym is recorded at both ends"
    assert {label for *_, label in found} & {"has-kind", "part-of"}, "some pairs are read backwards"


def test_the_genus_span_is_the_earliest_longest_hypernym_in_the_definition(tmp_path):
    built = wordnet_relations.build_genus_span(write_wordnet(tmp_path / "wn", DATABASE), seed=0)
    answers = dict(zip(built.frame["text"], built.frame["answer_text"], strict=True))
    assert answers == {"dog": "canine", "puppy": "dogs", "beagle": "hunting dog"}, (
        "inflected; the longer of two lemmas at one place"
    )
    for row in built.frame.itertuples():
        assert row.text_pair[row.answer_start :].startswith(row.answer_text)
    # tail's definition names no lemma of "body part": no answer is made up for it
    assert built.notes["synsets_with_hypernym"] == 4 and built.notes["hypernym_not_in_definition"] == 1


def test_simlex_pairs_keep_their_mean_rating(tmp_path):
    path = tmp_path / "simlex.txt"
    path.write_text(
        "# The SimLex-999 Test data\n# Word 1\tWord 2\tHuman (mean)\nold\tnew\t1.58\nsmart\tintelligent\t9.2\n"
    )
    frame = simlex.read_pairs(path)
    assert frame.to_dict("records") == [
        {"text": "old", "text_pair": "new", "label": 1.58},
        {"text": "smart", "text_pair": "intelligent", "label": 9.2},
    ]


def test_the_installed_simlex_has_999_pairs_on_a_0_10_scale():
    entry = DATASETS.get("simlex-999")
    try:
        built = entry.build(entry.asset.locate(), entry.seed)
    except MissingAssetError as error:
        pytest.skip(str(error))
    assert len(built.frame) == 999 and built.frame["label"].between(0, 10).all()
    assert entry.spec.paired and entry.spec.kind == "regression"
    splits = catalog._split(catalog._encode(built.frame, entry.spec), entry.spec, entry.seed)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [799, 100, 100]


def test_vader_terms_keep_their_published_mean_and_ambiguous_ones_go(tmp_path):
    path = tmp_path / "vader_lexicon.txt"
    path.write_text(
        "$:\t-1.5\t0.80623\t[-1, -1, -1, -1, -3, -1, -3, -1, -2, -1]\n"
        "good\t1.9\t0.9434\t[2, 1, 1, 3, 2, 4, 2, 2, 1, 1]\n"
        "lol\t2.9\t0.83066\t[4, 2, 2, 2, 4, 2, 3, 3, 4, 3]\n"
        "lol\t1.8\t1.46969\t[1, 3, 4, 1, 2, 4, 1, 2, -1, 1]\n"
    )
    built = vader.build_valence(path, seed=0)
    assert built.frame.to_dict("records") == [{"text": "$:", "label": -1.5}, {"text": "good", "label": 1.9}]
    assert built.notes == {"terms_in_lexicon": 4, "duplicates_dropped": 0, "conflicting_dropped": 2, "capped_away": 0}


def test_the_installed_vader_lexicon_is_capped_with_every_decile_kept():
    entry = DATASETS.get("vader-valence")
    try:
        built = entry.build(entry.asset.locate(), entry.seed)
    except MissingAssetError as error:
        pytest.skip(str(error))
    assert len(built.frame) == vader.CAP and built.frame["label"].between(-4, 4).all()
    assert built.notes["terms_in_lexicon"] > 7000 and not built.frame["text"].duplicated().any()
    assert (built.frame["label"] < -2).sum() > 200 and (built.frame["label"] > 2).sum() > 200
