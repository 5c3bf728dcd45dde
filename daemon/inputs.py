"""Input policy: which Kafka message values become a taggable line, and how.

Every message either decodes to a line (which gets a record) or is rejected with
a reason (which sends its original bytes to the dead-letter topic). The policy,
documented for users in docs/operations.md ("Bad input and dead letters"):

- null value (tombstone)                  -> dead letter ``null_value``
- value longer than ``max_line_bytes``    -> dead letter ``too_long``
- not valid UTF-8                         -> dead letter ``invalid_utf8``
- NUL or another C0 control character other than TAB, LF, CR and ESC, or DEL
                                          -> dead letter ``control_chars``
- empty value (or only a line terminator) -> record with ``line == ""`` and no tokens
- several lines in one message            -> one record; the line terminators are
  delimiters and each physical line is tagged on its own, token offsets being
  offsets into the whole message
- one trailing line terminator (``\\n``, ``\\r\\n`` or ``\\r``) is removed first, since
  line shippers append it; everything else is kept verbatim (TAB and ESC included).

JSON events (``input.format: json``): the value is parsed as a JSON object and the
line is the string at ``input.field`` (a dotted path), after the same checks
(control characters, one trailing terminator removed). ``input.max_line_bytes``
bounds the whole event. Not JSON or not an object -> ``not_json``; no such field
-> ``missing_field``; a field that is not a string -> ``field_not_string``.

With a checkpoint that predicts kinds, a message's tokens keep their kinds, its
terminators are ``D`` and its template is the spec's template of the whole
message (``logdelim.model.templates``).

Nothing here knows about Kafka clients; the model is only called through the
engine's ``tag(lines)``: plain values in, plain values out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

import orjson

from logdelim.daemon.records import Source, annotation_value, enriched_value, record_value
from logdelim.model.grouping import StreamGroups
from logdelim.model.templates import template_and_fields
from logdelim.model.templates import template_id as make_template_id

logger = logging.getLogger(__name__)

NULL_VALUE = "null_value"
TOO_LONG = "too_long"
INVALID_UTF8 = "invalid_utf8"
CONTROL_CHARS = "control_chars"
TAGGING_ERROR = "tagging_error"
# JSON events only (input.format json).
NOT_JSON = "not_json"
MISSING_FIELD = "missing_field"
FIELD_NOT_STRING = "field_not_string"
# The fixed label set of logdelim_dead_letters_total{reason}.
DEAD_LETTER_REASONS = (
    NULL_VALUE,
    TOO_LONG,
    INVALID_UTF8,
    CONTROL_CHARS,
    TAGGING_ERROR,
    NOT_JSON,
    MISSING_FIELD,
    FIELD_NOT_STRING,
)

# input.format values, output.mode values and output.key values.
RAW, JSON = "raw", "json"
RECORD, ENRICH = "record", "enrich"
SOURCE_KEY, INPUT_KEY = "source", "input"

# TAB, LF, CR and ESC (ANSI colours) are ordinary in logs; other C0 controls and DEL
# mean a binary or corrupted payload.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
# The same characters as bytes: in UTF-8 they are only ever themselves (every byte of a multi-byte
# sequence is above 0x7f), so a value without them needs no (slower) search of its text.
_FORBIDDEN_BYTES = bytes(c for c in range(0x80) if _FORBIDDEN.match(chr(c)))
_TRAILING_TERMINATOR = re.compile(r"(?:\r\n|\n|\r)\Z")
_TERMINATOR = re.compile(r"\r\n|\n|\r")


class Rejection(NamedTuple):
    """Why a message gets no record: a reason from DEAD_LETTER_REASONS and a human detail."""

    reason: str
    detail: str


def decode(value: bytes | None, max_line_bytes: int) -> str | Rejection:
    """The line a message value carries, or why it carries none."""
    if value is None:
        return Rejection(NULL_VALUE, "null value (tombstone)")
    if len(value) > max_line_bytes:
        return Rejection(TOO_LONG, f"{len(value)} bytes > max_line_bytes {max_line_bytes}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(INVALID_UTF8, f"invalid UTF-8 at byte {exc.start}: {exc.reason}")
    bad = _FORBIDDEN.search(text) if len(value.translate(None, _FORBIDDEN_BYTES)) != len(value) else None
    if bad:
        return Rejection(CONTROL_CHARS, f"control character U+{ord(bad.group()):04X} at {bad.start()}")
    # The regex only for the few lines that end in a terminator: decoding runs per message.
    return _TRAILING_TERMINATOR.sub("", text, count=1) if text.endswith(("\n", "\r")) else text


def decode_event(
    value: bytes | None, max_line_bytes: int, path: Sequence[str]
) -> tuple[str, dict[str, Any]] | Rejection:
    """The line a JSON event carries at ``path`` (``input.field`` split at its dots) and the
    parsed event, or why it carries none.

    The line passes the checks of :func:`decode` (control characters, one trailing
    terminator removed: Docker's JSON logs end every ``log`` with one). The event is
    returned for :func:`enrichable`.
    """
    if value is None:
        return Rejection(NULL_VALUE, "null value (tombstone)")
    if len(value) > max_line_bytes:
        return Rejection(TOO_LONG, f"{len(value)} bytes > max_line_bytes {max_line_bytes}")
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        # orjson rejects invalid UTF-8 too: name it as the raw format does.
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Rejection(INVALID_UTF8, f"invalid UTF-8 at byte {bad.start}: {bad.reason}")
        return Rejection(NOT_JSON, f"not JSON: {exc}")
    if not isinstance(event, dict):
        return Rejection(NOT_JSON, f"a JSON {_json_type(event)}, not an object")
    node: Any = event
    for depth, part in enumerate(path):
        if not isinstance(node, dict) or part not in node:
            missing = ".".join(path[: depth + 1])
            return Rejection(MISSING_FIELD, f"no field {missing!r} (input.field {'.'.join(path)!r})")
        node = node[part]
    if not isinstance(node, str):
        return Rejection(FIELD_NOT_STRING, f"field {'.'.join(path)!r} is a JSON {_json_type(node)}, not a string")
    bad_char = _FORBIDDEN.search(node)
    if bad_char:
        return Rejection(
            CONTROL_CHARS,
            f"control character U+{ord(bad_char.group()):04X} at {bad_char.start()} of field {'.'.join(path)!r}",
        )
    return _TRAILING_TERMINATOR.sub("", node, count=1), event


def enrichable(value: bytes, event: dict[str, Any], enrich_key: str) -> bytes:
    """The event text the annotation is spliced into (``records.enriched_value``): ``value`` as it is,
    or, in the rare event that already has ``enrich_key``, the event encoded again without it.

    Encoded again only then, so a JSON key is never doubled; that copy loses what orjson
    does not keep (integers beyond 64 bits become floats).
    """
    if enrich_key not in event:
        return value
    return orjson.dumps({key: item for key, item in event.items() if key != enrich_key})


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for dead-letter details."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def segments(line: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each non-empty physical line of ``line`` (terminators excluded)."""
    if "\n" not in line and "\r" not in line:  # the common case, several times faster than the regex
        return [(0, len(line))] if line else []
    out = []
    start = 0
    for match in _TERMINATOR.finditer(line):
        if match.start() > start:
            out.append((start, match.start()))
        start = match.end()
    if len(line) > start:
        out.append((start, len(line)))
    return out


class Tagged(NamedTuple):
    """Tagging outcome of one whole message: token ``(start, end)`` offsets into the message.

    ``token_kinds`` (one letter per token, see ``templates.TOKEN_KINDS``), ``template``,
    ``template_id`` and ``template_fields`` (which wildcards are header fields, for grouping)
    are None when the checkpoint has no kind head.
    """

    bounds: Sequence[tuple[int, int]]
    min_confidence: float
    delimiter_confidence: Sequence[float]
    token_kinds: str | None = None
    template: str | None = None
    template_id: str | None = None
    template_fields: str | None = None


def has_kinds(engine: Any) -> bool:
    """Whether ``engine``'s results carry kinds (its network has a kind head)."""
    return bool(getattr(engine, "has_kinds", False))


def _whole(result: Any, kinds: bool) -> Tagged:
    """A message of one line: the engine's result as it is (shared, not copied; its template is cached with it)."""
    if not kinds:
        return Tagged(result.bounds, result.min_confidence, result.delimiter_confidence)
    return Tagged(
        result.bounds,
        result.min_confidence,
        result.delimiter_confidence,
        result.token_kinds,
        result.template,
        result.template_id,
        result.template_fields,
    )


def join(parts: Sequence[tuple[int, int]], results: Sequence[Any], line: str, kinds: bool = False) -> Tagged:
    """Combine the engine's TagResults of ``parts`` (from :func:`segments` of ``line``) into one message result.

    Terminators between parts are delimiters by rule, not by the model, so they
    contribute no confidence, and their kind is ``D``. With ``kinds`` (the checkpoint
    has a kind head) the message gets its tokens' kinds and its template: the spec's
    template of the whole message, whose newlines are whitespace.
    """
    if len(parts) == 1 and parts[0] == (0, len(line)):
        return _whole(results[0], kinds)
    bounds: list[tuple[int, int]] = []
    confidence: list[float] = []
    lowest = 1.0
    for (start, _), result in zip(parts, results):
        # Offsets, not Span objects: the engine shares bounds between equal lines and
        # building spans would cost more than a cache hit.
        if start == 0:
            bounds.extend(result.bounds)
        else:
            bounds.extend((s + start, e + start) for s, e in result.bounds)
        confidence.extend(result.delimiter_confidence)
        lowest = min(lowest, result.min_confidence)
    if not kinds:
        return Tagged(bounds, lowest, confidence)
    letters = "".join(result.token_kinds for result in results)
    text, fields = template_and_fields(line, bounds, letters)
    return Tagged(bounds, lowest, confidence, letters, text, make_template_id(text), fields)


def tag_messages(engine: Any, lines: Sequence[str]) -> list[Tagged | Rejection]:
    """Tag decoded messages the way the daemon does: each physical line on its own.

    One engine call for the batch; when it fails, each message alone, so only the
    message that breaks the model becomes a ``tagging_error`` rejection (the caller
    logs it with its coordinates). Blocking: the daemon runs it in its tagging thread.
    """
    # Most batches are messages of one non-empty physical line each: one look at the whole batch
    # then spares cutting each message into lines and joining their results (parts None).
    joined = "".join(lines)
    parts = None if all(lines) and "\n" not in joined and "\r" not in joined else [segments(x) for x in lines]
    flat = list(lines) if parts is None else [line[s:e] for line, spans in zip(lines, parts) for s, e in spans]
    kinds = has_kinds(engine)
    try:
        results = engine.tag(flat) if flat else []
    except Exception:  # noqa: BLE001 - isolate the message that breaks the model
        logger.exception("tagging a batch of %d lines failed; retrying message by message", len(flat))
        return [_tag_one(engine, line, segments(line), kinds) for line in lines]
    if parts is None:
        return [_whole(result, kinds) for result in results]
    out: list[Tagged | Rejection] = []
    position = 0
    for line, spans in zip(lines, parts):
        out.append(join(spans, results[position : position + len(spans)], line, kinds))
        position += len(spans)
    return out


class Encoded(NamedTuple):
    """A tagged message's output record, ready to send, and what the daemon counts of it."""

    value: bytes
    # The least certain delimiter the network decided (for the confidence histogram); None: none decided.
    min_delimiter_confidence: float | None
    # The record's group_id (for the new-templates metric, counted by the daemon's event loop,
    # not the tagging process: a template that joins a known group is no new event); its
    # template_id without stream groups; None when the checkpoint has no kind head.
    group_id: str | None = None


def record_of(source: Source, line: str, tagged: Tagged, model_id: str, group: tuple[str, str] | None = None) -> bytes:
    """The output record of a tagged message (``records.record_value``): the daemon's and replay's.

    ``group``: its group and the group's id (:func:`batch_groups`); None: no group.
    """
    return record_value(
        source,
        line,
        tagged.bounds,
        model_id,
        tagged.min_confidence,
        tagged.token_kinds,
        tagged.template,
        tagged.template_id,
        group,
    )


def annotation_of(
    source: Source,
    field: str,
    line: str,
    tagged: Tagged,
    model_id: str,
    group: tuple[str, str] | None = None,
) -> bytes:
    """The annotation of a tagged JSON event's line (``records.annotation_value``), for ``output.mode: enrich``."""
    return annotation_value(
        source,
        field,
        line,
        tagged.bounds,
        model_id,
        tagged.min_confidence,
        tagged.token_kinds,
        tagged.template,
        tagged.template_id,
        group,
    )


def batch_groups(groups: StreamGroups | None, outcomes: Sequence[Tagged | Rejection]) -> list[tuple[str, str] | None]:
    """Record a batch's templates in the stream's ``groups``; each outcome's group and group id.

    None for an outcome without a template (a rejection, no kind head), and for all without ``groups``.
    """
    if groups is None:
        return [None] * len(outcomes)
    keys = [
        (o.template, o.template_fields or "") if isinstance(o, Tagged) and o.template is not None else None
        for o in outcomes
    ]
    grouped = groups.group_batch(k for k in keys if k is not None)
    return [None if k is None else grouped[k] for k in keys]


def _counted_id(tagged: Tagged, group: tuple[str, str] | None) -> str | None:
    """What the new-templates metric counts of a message: its group's id, else its template's."""
    return tagged.template_id if group is None else group[1]


def encode_messages(
    engine: Any,
    lines: Sequence[str],
    sources: Sequence[Source],
    events: Sequence[bytes] | None = None,
    enrich_key: str | None = None,
    input_field: str | None = None,
    groups: StreamGroups | None = None,
) -> list[Encoded | Rejection]:
    """:func:`tag_messages`, then each tagged message's output bytes.

    Without ``events``: the output record (:func:`record_of`). With ``events`` (one JSON
    object's text per line, from :func:`enrichable`; ``output.mode: enrich``): that event
    with the annotation (:func:`annotation_of`, naming ``input_field``) under
    ``enrich_key``. The batch's templates go into the stream's ``groups`` (its encoder's),
    and each record carries its group as the stream stands at the batch's end. One function
    for the daemon's tagging thread and its tagging process, so the event loop only sends bytes.
    """
    if events is None:
        model_id = engine.model_id

        def record(source: Source, line: str, tagged: Tagged, group: tuple[str, str] | None) -> bytes:
            return record_of(source, line, tagged, model_id, group)

        return _encode_each(engine, lines, sources, groups, record)
    if enrich_key is None or input_field is None:
        raise ValueError("enriching events needs enrich_key and input_field")
    model_id = engine.model_id
    key = orjson.dumps(enrich_key)

    def enriched(message: tuple[Source, bytes], line: str, tagged: Tagged, group: tuple[str, str] | None) -> bytes:
        source, event = message
        return enriched_value(event, key, annotation_of(source, input_field, line, tagged, model_id, group))

    return _encode_each(engine, lines, zip(sources, events), groups, enriched)


# What encode_messages needs of a message besides its tagging: its source, or its source and event.
_Message = TypeVar("_Message")


def _encode_each(
    engine: Any,
    lines: Sequence[str],
    messages: Iterable[_Message],
    groups: StreamGroups | None,
    value_of: Callable[[_Message, str, Tagged, tuple[str, str] | None], bytes],
) -> list[Encoded | Rejection]:
    """:func:`tag_messages`, then each tagged message's :class:`Encoded`, its bytes from ``value_of``.

    The one loop of :func:`encode_messages`, for records and enriched events alike: they differ
    only in the bytes. ``messages``: one per line, what ``value_of`` needs besides the line, its
    tagging and its group. Rejections pass through as they are.
    """
    out: list[Encoded | Rejection] = []
    outcomes = tag_messages(engine, lines)
    for line, message, outcome, group in zip(lines, messages, outcomes, batch_groups(groups, outcomes)):
        if isinstance(outcome, Rejection):
            out.append(outcome)
            continue
        confidence = outcome.delimiter_confidence
        value = value_of(message, line, outcome, group)
        out.append(Encoded(value, min(confidence) if confidence else None, _counted_id(outcome, group)))
    return out


def _tag_one(engine: Any, line: str, spans: list[tuple[int, int]], kinds: bool) -> Tagged | Rejection:
    try:
        return join(spans, engine.tag([line[s:e] for s, e in spans]), line, kinds)
    except Exception as exc:  # noqa: BLE001 - becomes a dead letter, never a crash
        return Rejection(TAGGING_ERROR, f"{type(exc).__name__}: {exc}"[:500])
