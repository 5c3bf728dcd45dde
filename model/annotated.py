"""Hand-annotated log lines (``.ann``) turned into the spec's labelled examples.

An ``.ann`` file is easier to write and review by hand than labels: one log line
per row, ``program<TAB>annotated line``, where each variable or header-field value
is wrapped in ``⟦`` and ``⟧`` (U+27E6/U+27E7, which never occur in logs). Rows
that are blank or start with ``#`` are comments. The labels follow
``shared/spec/labels.md``: whitespace is ``D``; any other character inside
brackets is ``O``; outside, a character is ``O`` when alphanumeric, else ``D``.
"""
from __future__ import annotations

from pathlib import Path

OPEN = "\u27e6"   # ⟦
CLOSE = "\u27e7"  # ⟧


def parse_annotated(text: str) -> dict:
    """One annotated row ``program<TAB>annotated line`` as ``{"system", "line", "labels"}``.

    Raises:
        ValueError: no tab, or unbalanced / nested brackets.
    """
    program, sep, annotated = text.rstrip("\r\n").partition("\t")
    if not sep:
        raise ValueError("needs 'program<TAB>annotated line'")
    chars: list[str] = []
    labels: list[str] = []
    inside = False
    for position, char in enumerate(annotated):
        if char == OPEN or char == CLOSE:
            if (char == OPEN) == inside:
                raise ValueError(f"unbalanced {char} at column {position + 1}")
            inside = not inside
            continue
        chars.append(char)
        labels.append("D" if char.isspace() else "O" if inside or char.isalnum() else "D")
    if inside:
        raise ValueError(f"unclosed {OPEN}")
    return {"system": program, "line": "".join(chars), "labels": "".join(labels)}


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
