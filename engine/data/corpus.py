"""Unlabelled English text for task-agnostic distillation, with every catalog dev and test text taken out.

A general-distilled ("well-read") student learns from plain text before any task. Offline, the text
comes from the installed sources the catalog is built on, all of them public domain or under
permissive licences: the Brown Corpus, Moby-Dick, the State of the Union addresses and WordNet's
definitions and example sentences. BBC News (research use only) and the spam mails (mostly headers)
are left out.

The same sources give the catalog's dev and test splits, so the corpus would otherwise hold test
text. Both sides are cut into clauses the same way (at sentence ends, semicolons and colons: the
finest cut any catalog builder makes), each clause is reduced to its lower-cased words and hashed,
and every corpus clause whose hash is a dev or test clause of any split version of any catalog data
set is dropped. :func:`overlap` is the same check for a user's own corpus file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.data import catalog
from engine.data.builders import DATASETS, MissingAssetError
from engine.data.sources import brown, moby, sotu, wordnet, wordnet_tasks
from engine.errors import AutodistillError

#: A clause ends at a sentence end, a semicolon or a colon before a space or a dash (Melville's ";—").
_CLAUSE_END = re.compile(r"(?<=[.!?;:])(?:\s+|(?=\u2014))|\n+")
_WORD = re.compile(r"[a-z0-9]+")
#: Bytes of a clause's hash: 8 make a chance collision across ten million clauses about 1e-6.
_HASH_BYTES = 8
#: Share of a file's first 64 KiB that may be control bytes before it is called binary.
_BINARY_SHARE = 0.01


def clauses(text: str) -> list[str]:
    """``text`` cut into clauses, empty ones dropped."""
    return [piece.strip() for piece in _CLAUSE_END.split(text) if piece and piece.strip()]


def clause_key(clause: str) -> bytes | None:
    """A clause's hash over its lower-cased words (punctuation, spacing and case ignored); None for
    a clause with no word."""
    return _words_key(_words(clause))


def _words(clause: str) -> list[str]:
    return _WORD.findall(clause.lower())


def _words_key(words: list[str]) -> bytes | None:
    """:func:`clause_key` of a clause already cut into its words."""
    if not words:
        return None
    return hashlib.blake2b(" ".join(words).encode(), digest_size=_HASH_BYTES).digest()


# --------------------------------------------------------------------------- sources

#: A source's documents: each a list of texts in reading order (a text, an address, a synset).
Documents = Callable[[], Iterator[list[str]]]


@dataclass(frozen=True)
class CorpusSource:
    """One installed source the default corpus reads, with its licence as the assets page names it."""

    name: str
    licence: str
    documents: Documents


def _brown() -> Iterator[list[str]]:
    texts = brown.read_texts(brown.ASSET.locate())
    for _, text in texts.groupby("group", sort=True):
        yield [" ".join(tokens) for tokens in text.sort_values("line")["tokens"]]


def _moby() -> Iterator[list[str]]:
    novel = moby.ASSET.locate() / "moby-dick" / "data"
    for file in [*sorted(novel.glob("chapter_*.json")), novel / "epilogue.json"]:
        yield json.loads(file.read_text(encoding="utf-8"))["text"].split("\n")


def _sotu() -> Iterator[list[str]]:
    for file in sorted(sotu.ASSET.locate().glob("*.json")):
        yield sotu.sentences(sotu.squash(json.loads(file.read_text(encoding="utf-8"))["text"]))


def _wordnet() -> Iterator[list[str]]:
    for synset in wordnet.read_synsets(wordnet_tasks.ASSET.locate()):
        yield [f"{synset.definition}.", *synset.examples]


SOURCES = (
    CorpusSource("brown", brown.ASSET.licence, _brown),
    CorpusSource("moby-dick", "public domain", _moby),
    CorpusSource("sotu", "public domain (US government works)", _sotu),
    CorpusSource("wordnet", wordnet_tasks.ASSET.licence, _wordnet),
)


# --------------------------------------------------------------------------- held-out text


def held_out_keys(
    names: Iterable[str] | None = None, on_read: Callable[[int, int], None] | None = None
) -> dict[bytes, str]:
    """The clause hashes of every dev and test text of every split version of the catalog data sets
    (all of them by default), each mapped to the first data set it was seen in. A data set whose
    source is not installed is skipped: its text cannot be in a corpus built from what is. ``on_read``
    is told (data sets read so far, of how many) as it goes: a home that has not built them builds them
    here, which takes minutes."""
    keys: dict[bytes, str] = {}
    ordered = sorted(names or DATASETS.names())
    for done, name in enumerate(ordered):
        if on_read is not None:
            on_read(done, len(ordered))
        if catalog.missing_asset(name):
            continue
        for version in range(1, DATASETS.get(name).split_version + 1):
            task = catalog.load(name, split_version=version)
            for split in ("dev", "test"):
                for text in _texts(task.split(split)):
                    for clause in clauses(text):
                        if (key := clause_key(clause)) is not None:
                            keys.setdefault(key, name)
    if on_read is not None:
        on_read(len(ordered), len(ordered))
    return keys


def _texts(frame: pd.DataFrame) -> Iterator[str]:
    """Every text an example shows a model: its text, its pair and, for tagging, its words."""
    for column in ("text", "text_pair"):
        if column in frame:
            yield from (str(value) for value in frame[column] if isinstance(value, str))
    if "tokens" in frame:
        yield from (" ".join(tokens) for tokens in frame["tokens"])


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class CorpusStats:
    """What :func:`write_corpus` wrote and what it took out."""

    documents: int
    clauses: int
    words: int
    dropped: int
    per_source: dict[str, int]


def write_corpus(path: Path, sources: Iterable[CorpusSource] = SOURCES) -> CorpusStats:
    """Write the default corpus to ``path``: one clause a line, a blank line between documents,
    every catalog dev or test clause left out. Written to a temporary name first and renamed, so a
    crash leaves no corpus a later run would trust."""
    held_out = held_out_keys()
    counts = {"documents": 0, "clauses": 0, "words": 0, "dropped": 0}
    per_source: dict[str, int] = {}
    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("w", encoding="utf-8") as out:
        for source in sources:
            before = counts["words"]
            for document in source.documents():
                kept = _kept_clauses(document, held_out, counts)
                if kept:
                    out.write("\n".join(kept) + "\n\n")
                    counts["documents"] += 1
            per_source[source.name] = counts["words"] - before
    partial.replace(path)
    return CorpusStats(**counts, per_source=per_source)


def _kept_clauses(document: list[str], held_out: dict[bytes, str], counts: dict[str, int]) -> list[str]:
    kept = []
    for text in document:
        for clause in clauses(text):
            key = clause_key(clause)
            if key is None:
                continue
            if key in held_out:
                counts["dropped"] += 1
                continue
            kept.append(clause)
            counts["clauses"] += 1
            counts["words"] += len(clause.split())
    return kept


# --------------------------------------------------------------------------- a user's corpus


def read_documents(path: Path) -> list[list[str]]:
    """A corpus file's documents (blank-line separated) as lists of clauses, checked: a missing,
    empty or binary file stops with one line."""
    if not path.is_file():
        raise AutodistillError(f"corpus {str(path)!r} is not a file")
    head = path.read_bytes()[:65536]
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    if b"\x00" in head or controls > _BINARY_SHARE * max(len(head), 1):
        raise AutodistillError(f"corpus {str(path)!r} is binary, not text; give a UTF-8 text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AutodistillError(f"corpus {str(path)!r} is not UTF-8 text (byte {exc.start})") from None
    documents = [clauses(block) for block in re.split(r"\n\s*\n", text)]
    documents = [doc for doc in documents if doc]
    if not documents:
        raise AutodistillError(f"corpus {str(path)!r} holds no text")
    return documents


#: A corpus clause counts as a catalog data set's dev or test text from this many words: shorter ones
#: ("Thank you!", "Subject:", one word of a word list) are in any English text, and contamination checks
#: of pretraining corpora match 8 to 13 words for the same reason.
SENTENCE_WORDS = 8


def overlap(documents: list[list[str]], held_out: dict[bytes, str], min_words: int = SENTENCE_WORDS) -> dict[str, int]:
    """Per catalog data set, how many of the corpus's clauses of ``min_words`` words or more are its dev
    or test text."""
    found: dict[str, int] = {}
    for document in documents:
        for clause in document:
            words = _words(clause)  # cut once: counted, then hashed
            if len(words) < min_words:
                continue
            key = _words_key(words)
            if key is not None and key in held_out:
                found[held_out[key]] = found.get(held_out[key], 0) + 1
    return found


def catalog_text_in(documents: list[list[str]], on_read: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Per catalog data set, the sentences of a corpus that are its dev or test text (:func:`overlap`): a
    student pretrained on them has read what it is scored on there. Empty where the catalog's sources are
    not installed. ``on_read``: as :func:`held_out_keys` takes it."""
    try:
        return overlap(documents, held_out_keys(on_read=on_read))
    except MissingAssetError:
        return {}
