"""What the network sees of a line: its shape, and an id for each character.

Every decimal digit maps to one id, so lines that differ only in their numbers
look identical to the network; ``cache_key`` exploits that for the memo cache.
A delimiter (O/D) tagger sees less still: ``shape`` turns every ASCII letter-digit
run that holds a digit (numbers, hex ids, ``blk_-123``'s digits, ``x86``) into one
``0``. The spec decides those characters (``O``), the length and letters of a
number carry nothing about the punctuation around it, and Loghub's 22,000 lines
shrink from 2,591 distinct digit-folded inputs of 367,000 characters to 1,381
shapes of 160,000: fewer and shorter network runs for the cache to miss.
Characters never seen in training fall back to one of three class ids (letter
or digit, whitespace, other), so any Unicode input is safe and still carries
the information the delimiter rules depend on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from . import charclass

PAD, UNK_ALNUM, UNK_SPACE, UNK_OTHER, DIGIT = range(5)
_RESERVED = 5
_DIGIT_TABLE = str.maketrans("0123456789", "0000000000")
_DIGIT_BYTES = bytes.maketrans(b"0123456789", b"0000000000")


def cache_key(line: str) -> str | bytes:
    """A key that is equal for two lines only when the network sees equal inputs.

    Only ASCII digits are folded (to ``0``); the vocabulary maps them all to one
    id, so equal keys imply equal id sequences and a cache hit is exact. ASCII
    lines get ASCII bytes (``bytes.translate`` is about ten times faster than
    ``str.translate``, and this runs on every line); ``key_text`` turns a key
    back into the line with its digits folded.
    """
    if line.isascii():
        return line.encode("ascii").translate(_DIGIT_BYTES)
    return line.translate(_DIGIT_TABLE)


def key_text(key: str | bytes) -> str:
    """The digit-folded line a ``cache_key`` stands for."""
    return key.decode("ascii") if isinstance(key, bytes) else key


# A run starts after a non-alphanumeric character: tried only there, the pattern does not
# rescan every letter of every word (a third faster on Loghub lines).
_NUMBER_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]*[0-9][A-Za-z0-9]*")


def shape(line: str) -> str:
    """The line as a delimiter tagger sees it: each ASCII letter-digit run holding a digit becomes ``0``.

    Only runs of ASCII letters and digits change, all of which the spec labels
    ``O``, so every other character keeps its order: the i-th punctuation
    character of ``shape(line)`` is the i-th of ``line``. Equal for equal
    ``cache_key``.
    """
    return _NUMBER_RUN.sub("0", line)


def shape_labels(line: str, labels: str) -> str:
    """``labels`` of ``line`` carried over to ``shape(line)`` (a collapsed run keeps its first label, ``O``)."""
    out, position = [], 0
    for match in _NUMBER_RUN.finditer(line):
        out.append(labels[position : match.start() + 1])
        position = match.end()
    out.append(labels[position:])
    return "".join(out)


_UNKNOWN_BY_CLASS = {charclass.ALNUM: UNK_ALNUM, charclass.SPACE: UNK_SPACE, charclass.PUNCT: UNK_OTHER}


def _fallback(char: str) -> int:
    return _UNKNOWN_BY_CLASS[charclass.char_class(char)]


class CharVocab:
    """Maps characters to ids; serialisable as a plain list of characters."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: list[str] = sorted({c for c in chars if c not in "0123456789"})
        self._ids: dict[str, int] = {c: i + _RESERVED for i, c in enumerate(self.chars)}
        self._ids.update({d: DIGIT for d in "0123456789"})
        # Every code point to the character whose ordinal is its id, for encode_array.
        self._table = charclass.TranslateTable(lambda c: chr(self._ids.get(c) or _fallback(c)))

    @classmethod
    def from_lines(cls, lines: Iterable[str], min_count: int = 1) -> CharVocab:
        """Vocabulary of the characters that occur at least ``min_count`` times, plus printable ASCII."""
        counts: dict[str, int] = {}
        for line in lines:
            for char in line:
                counts[char] = counts.get(char, 0) + 1
        ascii_printable = (chr(i) for i in range(32, 127))
        return cls([*ascii_printable, "\t", *(c for c, n in counts.items() if n >= min_count)])

    def __len__(self) -> int:
        return len(self.chars) + _RESERVED

    def encode(self, line: str) -> list[int]:
        """Ids of the characters of ``line``, one per code point."""
        ids = self._ids
        return [ids.get(c) or _fallback(c) for c in line]

    def encode_array(self, line: str) -> np.ndarray:
        """``encode`` as an int64 array: ids as the code points of a ``str.translate``, read back as numbers."""
        mapped = line.translate(self._table)
        if mapped.isascii():  # every id below 128 (an ASCII line, a small vocabulary): a byte each
            return np.frombuffer(mapped.encode("ascii"), dtype=np.uint8).astype(np.int64)
        return np.frombuffer(mapped.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
