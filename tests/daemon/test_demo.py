"""``logdelim demo`` from a clean start: broker, daemon, sample lines, printed records, clean exit."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from logdelim.tools.broker import free_port
from logdelim.tools.demo import sample_lines

pytestmark = pytest.mark.broker


def test_demo_prints_every_sample_record_and_the_metrics_url_then_exits() -> None:
    port = free_port()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "logdelim.daemon.cli", "demo", "--metrics-port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed_s = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"http://127.0.0.1:{port}/metrics" in out
    lines = sample_lines()
    assert len(lines) >= 150
    for line in lines:
        assert f"] {line}\n" in out, f"no record printed for {line!r}"
    assert len(re.findall(r"^\s+\|.+\|$", out, flags=re.M)) == len(lines)
    assert "DEAD LETTER (invalid_utf8)" in out and "DEAD LETTER (control_chars)" in out
    assert f'logdelim_records_produced_total{{topic="demo.tokens"}} {len(lines)}.0' in out
    assert elapsed_s < 60


def test_demo_follow_runs_until_sigint() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "logdelim.daemon.cli", "demo", "--follow", "--metrics-port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        seen = 0
        deadline = time.monotonic() + 60
        while seen < 2 and time.monotonic() < deadline:  # both dead letters come last
            line = process.stdout.readline()
            seen += "DEAD LETTER" in line
        assert seen == 2
        time.sleep(0.5)
        assert process.poll() is None, "--follow keeps running after the sample"
        process.send_signal(signal.SIGINT)
        # Keep reading: records printed after the dead letters must not fill the pipe and block its exit.
        process.communicate(timeout=15)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
