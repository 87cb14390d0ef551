"""User data for token classification: a column of word lists and a column of tag lists.

A JSONL line such as ``{"tokens": ["Paris", "is", "big"], "tags": ["PROPN", "AUX", "ADJ"]}``
(or a Parquet file with list columns, or a CSV whose cells hold JSON lists) is one
sentence. :mod:`engine.data.loaders` finds the columns under their usual names
(``tokens``/``words``, ``tags``/``ner_tags``/``pos_tags``/``upos``) and calls this module to
check them and to number the tags; ``text`` is then the words joined by spaces, as in
the catalog's token sets.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from engine.errors import AutodistillError


def _as_list(value: object) -> list | None:
    """A cell as a Python list: lists, tuples and arrays as they are, a JSON list written as text
    (how CSV stores one) parsed; anything else is None."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return None


def token_rows(part: pd.DataFrame, where: Callable[[object], str]) -> tuple[pd.DataFrame, int]:
    """``text``, ``tokens`` (lists of str) and ``tags`` (lists) of one split, and how many rows had
    no words (dropped). A cell that is not a list, or a row whose tags do not pair up with its
    words, is an error naming the row (``where(row)``)."""
    tokens, tags = part["tokens"].map(_as_list), part["tags"].map(_as_list)
    for row, words, labels in zip(part.index, tokens, tags, strict=True):
        if words is None or labels is None:
            column = "tokens" if words is None else "tags"
            raise AutodistillError(f"the {column} cell of {where(row)} is not a list")
        if len(words) != len(labels):
            raise AutodistillError(f"{where(row)} has {len(words)} words but {len(labels)} tags")
    empty = tokens.str.len() == 0
    words = tokens[~empty].map(lambda row: [str(word) for word in row])
    frame = pd.DataFrame({"text": words.str.join(" "), "tokens": words, "tags": tags[~empty]})
    return frame, int(empty.sum())


def encode_tags(frames: dict[str, pd.DataFrame], origin: str) -> tuple[dict[str, pd.DataFrame], tuple[str, ...]]:
    """Tag names -> ids of the sorted names; integer tags are taken as ids already (names "0", "1", ...)."""
    found = {tag for part in frames.values() for row in part["tags"] for tag in row}
    if not found:
        raise AutodistillError(f"no tagged word in {origin}")
    if all(isinstance(tag, int | np.integer) and not isinstance(tag, bool) for tag in found):
        if min(found) < 0:
            raise AutodistillError(f"tag ids in {origin} must be 0 or more; found {min(found)}")
        names = tuple(str(i) for i in range(int(max(found)) + 1))
        ids = {tag: int(tag) for tag in found}
    else:
        names = tuple(sorted({str(tag) for tag in found}))
        position = {name: i for i, name in enumerate(names)}
        ids = {tag: position[str(tag)] for tag in found}
    encoded = {
        split: part.assign(tags=[[ids[t] for t in row] for row in part["tags"]]) for split, part in frames.items()
    }
    return encoded, names
