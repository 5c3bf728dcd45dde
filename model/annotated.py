"""Hand-annotated log lines (``.ann``) turned into the spec's labelled examples.

An ``.ann`` file is easier to write and review by hand than labels: one log line
per row, ``program<TAB>annotated line``, where each template variable's value is
wrapped in ``⟦`` and ``⟧`` (U+27E6/U+27E7) and each header field's value in ``⟬``
and ``⟭`` (U+27EC/U+27ED); none of them occurs in logs. Rows that are blank or
start with ``#`` are comments. Labels and kinds follow ``shared/spec/labels.md``:
whitespace is ``D``; any other character inside brackets is ``O`` (kind ``V`` or
``F``); outside, a character is ``O`` (kind ``C``) when alphanumeric, else ``D``.
Files written before header brackets existed bracket header values as variables:
their templates are the same (a field and a variable both become ``<*>``).
"""

from __future__ import annotations

from pathlib import Path

from .charclass import ALNUM, SPACE, char_class
from .templates import labels_of_kinds

OPEN = "\u27e6"  # ⟦ a variable
CLOSE = "\u27e7"  # ⟧
FIELD_OPEN = "\u27ec"  # ⟬ a header field
FIELD_CLOSE = "\u27ed"  # ⟭
_CLOSING = {OPEN: CLOSE, FIELD_OPEN: FIELD_CLOSE}
_KIND = {OPEN: "V", FIELD_OPEN: "F"}


def parse_annotated(text: str) -> dict:
    """One annotated row ``program<TAB>annotated line`` as ``{"system", "line", "labels", "kinds"}``.

    Raises:
        ValueError: no tab, or unbalanced / nested brackets.
    """
    program, sep, annotated = text.rstrip("\r\n").partition("\t")
    if not sep:
        raise ValueError("needs 'program<TAB>annotated line'")
    chars: list[str] = []
    kinds: list[str] = []
    opened = ""  # the open bracket we are inside, "" outside
    for position, char in enumerate(annotated):
        if char in _CLOSING or char in (CLOSE, FIELD_CLOSE):
            if opened and char == _CLOSING[opened]:
                opened = ""
            elif not opened and char in _CLOSING:
                opened = char
            else:
                raise ValueError(f"unbalanced {char} at column {position + 1}")
            continue
        chars.append(char)
        cls = char_class(char)
        if cls == SPACE:
            kinds.append("D")
        elif opened:
            kinds.append(_KIND[opened])
        else:
            kinds.append("C" if cls == ALNUM else "D")
    if opened:
        raise ValueError(f"unclosed {opened}")
    kind_string = "".join(kinds)
    return {
        "system": program,
        "line": "".join(chars),
        "labels": labels_of_kinds(kind_string),
        "kinds": kind_string,
    }


def load_annotated(path: str | Path) -> list[dict]:
    """Examples of an ``.ann`` file, in file order; errors name the file and line number."""
    examples = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip() or text.startswith("#"):
                continue
            try:
                examples.append(parse_annotated(text))
            except ValueError as error:
                raise ValueError(f"{path}:{number}: {error}") from None
    return examples
