"""``logdelim label-logs``: spec labels for raw log lines from the program's own format strings.

A program's formats file (YAML) says how it prints a line: one or more header
formats, each with the message templates its content may take::

    program: nginx
    formats:
      - name: error
        header: '<Date> <Time> \\[<Level>\\] <Pid>#<Tid>: <Content>'
        templates:
          - '*<*> open() "<*>" failed (2: No such file or directory), client: <*>, server: <*>'
          - '<*>'                       # a catch-all is allowed, and is one event
      - name: access
        header: '<Addr> - <User> \\[<Time>\\] "<Method> <Path> <Protocol>" <Status> <Bytes> "<Referer>" "<Agent>"'

Header formats are written as Loghub's (logpai/logparser's benchmark settings):
``<Field>`` is a header field (its characters ``F``), ``<Content>`` the message, a
backslash escapes a character, ``( ... )?`` is an optional part, and a run of spaces
matches any run of whitespace. A format without ``<Content>`` has one event, the
format itself. Templates are Loghub's too: ``<*>`` is a variable (``V``), every other
character constant text (``C``, or ``D`` where it is not alphanumeric).

A line takes the first format whose header matches it whole, and the first of that
format's templates that its content matches (``model.loghub.template_kinds``: variables
as short as they can be, left to right); its event is ``<format>:<template number>``.
A line that no format and template matches is counted and left unlabelled, never
guessed. Labels then follow from kinds by ``shared/spec/labels.md``.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from logdelim.model.loghub import template_kinds, write_examples
from logdelim.model.synth import CONST, FIELD, piece_kinds
from logdelim.model.templates import labels_of_kinds

log = logging.getLogger(__name__)

CONTENT = "Content"
_PIECE = re.compile(
    r"\((?P<group>(?:\\.|[^()])*)\)\?|<(?P<field>\w+)>|\\(?P<escaped>.)|(?P<space>\s+)|(?P<literal>.)", re.S
)


class FormatsError(ValueError):
    """A formats file that cannot be used (the message names the file and the key)."""


@dataclass(frozen=True)
class Format:
    """One header format of a program and the templates of its content."""

    name: str
    header: str
    templates: tuple[str, ...]
    pattern: re.Pattern[str]

    @property
    def has_content(self) -> bool:
        return CONTENT in self.pattern.groupindex


@dataclass(frozen=True)
class Labelled:
    """A line labelled by its program's formats."""

    line: str
    labels: str
    kinds: str
    event: str


def header_pattern(header: str) -> re.Pattern[str]:
    """The regular expression of a header format: fields as short as they can be, the content as long."""
    return re.compile(_header_regex(header), re.S)


def _header_regex(header: str) -> str:
    parts = []
    for piece in _PIECE.finditer(header):
        if piece["group"] is not None:
            parts.append(f"(?:{_header_regex(piece['group'])})?")
        elif piece["field"] is not None:
            name = piece["field"]
            parts.append(f"(?P<{name}>.*)" if name == CONTENT else f"(?P<{name}>.*?)")
        elif piece["space"] is not None:
            parts.append(r"\s+")
        else:
            parts.append(re.escape(piece["escaped"] if piece["escaped"] is not None else piece["literal"]))
    return "".join(parts)


def load_formats(path: str | Path) -> tuple[str, list[Format]]:
    """A formats file's program name and formats, checked (errors name the file and the key)."""
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FormatsError(f"{where}: not YAML: {exc}") from None
    if not isinstance(raw, dict) or set(raw) - {"program", "formats"}:
        raise FormatsError(f"{where}: the keys are 'program' and 'formats'")
    program = raw.get("program")
    if not isinstance(program, str) or not program:
        raise FormatsError(f"{where}: 'program' must be a name")
    entries = raw.get("formats")
    if not isinstance(entries, list) or not entries:
        raise FormatsError(f"{where}: 'formats' must be a list of formats")
    formats, names = [], set()
    for index, entry in enumerate(entries):
        key = f"{where}: formats[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "header", "templates"}:
            raise FormatsError(f"{key}: a format has 'name', 'header' and 'templates'")
        name, header, templates = entry.get("name"), entry.get("header"), entry.get("templates", [])
        if not isinstance(name, str) or not name or name in names:
            raise FormatsError(f"{key}.name: a name of its own is needed")
        names.add(name)
        if not isinstance(header, str) or not header:
            raise FormatsError(f"{key}.header: a header format is needed")
        if not isinstance(templates, list) or not all(isinstance(t, str) and t for t in templates):
            raise FormatsError(f"{key}.templates: a list of templates is needed")
        try:
            pattern = header_pattern(header)
        except re.error as exc:
            raise FormatsError(f"{key}.header: {exc}") from None
        if (CONTENT in pattern.groupindex) != bool(templates):
            raise FormatsError(f"{key}: templates go with a header that has <Content>, and only then")
        formats.append(Format(name, header, tuple(templates), pattern))
    return program, formats


