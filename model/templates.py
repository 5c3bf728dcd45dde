"""Kinds and templates, as defined in ``shared/spec/labels.md`` (section "Kinds").

A line's kinds string has one character per character of the line: ``D``
delimiter, ``F`` header field, ``C`` constant text, ``V`` variable. From it come
the line's template (what template mining and grouping need), a stable id for
the template, and each token's kind. This is the only module that turns kinds
into templates.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

KINDS = ("F", "C", "V")
"""The kinds a network predicts for a non-delimiter character, in head order."""
WILDCARD = "<*>"
TOKEN_KINDS = {"F": "field", "C": "constant", "V": "variable"}

# Over a per-character class string: ``v`` field or variable, ``s`` whitespace, ``c`` anything else.
_VALUE_RUN = re.compile(r"v+(?:s+v+)*")
_CLASS_OF_KIND = str.maketrans({"F": "v", "V": "v", "C": "c", "D": "c"})


_KINDS_TO_LABELS = str.maketrans("CFV", "OOO")


def labels_of_kinds(kinds: str) -> str:
    """The spec's ``labels`` of a ``kinds`` string: ``D`` stays, every kind of token character is ``O``."""
    return kinds.translate(_KINDS_TO_LABELS)


def _classes(line: str, kinds: str) -> str:
    """``v``/``s``/``c`` per character: whitespace wins over the kind (it is ``D`` by rule 1)."""
    if len(kinds) != len(line):
        raise ValueError(f"kinds has {len(kinds)} characters, line has {len(line)}")
    classes = kinds.translate(_CLASS_OF_KIND)
    # isprintable is False for every whitespace character but the ASCII space (see _spaces).
    if " " in line or not line.isprintable():
        classes = "".join("s" if char.isspace() else cls for char, cls in zip(line, classes))
    return classes


def template(line: str, kinds: str) -> str:
    """The line's template: each maximal run of ``F``/``V`` characters, with the whitespace
    between them, becomes one ``<*>``; every other whitespace run becomes one space.

    Raises:
        ValueError: ``kinds`` is not as long as ``line``.
    """
    classes = _classes(line, kinds)
    out: list[str] = []
    position = 0
    for match in _VALUE_RUN.finditer(classes):
        out.append(_spaces(line[position : match.start()]))
        out.append(WILDCARD)
        position = match.end()
    out.append(_spaces(line[position:]))
    return "".join(out)


def template_of_tokens(line: str, bounds: Sequence[tuple[int, int]], kinds: str) -> str:
    """``template(line, kinds_of_tokens(len(line), bounds, kinds))``, from the tokens alone.

    The engine's path: each token has one kind (``kinds``: one letter per token), so
    walking the tokens is several times cheaper than walking the characters.
    """
    return template_and_fields(line, bounds, kinds)[0]


def template_and_fields(line: str, bounds: Sequence[tuple[int, int]], kinds: str) -> tuple[str, str]:
    """:func:`template_of_tokens`, and one letter per wildcard of it: ``F`` where its run starts
    with a header field (the header's, with whatever value of the message the tagger read into
    the same run after it), else ``V``.

    The template does not tell a header field from a variable (both are ``<*>``); grouping
    does (``grouping.StreamGroups``: a header's format is the whole stream's). One walk of
    the tokens makes both.
    """
    out: list[str] = []
    append = out.append
    fields: list[str] = []
    position = 0
    run = ""  # the <*> last written, that whitespace may extend: its first token's kind, F or V
    for (start, end), kind in zip(bounds, kinds):
        gap = line[position:start]
        if kind == "C" or not (run and gap.isspace()):
            append(_spaces(gap))
            if run:
                fields.append(run)
            run = "" if kind == "C" else "V" if kind == "V" else "F"
            append(WILDCARD if run else line[start:end])
        position = end
    if run:
        fields.append(run)
    append(_spaces(line[position:]))
    return "".join(out), "".join(fields)


_WHITESPACE = re.compile(r"\s+")


def _spaces(text: str) -> str:
    """``text`` with each whitespace run as one space."""
    # isprintable is False for every whitespace character but the ASCII space: the common gaps
    # (" ", ": ", "] [") need no regex, and the commonest is tested first (the engine's templates
    # call this for every gap of every new line).
    if text == " " or (text.isprintable() and "  " not in text):
        return text
    return _WHITESPACE.sub(" ", text)


def kinds_of_tokens(length: int, bounds: Sequence[tuple[int, int]], kinds: str) -> str:
    """The per-character kinds of a line of ``length`` whose tokens at ``bounds`` have ``kinds`` (one
    letter each): ``D`` between tokens."""
    parts, position = [], 0
    for (start, end), kind in zip(bounds, kinds):
        parts.append("D" * (start - position))
        parts.append(kind * (end - start))
        position = end
    parts.append("D" * (length - position))
    return "".join(parts)


def template_id(text: str) -> str:
    """A short id of a template: 16 hex digits of BLAKE2b over its UTF-8 bytes.

    The same template gives the same id in every process, version and machine
    (unlike ``hash()``, which Python salts per process), so ids can be stored,
    joined across replicas and compared between replays.
    """
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def token_kind(kinds: str) -> str:
    """``field``, ``constant`` or ``variable`` when a token's characters share that kind, else ``mixed``."""
    first = kinds[:1]
    if first in TOKEN_KINDS and kinds.count(first) == len(kinds):
        return TOKEN_KINDS[first]
    return "mixed"


def token_kinds(kinds: str, bounds: Sequence[tuple[int, int]]) -> list[str]:
    """The kind of each token at ``bounds`` (``(start, end)`` offsets) of a line with these kinds."""
    return [token_kind(kinds[start:end]) for start, end in bounds]


def content_start(kinds: str) -> int:
    """Where a line's content begins: after its last header-field character and the delimiters after it.

    Grouping baselines (Drain) parse the content, as the Loghub benchmark does; the
    header is what precedes it.
    """
    last_field = kinds.rfind("F")
    if last_field < 0:
        return 0
    position = last_field + 1
    while position < len(kinds) and kinds[position] == "D":
        position += 1
    return position
