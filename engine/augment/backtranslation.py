"""Back-translation ``bt`` (§3.1): English -> pivot language -> English.

Backends (``bt_model``):

* ``"apertium"`` (offline default): Debian's rule-based Apertium, run as two batched
  subprocesses, ``apertium -u eng-spa`` then ``apertium -u spa-eng`` (one text per
  line, each followed by a sentence-end line so that no text's words leak into the
  next: batched output equals one-text-at-a-time output; several hundred texts a
  second). The paper pivots through German; the only English pair packaged offline
  is Spanish.
* ``"marian"``: Opus-MT Marian models from the Hugging Face hub
  (``Helsinki-NLP/opus-mt-en-<pivot>`` and back), greedy decoding, for users with
  internet.

Both are deterministic: a text back-translates to the same text every epoch (so each
distinct text is translated once per process and remembered), and draw-to-draw
variety comes from stacking ``bt`` with ``ca``/``ra``. ``aug_p`` does not
apply: a translation rewrites the whole text.

A span task's answer must survive the round trip: it is searched in the
back-translated context (exact, then ignoring case); an example whose answer is
not found is dropped and counted, never kept with a stale offset.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from typing import Any

import numpy as np

from engine.augment.base import AUGMENTERS, AugmentSettings, TextItem, TextOperation
from engine.errors import AutodistillError

#: ISO 639-1 pivot code -> Apertium's three-letter code.
APERTIUM_CODES = {"es": "spa", "ca": "cat", "fr": "fra", "pt": "por", "it": "ita", "de": "deu", "eo": "epo"}
MARIAN_BATCH = 16
MEMO_SIZE = 200_000


def _install_hint(pivot: str) -> str:
    code = APERTIUM_CODES.get(pivot, pivot)
    return (
        f"install it with: apt-get install apertium apertium-eng-{code} (or use bt_model='marian' with internet access)"
    )


@cache
def apertium_modes() -> tuple[str, ...]:
    """The translation directions Apertium has installed (``apertium -l``)."""
    if shutil.which("apertium") is None:
        return ()
    listed = subprocess.run(["apertium", "-l"], capture_output=True, text=True, check=False).stdout
    return tuple(sorted(line.strip() for line in listed.splitlines() if line.strip()))


class ApertiumTranslator:
    """eng -> pivot -> eng with Apertium, many texts per subprocess call."""

    def __init__(self, pivot: str) -> None:
        code = APERTIUM_CODES.get(pivot)
        if code is None:
            raise AutodistillError(
                f"bt_pivot {pivot!r} has no Apertium pair here; choose one of: {', '.join(sorted(APERTIUM_CODES))}"
            )
        modes = apertium_modes()
        if not modes:
            raise AutodistillError(
                f"back-translation 'bt' needs Apertium, which is not installed; {_install_hint(pivot)}"
            )
        wanted = (f"eng-{code}", f"{code}-eng")
        missing = [m for m in wanted if m not in modes]
        if missing:
            raise AutodistillError(
                f"back-translation 'bt' needs the Apertium pair {wanted[0]}, which is not installed; "
                f"{_install_hint(pivot)}"
            )
        self.forward, self.backward = wanted

    @staticmethod
    def _call(mode: str, lines: list[str]) -> list[str] | None:
        """Translate one text per line. Apertium's transfer rules may move words across a
        bare line break, so every text is followed by a line holding only ".", a sentence
        end no rule crosses; the output must come back as (translation, ".") pairs."""
        done = subprocess.run(
            ["apertium", "-u", mode], input="".join(f"{line}\n.\n" for line in lines), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise AutodistillError(f"apertium {mode} failed (exit {done.returncode}): {done.stderr.strip()[:200]}")
        out = done.stdout.split("\n")[:-1]
        if len(out) != 2 * len(lines) or any(mark.strip() != "." for mark in out[1::2]):
            return None
        return out[0::2]

    def _run(self, mode: str, lines: list[str]) -> list[str]:
        out = self._call(mode, lines)
        if out is None:  # a text the separator did not survive: translate one at a time
            out = [" ".join(self._call(mode, [line]) or [""]) for line in lines]
        return out

    def __call__(self, texts: list[str]) -> list[str]:
        lines = [" ".join(text.split()) for text in texts]  # a text's own line breaks become spaces
        return [" ".join(line.split()) for line in self._run(self.backward, self._run(self.forward, lines))]


class MarianTranslator:
    """eng -> pivot -> eng with Opus-MT Marian models (needs the Hugging Face hub)."""

    def __init__(self, pivot: str) -> None:
        self.there = self._load(f"Helsinki-NLP/opus-mt-en-{pivot}")
        self.back = self._load(f"Helsinki-NLP/opus-mt-{pivot}-en")

    @staticmethod
    def _load(name: str) -> tuple[Any, Any]:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(name), AutoModelForSeq2SeqLM.from_pretrained(name).eval()
        except (OSError, ValueError) as exc:
            raise AutodistillError(
                f"bt_model='marian' could not load {name} from the Hugging Face hub (offline?): "
                f"{str(exc).splitlines()[0]}; bt_model='apertium' works offline"
            ) from None

    @staticmethod
    def _translate(pair: tuple[Any, Any], texts: list[str]) -> list[str]:
        import torch

        tokenizer, model = pair
        out: list[str] = []
        for start in range(0, len(texts), MARIAN_BATCH):
            batch = tokenizer(texts[start : start + MARIAN_BATCH], return_tensors="pt", padding=True, truncation=True)
            with torch.no_grad():
                generated = model.generate(**batch, num_beams=1, do_sample=False, max_new_tokens=256)
            out.extend(" ".join(t.split()) for t in tokenizer.batch_decode(generated, skip_special_tokens=True))
        return out

    def __call__(self, texts: list[str]) -> list[str]:
        return self._translate(self.back, self._translate(self.there, texts))


@cache
def translator(model: str, pivot: str) -> ApertiumTranslator | MarianTranslator:
    return ApertiumTranslator(pivot) if model == "apertium" else MarianTranslator(pivot)


def locate(answer: str, text: str) -> tuple[int, int] | None:
    """Where ``answer`` is in ``text``: exact match first, then ignoring case."""
    start = text.find(answer)
    if start < 0:
        start = text.lower().find(answer.lower())
    return None if start < 0 or not answer else (start, start + len(answer))


@AUGMENTERS.register("bt")
class BackTranslation(TextOperation):
    """Round-trip translation of every text, batched."""

    name = "bt"
    batch_hint = 256  # a translator subprocess costs about 0.3 s to start: translate many texts per call

    def check(self) -> None:
        translator(self.settings.bt_model, self.settings.bt_pivot)

    def backend(self) -> str:
        if self.settings.bt_model == "apertium":
            code = APERTIUM_CODES.get(self.settings.bt_pivot, self.settings.bt_pivot)
            return f"apertium: eng-{code} | {code}-eng"
        pivot = self.settings.bt_pivot
        return f"marian: Helsinki-NLP/opus-mt-en-{pivot} | Helsinki-NLP/opus-mt-{pivot}-en"

    def __init__(self, settings: AugmentSettings) -> None:
        super().__init__(settings)
        self.memo: dict[str, str] = {}  # deterministic translations: each text is translated once

    def translate(self, texts: list[str]) -> list[str]:
        todo = sorted(set(texts) - self.memo.keys())
        if todo:
            if len(self.memo) + len(todo) > MEMO_SIZE:
                self.memo.clear()
            translated = translator(self.settings.bt_model, self.settings.bt_pivot)(todo)
            self.memo.update(zip(todo, translated, strict=True))
        return [self.memo[t] for t in texts]

    def augment(self, items: list[TextItem], rngs: list[np.random.Generator]) -> list[TextItem | None]:
        if not items:
            return []
        translated = self.translate([i.text for i in items])
        out: list[TextItem | None] = []
        for item, text in zip(items, translated, strict=True):
            if item.span is None:
                out.append(TextItem(text))
                continue
            span = locate(item.protected or "", text)
            out.append(None if span is None else TextItem(text, span))
        return out
