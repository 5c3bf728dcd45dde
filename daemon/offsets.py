"""At-least-once bookkeeping: which input offsets may be committed.

Records of a partition are acknowledged by the broker in any order (output and
dead-letter topics are separate streams), but an offset may be committed only
when every message before it is acknowledged. Each partition therefore keeps its
offsets in fetch order and commits the end of the contiguous acknowledged prefix.
A record that can never be delivered stays unacknowledged, so its partition
commits nothing past it.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Hashable


class PartitionOffsets:
    """Offsets of one partition between fetch and commit."""

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._acked: set[int] = set()
        self.unacked = 0
        self.next_commit: int | None = None  # offset to commit: first offset not yet done
        self.last_committed: int | None = None

    def add(self, offset: int) -> None:
        """Register a fetched offset (offsets of a partition arrive in increasing order)."""
        self._order.append(offset)
        self.unacked += 1

    def ack(self, offset: int) -> None:
        """Mark ``offset`` delivered and advance the committable prefix."""
        if offset in self._acked:
            return
        self._acked.add(offset)
        self.unacked -= 1
        while self._order and self._order[0] in self._acked:
            done = self._order.popleft()
            self._acked.discard(done)
            self.next_commit = done + 1

    @property
    def oldest_pending(self) -> int | None:
        """The first offset still waiting for its acknowledgement, if any."""
        return self._order[0] if self._order else None


class OffsetTracker:
    """:class:`PartitionOffsets` per partition key (e.g. an aiokafka TopicPartition)."""

    def __init__(self) -> None:
        self._partitions: dict[Hashable, PartitionOffsets] = {}

    def partition(self, key: Hashable) -> PartitionOffsets:
        """The live state of ``key``, created on first use.

        Callers keep the returned object for the acknowledgement, so an ack that
        arrives after :meth:`forget` lands on the dropped state, not on a new one.
        """
        state = self._partitions.get(key)
        if state is None:
            state = self._partitions[key] = PartitionOffsets()
        return state

    def forget(self, key: Hashable) -> None:
        """Drop ``key`` (revoked partition); late acknowledgements for it are ignored."""
        self._partitions.pop(key, None)

    @property
    def in_flight(self) -> int:
        """Lines fetched and not yet acknowledged, over all live partitions."""
        return sum(p.unacked for p in self._partitions.values())

    def to_commit(self, keys: object = None) -> dict[Hashable, int]:
        """``{key: offset}`` of partitions whose committable offset moved since the last commit.

        Args:
            keys: restrict to these partition keys (an iterable), e.g. the current assignment.
        """
        selected = self._partitions.items() if keys is None else (
            (k, self._partitions[k]) for k in keys if k in self._partitions)
        return {k: p.next_commit for k, p in selected
                if p.next_commit is not None and p.next_commit != p.last_committed}

    def committed(self, offsets: dict[Hashable, int]) -> None:
        """Record that ``offsets`` were committed."""
        for key, offset in offsets.items():
            state = self._partitions.get(key)
            if state is not None:
                state.last_committed = offset

    def pending(self, keys: object = None) -> int:
        """Unacknowledged lines of ``keys`` (all partitions when None)."""
        if keys is None:
            return self.in_flight
        return sum(self._partitions[k].unacked for k in keys if k in self._partitions)
