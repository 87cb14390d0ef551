"""What every elementary augmentation G_j of Algorithm 1 shares.

* :class:`AugmentSettings`: the knobs the operations read (``aug_p``, which MLM or
  translator, mixup's λ distribution), small and picklable so worker processes get
  exactly the main process's settings.
* :class:`TextItem`: one piece of text plus, for a span task's context, the
  character span (the answer) that must come out verbatim. Operations return the
  item rewritten with the span's new position, or ``None`` when they cannot keep
  it (the example is then dropped and counted, never kept with a wrong target).
* Word units: text is cut at whitespace; the words overlapping a protected span
  merge into one *locked* unit that word-level operations never pick, move or split,
  so the answer survives and its new offset is known exactly.
* :data:`AUGMENTERS`: the registry of operation names users type (``ca``, ``ra``,
  ``bt``, ``mixup``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from engine.registry import Registry

OperationKind = Literal["text", "embedding"]


@dataclass(frozen=True)
class AugmentSettings:
    """Settings of the elementary operations (fields of :class:`engine.config.DistillConfig`)."""

    aug_p: float = 0.1
    ca_model: str = "glove"
    bt_model: str = "apertium"
    bt_pivot: str = "es"
    mixup_dist: str = "beta"
    mixup_alpha: float = 0.4


class Operation(ABC):
    """An elementary augmentation operation G_j of Algorithm 1."""

    name: ClassVar[str]
    kind: ClassVar[OperationKind]

    def __init__(self, settings: AugmentSettings) -> None:
        self.settings = settings

    def check(self) -> None:  # noqa: B027 - optional hook: most operations need nothing
        """Raise :class:`~engine.errors.AutodistillError` (one line) if this operation
        cannot run here; called once in the main process before any training."""

    def prepare(self) -> None:
        """Load what the operation needs (vectors, synonyms, models) ahead of its first call."""
        self.check()

    @abstractmethod
    def backend(self) -> str:
        """What actually does the work (recorded in the run, e.g. which CA model)."""


@dataclass(frozen=True)
class TextItem:
    """A text and the character span ``[start, end)`` that must survive verbatim."""

    text: str
    span: tuple[int, int] | None = None

    @property
    def protected(self) -> str | None:
        return None if self.span is None else self.text[self.span[0] : self.span[1]]


class TextOperation(Operation):
    """A text-to-text operation (CA, RA, BT). ``rngs[i]`` is item ``i``'s own generator,
    seeded by (seed, draw, example, position in the stack, side), so the result for an
    item never depends on which other items share the call."""

    kind: ClassVar[OperationKind] = "text"
    #: Texts worth handing over per call (background workers group batches up to this).
    batch_hint: ClassVar[int] = 32

    @abstractmethod
    def augment(self, items: list[TextItem], rngs: list[np.random.Generator]) -> list[TextItem | None]: ...


class EmbeddingOperation(Operation):
    """An operation on the embedded batch (mixup); applied inside the objective."""

    kind: ClassVar[OperationKind] = "embedding"


AUGMENTERS: Registry[type[Operation]] = Registry("augmentation operation")


# --------------------------------------------------------------------------- word units


@dataclass
class Unit:
    """A whitespace-delimited word (with its punctuation), or the locked answer block."""

    text: str
    locked: bool = False

    @property
    def parts(self) -> tuple[str, str, str]:
        """(leading punctuation, word, trailing punctuation)."""
        match = _AFFIXES.match(self.text)
        assert match is not None  # the pattern matches every string
        return match.group(1), match.group(2), match.group(3)

    @property
    def word(self) -> str:
        return self.parts[1]

    def replaced(self, word: str) -> Unit:
        """This unit with its word replaced, keeping punctuation and capitalisation."""
        prefix, old, suffix = self.parts
        return Unit(prefix + match_case(word, old) + suffix)


_AFFIXES = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)
_TOKENS = re.compile(r"\S+")


def match_case(new: str, old: str) -> str:
    """Give ``new`` the capitalisation pattern of ``old`` (ALLCAPS, Capitalised, lower)."""
    if len(old) > 1 and old.isupper():
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def split_units(item: TextItem) -> tuple[list[Unit], int]:
    """Cut ``item`` into units; returns the units and the span's offset in its locked unit."""
    tokens = [(m.start(), m.end()) for m in _TOKENS.finditer(item.text)]
    if item.span is None:
        return [Unit(item.text[s:e]) for s, e in tokens], 0
    a, b = item.span
    before = [Unit(item.text[s:e]) for s, e in tokens if e <= a]
    after = [Unit(item.text[s:e]) for s, e in tokens if s >= b]
    inside = [(s, e) for s, e in tokens if s < b and e > a]
    start = min([a, *(s for s, _ in inside)])
    end = max([b, *(e for _, e in inside)])
    return [*before, Unit(item.text[start:end], locked=True), *after], a - start


def join_units(units: list[Unit], offset: int, original: TextItem) -> TextItem:
    """Join units with single spaces and locate the protected span again."""
    text = " ".join(u.text for u in units)
    if original.span is None:
        return TextItem(text)
    position = 0
    for unit in units:
        if unit.locked:
            break
        position += len(unit.text) + 1
    start = position + offset
    span = (start, start + original.span[1] - original.span[0])
    result = TextItem(text, span)
    assert result.protected == original.protected, "a locked unit was altered"
    return result


def changes_for(n_words: int, aug_p: float) -> int:
    """How many words a word-level operation changes: the share ``aug_p``, at least one
    when ``aug_p > 0`` and there is a word to change."""
    if aug_p <= 0 or n_words == 0:
        return 0
    return max(1, round(aug_p * n_words))


#: Function words that word-level operations leave alone (replacing "the" by a
#: neighbour or synonym makes noise, not a paraphrase).
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves""".split()  # noqa: SIM905 - a word list reads better as text
)


def content_positions(units: list[Unit]) -> list[int]:
    """Indices of unlocked units whose word is alphabetic and not a function word."""
    return [
        i
        for i, unit in enumerate(units)
        if not unit.locked and unit.word.isalpha() and unit.word.lower() not in STOPWORDS
    ]
