"""``logdelim label``: spec labels for Loghub systems from their structured CSVs.

``../shared`` holds labelled files for 11 Loghub systems; the tagger is also
scored on Loghub systems that are not there (HealthApp, Mac, OpenStack,
Proxifier, Thunderbird). Their corrected 2k samples are published as structured
CSVs (header fields, ``Content``, ``EventTemplate``). This module rebuilds each
line from its system's header format and labels it by ``shared/spec/labels.md``:

1. whitespace is ``D``;
2. characters of a header field's value or of a template variable are ``O``;
3. the constant text of the format and of the template is ``D`` where it is not
   alphanumeric, ``O`` where it is.

A row whose content does not match its template is skipped and counted, never
guessed. The line is rebuilt with the format's literal text, so runs of spaces
that a raw file pads differently come out as the format writes them: the labels
are the same (whitespace is always ``D``), the line may differ in width.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from logdelim.model.synth import CONST, FIELD, VAR, piece_kinds
from logdelim.model.templates import labels_of_kinds

log = logging.getLogger(__name__)

# Header formats of the Loghub 2k samples, as logpai/logparser's benchmark settings give them
# (``<Field>`` placeholders, regex escapes, ``( ... )?`` for optional parts).
FORMATS: dict[str, str] = {
    "Android": r"<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
    "Apache": r"\[<Time>\] \[<Level>\] <Content>",
    "BGL": r"<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "HDFS": r"<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "HPC": r"<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    "Hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "HealthApp": r"<Time>\|<Component>\|<Pid>\|<Content>",
    "Linux": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    "Mac": r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
    "OpenSSH": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
    "OpenStack": r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
    "Proxifier": r"\[<Time>\] <Program> - <Content>",
    "Spark": r"<Date> <Time> <Level> <Component>: <Content>",
    "Thunderbird": r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>",
    "Windows": r"<Date> <Time>, <Level>                  <Component>    <Content>",
    "Zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
}

VARIABLE = "<*>"
_PIECE = re.compile(r"\((?P<group>(?:\\.|[^()])*)\)\?|<(?P<field>\w+)>|\\(?P<escaped>.)|(?P<literal>.)", re.S)
# pandas wrote integer columns holding blanks as floats ("19939.0"); the raw lines say "19939".
_FLOAT_INTEGER = re.compile(r"^(\d+)\.0$")


def _constant_pattern(constant: str) -> str:
    # Loghub's templates write one space where a message may hold several.
    return "(" + r"\s+".join(re.escape(part) for part in re.split(r"\s+", constant)) + ")"


def template_kinds(content: str, template: str) -> str | None:
    """Kinds of ``content`` under its event template (``V`` variables, ``C`` constant text, ``D``
    delimiters), or ``None`` when the template does not match.

    Variables match as little as they can (left to right), as Loghub's parsers align them;
    a run of whitespace in the template's constant text matches any run of whitespace.
    """
    pattern = "(.*?)".join(_constant_pattern(c) for c in template.split(VARIABLE))
    # Some contents keep the space that followed the header's separator (HealthApp's "| text").
    core = content.strip()
    match = re.fullmatch(pattern, core, re.S)
    if match is None:
        return None
    lead = len(content) - len(content.lstrip())
    # Groups alternate: constant, variable, constant, ..., constant.
    kinds = "".join(piece_kinds(text, VAR if number % 2 else CONST) for number, text in enumerate(match.groups()))
    return "D" * lead + kinds + "D" * (len(content) - lead - len(core))


def _field(row: Mapping[str, str], name: str) -> str:
    value = (row.get(name) or "").strip()
    integer = _FLOAT_INTEGER.match(value)
    return integer.group(1) if integer else value


def _render(fmt: str, row: Mapping[str, str], content_kinds: str, optional: bool = False) -> tuple[str, str] | None:
    """``fmt`` filled from ``row``: (text, kinds); ``None`` for an ``optional`` part with a blank field."""
    text, kinds = [], []
    for piece in _PIECE.finditer(fmt):
        if piece["group"] is not None:
            part = _render(piece["group"], row, content_kinds, optional=True)
            if part is not None:
                text.append(part[0])
                kinds.append(part[1])
        elif piece["field"] == "Content":
            text.append(row.get("Content", ""))
            kinds.append(content_kinds)
        elif piece["field"] is not None:
            value = _field(row, piece["field"])
            if optional and not value:
                return None
            text.append(value)
            kinds.append(piece_kinds(value, FIELD))
        else:
            literal = piece["escaped"] if piece["escaped"] is not None else piece["literal"]
            text.append(literal)
            kinds.append(piece_kinds(literal, CONST))
    return "".join(text), "".join(kinds)


def label_row(fmt: str, row: Mapping[str, str]) -> tuple[str, str, str] | None:
    """One structured-CSV row as ``(line, labels, kinds)`` per the spec, or ``None`` when it cannot be labelled.

    The line is stripped of leading and trailing whitespace, as the shared labelled files are.
    """
    content_kinds = template_kinds(row.get("Content", ""), row.get("EventTemplate", ""))
    if content_kinds is None:
        return None
    rendered = _render(fmt, row, content_kinds)
    if rendered is None:  # only an optional part renders to None
        return None
    line, kinds = rendered
    start = len(line) - len(line.lstrip())
    end = len(line.rstrip())
    return line[start:end], labels_of_kinds(kinds[start:end]), kinds[start:end]


def label_csv(system: str, rows: Iterable[Mapping[str, str]], fmt: str | None = None) -> Iterator[dict | int]:
    """Spec examples ``{"system", "line", "labels", "kinds", "event"}`` of structured-CSV rows; yields a
    row's LineId when skipped."""
    fmt = fmt or FORMATS[system]
    for row in rows:
        labelled = label_row(fmt, row)
        if labelled is None:
            yield int(row.get("LineId") or 0)
        else:
            line, labels, kinds = labelled
            yield {"system": system, "line": line, "labels": labels, "kinds": kinds, "event": row.get("EventId", "")}


