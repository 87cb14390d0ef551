"""Punctuation restoration, the token-tagging task that any corpus of edited prose yields.

A passage is given lower-cased and without its punctuation, and each word is tagged with the
mark its writer put after it. The labels are the writers' own punctuation, so nothing is
guessed; a word's tag depends on the clause structure around it, and where two sentences meet
on the words alone, since no capital gives a sentence start away. Sources make their passages
(:mod:`engine.data.sources.brown`, :mod:`engine.data.sources.sotu`) and call :func:`restore`.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.data.schema import TaskSpec, TaskType

#: Restored marks: semicolons and exclamation marks end a clause like a period; colons and dashes
#: break one like a comma. Any other mark (quotes, brackets) is dropped unlabelled.
MARKS = {"?": "question", ".": "period", "!": "period", ";": "period", ",": "comma", ":": "comma", "--": "comma"}
#: Strongest first: a word followed by several marks (``. ''``, ``, --``) takes the first of these.
STRENGTH = ("question", "period", "comma", "none")
LABELS = tuple(sorted(STRENGTH))


def spec(name: str, corpus: str) -> TaskSpec:
    """The task on passages of ``corpus`` (a phrase: "two consecutive sentences from ...")."""
    return TaskSpec(
        name=name,
        task_type=TaskType.TOKEN,
        description=(
            f"Restore the punctuation of {corpus}, given lower-cased and without it: tag each word with the "
            "mark that followed it (comma, period, question mark, or none)."
        ),
        label_names=LABELS,
    )


def restore(tokens: Sequence[str], is_mark: Sequence[bool]) -> tuple[list[str], list[str]]:
    """A passage's words without its marks, lower-cased, each labelled with the strongest mark
    between it and the next word (:data:`STRENGTH`); marks before the first word label nothing."""
    words: list[str] = []
    labels: list[str] = []
    for token, mark in zip(tokens, is_mark, strict=True):
        if not mark:
            words.append(token.lower())
            labels.append("none")
        elif labels:
            labels[-1] = min(labels[-1], MARKS.get(token, "none"), key=STRENGTH.index)
    return words, labels
