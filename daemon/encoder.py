"""What tags lines for the pipeline: the :class:`Encoder` protocol and its in-process implementation.

The pipeline hands each batch's decoded lines to an encoder from its tagging
threads and gets back, line by line, the bytes to produce (``inputs.Encoded``) or
why the line gets none (``inputs.Rejection``, a dead letter). Two classes do it:

- :class:`~logdelim.daemon.tagging.TaggingProcess`, the engine in a child process
  (the daemon's default: the event loop and the network each get a core);
- :class:`LocalEncoder`, an engine in this process (``model.tagging_process: false``,
  and the tests that watch an engine from inside).

Both report the engine's identity and cache figures, which the pipeline exports as
metrics after each batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from logdelim.daemon import inputs
from logdelim.daemon.records import Source
from logdelim.model.grouping import StreamGroups


class Encoder(Protocol):
    """Tags batches of lines and encodes their output (records, or enriched events)."""

    @property
    def model_id(self) -> str:
        """The checkpoint's id, written into every record."""

    @property
    def device(self) -> str:
        """Where the network runs (``cpu``, ``cuda:0``)."""

    @property
    def cache_hits(self) -> int:
        """Lines answered from the engine's cache so far."""

    @property
    def cache_misses(self) -> int:
        """Lines the network had to tag so far."""

    @property
    def cache_bytes(self) -> int:
        """Bytes the engine's caches hold now."""

    def encode_messages(
        self,
        lines: Sequence[str],
        sources: Sequence[Source],
        events: Sequence[bytes] | None = None,
        enrich_key: str | None = None,
        input_field: str | None = None,
    ) -> list[inputs.Encoded | inputs.Rejection]:
        """:func:`~logdelim.daemon.inputs.encode_messages` of the lines: one outcome per line, in order."""

    def close(self) -> None:
        """Release what the encoder holds (the tagging process's child)."""


class LocalEncoder:
    """An :class:`Encoder` over an engine in this process: one calling thread at a time.

    Args:
        engine: what :func:`~logdelim.daemon.inputs.tag_messages` calls: ``tag(lines)``,
            ``model_id``, ``device`` and the cache figures (``logdelim.model.engine.Engine``).
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.groups = StreamGroups()  # the records' groups, learnt from the lines this encoder tags

    @property
    def model_id(self) -> str:
        return str(self.engine.model_id)

    @property
    def device(self) -> str:
        return str(self.engine.device)

    @property
    def cache_hits(self) -> int:
        return int(self.engine.cache_hits)

    @property
    def cache_misses(self) -> int:
        return int(self.engine.cache_misses)

    @property
    def cache_bytes(self) -> int:
        return int(self.engine.cache_bytes)

    def encode_messages(
        self,
        lines: Sequence[str],
        sources: Sequence[Source],
        events: Sequence[bytes] | None = None,
        enrich_key: str | None = None,
        input_field: str | None = None,
    ) -> list[inputs.Encoded | inputs.Rejection]:
        return inputs.encode_messages(self.engine, lines, sources, events, enrich_key, input_field, self.groups)

    def close(self) -> None:
        """Nothing to release: the engine lives as long as this process."""
