"""A bounded in-memory LRU cache with a time-to-live, for query answers (cachetools)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)
V = TypeVar("V")


class ResultCache(Protocol[K_contra, V]):
    """Where answers are kept between calls.

    Keys must identify the data an answer was computed from (e.g. include the table version), so
    a cache never needs invalidating: a stale key is simply never asked for again. Implementations
    are used from the event loop only and need not be thread-safe.
    """

    def get(self, key: K_contra) -> V | None:
        """The value stored under ``key``, or None when absent or expired."""
        ...

    def put(self, key: K_contra, value: V) -> None:
        """Stores ``value``; may drop it (or evict others) to stay within bounds."""
        ...


class TTLResultCache(Generic[K, V]):
    """LRU eviction within a total weight, plus a time-to-live per entry."""

    def __init__(
        self,
        *,
        max_weight: int,
        ttl_seconds: float,
        weigh: Callable[[V], int] = lambda _value: 1,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """Creates an empty cache.

        Args:
            max_weight: Bound on the sum of ``weigh(value)`` over all entries.
            ttl_seconds: How long an entry may be served after it was stored.
            weigh: The weight of one value (e.g. its row count); 1 by default.
            timer: Clock for the TTL (injectable for tests).
        """
        self._max_weight = max_weight
        self._weigh = weigh
        self._entries: TTLCache[K, V] = TTLCache(maxsize=max_weight, ttl=ttl_seconds, timer=timer, getsizeof=weigh)

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        if self._weigh(value) > self._max_weight:
            return  # larger than the whole cache: not worth evicting everything for
        self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)
