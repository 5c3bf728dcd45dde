"""Rules 4 and 5 of ``shared/spec/labels.md``: terminal escapes and combining marks.

4. An ANSI escape sequence (``ESC [`` ... a final byte, or an OSC sequence) is
   ``D`` from its ``ESC`` to its end: colour is not part of any token.
5. A combining mark takes the label of the character it modifies: a grapheme
   cluster is never split.

Both are applied as a rewrite of what the network sees, one character for one,
so every offset still indexes the original line: an escape sequence becomes
spaces (whitespace is ``D`` by rule 1), a combining mark becomes a copy of the
character it modifies (so it is labelled as that character is).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

# CSI: ESC [ parameter bytes, intermediate bytes, one final byte. OSC: ESC ] text, ended by
# BEL or ESC \ (or by the end of the line, when a log cut it off).
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\|$)")


@functools.cache
def _marks() -> re.Pattern[str]:
    """A character class of every code point of Unicode category M (built once, on first use)."""
    ranges: list[str] = []
    start = None
    for code in range(0x300, sys.maxunicode + 2):
        is_mark = code <= sys.maxunicode and unicodedata.category(chr(code)).startswith("M")
        if is_mark and start is None:
            start = code
        elif not is_mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    return re.compile("[" + "".join(ranges) + "]+")


def needs_rewrite(line: str) -> bool:
    """Whether ``line`` holds an escape sequence or a combining mark (rules 4 and 5 apply)."""
    if "\x1b" in line:
        return _ESCAPE.search(line) is not None or (not line.isascii() and _marks().search(line) is not None)
    return not line.isascii() and _marks().search(line) is not None


def rewrite(line: str) -> str:
    """``line`` as the network sees it under rules 4 and 5, as long as ``line``."""
    line = _ESCAPE.sub(lambda m: " " * len(m.group()), line)
    if line.isascii():
        return line
    # A mark at the start of the line modifies nothing: it stays as it is.
    return _marks().sub(lambda m: (line[m.start() - 1] if m.start() else m.group()[0]) * len(m.group()), line)
