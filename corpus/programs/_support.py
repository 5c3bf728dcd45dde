"""What the program drivers share: starting a program, waiting for its port, reading its logs."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path


def wait_for_port(port: int, host: str = "127.0.0.1", timeout_s: float = 30.0) -> None:
    """Return once ``host:port`` accepts TCP connections; TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s:g} s") from None
            time.sleep(0.1)


def start(argv: Sequence[str], log: Path | None = None, **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a program in the foreground of a child process, its stdout and stderr into ``log``."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]


def stop(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s`` (a clean shutdown logs its own lines)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(argv: Sequence[str], check: bool = False, timeout_s: float = 60.0, **kwargs: object) -> int:
    """Run a command to its end (client traffic); its output is dropped. Returns its exit status."""
    result = subprocess.run(
        list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout_s, check=check, **kwargs
    )  # type: ignore[call-overload]
    return int(result.returncode)


def read_lines(paths: Iterable[Path]) -> list[str]:
    """The lines of every existing file in ``paths``, in order, decoded leniently."""
    lines: list[str] = []
    for path in paths:
        if path.exists():
            lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    return lines


def http_get(port: int, path: str, host: str = "127.0.0.1", method: str = "GET", headers: str = "") -> bytes:
    """A raw HTTP/1.1 request (any method, path or header, malformed ones too); the response's bytes."""
    with socket.create_connection((host, port), timeout=5.0) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n".encode())
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)
