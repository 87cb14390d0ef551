"""One module per raw source; importing this package registers every catalog data set."""

from engine.data.sources import (
    bbc,
    brown,
    drugs,
    moby,
    simlex,
    sotu,
    spam,
    vader,
    word_lists,
    wordnet_relations,
    wordnet_tasks,
)

__all__ = [
    "bbc",
    "brown",
    "drugs",
    "moby",
    "simlex",
    "sotu",
    "spam",
    "vader",
    "word_lists",
    "wordnet_relations",
    "wordnet_tasks",
]
