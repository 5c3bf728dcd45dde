"""``logdelim bench``: the tagger's speed against its peers, on the same lines, in one run.

Measured, each over the same lines in file order:

- the tagger uncached: an engine with ``cache_size=0`` fed large chunks of
  lines, which it sorts into length-bucketed batches (the throughput of the
  network itself);
- the tagger cached: a fresh engine with its memo cache, fed the lines in file
  order in chunks of ``stream_chunk_lines``, as a stream would arrive (repeated
  line shapes become cache hits);
- Drain3: ``TemplateMiner.add_log_message`` on every line (fresh miner);
  this and the cached tagger alternate ``CACHED_ROUNDS`` times and report medians
  (see :func:`run_bench`);
- a Python regex split on whitespace and the common separators.

Every measurement covers the whole set of lines once unless ``max_seconds``
caps it; a capped measurement reports the rate over the lines it reached (the
``*_lines`` keys say how many). ``logdelim bench`` runs each network call with
the daemon's torch threads (``model.num_threads``, one) unless ``--threads`` says
otherwise, and the tagger figures with one call per usable core at once
(``Engine(parallel_tiles=...)``, ``--parallel-tiles``): on 2 cores two one-thread
calls beat one two-thread call, whose LSTM steps synchronise (see
docs/performance.md, "Why it is fast"). The cached stream is also measured on one
core (the daemon's tagging process), reported beside it.
:func:`run_bench` is reused by the pipeline benchmark.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from logdelim.model.baselines import COMMON_SEPARATORS_SPLIT
from logdelim.model.data import LOGHUB_LABELS_ENV, load_jsonl, loghub_label_files
from logdelim.model.engine import Engine
from logdelim.model.extras import require
from logdelim.model.tagcli import decode_line

# Lines per engine.tag call when measuring the network: enough for the engine's length buckets to fill.
UNCACHED_CHUNK_LINES = 4096
# Lines per engine.tag call on the cached stream: a daemon micro-batch.
STREAM_CHUNK_LINES = 512
# Back-to-back rounds of the cached tagger and Drain3 (about half a second each on 2 cores).
CACHED_ROUNDS = 5
# Stateless measurements this fast (the regex split) are repeated until they have run this long,
# so that timer resolution and one-off hiccups do not decide the figure.
MIN_REPEAT_SECONDS = 0.5


def read_lines(paths: Sequence[str | Path]) -> list[str]:
    """The log lines of the files, in order: labelled JSONL (``.jsonl``) or raw text.

    Raw text is read exactly as ``logdelim tag`` reads it (``tagcli.decode_line``).
    """
    lines: list[str] = []
    for path in paths:
        if str(path).endswith(".jsonl"):
            lines.extend(example["line"] for example in load_jsonl(path))
        else:
            with open(path, "rb") as f:
                lines.extend(decode_line(raw)[0] for raw in f)
    return lines


def bench_lines(data: Sequence[str | Path] | None) -> list[str]:
    """The lines to measure: those of ``data``, else the shared Loghub lines.

    Raises:
        ValueError: when there are no files or they hold no lines.
    """
    paths = list(data or ()) or loghub_label_files()
    if not paths:
        raise ValueError(f"no --data given and no shared Loghub labels found (set ${LOGHUB_LABELS_ENV})")
    try:
        lines = read_lines(paths)
    except OSError as error:
        raise ValueError(f"cannot read {error.filename}: {error.strerror}") from error
    if not lines:
        raise ValueError("the data holds no lines")
    return lines


def _chunks(lines: Sequence[str], size: int) -> list[Sequence[str]]:
    return [lines[i : i + size] for i in range(0, len(lines), size)]


def time_chunks(
    process: Callable[[Sequence[str]], Any],
    chunks: Sequence[Sequence[str]],
    max_seconds: float | None = None,
    min_seconds: float = 0.0,
) -> dict[str, float]:
    """Runs ``process`` on each chunk in order and times it.

    Args:
        process: does the work on one chunk of lines.
        chunks: the lines, chunked.
        max_seconds: stop after the chunk that crosses this much time (None: never).
        min_seconds: repeat the whole pass until this much time has run (for stateless work only).

    Returns:
        ``lines``, ``chars`` processed, ``seconds`` taken, ``lines_per_s`` and ``chars_per_s``.
    """
    n_lines = n_chars = 0
    elapsed = 0.0
    capped = False
    start = time.perf_counter()
    while True:
        for chunk in chunks:
            process(chunk)
            n_lines += len(chunk)
            n_chars += sum(len(line) for line in chunk)
            elapsed = time.perf_counter() - start
            capped = max_seconds is not None and elapsed >= max_seconds
            if capped:
                break
        if capped or elapsed >= min_seconds or not n_lines:
            break
    # The character count is summed inside the timed loop but costs nanoseconds per line.
    return {
        "lines": n_lines,
        "chars": n_chars,
        "seconds": elapsed,
        "lines_per_s": n_lines / elapsed if elapsed else 0.0,
        "chars_per_s": n_chars / elapsed if elapsed else 0.0,
    }


def bench_tagger(
    engine_factory: Callable[[int | None], Engine], lines: Sequence[str], *, max_seconds: float | None = None
) -> dict[str, Any]:
    """Tagger throughput uncached (the network itself), on ``lines`` in file order.

    Args:
        engine_factory: ``cache_size -> Engine`` (called with 0: no cache).
        lines: the lines.
        max_seconds: cap on the measurement (None: one full pass).

    Returns:
        ``tagger_lines_per_s``, ``tagger_chars_per_s``, the lines and seconds, the engine's
        ``model_id`` and ``device``.
    """
    uncached = engine_factory(0)
    # Warm-up: first-call allocations and kernel builds are not throughput (a service does them at start).
    uncached.warm_up()
    uncached.tag(lines[:STREAM_CHUNK_LINES] or [""])
    plain = time_chunks(uncached.tag, _chunks(lines, UNCACHED_CHUNK_LINES), max_seconds)
    return {
        "tagger_lines_per_s": plain["lines_per_s"],
        "tagger_chars_per_s": plain["chars_per_s"],
        "tagger_lines": plain["lines"],
        "tagger_seconds": plain["seconds"],
        "model_id": uncached.model_id,
        "device": uncached.device,
    }


def bench_cached(
    engine_factory: Callable[[int | None], Engine],
    lines: Sequence[str],
    *,
    stream_chunk_lines: int = STREAM_CHUNK_LINES,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """The tagger with its memo cache on ``lines`` in file order, from an empty cache (a fresh engine).

    Returns:
        ``time_chunks``'s figures and the run's ``cache_hit_ratio``.
    """
    engine = engine_factory(None)
    engine.warm_up()
    hits, misses = engine.cache_hits, engine.cache_misses
    cached = time_chunks(engine.tag, _chunks(lines, stream_chunk_lines), max_seconds)
    hits, misses = engine.cache_hits - hits, engine.cache_misses - misses
    return {**cached, "cache_hit_ratio": hits / (hits + misses) if hits + misses else 0.0}


def bench_drain3(lines: Sequence[str], *, max_seconds: float | None = None) -> dict[str, float]:
    """Drain3's ``TemplateMiner.add_log_message`` per line, a fresh miner, default settings.

    Raises:
        MissingExtraError: Drain3 (the bench extra) is not installed.
    """
    # Imported here: Drain3 is in the bench extra, not in the core install.
    miner_class = require("drain3", "bench").TemplateMiner
    config_class = require("drain3.template_miner_config", "bench").TemplateMinerConfig
    # Drain3 logs every new cluster at INFO; that would swamp the output and slow the loop.
    drain_logger = logging.getLogger("drain3")
    level = drain_logger.level
    drain_logger.setLevel(logging.WARNING)
    try:
        # An explicit config: no drain3.ini lookup in the working directory, same settings everywhere.
        miner = miner_class(config=config_class())

        def add(chunk: Sequence[str]) -> None:
            for line in chunk:
                miner.add_log_message(line)

        return time_chunks(add, _chunks(lines, STREAM_CHUNK_LINES), max_seconds)
    finally:
        drain_logger.setLevel(level)


def bench_regex(lines: Sequence[str], *, max_seconds: float | None = None) -> dict[str, float]:
    """``re.split`` on whitespace and the common separators, per line (repeated for a stable figure)."""
    split = COMMON_SEPARATORS_SPLIT.split

    def run(chunk: Sequence[str]) -> None:
        for line in chunk:
            split(line)

    min_seconds = MIN_REPEAT_SECONDS if max_seconds is None else min(MIN_REPEAT_SECONDS, max_seconds)
    return time_chunks(run, _chunks(lines, STREAM_CHUNK_LINES), max_seconds, min_seconds)


def machine_info(device: str) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu_model = next((t.split(":", 1)[1].strip() for t in f if t.startswith("model name")), cpu_model)
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def run_bench(
    engine_factory: Callable[[int | None], Engine],
    lines: Sequence[str],
    *,
    stream_chunk_lines: int = STREAM_CHUNK_LINES,
    max_seconds: float | None = None,
    rounds: int = CACHED_ROUNDS,
    one_core_factory: Callable[[int | None], Engine] | None = None,
) -> dict[str, Any]:
    """All four measurements on ``lines``, with the ratios and the machine.

    The cached tagger and Drain3 run back to back ``rounds`` times (each from empty:
    a fresh engine, a fresh miner). Their headline rates are the medians and their
    ratio the median of the rounds' ratios: this machine's speed drifts by up to
    1.7x from one minute to the next, and a ratio of two runs seconds apart is only
    as good as the pair, so a single pair near 1.0 could fall either side. With
    ``one_core_factory`` each round also runs the cached tagger on engines of that
    factory (the daemon's one core), reported beside the headline.
    """
    result: dict[str, Any] = {
        "lines": len(lines),
        "chars": sum(len(line) for line in lines),
        "stream_chunk_lines": stream_chunk_lines,
        "max_seconds": max_seconds,
    }
    result |= bench_tagger(engine_factory, lines, max_seconds=max_seconds)
    pairs = []
    for _ in range(max(1, rounds)):
        cached = bench_cached(engine_factory, lines, stream_chunk_lines=stream_chunk_lines, max_seconds=max_seconds)
        drain3 = bench_drain3(lines, max_seconds=max_seconds)
        pairs.append(
            {
                "tagger_cached_lines_per_s": cached["lines_per_s"],
                "drain3_lines_per_s": drain3["lines_per_s"],
                "ratio": cached["lines_per_s"] / drain3["lines_per_s"] if drain3["lines_per_s"] else 0.0,
                "cached": cached,
                "drain3": drain3,
            }
        )
        if one_core_factory is not None:
            pairs[-1]["tagger_cached_one_core_lines_per_s"] = bench_cached(
                one_core_factory, lines, stream_chunk_lines=stream_chunk_lines, max_seconds=max_seconds
            )["lines_per_s"]
    cached = median_by(pairs, "tagger_cached_lines_per_s")["cached"]
    drain3 = median_by(pairs, "drain3_lines_per_s")["drain3"]
    regex = bench_regex(lines, max_seconds=max_seconds)
    result |= {
        "tagger_cached_lines_per_s": cached["lines_per_s"],
        "tagger_cached_chars_per_s": cached["chars_per_s"],
        "tagger_cached_lines": cached["lines"],
        "tagger_cached_seconds": cached["seconds"],
        "cache_hit_ratio": cached["cache_hit_ratio"],
        "drain3_lines_per_s": drain3["lines_per_s"],
        "drain3_chars_per_s": drain3["chars_per_s"],
        "drain3_lines": drain3["lines"],
        "drain3_seconds": drain3["seconds"],
        "regex_lines_per_s": regex["lines_per_s"],
        "regex_chars_per_s": regex["chars_per_s"],
        "regex_lines": regex["lines"],
        "regex_seconds": regex["seconds"],
    }
    drain3_rate = result["drain3_lines_per_s"]
    result["tagger_vs_drain3"] = result["tagger_lines_per_s"] / drain3_rate if drain3_rate else 0.0
    result["tagger_cached_vs_drain3"] = median_by(pairs, "ratio")["ratio"]
    if one_core_factory is not None:
        result["tagger_cached_one_core_lines_per_s"] = median_by(pairs, "tagger_cached_one_core_lines_per_s")[
            "tagger_cached_one_core_lines_per_s"
        ]
    result["cached_rounds"] = [
        {
            k: pair[k]
            for k in ("tagger_cached_lines_per_s", "drain3_lines_per_s", "ratio", "tagger_cached_one_core_lines_per_s")
            if k in pair
        }
        for pair in pairs
    ]
    result["machine"] = machine_info(result["device"])
    return result


def median_by(items: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """The item whose ``key`` is the median (the upper one of an even count)."""
    return sorted(items, key=lambda item: item[key])[len(items) // 2]


def format_table(result: dict[str, Any]) -> str:
    """A benchmark result as a text table."""
    drain3_rate = result["drain3_lines_per_s"]
    rows = [
        ("tagger, uncached", "tagger"),
        ("tagger, cached stream", "tagger_cached"),
        ("drain3 add_log_message", "drain3"),
        ("regex split", "regex"),
    ]
    out = [f"{'':24} {'lines':>8} {'seconds':>8} {'lines/s':>10} {'chars/s':>12} {'vs drain3':>9}"]
    for title, key in rows:
        rate = result[f"{key}_lines_per_s"]
        ratio = rate / drain3_rate if drain3_rate else 0.0
        out.append(
            f"{title:24} {result[f'{key}_lines']:>8d} {result[f'{key}_seconds']:>8.2f} "
            f"{rate:>10,.0f} {result[f'{key}_chars_per_s']:>12,.0f} {ratio:>9.2f}"
        )
    machine = result["machine"]
    out.append("")
    if result.get("cached_rounds"):
        rounds = "  ".join(
            f"{r['tagger_cached_lines_per_s']:,.0f} / {r['drain3_lines_per_s']:,.0f} = {r['ratio']:.2f}"
            for r in result["cached_rounds"]
        )
        out.append(
            f"cached tagger / drain3 by round (the table shows the medians, the ratio "
            f"{result['tagger_cached_vs_drain3']:.2f} is the median of the rounds'): {rounds}"
        )
    if result.get("tagger_cached_one_core_lines_per_s"):
        out.append(
            f"cached tagger on one core (the daemon's tagging process), median: "
            f"{result['tagger_cached_one_core_lines_per_s']:,.0f} lines/s "
            f"({result['tagger_cached_one_core_lines_per_s'] / drain3_rate:.2f} x drain3)"
        )
    out.append(
        f"lines: {result['lines']} ({result['chars'] / max(1, result['lines']):.0f} chars each), "
        f"stream chunks of {result['stream_chunk_lines']}, cache hit ratio {result['cache_hit_ratio']:.3f}"
    )
    out.append(
        f"model {result['model_id']} on {machine['device']}; {machine['cpu_cores']} cores "
        f"({machine['cpu_model']}), {result.get('parallel_tiles') or 1} network calls at once of "
        f"{machine['torch_threads']} torch threads each, torch {machine['torch_version']}"
    )
    return "\n".join(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim bench``."""
    parser.add_argument(
        "--data",
        nargs="+",
        metavar="FILE",
        help="raw log text or labelled .jsonl files (default: the shared Loghub lines)",
    )
    parser.add_argument("--model", help="checkpoint to load (default: the shipped model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="cap on each measurement in seconds (default: one full pass over the lines)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="lines per network batch inside the engine (default: the engine's)"
    )
    parser.add_argument(
        "--chunk-lines", type=int, default=STREAM_CHUNK_LINES, help="lines per engine.tag call on the cached stream"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads per network call (default: the daemon's model.num_threads)",
    )
    parser.add_argument(
        "--parallel-tiles",
        type=int,
        default=None,
        help="network calls at once for the tagger figures (default: one per usable core)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--quantize", action="store_true", help="int8 dynamic quantisation (CPU only)")
