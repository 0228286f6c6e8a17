"""A bounded, thread-safe store of uploads or jobs under unguessable keys.

Every request names what it works on by key: two browser tabs never share an image or a job,
and nothing is "the current image" on the server. The oldest item goes when the store is full,
so memory stays bounded however many requests come.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from faithcam.serve.errors import NotFound

T = TypeVar("T")


class BoundedStore(Generic[T]):
    """At most ``capacity`` items of one ``kind``; ``on_evict`` sees each item pushed out."""

    def __init__(
        self, capacity: int, kind: str, on_evict: Callable[[T], None] | None = None
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: expected at least 1, got {capacity}")
        self.capacity, self.kind = capacity, kind
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()
        self._on_evict = on_evict

    def add(self, item: T) -> str:
        """Store ``item``; returns its new key (128 random bits, hex)."""
        key = secrets.token_hex(16)
        with self._lock:
            self._items[key] = item
            evicted = [self._items.popitem(last=False)[1] for _ in range(self._excess())]
        for old in evicted:
            if self._on_evict is not None:
                self._on_evict(old)
        return key

    def _excess(self) -> int:
        return max(0, len(self._items) - self.capacity)

    def get(self, key: str) -> T:
        """The item under ``key`` (marked as recently used)."""
        with self._lock:
            if key not in self._items:
                raise NotFound(
                    f"{self.kind} {key[:12]!r} is not on the server (it keeps the last "
                    f"{self.capacity}; older ones are dropped, and a restart drops all): "
                    f"start again from the image"
                )
            self._items.move_to_end(key)
            return self._items[key]

    def values(self) -> list[T]:
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
