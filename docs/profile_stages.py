"""Where a saturated daemon's time goes: py-spy samples of its event loop and tagging process, by stage.

Starts the embedded broker, fills a topic with ``--lines`` bench lines (the 22,000
shared lines cycled, as ``logdelim bench`` does), starts a daemon on it (the bench's
``DaemonRun``), records it with py-spy (``pip install py-spy``; idle samples kept,
the tagging process included) until every line is acknowledged, and prints a
Markdown table of the shares per stage. ``--raw FILE`` only summarises an existing
py-spy raw file. The table in ``docs/performance.md`` ("Where the time goes") is
this script's output.

    python docs/profile_stages.py --lines 300000 [--workers 1] [--keep profile.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# (stage, frames any of which puts a sample there): the first stage that matches wins.
Stages = tuple[tuple[str, tuple[str, ...]], ...]
EVENT_LOOP_STAGES: Stages = (
    ("idle (waiting in select)", ("EpollSelector.select",)),
    (
        "producer: record batches, requests, socket writes",
        ("Sender._send_produce_req", "SendProduceReqHandler", "MessageBatch", "BatchBuilder._build"),
    ),
    ("acknowledgements: offsets done, latency histogram", ("Emitter._records_delivered", "Emitter._acknowledged")),
    ("emit: records into per-partition producer batches", ("Emitter.emit", "Emitter._flush", "Emitter._add")),
    ("fetch: consumer records, decode, offsets, micro-batcher", ("Intake.run", "Intake._accept", "getmany")),
    ("tagging stage on the loop (hand-off, results, templates)", ("TagStage.",)),
    ("commits and health", ("Committer.", "PipelineHealth.", "HighWatermarkProbe")),
    ("network reads (fetch and produce responses)", ("_read_ready", "AIOKafkaConnection._read")),
)
TAGGING_STAGES: Stages = (
    ("waiting for a request", ("_ConnectionBase.recv",)),
    ("network (LSTM) on new shapes", ("TileRunner.", "CharTagger.forward", "Engine._compute")),
    ("cache lookups and results", ("Engine.tag",)),
    ("record JSON", ("record_of", "record_value", "_encode")),
    ("reply pickling and pipe", ("_ConnectionBase.send",)),
    ("per-message outcomes (segments, join, Encoded)", ("encode_messages",)),
)
OTHER = "other"
# The tagging process's serving loop (not the metrics server's, whose method is called _serve too).
_TAGGING_MAIN = re.compile(r";_serve \([^)]*tagging\.py:")


def stage_shares(raw_lines: Sequence[str]) -> dict[str, collections.Counter[str]]:
    """Samples per stage of the event loop (main thread) and the tagging processes, from py-spy raw lines."""
    shares: dict[str, collections.Counter[str]] = {
        "event loop": collections.Counter(),
        "tagging process": collections.Counter(),
    }
    for line in raw_lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if _TAGGING_MAIN.search(stack):
            # The tagging process's main thread only: its tile threads' network calls show there as
            # TileRunner frames, and the tile threads' idle samples would swamp the shares.
            part, stages = "tagging process", TAGGING_STAGES
        elif "run_until_complete" in stack:  # the event loop's thread; the daemon's other threads wait or serve HTTP
            part, stages = "event loop", EVENT_LOOP_STAGES
        else:
            continue
        stage = next((name for name, frames in stages if any(f in stack for f in frames)), OTHER)
        shares[part][stage] += int(count)
    return shares


def table(shares: dict[str, collections.Counter[str]]) -> str:
    """A Markdown table: per part, each stage's share of its samples."""
    rows = ["| where | stage | share of samples |", "| --- | --- | --- |"]
    for part, counter in shares.items():
        total = sum(counter.values())
        for stage, count in counter.most_common():
            rows.append(f"| {part} | {stage} | {count / total:.0%} |")
    return "\n".join(rows)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc's CPU times (Linux, as /proc is)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_times() -> list[int]:
    """The machine's CPU time counters (``/proc/stat``: user, nice, system, idle, iowait, irq, softirq, steal...)."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


async def record(lines: int, workers: int, out: Path) -> dict[str, Any]:
    """Profile a daemon saturated on ``lines`` bench lines into ``out``.

    Returns its lines/s and where the CPU went over the run: microseconds per line of the
    daemon's process, of each process below it (tagging processes) and of the broker, and
    the share of the machine's CPU time left idle (a pipeline bound by its hand-offs, not by
    the cores, leaves some).
    """
    from logdelim.model.bench import bench_lines
    from logdelim.tools import bench
    from logdelim.tools.broker import EmbeddedBroker
    from logdelim.tools.daemon_process import descendants

    data = bench.pipeline_lines(bench_lines(None), lines)
    spies: list[subprocess.Popen] = []
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as directory:
        daemon = bench.DaemonRun(
            broker.bootstrap_servers,
            Path(directory),
            model_path=None,
            device="cpu",
            num_threads=None,
            quantize=False,
            workers=workers,
        )

        before: dict[str, Any] = {}

        def spy() -> None:
            assert daemon.daemon is not None
            pids = [daemon.daemon.process.pid, *descendants(daemon.daemon.process.pid)]
            before.update(pids=pids, cpu=[cpu_seconds(p) for p in pids], machine=machine_times())
            assert broker.process is not None
            before["broker"] = cpu_seconds(broker.process.pid)
            command = ["py-spy", "record", "--pid", str(daemon.daemon.process.pid), "--subprocesses", "--idle"]
            command += ["--rate", "200", "--format", "raw", "--nonblocking", "-o", str(out)]
            spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        try:
            saturated = await bench.daemon_saturation(daemon, data, on_ready=spy)
            assert broker.process is not None
            cpu = [cpu_seconds(p) - c for p, c in zip(before["pids"], before["cpu"])]
            broker_cpu = cpu_seconds(broker.process.pid) - before["broker"]
            machine = [after - start for after, start in zip(machine_times(), before["machine"])]
        finally:
            for process in spies:
                process.send_signal(2)  # py-spy writes its file on SIGINT
                process.wait(timeout=30)
            daemon.stop()
    return {
        "daemon_lines_per_s": round(saturated["daemon_lines_per_s"]),
        # The daemon's own process first, then those below it (the multiprocessing resource
        # tracker, at 0, and the tagging processes).
        "cpu_us_per_line": [round(c / lines * 1e6, 1) for c in cpu],
        "broker_cpu_us_per_line": round(broker_cpu / lines * 1e6, 1),
        "machine_idle_share": round(machine[3] / sum(machine), 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--workers", type=int, default=1, help="model.workers of the daemon")
    parser.add_argument("--raw", type=Path, help="summarise this py-spy raw file instead of recording one")
    parser.add_argument("--keep", type=Path, help="where to keep the raw profile")
    args = parser.parse_args(argv)
    raw = args.raw
    if raw is None:
        if shutil.which("py-spy") is None:
            sys.stderr.write("profile_stages: py-spy is not on PATH (pip install py-spy)\n")
            return 2
        raw = args.keep or Path(tempfile.mkdtemp()) / "profile.txt"
        figures = asyncio.run(record(args.lines, args.workers, raw))
        print(json.dumps({"lines": args.lines, "workers": args.workers, **figures}))
    print(table(stage_shares(raw.read_text().splitlines())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
