"""A least-recently-used cache bounded in entries and in bytes.

The engine's memo caches grow with every new line a stream brings, and the
memory of an entry grows with its line: a bound in entries alone lets a stream of
long, ever new lines take a process past its memory limit. This cache counts what
its entries hold (the caller says how many bytes each value costs; the cache adds
what its own bookkeeping costs per entry) and evicts the least recently used
entries while either bound is exceeded.

Sizes are given once, when an entry is inserted, so a lookup costs what a dict
lookup costs: nothing is measured on the hot path.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# What the cache itself spends on one entry, beyond the key and value: the OrderedDict's
# index slot and entry (its table grows by doubling and keeps the slots of evicted entries
# until it is rebuilt, so this is an average over its fill), its linked node and fast-node
# pointer, the (value, size) tuple and the size's int. Checked against tracemalloc by
# tests/model/test_lru.py.
ENTRY_OVERHEAD_BYTES = 240


class LRU(Generic[K, V]):
    """A mapping that keeps its most recently used entries within ``max_entries`` and ``max_bytes``.

    Args:
        max_entries: most entries kept (0: none).
        max_bytes: most bytes kept, counting each entry's ``size_bytes`` plus
            ``ENTRY_OVERHEAD_BYTES``; None: bounded by entries only. An entry bigger
            than the whole bound is not kept (rather than evicting everything else).
    """

    __slots__ = ("_data", "_bytes", "max_entries", "max_bytes", "evictions")

    def __init__(self, max_entries: int, max_bytes: int | None = None) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, not {max_entries}")
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0 or None, not {max_bytes}")
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    @property
    def bytes(self) -> int:
        """Bytes the entries now held are estimated to take, the cache's own bookkeeping included."""
        return self._bytes

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or None when absent."""
        entry = self._data.get(key)
        if entry is None:
            return None
        self._data.move_to_end(key)
        return entry[0]

    def get_many(self, keys: Iterable[K]) -> tuple[dict[K, V], list[K]]:
        """The value of each distinct key held (hits become most recent, in order) and the absent keys in order.

        One call per batch rather than one :meth:`get` per line: the engine looks up
        every line of every batch, and a method call per key would cost as much as
        the lookup itself.
        """
        found: dict[K, V] = {}
        missing: list[K] = []
        data = self._data
        lookup, move = data.get, data.move_to_end
        for key in dict.fromkeys(keys):
            entry = lookup(key)
            if entry is None:
                missing.append(key)
            else:
                move(key)
                found[key] = entry[0]
        return found, missing

    def put(self, key: K, value: V, size_bytes: int) -> None:
        """Keep ``value`` under ``key`` as the most recently used entry, then evict down to the bounds.

        Args:
            key: the entry's key.
            value: the value; None cannot be stored (it means absent to :meth:`get`).
            size_bytes: what the key and value take in memory, estimated by the caller
                (the cache adds ``ENTRY_OVERHEAD_BYTES``).
        """
        if value is None:
            raise ValueError("an LRU cannot hold None")
        size = size_bytes + ENTRY_OVERHEAD_BYTES
        data = self._data
        old = data.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        if not self.max_entries or (self.max_bytes is not None and size > self.max_bytes):
            return
        data[key] = (value, size)
        self._bytes += size
        self._evict()

    def clear(self) -> None:
        """Drop every entry."""
        self._data.clear()
        self._bytes = 0

    def _evict(self) -> None:
        """Drop least recently used entries while a bound is exceeded."""
        data = self._data
        max_bytes = self.max_bytes
        while len(data) > self.max_entries or (max_bytes is not None and self._bytes > max_bytes):
            _, (_, size) = data.popitem(last=False)
            self._bytes -= size
            self.evictions += 1
