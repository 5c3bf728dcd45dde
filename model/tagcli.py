"""``logdelim tag``: tag lines from files or stdin, one JSON object per line on stdout.

Each object: ``line``, ``template`` and ``template_id`` (the spec's template of the
line and its stable id; ``shared/spec/labels.md``, "Kinds"), ``group`` and ``group_id``
(the template's group as the lines so far have shown it, ``grouping.StreamGroups``, as
the daemon's records have it), ``tokens`` (``text``,
``start``, ``end``, ``kind``) and ``min_confidence``; ``kinds`` (one ``D``/``F``/``C``/``V``
per character) with ``--kinds``. A checkpoint without a kind head gives null
templates, kinds and token kinds.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from .devices import device_error
from .engine import Engine, default_parallel_tiles
from .grouping import StreamGroups
from .templates import TOKEN_KINDS


def decode_line(raw: bytes) -> tuple[str, bool]:
    """A line's text without its line ending, and whether it was invalid UTF-8 (decoded with U+FFFD)."""
    raw = raw.rstrip(b"\n")
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def _chunks(streams: list[BinaryIO], size: int) -> Iterator[list[tuple[str, bool]]]:
    chunk: list[tuple[str, bool]] = []
    for stream in streams:
        for raw in stream:
            chunk.append(decode_line(raw))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim tag``."""
    parser.add_argument("files", nargs="*", help="log files (stdin when none)")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads per network call (default: 1 with several calls at once)",
    )
    parser.add_argument(
        "--parallel-tiles",
        type=int,
        default=None,
        help="network calls at once (default: one per usable core on the CPU, 1 on a GPU)",
    )
    parser.add_argument("--batch-lines", type=int, default=512, help="lines tagged per call")
    parser.add_argument("--quantize", action="store_true", help="int8 dynamic quantisation (CPU)")
    parser.add_argument(
        "--kinds",
        action="store_true",
        help="also print kinds: D/F/C/V (delimiter, header field, constant, variable) per character",
    )


def record(
    result: Any, kinds: bool, with_kinds: bool = False, grouped: Mapping[tuple[str, str], tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The JSON object ``logdelim tag`` prints for one TagResult.

    Args:
        result: the engine's result for the line.
        kinds: the checkpoint has a kind head (``Engine.has_kinds``); without one, the
            template, its id, the group, the kinds and every token's kind are null.
        with_kinds: add ``kinds``, one ``D``/``F``/``C``/``V`` per character (``--kinds``).
        grouped: the groups of the line's batch (``StreamGroups.group_batch``; None: the group is null).
    """
    line, bounds = result.line, result.bounds
    kind_of: list[str | None] = [None] * len(bounds)
    text: str | None = None
    text_id: str | None = None
    group: str | None = None
    group_id: str | None = None
    if kinds:
        kind_of = [TOKEN_KINDS[letter] for letter in result.token_kinds]
        text, text_id = result.template, result.template_id
        if grouped is not None:
            group, group_id = grouped[text, result.template_fields]
    out: dict[str, Any] = {"line": line}
    if with_kinds:
        out["kinds"] = result.kinds if kinds else None
    out["template"] = text
    out["template_id"] = text_id
    out["group"] = group
    out["group_id"] = group_id
    out["tokens"] = [
        {"text": t.text, "start": t.start, "end": t.end, "kind": kind} for t, kind in zip(result.tokens, kind_of)
    ]
    out["min_confidence"] = round(result.min_confidence, 4)
    return out


def _fail(message: str) -> int:
    sys.stderr.write(f"logdelim tag: {message}\n")
    return 2


def _open_inputs(paths: list[str]) -> list[BinaryIO]:
    """Every input opened for reading (stdin when none), so that a missing file is reported before
    the model loads and before anything is printed.

    Raises:
        OSError: a file cannot be opened; the ones opened before it are closed.
    """
    streams: list[BinaryIO] = []
    try:
        for path in paths:
            streams.append(open(path, "rb"))  # noqa: SIM115 - closed by run()
    except OSError:
        for stream in streams:
            stream.close()
        raise
    return streams or [sys.stdin.buffer]


def run(args: argparse.Namespace) -> int:
    """Tag every input line in order; lines are never dropped or merged.

    A missing input or model file and an unusable ``--device`` are user errors: one line
    on stderr and exit 2, before any output.
    """
    problem = device_error(args.device)
    if problem is not None:
        return _fail(problem)
    try:
        streams = _open_inputs(args.files)
    except OSError as exc:
        return _fail(f"cannot read {exc.filename}: {exc.strerror}")
    out = sys.stdout
    try:
        tiles = args.parallel_tiles or default_parallel_tiles(args.device)
        threads = args.threads or (1 if tiles > 1 else None)
        try:
            engine = Engine.load(
                args.model, device=args.device, num_threads=threads, quantize=args.quantize, parallel_tiles=tiles
            )
        except OSError as exc:
            return _fail(f"cannot read the model {args.model or '(shipped)'}: {exc.strerror or exc}")
        except pickle.UnpicklingError:  # torch's message runs to a page about weights_only
            return _fail(f"{args.model} is not a logdelim checkpoint")
        except ValueError as exc:  # a checkpoint of a format this version cannot read
            return _fail(str(exc))
        kinds = engine.has_kinds
        groups = StreamGroups()
        for chunk in _chunks(streams, args.batch_lines):
            results = engine.tag([text for text, _ in chunk])
            grouped = groups.group_batch((r.template, r.template_fields) for r in results) if kinds else None
            for (_, invalid), result in zip(chunk, results):
                obj = record(result, kinds, args.kinds, grouped)
                if invalid:
                    obj["invalid_utf8"] = True
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            out.flush()
    finally:
        for stream in streams:
            if stream is not sys.stdin.buffer:
                stream.close()
    return 0
