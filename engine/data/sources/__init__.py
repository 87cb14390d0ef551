"""One module per raw source; importing this package registers every catalog data set."""

from engine.data.sources import bbc, brown, drugs, sotu, spam, wordnet_tasks

__all__ = ["bbc", "brown", "drugs", "sotu", "spam", "wordnet_tasks"]
