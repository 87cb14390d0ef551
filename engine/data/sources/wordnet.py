"""A reader for the WordNet 3.0 database files (Debian ``wordnet-base``), and the
inflection rules needed to find a lemma in an example sentence.

The files are parsed directly (format: wndb(5WN)) rather than through NLTK, which
would need the files copied into an ``nltk_data`` tree first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

#: Database file suffix per part of speech, in the order they are read.
POS_FILES = ("noun", "verb", "adj", "adv")

#: The 45 lexicographer files, indexed by the ``lex_filenum`` field (lexnames(5WN)).
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)  # fmt: skip

#: Detachment rules of morphy(7WN): inflected ending -> base ending.
SUFFIX_RULES = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
             ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
             ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}  # fmt: skip

_ADJ_MARKER = re.compile(r"\((a|p|ip)\)$")
_QUOTED = re.compile(r'"([^"]+)"')
_WORD = re.compile(r"[A-Za-z0-9]+(?:['.-][A-Za-z0-9]+)*")


#: Pointer ``pos`` letters (wndb(5WN)) -> the data file that holds the target (``s``, a satellite
#: adjective, lives in data.adj).
POINTER_POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}


@dataclass(frozen=True)
class Pointer:
    """One relation a lexicographer recorded from this synset to another (wninput(5WN)).

    ``source``/``target`` are 1-based word numbers for a lexical pointer (between two
    words, such as an antonym) and 0 for a semantic one (between whole synsets)."""

    symbol: str
    offset: int
    pos: str
    source: int
    target: int


@dataclass(frozen=True)
class Synset:
    """One synset: its lemmas (spaces for underscores), definition, example sentences and pointers."""

    offset: int
    pos: str
    lexname: str
    lemmas: tuple[str, ...]
    definition: str
    examples: tuple[str, ...]
    pointers: tuple[Pointer, ...] = ()

    @cached_property
    def lower_lemmas(self) -> frozenset[str]:
        return frozenset(lemma.lower() for lemma in self.lemmas)


def parse_pointers(parts: list[str]) -> tuple[Pointer, ...]:
    """``p_cnt`` then that many ``symbol offset pos source/target`` groups (source/target in hex)."""
    count = int(parts[0])
    groups = (parts[1 + 4 * i : 5 + 4 * i] for i in range(count))
    return tuple(
        Pointer(symbol, int(offset), POINTER_POS[pos], int(ends[:2], 16), int(ends[2:], 16))
        for symbol, offset, pos, ends in groups
    )


def parse_line(line: str, pos: str) -> Synset:
    """One data-file line: ``offset lex_filenum ss_type w_cnt (word lex_id)... p_cnt (pointer)... | gloss``."""
    fields, _, gloss = line.partition(" | ")
    parts = fields.split()
    n_words = int(parts[3], 16)
    words = parts[4 : 4 + 2 * n_words : 2]
    lemmas = tuple(_ADJ_MARKER.sub("", w).replace("_", " ") for w in words)
    definition, _, rest = gloss.partition('"')
    examples = tuple(e.strip() for e in _QUOTED.findall('"' + rest) if e.strip())
    return Synset(
        offset=int(parts[0]),
        pos=pos,
        lexname=LEXNAMES[int(parts[1])],
        lemmas=lemmas,
        definition=definition.strip().rstrip(";").strip(),
        examples=examples,
        pointers=parse_pointers(parts[4 + 2 * n_words :]),
    )


def read_synsets(root: Path) -> list[Synset]:
    """Every synset of the four data files, in file order (which is offset order)."""
    synsets = []
    for pos in POS_FILES:
        with (root / f"data.{pos}").open(encoding="utf-8") as lines:
            synsets.extend(parse_line(line, pos) for line in lines if not line.startswith("  "))
    return synsets


def read_exceptions(root: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """Irregular inflections (``*.exc``): pos -> inflected form -> base forms."""
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for pos in POS_FILES:
        entries = (line.split() for line in (root / f"{pos}.exc").read_text(encoding="utf-8").splitlines())
        table[pos] = {e[0].replace("_", " "): tuple(b.replace("_", " ") for b in e[1:]) for e in entries if e}
    return table


class Inflections:
    """Which base forms a word in running text may be an inflection of (WordNet's morphy)."""

    def __init__(self, exceptions: dict[str, dict[str, tuple[str, ...]]]) -> None:
        self.exceptions = exceptions

    def bases(self, word: str, pos: str) -> set[str]:
        word = word.lower()
        found = {word, *self.exceptions[pos].get(word, ())}
        for ending, base in SUFFIX_RULES[pos]:
            if word.endswith(ending) and len(word) > len(ending):
                stem = word[: -len(ending)]
                found.add(stem + base)
                if len(stem) > 2 and stem[-1] == stem[-2] and not base:  # stopped -> stop, bigger -> big
                    found.add(stem[:-1])
        return found

    def find(self, lemma: str, pos: str, sentence: str) -> tuple[int, int] | None:
        """Character span of the first occurrence of ``lemma``, each word in any inflection."""
        wanted = lemma.lower().split()
        tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(sentence)]
        for i in range(len(tokens) - len(wanted) + 1):
            window = tokens[i : i + len(wanted)]
            if all(want in self.bases(word, pos) for want, (_, _, word) in zip(wanted, window, strict=True)):
                return window[0][0], window[-1][1]
        return None
