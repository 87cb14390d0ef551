"""Elementary augmentation operations (§3.1): each changes the share aug_p of words it
should, is a pure function of its seed, keeps a span task's answer, and fails in one
line when its backend is missing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.augment import AugmentSettings, TextItem
from engine.augment import backtranslation as bt_module
from engine.augment.backtranslation import BackTranslation, apertium_modes
from engine.augment.base import STOPWORDS, Unit, changes_for, join_units, split_units
from engine.augment.contextual import ContextualAugmentation, glove_neighbours
from engine.augment.random_eda import RandomAugmentation, load_synonyms, synonyms_of, wordnet_dir
from engine.errors import AutodistillError

SENTENCE = "The movie was great, and the actors were lovely; I enjoyed the long story."
CONTEXT = "Yesterday the quick brown fox jumped over a lazy dog near the river."
ANSWER = "brown fox"

needs_wordnet = pytest.mark.skipif(
    not (wordnet_dir() / "data.noun").exists(), reason="WordNet (apt-get install wordnet-base) missing"
)
needs_apertium = pytest.mark.skipif(
    "eng-spa" not in apertium_modes(), reason="Apertium eng-spa (apt-get install apertium-eng-spa) missing"
)


def rngs(*seeds: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in seeds]


def answer_item() -> TextItem:
    start = CONTEXT.index(ANSWER)
    return TextItem(CONTEXT, (start, start + len(ANSWER)))


# --------------------------------------------------------------------------- word units


def test_units_lock_the_answer_and_find_it_again_after_edits():
    units, offset = split_units(answer_item())
    assert [u.text for u in units if u.locked] == ["brown fox"]
    edited = [Unit("Today"), *units[1:4], Unit("suddenly"), *units[4:]]
    out = join_units(edited, offset, answer_item())
    assert out.protected == ANSWER and out.text.startswith("Today the quick brown fox suddenly jumped")


def test_share_of_changed_words_follows_aug_p():
    assert [changes_for(10, p) for p in (0.0, 0.01, 0.1, 0.25, 1.0)] == [0, 1, 1, 2, 10]
    assert changes_for(0, 0.5) == 0


# --------------------------------------------------------------------------- ra (EDA)


@needs_wordnet
def test_ra_synonym_replacement_uses_wordnet_synonyms():
    op = RandomAugmentation(AugmentSettings(aug_p=1.0))
    out = op.augment_one(TextItem("a good movie"), np.random.default_rng(0), edit="synonym")
    old, new = ["a", "good", "movie"], out.text.split(" ", 2)
    assert new[0] == "a"  # function words stay
    assert new[1] in synonyms_of("good", load_synonyms(str(wordnet_dir())))
    assert "far" not in synonyms_of("army", load_synonyms(str(wordnet_dir())))  # names/acronyms left out
    assert out.text != " ".join(old)


@needs_wordnet
def test_ra_swap_keeps_the_words_and_deletion_drops_about_aug_p_of_them():
    swap = RandomAugmentation(AugmentSettings(aug_p=0.3)).augment_one(
        TextItem(SENTENCE), np.random.default_rng(1), edit="swap"
    )
    assert sorted(swap.text.split()) == sorted(SENTENCE.split()) and swap.text != SENTENCE
    kept = [
        len(
            RandomAugmentation(AugmentSettings(aug_p=0.3))
            .augment_one(TextItem(SENTENCE), np.random.default_rng(s), edit="delete")
            .text.split()
        )
        for s in range(200)
    ]
    assert 0.6 < np.mean(kept) / len(SENTENCE.split()) < 0.8


@needs_wordnet
def test_ra_is_a_pure_function_of_its_seed():
    op = RandomAugmentation(AugmentSettings(aug_p=0.3))
    items = [TextItem(SENTENCE)] * 3
    assert [o.text for o in op.augment(items, rngs(1, 2, 3))] == [o.text for o in op.augment(items, rngs(1, 2, 3))]
    assert len({op.augment([TextItem(SENTENCE)], rngs(s))[0].text for s in range(10)}) > 5


# --------------------------------------------------------------------------- ca


def test_ca_glove_replaces_aug_p_of_the_words_by_nearest_neighbours():
    op = ContextualAugmentation(AugmentSettings(aug_p=0.5, ca_model="glove"))
    words = ["happy", "movie", "actors", "enjoyed", "story", "river", "dog", "lovely"]
    out = op.augment([TextItem(" ".join(words))], rngs(0))[0].text.split()
    changed = [(a, b) for a, b in zip(words, out, strict=True) if a != b]
    assert len(changed) == 4
    assert all(b in glove_neighbours()(a) for a, b in changed)
    assert not set(glove_neighbours()("movie")) & STOPWORDS
    assert "glove" in op.backend()


def test_ca_keeps_punctuation_and_capitals_and_is_seeded():
    op = ContextualAugmentation(AugmentSettings(aug_p=1.0))
    out = op.augment([TextItem("Great, lovely!")], rngs(3))[0].text
    assert out[0].isupper() and out.endswith("!") and "," in out and out != "Great, lovely!"
    assert op.augment([TextItem(SENTENCE)], rngs(5)) == op.augment([TextItem(SENTENCE)], rngs(5))


def test_ca_refuses_a_model_that_is_not_a_masked_lm():
    from engine.models.zoo import resolve_model_path

    encoder_only = resolve_model_path("minilm-l6")  # a BERT encoder shipped without its MLM head
    with pytest.raises(AutodistillError, match="is not a masked language model") as info:
        ContextualAugmentation(AugmentSettings(ca_model=encoder_only)).check()
    assert "\n" not in str(info.value)


def test_ca_errors_when_the_named_masked_lm_cannot_load():
    with pytest.raises(AutodistillError, match="does not exist"):
        ContextualAugmentation(AugmentSettings(ca_model="./no/such-mlm")).check()


def test_ca_fills_masks_with_a_masked_lm(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    from engine.models.zoo import load_tokenizer

    tokenizer = load_tokenizer("minilm-l6")
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    BertForMaskedLM(config).save_pretrained(tmp_path / "mlm")
    tokenizer.save_pretrained(tmp_path / "mlm")
    op = ContextualAugmentation(AugmentSettings(aug_p=0.5, ca_model=str(tmp_path / "mlm")))
    op.check()
    first = op.augment([TextItem(SENTENCE), answer_item()], rngs(0, 1))
    assert first == op.augment([TextItem(SENTENCE), answer_item()], rngs(0, 1))
    assert first[0].text != SENTENCE and first[1].protected == ANSWER
    assert op.backend() == f"masked-lm: {tmp_path / 'mlm'}"


# --------------------------------------------------------------------------- spans


@needs_wordnet
@pytest.mark.parametrize("op_type", [RandomAugmentation, ContextualAugmentation])
def test_word_operations_keep_the_answer_span(op_type):
    op = op_type(AugmentSettings(aug_p=0.5))
    outs = op.augment([answer_item()] * 40, rngs(*range(40)))
    assert all(o is not None and o.protected == ANSWER for o in outs)
    assert len({o.span for o in outs}) > 1  # the answer moved, and its offset was recomputed


# --------------------------------------------------------------------------- bt


@needs_apertium
def test_bt_round_trips_batched_exactly_like_one_text_at_a_time():
    op = BackTranslation(AugmentSettings())
    texts = ["force out the air", "In China it is polite to burp at the table", "Pepper makes me sneeze", ""]
    batched = [o.text for o in op.augment([TextItem(t) for t in texts], rngs(0, 1, 2, 3))]
    single = [BackTranslation(AugmentSettings()).augment([TextItem(t)], rngs(0))[0].text for t in texts]
    assert batched == single
    assert batched[1] != texts[1] and batched[3] == ""
    assert op.backend() == "apertium: eng-spa | spa-eng"


@needs_apertium
def test_bt_finds_the_answer_again_or_drops_the_example():
    op = BackTranslation(AugmentSettings())
    kept, lost = op.augment([answer_item(), TextItem(CONTEXT, (14, 19))], rngs(0, 1))  # "brown fox", "quick"
    assert kept is not None and kept.protected == ANSWER
    assert lost is None  # "quick" comes back as "fast": no stale offset is kept


def test_bt_without_a_translator_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(bt_module, "apertium_modes", lambda: ())
    bt_module.translator.cache_clear()
    try:
        with pytest.raises(AutodistillError, match="apt-get install apertium apertium-eng-spa") as info:
            BackTranslation(AugmentSettings()).check()
        assert "\n" not in str(info.value)
        monkeypatch.setattr(bt_module, "apertium_modes", lambda: ("eng-cat", "cat-eng"))
        with pytest.raises(AutodistillError, match="pair eng-spa, which is not installed"):
            BackTranslation(AugmentSettings()).check()
    finally:
        bt_module.translator.cache_clear()
