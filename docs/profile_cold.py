"""What a tagging process spends per line on a cold stream, stage by stage, without Kafka.

The bench's cold stream (``tools.bench.cold_lines``: synthetic lines, each of a line
shape of its own) fed in the saturated daemon's batch size to what its tagging process
runs, one stage more at a time, each on a fresh engine and fresh stream groups: the
uncached tagger as the bench measures it (``logdelim bench``'s
``tagger_uncached_cold_lines_per_s``), the daemon's cached engine
(``inputs.tag_messages``), then with the stream groups (``inputs.batch_groups``), then
with the records (``inputs.encode_messages``, the tagging process's whole call). Each
row gives lines/s, the share of the uncached rate, CPU microseconds per line and the
cores it kept busy (process CPU time over wall time), the best of ``--rounds``. The
difference between rows is what a stage adds; the cores say how much of it ran on
one core (docs/performance.md, "Where the time goes").

    python docs/profile_cold.py [--lines 20000] [--batch-lines 909] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from logdelim.daemon import inputs
from logdelim.daemon.app import engine_options
from logdelim.daemon.config import ModelConfig
from logdelim.daemon.records import Source
from logdelim.model import bench as model_bench
from logdelim.model.engine import Engine
from logdelim.model.grouping import StreamGroups
from logdelim.tools.bench import DEFAULT_COLD_LINES, cold_lines

# The saturated daemon's mean batch on the bench's cold stream (daemon_cold_mean_batch_lines).
DEFAULT_BATCH_LINES = 909


def _engine(**overrides: Any) -> Engine:
    """A fresh engine with the daemon's default model settings, its kernels built."""
    engine = Engine.load(**(engine_options(ModelConfig()) | overrides))
    engine.warm_up()
    return engine


# A stage: builds its engine (and groups), then returns the call that is timed.
Stage = Callable[[], Callable[[], object]]


def _stages(lines: Sequence[str], batch_lines: int) -> list[tuple[str, Stage]]:
    """(name, run) per row: each run builds its own engine and groups, then is timed on ``lines``."""
    sources = [Source("cold", i % 4, i, 0) for i in range(len(lines))]
    batches = range(0, len(lines), batch_lines)

    def uncached() -> Callable[[], object]:
        engine = _engine(cache_size=0)
        engine.tag(lines[: model_bench.STREAM_CHUNK_LINES])  # as model.bench.bench_tagger warms it
        chunk = model_bench.UNCACHED_CHUNK_LINES
        return lambda: [engine.tag(lines[i : i + chunk]) for i in range(0, len(lines), chunk)]

    def tagged() -> Callable[[], object]:
        engine = _engine()
        return lambda: [inputs.tag_messages(engine, lines[i : i + batch_lines]) for i in batches]

    def grouped() -> Callable[[], object]:
        engine, groups = _engine(), StreamGroups()
        return lambda: [
            inputs.batch_groups(groups, inputs.tag_messages(engine, lines[i : i + batch_lines])) for i in batches
        ]

    def encoded() -> Callable[[], object]:
        engine, groups = _engine(), StreamGroups()
        return lambda: [
            inputs.encode_messages(engine, lines[i : i + batch_lines], sources[i : i + batch_lines], groups=groups)
            for i in batches
        ]

    return [
        ("uncached tagger (the bench's)", uncached),
        ("daemon's engine (tag_messages)", tagged),
        ("+ stream groups (batch_groups)", grouped),
        ("+ records (encode_messages)", encoded),
    ]


def measure(lines: Sequence[str], batch_lines: int, rounds: int) -> list[dict[str, Any]]:
    """Per stage the best of ``rounds``: lines/s, CPU us per line and cores busy."""
    rows: list[dict[str, Any]] = []
    for name, make in _stages(lines, batch_lines):
        best: dict[str, Any] | None = None
        for _ in range(rounds):
            run = make()
            cpu_before, wall_before = os.times(), time.perf_counter()
            run()
            wall_s = time.perf_counter() - wall_before
            cpu_after = os.times()
            cpu_s = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
            row = {
                "stage": name,
                "lines_per_s": len(lines) / wall_s,
                "cpu_us_per_line": cpu_s / len(lines) * 1e6,
                "cores": cpu_s / wall_s,
            }
            if best is None or row["lines_per_s"] > best["lines_per_s"]:
                best = row
        assert best is not None  # rounds >= 1
        rows.append(best)
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of ``measure``'s rows, each beside the first (the uncached tagger)."""
    out = [
        "| stage | lines/s | of the uncached tagger | CPU us per line | cores busy |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        out.append(
            f"| {row['stage']} | {row['lines_per_s']:,.0f} | {row['lines_per_s'] / rows[0]['lines_per_s']:.2f} | "
            f"{row['cpu_us_per_line']:.0f} | {row['cores']:.2f} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=DEFAULT_COLD_LINES, help="cold lines (default: the bench's)")
    parser.add_argument("--batch-lines", type=int, default=DEFAULT_BATCH_LINES, help="lines per tagging call")
    parser.add_argument("--rounds", type=int, default=3, help="runs per stage; the fastest is kept")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.batch_lines < 1 or args.rounds < 1:
        parser.error("--lines, --batch-lines and --rounds must be >= 1")
    print(table(measure(cold_lines(args.lines), args.batch_lines, args.rounds)))


if __name__ == "__main__":
    main()
