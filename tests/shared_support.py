"""Helpers shared by tests of both packages (``conftest`` names two modules, so it cannot be imported)."""

from __future__ import annotations


def distinct_word(i: int) -> str:
    """A distinct letters-only word per ``i``: a new cache key and a new shape (digits would fold)."""
    letters = ""
    while True:
        i, rest = divmod(i, 26)
        letters += chr(ord("a") + rest)
        if not i:
            return letters
