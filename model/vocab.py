"""Character vocabulary: which id the network sees for each character.

Every decimal digit maps to one id, so lines that differ only in their numbers
look identical to the network; ``cache_key`` exploits that for the memo cache.
Characters never seen in training fall back to one of three class ids (letter
or digit, whitespace, other), so any Unicode input is safe and still carries
the information the delimiter rules depend on.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

PAD, UNK_ALNUM, UNK_SPACE, UNK_OTHER, DIGIT = range(5)
_RESERVED = 5
_DIGIT_TABLE = str.maketrans("0123456789", "0000000000")


def cache_key(line: str) -> str:
    """A string that is equal for two lines exactly when the network sees equal inputs.

    Only ASCII digits are folded (to ``0``); the vocabulary maps them all to one
    id, so equal keys imply equal id sequences and a cache hit is exact.
    """
    return line.translate(_DIGIT_TABLE)


def _fallback(char: str) -> int:
    if char.isalnum():
        return UNK_ALNUM
    if char.isspace():
        return UNK_SPACE
    return UNK_OTHER


class CharVocab:
    """Maps characters to ids; serialisable as a plain list of characters."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: list[str] = sorted({c for c in chars if c not in "0123456789"})
        self._ids: dict[str, int] = {c: i + _RESERVED for i, c in enumerate(self.chars)}
        self._ids.update({d: DIGIT for d in "0123456789"})
        # Every ASCII code point to the character whose ordinal is its id, for encode_array.
        self._ascii_table = {i: chr(self._ids.get(chr(i)) or _fallback(chr(i))) for i in range(128)}

    @classmethod
    def from_lines(cls, lines: Iterable[str], min_count: int = 1) -> "CharVocab":
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
        """``encode`` as an int64 array; ASCII lines take a ``str.translate`` fast path."""
        if line.isascii() and len(self) <= 256:
            raw = line.translate(self._ascii_table).encode("latin-1")
            return np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
        return np.array(self.encode(line), dtype=np.int64)
