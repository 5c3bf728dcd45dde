"""The bytes the daemon writes: output records and dead letters.

Output record (value of a message on ``kafka.output_topic``; JSON Schema in
``record.schema.json``, shipped as package data)::

    {"schema_version": 3,
     "source": {"topic": str, "partition": int, "offset": int, "timestamp_ms": int | null},
     "line": str,
     "template": str | null,        # the spec's template of the line (labels.md, "Kinds")
     "template_id": str | null,     # 16 hex digits, the same for the same template everywhere
     "group": str | null,           # the template's group as this process's stream has shown it so far
     "group_id": str | null,        # the template_id of the group
     "tokens": [{"text": str, "start": int, "end": int,   # line[start:end] == text
                 "kind": "field" | "constant" | "variable" | "mixed" | null}],
     "model": {"id": str},
     "min_confidence": float}

Annotation (``output.mode: enrich``): the input JSON event, byte for byte, with
one key added at its end (``output.enrich_key``, default ``logdelim``) holding the
record without its ``line`` and with ``field``, the dotted path of the tagged
string in the event (token offsets index that string). Its JSON Schema is the
record's with that change (:func:`load_annotation_schema`).

Schema version 2 added ``template``, ``template_id`` and each token's ``kind``;
version 3 ``group`` and ``group_id`` (``logdelim.model.grouping.StreamGroups``: the
group can change as the stream goes on, and replicas learn apart, so ``template_id``
is the stable key). They are null when the checkpoint has no kind
head (it labels delimiters only): the keys are always there, so a consumer
tells "no kinds" from a missing field.

Dead letter (message on ``kafka.dead_letter_topic``): the value is the input's
original bytes, untouched (null stays null); everything else is in headers,
after the input's own headers: ``logdelim.reason``, ``logdelim.detail``,
``logdelim.source.topic``, ``logdelim.source.partition``,
``logdelim.source.offset``, ``logdelim.source.timestamp_ms`` (UTF-8 text).

Both use the message key ``topic:partition:offset`` of the input, so consumers
can deduplicate what at-least-once delivery may repeat (records keep the input's
own key instead with ``output.key: input``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any, NamedTuple

import msgspec

from logdelim.model.templates import TOKEN_KINDS, template_of_tokens
from logdelim.model.templates import template_id as make_template_id

SCHEMA_VERSION = 3
SCHEMA_RESOURCE = "record.schema.json"
DEAD_LETTER_HEADER_PREFIX = "logdelim."

Headers = Sequence[tuple[str, bytes]]


class Source(NamedTuple):
    """Coordinates of an input message, carried from fetch to output."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None


def record_key(source: Source) -> bytes:
    """Message key ``topic:partition:offset`` (deduplication id of the input message)."""
    return f"{source.topic}:{source.partition}:{source.offset}".encode()


def message_source(topic: str, partition: int, offset: int, timestamp_ms: int | None) -> Source:
    """The coordinates of a fetched message; its timestamp only if it has one (the client reports none as -1)."""
    return Source(topic, partition, offset, timestamp_ms if timestamp_ms is not None and timestamp_ms >= 0 else None)


def output_partition(source: Source, partitions: int) -> int | None:
    """Where the output of a message from ``source`` goes on a topic of ``partitions`` partitions.

    The partition of the same number, so the output of an input partition stays in
    its order; None (the producer picks one by key) when the output topic has fewer.
    """
    return source.partition if source.partition < partitions else None


def record_value(
    source: Source,
    line: str,
    bounds: Sequence[tuple[int, int]],
    model_id: str,
    min_confidence: float,
    token_kinds: str | None = None,
    template: str | None = None,
    template_id: str | None = None,
    group: tuple[str, str] | None = None,
) -> bytes:
    """The JSON output record of one tagged line (tokens at ``bounds``: (start, end) offsets), UTF-8 encoded.

    ``token_kinds`` has one letter per token, ``F`` field, ``C`` constant, ``V`` variable
    (``templates.TOKEN_KINDS``), from a checkpoint with a kind head; None when it has none
    (``template``, ``template_id`` and the tokens' ``kind`` are then null). ``template``
    and ``template_id`` are computed from the tokens unless given (the engine keeps them
    with its cached lines). ``group``: the line's group and the group's id, as the stream
    has shown them (``StreamGroups``); None writes nulls.

    Compact JSON, non-ASCII characters as they are. msgspec structs, because encoding is
    most of the tagging process's work on a warm stream: a dict per token built in Python
    cost more than the JSON itself.
    """
    return _encode(
        source, _Record, line, line, bounds, model_id, min_confidence, token_kinds, template, template_id, group
    )


def annotation_value(
    source: Source,
    field: str,
    line: str,
    bounds: Sequence[tuple[int, int]],
    model_id: str,
    min_confidence: float,
    token_kinds: str | None = None,
    template: str | None = None,
    template_id: str | None = None,
    group: tuple[str, str] | None = None,
) -> bytes:
    """The annotation an enriched event gains (``output.mode: enrich``), as JSON bytes.

    What :func:`record_value` holds except ``line``, which is already in the event at
    ``field`` (its dotted path, kept so consumers know which string the token offsets
    index): the event is not repeated inside itself.
    """
    return _encode(
        source, _Annotation, field, line, bounds, model_id, min_confidence, token_kinds, template, template_id, group
    )


