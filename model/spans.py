"""The one place that turns per-character labels into token spans and back.

Per ``shared/spec/labels.md``: tokens are the maximal runs of ``O`` characters;
every other character is a delimiter. Offsets are code points, end exclusive.
"""
from __future__ import annotations

import re
from typing import NamedTuple


class Span(NamedTuple):
    """A token: ``line[start:end] == text``."""

    text: str
    start: int
    end: int


_TOKEN = re.compile("O+")


def labels_to_spans(line: str, labels: str) -> list[Span]:
    """Token spans of ``line`` given its ``O``/``D`` label string."""
    if len(labels) != len(line):
        raise ValueError(f"labels has {len(labels)} characters, line has {len(line)}")
    return [Span(line[m.start():m.end()], m.start(), m.end()) for m in _TOKEN.finditer(labels)]


def spans_to_labels(length: int, spans: list[tuple[int, int]] | list[Span]) -> str:
    """The ``O``/``D`` label string of a line of ``length`` characters with these token spans."""
    out = ["D"] * length
    for span in spans:
        start, end = (span.start, span.end) if isinstance(span, Span) else span
        if not 0 <= start < end <= length:
            raise ValueError(f"span ({start}, {end}) outside a line of {length} characters")
        out[start:end] = "O" * (end - start)
    return "".join(out)
