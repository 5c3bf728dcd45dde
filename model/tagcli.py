"""``logdelim tag``: tag lines from files or stdin, one JSON object per line on stdout."""
from __future__ import annotations

import argparse
import json
import sys
from typing import BinaryIO, Iterator

from .engine import Engine, default_parallel_tiles


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
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per network call (default: 1 with several calls at once)")
    parser.add_argument("--parallel-tiles", type=int, default=None,
                        help="network calls at once (default: one per usable core on the CPU, 1 on a GPU)")
    parser.add_argument("--batch-lines", type=int, default=512, help="lines tagged per call")
    parser.add_argument("--quantize", action="store_true", help="int8 dynamic quantisation (CPU)")


def run(args: argparse.Namespace) -> int:
    """Tag every input line in order; lines are never dropped or merged."""
    tiles = args.parallel_tiles or default_parallel_tiles(args.device)
    threads = args.threads or (1 if tiles > 1 else None)
    engine = Engine.load(args.model, device=args.device, num_threads=threads, quantize=args.quantize,
                         parallel_tiles=tiles)
    streams = [open(path, "rb") for path in args.files] or [sys.stdin.buffer]
    out = sys.stdout
    try:
        for chunk in _chunks(streams, args.batch_lines):
            results = engine.tag([text for text, _ in chunk])
            for (_, invalid), result in zip(chunk, results):
                record = {"line": result.line,
                          "tokens": [{"text": t.text, "start": t.start, "end": t.end} for t in result.tokens],
                          "min_confidence": round(result.min_confidence, 4)}
                if invalid:
                    record["invalid_utf8"] = True
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
    finally:
        for stream in streams:
            if stream is not sys.stdin.buffer:
                stream.close()
    return 0
