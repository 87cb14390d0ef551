"""How much of each training text a token length keeps, said before training: by ``data show`` and
``recommend`` for a data set, and by a run before its teacher fine-tunes. The default length suits
sentences; a file of reviews or articles trains on their first lines only unless told otherwise.

Light to import: a data set whose texts are nearly all too short to reach the length (each word piece
covers a character at least) is answered without loading a tokenizer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from engine.config import TrainSettings
    from engine.data.schema import TaskData
    from engine.tasks.encoding import EncodedSplit

#: The share of training examples cut at ``max_length`` from which it is said.
CUT_SAID = 0.05
#: Special pieces a tokenizer adds to an example, at most: [CLS] and a [SEP] per text.
SPECIAL_PIECES = 3
#: The columns that hold an example's text (a tagging task's: its words).
TEXT_COLUMNS = ("text", "text_pair", "tokens")


def cut_line(train: EncodedSplit, max_length: int) -> str | None:
    """That many training examples reach ``max_length`` tokens, so lose their ends, and how many span
    examples were left out because their answer lay past it, in one line (None below :data:`CUT_SAID`
    and with none left out)."""
    share = float(np.mean(train.lengths() >= max_length)) if len(train) else 0.0
    said = []
    if share >= CUT_SAID:
        said.append(f"{share:.0%} of the training examples run to {max_length} tokens and lose the rest")
    if train.dropped:
        said.append(f"training examples left out, their answer past token {max_length}: {train.dropped:,}")
    return "; ".join(said) + "; --max-length sets it" if said else None


def length_cut(task: TaskData, teacher: str, settings: TrainSettings) -> str | None:
    """:func:`cut_line` for the training examples a run at ``settings`` trains on (its seeded sample where
    it caps them) as ``teacher``'s tokenizer reads them; the encoding is kept for such a run in this
    process. None at once where too few examples hold enough characters to reach the length for the cut
    to be said (a span example left out past it is then said by the run alone)."""
    from engine.tasks.encoding import limit_examples

    train, max_length = limit_examples(task.train, settings.max_train_examples, settings.seed), settings.max_length
    if np.mean(most_pieces(train) >= max_length) < CUT_SAID:
        return None
    from engine.pipelines import reuse  # the tokenizer and the encoder, only where a text may be cut

    tokenizer = reuse.tokenizer(teacher)
    return cut_line(reuse.encoded(train, task.spec, tokenizer, max_length, train=True, source=task.train), max_length)


def most_pieces(frame: pd.DataFrame) -> np.ndarray:
    """Per example, the most word pieces any tokenizer of word pieces can make of it: its characters
    other than spaces (a piece covers one at least) and :data:`SPECIAL_PIECES`."""
    total = np.full(len(frame), SPECIAL_PIECES)
    for column in (c for c in TEXT_COLUMNS if c in frame):
        total += frame[column].map(_characters).to_numpy(dtype=int)
    return total


def _characters(value: object) -> int:
    """Characters other than spaces in a text, or in a list of words."""
    if isinstance(value, str):
        return len("".join(value.split()))
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return 0
    return sum(len("".join(str(word).split())) for word in value)  # type: ignore[attr-defined]