class _Source(msgspec.Struct):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None


class _Token(msgspec.Struct):
    text: str
    start: int
    end: int
    kind: str | None


class _Model(msgspec.Struct):
    id: str


def _record_type(name: str, key: str) -> type[msgspec.Struct]:
    """The record (``key`` ``line``) or annotation (``field``) struct: the keys in the schema's order."""
    return msgspec.defstruct(
        name,
        [
            ("schema_version", int),
            ("source", _Source),
            (key, str),
            ("template", str | None),
            ("template_id", str | None),
            ("group", str | None),
            ("group_id", str | None),
            ("tokens", list[_Token]),
            ("model", _Model),
            ("min_confidence", float),
        ],
    )


@functools.lru_cache(maxsize=16)
def _model(model_id: str) -> _Model:
    """The ``model`` of a record: one struct per model, shared by its records (a process has one or two)."""
    return _Model(model_id)


_Record = _record_type("_Record", "line")
_Annotation = _record_type("_Annotation", "field")
_ENCODER = msgspec.json.Encoder()


def _encode(
    source: Source,
    kind: type[msgspec.Struct],
    value: str,
    line: str,
    bounds: Sequence[tuple[int, int]],
    model_id: str,
    min_confidence: float,
    token_kinds: str | None,
    template: str | None,
    template_id: str | None,
    group: tuple[str, str] | None,
) -> bytes:
    """A record (``line``) or an annotation (``field``): the same fields in the same order."""
    if token_kinds is None:
        tokens = [_Token(line[start:end], start, end, None) for start, end in bounds]
    else:
        if template is None:
            template = template_of_tokens(line, bounds, token_kinds)
        if template_id is None:
            template_id = make_template_id(template)
        names = TOKEN_KINDS
        tokens = [_Token(line[start:end], start, end, names[k]) for (start, end), k in zip(bounds, token_kinds)]
    return _ENCODER.encode(
        kind(
            SCHEMA_VERSION,
            _Source(*source),
            value,
            template,
            template_id,
            None if group is None else group[0],
            None if group is None else group[1],
            tokens,
            _model(model_id),
            round(float(min_confidence), 6),
        )
    )


# JSON's whitespace, allowed around the event's closing brace.
_JSON_WHITESPACE = b" \t\r\n"


def enriched_value(event: bytes, key: bytes, annotation: bytes) -> bytes:
    """``event`` (the text of a JSON object without ``key``) with ``key: annotation`` added last.

    Spliced into the bytes instead of parsed and encoded again: the event keeps every
    byte it had (number spellings, escapes, key order, integers beyond 64 bits), and
    no event is re-serialised. ``key`` is the JSON-encoded key (a quoted string).
    """
    head = event.rstrip(_JSON_WHITESPACE)[:-1].rstrip(_JSON_WHITESPACE)  # without its closing brace
    separator = b"" if head.endswith(b"{") else b","  # an empty object gets no comma
    return b"".join((head, separator, key, b":", annotation, b"}"))


# Room left in a dead letter for its headers and the message framing.
DEAD_LETTER_HEADROOM_BYTES = 64 * 1024


def fit_dead_letter(value: bytes | None, detail: str, max_message_bytes: int) -> tuple[bytes | None, str]:
    """A dead letter's value and detail, the value cut to what may be written (and the detail saying so).

    Larger than any message we may write: keep the head, say how much there was.
    """
    limit = max_message_bytes - DEAD_LETTER_HEADROOM_BYTES
    if value is not None and len(value) > limit:
        return value[:limit], f"{detail}; value cut from {len(value)} to {limit} bytes"
    return value, detail


def dead_letter_headers(source: Source, reason: str, detail: str, input_headers: Headers) -> list[tuple[str, bytes]]:
    """Input headers followed by the ``logdelim.*`` headers saying where it came from and why."""
    ours = {
        "reason": reason,
        "detail": detail,
        "source.topic": source.topic,
        "source.partition": str(source.partition),
        "source.offset": str(source.offset),
        "source.timestamp_ms": "" if source.timestamp_ms is None else str(source.timestamp_ms),
    }
    return [*input_headers, *((DEAD_LETTER_HEADER_PREFIX + k, v.encode()) for k, v in ours.items())]


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the output record."""
    text = resources.files("logdelim.daemon").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def load_annotation_schema() -> dict[str, Any]:
    """The JSON Schema of the annotation under ``output.enrich_key`` (the record's: ``field`` for ``line``).

    Derived from the record's schema so the two cannot drift apart.
    """
    schema = load_schema()
    schema["$id"] = schema["$id"].replace("record.schema.json", "annotation.schema.json")
    schema["title"] = "logdelim annotation of an enriched JSON event"
    schema["description"] = (
        "What output.mode enrich adds to the input JSON event under output.enrich_key: "
        "the output record without 'line', plus 'field'. Token offsets are Unicode code "
        "points into the event's string at 'field', end exclusive."
    )
    properties = schema["properties"]
    del properties["line"]
    properties["field"] = {
        "description": "input.field: the dotted path of the tagged string in the event.",
        "type": "string",
        "minLength": 1,
    }
    schema["required"] = ["field" if key == "line" else key for key in schema["required"]]
    return schema