def write_examples(
    items: Iterable[dict[str, Any] | Any],
    out_path: str | None,
    on_example: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[int, list[Any]]:
    """Write the labelled examples among ``items`` as JSONL to ``out_path`` (stdout when None).

    Returns how many were written and the other items (the rows or lines that could not
    be labelled), in order; ``on_example`` sees each example written.
    """
    out = open(out_path, "w", encoding="utf-8") if out_path else sys.stdout
    written, others = 0, []
    try:
        for item in items:
            if not isinstance(item, dict):
                others.append(item)
                continue
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            written += 1
            if on_example is not None:
                on_example(item)
    finally:
        if out_path:
            out.close()
    return written, others


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim label``."""
    parser.add_argument(
        "csv", nargs="+", help="Loghub structured CSV files (LineId, header fields, Content, EventTemplate)"
    )
    parser.add_argument(
        "--system", required=True, help=f"system name; its header format is known for {', '.join(FORMATS)}"
    )
    parser.add_argument(
        "--format", default=None, help="header format when the system is not known (<Field> placeholders)"
    )
    parser.add_argument("--out", default=None, help="JSONL file to write (default: stdout)")


def run(args: argparse.Namespace) -> int:
    """Writes the labelled JSONL; returns 2 for an unknown system without ``--format``."""
    if args.format is None and args.system not in FORMATS:
        sys.stderr.write(f"logdelim label: no known format for system {args.system!r}; give --format\n")
        return 2

    def rows() -> Iterator[dict | str]:
        for path in args.csv:
            with open(path, newline="", encoding="utf-8") as f:
                for item in label_csv(args.system, csv.DictReader(f), args.format):
                    yield f"{Path(path).name}:{item}" if isinstance(item, int) else item

    written, skipped = write_examples(rows(), args.out)
    log.info(
        "%s: %d lines labelled, %d skipped (content does not match its template)%s",
        args.system,
        written,
        len(skipped),
        f": {', '.join(skipped[:20])}" if skipped else "",
    )
    return 0
