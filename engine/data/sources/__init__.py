"""One module per raw source; importing this package registers every catalog data set."""

from engine.data.sources import bbc, drugs, sotu, spam, wordnet_tasks

__all__ = ["bbc", "drugs", "sotu", "spam", "wordnet_tasks"]
