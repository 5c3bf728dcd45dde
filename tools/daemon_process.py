"""A ``logdelim run`` subprocess driven from outside: the one runner the bench and the tests share.

Started from a config dict (written as YAML next to its log), it answers what an
operator would ask: the health endpoints, a metric's value, the log, the peak
memory of the daemon and its tagging process, and a stop by signal with the exit
status and how long it took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class DaemonProcess:
    """A running ``logdelim run --config FILE`` with its metrics port and log.

    Use :meth:`launch`; ``config`` is what was written (sections of plain values).
    """

    def __init__(
        self, process: subprocess.Popen, metrics_port: int, log_path: Path, config: dict[str, Any], command: list[str]
    ) -> None:
        self.process = process
        self.metrics_port = metrics_port
        self.log_path = log_path
        self.config = config
        self.command = command

    @classmethod
    def launch(
        cls, config: dict[str, Any], directory: Path, name: str, env: Mapping[str, str] | None = None
    ) -> DaemonProcess:
        """Write ``config`` to ``directory/name.yaml`` and start the daemon (output to ``name.log``).

        ``config["metrics"]["port"]`` must be set (the caller picks a free one).
        """
        import yaml

        config_path = directory / f"{name}.yaml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        log_path = directory / f"{name}.log"
        command = [sys.executable, "-m", "logdelim.daemon.cli", "run", "--config", str(config_path)]
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        return cls(process, int(config["metrics"]["port"]), log_path, config, command)

    @property
    def metrics_url(self) -> str:
        """Base URL of the metrics/health server."""
        return f"http://127.0.0.1:{self.metrics_port}"

    def get(self, path: str, timeout_s: float = 2.0, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
        """HTTP GET on the metrics server: (status, body); status 0 when unreachable.

        Args:
            path: the path and query, e.g. ``/metrics``.
            timeout_s: how long to wait for the answer.
            headers: extra request headers, e.g. ``Cache-Control: no-cache`` for a ``/metrics``
                page rendered now rather than a recent one the server kept.
        """
        request = urllib.request.Request(self.metrics_url + path, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0.0 when none)."""
        from prometheus_client.parser import text_string_to_metric_families

        _, body = self.get("/metrics")
        total = 0.0
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def check_alive(self) -> None:
        """Raise with the log's tail when the daemon has exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.log()}")

    def wait_ready(self, timeout_s: float = 60.0, poll_s: float = 0.1) -> None:
        """Wait until ``/readyz`` answers 200 (consuming with an assignment)."""
        self.wait_for(lambda: self.get("/readyz")[0] == 200, timeout_s, "/readyz 200", poll_s)

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.2) -> None:
        """Poll ``condition`` until true; fail naming ``what`` (with the daemon log) on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            self.check_alive()
            time.sleep(poll_s)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}:\n{self.log()}")

    def peak_rss_mb(self) -> float | None:
        """Peak resident memory so far (``VmHWM``, MiB) of the daemon plus every process below it
        (the tagging process); None once it is gone. Summed peaks: an upper bound of the peak total."""
        peaks = [_peak_rss_mb(pid) for pid in (self.process.pid, *descendants(self.process.pid))]
        if peaks[0] is None:
            return None
        return sum(peak for peak in peaks if peak is not None)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> tuple[int, float]:
        """Send ``sig`` and wait: (exit status, seconds it took); killed after ``timeout_s``."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            status = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        return status, time.monotonic() - started

    def kill(self) -> None:
        """Kill it if it still runs (teardown)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self, chars: int = 8000) -> str:
        """The end of the daemon's combined stdout/stderr."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``: the children of each of its threads, recursively.

    ``/proc/<pid>/task/<tid>/children`` lists the children a thread started, and the
    daemon starts its tagging process from a worker thread, so every thread is read.
    """
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:  # the thread or process is gone
                continue
            found.extend(children)
            todo.extend(children)
    return found


def _peak_rss_mb(pid: int) -> float | None:
    """``VmHWM`` of ``pid`` in MiB; None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            return next((int(t.split()[1]) for t in f if t.startswith("VmHWM:")), 0) / 1024
    except OSError:
        return None