def label_line(formats: Iterable[Format], line: str) -> Labelled | None:
    """``line`` labelled by the first format and template that match it; None when none does."""
    for fmt in formats:
        match = fmt.pattern.fullmatch(line)
        if match is None:
            continue
        if not fmt.has_content:
            return _labelled(line, _kinds(match, ""), f"{fmt.name}:0")
        content = match[CONTENT]
        for number, template in enumerate(fmt.templates, start=1):
            content_kinds = template_kinds(content, template)
            if content_kinds is not None:
                return _labelled(line, _kinds(match, content_kinds), f"{fmt.name}:{number}")
    return None


def _labelled(line: str, kinds: str, event: str) -> Labelled:
    if len(kinds) != len(line):
        raise AssertionError(f"kinds of {line!r} have {len(kinds)} characters")
    return Labelled(line, labels_of_kinds(kinds), kinds, event)


def _kinds(match: re.Match[str], content_kinds: str) -> str:
    """The kinds of a matched line: its fields ``F``, its content ``content_kinds``, the format's literal text between."""
    line, parts, position = match.string, [], 0
    for name, value in match.groupdict().items():  # in the format's order
        if value is None:  # an optional part that is absent
            continue
        start, end = match.span(name)
        parts.append(piece_kinds(line[position:start], CONST))
        parts.append(content_kinds if name == CONTENT else piece_kinds(value, FIELD))
        position = end
    parts.append(piece_kinds(line[position:], CONST))
    return "".join(parts)


def label_lines(program: str, formats: list[Format], lines: Iterable[str]) -> Iterator[dict[str, Any] | str]:
    """Spec examples ``{"system", "line", "labels", "kinds", "event"}`` of raw lines; yields a line
    no format matches as the line itself."""
    for line in lines:
        labelled = label_line(formats, line)
        if labelled is None:
            yield line
        else:
            yield {
                "system": program,
                "line": labelled.line,
                "labels": labelled.labels,
                "kinds": labelled.kinds,
                "event": labelled.event,
            }


def show(example: dict[str, Any]) -> str:
    """A labelled line for review: its tokens between ``|``, each with its kind's letter, and its event."""
    line, kinds = example["line"], example["kinds"]
    tokens = []
    for match in re.finditer(r"[^D]+", kinds):
        kind = match.group()
        letter = kind[0] if len(set(kind)) == 1 else "M"
        tokens.append(f"{line[match.start() : match.end()]}/{letter}")
    return f"{example['event']:>12}  |{'|'.join(tokens)}|"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim label-logs``."""
    parser.add_argument("logs", nargs="+", help="raw log files of the program (one line per line)")
    parser.add_argument("--formats", required=True, help="the program's formats file (YAML; see model/formats.py)")
    parser.add_argument("--out", default=None, help="JSONL file to write (default: stdout)")
    parser.add_argument("--show", action="store_true", help="print each labelled line's tokens and kinds to stderr")


def run(args: argparse.Namespace) -> int:
    """Writes the labelled JSONL and says how many lines matched no template; exit 2 for a bad formats file."""
    try:
        program, formats = load_formats(args.formats)
    except (FormatsError, OSError) as exc:
        sys.stderr.write(f"logdelim label-logs: {exc}\n")
        return 2

    def rows() -> Iterator[dict[str, Any] | str]:
        for path in args.logs:
            yield from label_lines(program, formats, Path(path).read_text(encoding="utf-8").splitlines())

    def review(example: dict[str, Any]) -> None:
        sys.stderr.write(show(example) + "\n")

    written, unmatched = write_examples(rows(), args.out, review if args.show else None)
    log.info("%s: %d lines labelled, %d match no template", program, written, len(unmatched))
    for line in unmatched[:20]:
        log.info("no template: %s", line)
    return 0
