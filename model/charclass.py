"""The spec's character classes (``shared/spec/labels.md``): the one place that says what a
character is before any model sees it.

Every code point is alphanumeric (``a``: ``str.isalnum``), whitespace (``s``:
``str.isspace``) or punctuation (``p``: anything else). Whitespace is always a
delimiter, alphanumerics never are, and punctuation is what the tagger decides.
"""

from __future__ import annotations

from collections.abc import Callable

ALNUM, SPACE, PUNCT = "a", "s", "p"


def char_class(char: str) -> str:
    """``a``, ``s`` or ``p`` for one character."""
    return ALNUM if char.isalnum() else SPACE if char.isspace() else PUNCT


class TranslateTable(dict[int, str]):
    """A ``str.translate`` table filled as code points are first seen, from ``lookup``.

    A translate table runs in C: a batch of joined lines that holds one non-ASCII
    character is mapped at the speed of an ASCII one, instead of a Python call per
    character. Past ``max_entries`` code points, new ones are mapped without being
    remembered (bounded memory whatever the input).
    """

    def __init__(self, lookup: Callable[[str], str], max_entries: int = 65_536) -> None:
        super().__init__({i: lookup(chr(i)) for i in range(128)})
        self._lookup = lookup
        self._max_entries = max_entries

    def __missing__(self, code: int) -> str:
        value = self._lookup(chr(code))
        if len(self) < self._max_entries:
            self[code] = value
        return value


_CLASSES = TranslateTable(char_class)


def class_string(line: str) -> str:
    """:func:`char_class` of every code point of ``line``."""
    return line.translate(_CLASSES)


def is_punctuation(char: str) -> bool:
    """Neither alphanumeric nor whitespace: a character the tagger decides."""
    return char_class(char) == PUNCT
