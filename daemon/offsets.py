"""At-least-once bookkeeping: which input offsets may be committed.

Records of a partition are acknowledged by the broker in any order (output and
dead-letter topics are separate streams), but an offset may be committed only
when every message before it is acknowledged. Each partition therefore keeps its
offsets in fetch order and commits the end of the contiguous acknowledged prefix.
A record that can never be delivered stays unacknowledged, so its partition
commits nothing past it.

Two counts come out of it: *unacknowledged* lines (what a drain waits for) and
*in-flight* lines, fetched but not yet committed. The backpressure bound applies
to the latter, so it bounds both memory and what a crash makes the next owner
process again (the duplicates).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable


class PartitionOffsets:
    """Offsets of one partition between fetch and commit."""

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._acked: set[int] = set()
        self.fetched = 0  # messages registered
        self.unacked = 0  # registered, not yet acknowledged
        self.done = 0  # in the acknowledged prefix
        self.committed_done = 0  # in the prefix when the last commit was taken
        self.next_commit: int | None = None  # offset to commit: one past the acknowledged prefix
        self.last_committed: int | None = None

    def add(self, offset: int) -> None:
        """Register a fetched offset (offsets of a partition arrive in increasing order)."""
        self._order.append(offset)
        self.fetched += 1
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
            self.done += 1
            self.next_commit = done + 1

    @property
    def uncommitted(self) -> int:
        """Fetched and not covered by a commit yet."""
        return self.fetched - self.committed_done


class OffsetTracker:
    """:class:`PartitionOffsets` per partition key (e.g. an aiokafka TopicPartition)."""

    def __init__(self) -> None:
        self._partitions: dict[Hashable, PartitionOffsets] = {}
        self._snapshots: dict[Hashable, tuple[int, int]] = {}

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
        self._snapshots.pop(key, None)

    def _selected(self, keys: Iterable[Hashable] | None) -> list[tuple[Hashable, PartitionOffsets]]:
        if keys is None:
            return list(self._partitions.items())
        return [(k, self._partitions[k]) for k in keys if k in self._partitions]

    @property
    def in_flight(self) -> int:
        """Lines fetched and not yet committed, over all live partitions (the backpressure measure)."""
        return sum(p.uncommitted for p in self._partitions.values())

    def pending(self, keys: Iterable[Hashable] | None = None) -> int:
        """Unacknowledged lines of ``keys`` (all partitions when None)."""
        return sum(p.unacked for _, p in self._selected(keys))

    def to_commit(self, keys: Iterable[Hashable] | None = None) -> dict[Hashable, int]:
        """``{key: offset}`` of partitions whose committable offset moved since the last commit.

        Args:
            keys: restrict to these partition keys, e.g. the current assignment.
        """
        out = {}
        for key, state in self._selected(keys):
            if state.next_commit is not None and state.next_commit != state.last_committed:
                out[key] = state.next_commit
                self._snapshots[key] = (state.next_commit, state.done)
        return out

    def committed(self, offsets: dict[Hashable, int]) -> None:
        """Record that ``offsets`` (from :meth:`to_commit`) were committed."""
        for key, offset in offsets.items():
            state = self._partitions.get(key)
            snapshot = self._snapshots.pop(key, None)
            if state is None or snapshot is None or snapshot[0] != offset:
                continue
            state.last_committed = offset
            state.committed_done = snapshot[1]
