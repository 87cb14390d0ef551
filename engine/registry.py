"""One small generic registry, reused for losses, mappings, augmenters, data sets...

Components are looked up by the name users type (``"mi"``, ``"emd"``,
``"mixup"``), so adding one is one function or class plus one decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from engine.errors import choices_error

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> component map whose misses say which names exist."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._unlisted: set[str] = set()

    def register(self, name: str, *, listed: bool = True) -> Callable[[T], T]:
        """Decorator: ``@LOSSES.register("mse")``. ``listed=False``: a name kept so that stored runs
        and old configs still read, but not offered to users (help, error messages)."""

        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            if not listed:
                self._unlisted.add(name)
            return item

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise choices_error(self.kind, name, self.listed()) from None

    def names(self) -> list[str]:
        """Every registered name, those kept for old runs included."""
        return list(self._items)

    def listed(self) -> list[str]:
        """The names offered to users."""
        return [name for name in self._items if name not in self._unlisted]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
