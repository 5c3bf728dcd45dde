"""The one place that turns per-character labels into token spans and back.

Per ``shared/spec/labels.md``: tokens are the maximal runs of ``O`` characters;
every other character is a delimiter. Offsets are code points, end exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Span(NamedTuple):
    """A token: ``line[start:end] == text``."""

    text: str
    start: int
    end: int


def token_bounds(labels: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every token of a line with this ``O``/``D`` label string."""
    # Splitting at the delimiters is four times faster than a regex's match objects (this
    # runs for every line the network tags).
    bounds = []
    position = 0
    for run in labels.split("D"):
        if run:
            bounds.append((position, position + len(run)))
        position += len(run) + 1
    return bounds


def spans_at(line: str, bounds: Sequence[tuple[int, int]]) -> list[Span]:
    """Spans of ``line`` at precomputed ``token_bounds`` (the engine reuses bounds across equal lines)."""
    # tuple.__new__ skips NamedTuple's argument parsing: half the cost on the hot path.
    new = tuple.__new__
    return [new(Span, (line[start:end], start, end)) for start, end in bounds]


def labels_to_spans(line: str, labels: str) -> list[Span]:
    """Token spans of ``line`` given its ``O``/``D`` label string."""
    if len(labels) != len(line):
        raise ValueError(f"labels has {len(labels)} characters, line has {len(line)}")
    return spans_at(line, token_bounds(labels))


def spans_to_labels(length: int, spans: list[tuple[int, int]] | list[Span]) -> str:
    """The ``O``/``D`` label string of a line of ``length`` characters with these token spans."""
    out = ["D"] * length
    for span in spans:
        start, end = (span.start, span.end) if isinstance(span, Span) else span
        if not 0 <= start < end <= length:
            raise ValueError(f"span ({start}, {end}) outside a line of {length} characters")
        out[start:end] = "O" * (end - start)
    return "".join(out)
