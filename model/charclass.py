"""The spec's character classes (``shared/spec/labels.md``): the one place that says what a
character is before any model sees it.

Every code point is alphanumeric (``a``: ``str.isalnum``), whitespace (``s``:
``str.isspace``) or punctuation (``p``: anything else). Whitespace is always a
delimiter, alphanumerics never are, and punctuation is what the tagger decides.
"""

from __future__ import annotations

ALNUM, SPACE, PUNCT = "a", "s", "p"


def char_class(char: str) -> str:
    """``a``, ``s`` or ``p`` for one character."""
    return ALNUM if char.isalnum() else SPACE if char.isspace() else PUNCT


_ASCII_CLASS = {i: char_class(chr(i)) for i in range(128)}


def class_string(line: str) -> str:
    """:func:`char_class` of every code point of ``line`` (a table lookup for ASCII)."""
    classes = line.translate(_ASCII_CLASS)
    if not classes.isascii():
        classes = "".join(c if c.isascii() else char_class(c) for c in classes)
    return classes


def is_punctuation(char: str) -> bool:
    """Neither alphanumeric nor whitespace: a character the tagger decides."""
    return char_class(char) == PUNCT
