"""Collect the real-programs corpus: install each program, run it on loopback, drive it, keep its log lines.

Each module of ``corpus/programs`` (one per program) says which Debian packages it
needs (``PACKAGES``), where its log format is defined (``FORMAT_SOURCE``) and how to
run and drive the program (``collect(workdir)``, returning the lines it logged). This
script installs the packages, calls ``collect`` and writes ``corpus/logs/<program>.log``:
at most :data:`MAX_LINES` lines, the first line of each shape first (so repeated
lines do not crowd out rare ones), kept in the order the program wrote them.

The collected files are committed: the corpus is reproducible without running any
program, and a new collection is a reviewed change. Run as root on a Debian machine::

    python corpus/collect.py              # every program
    python corpus/collect.py nginx redis  # some
    python corpus/collect.py --readme     # only the table of corpus/README.md
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOGS = HERE / "logs"
MAX_LINES = 400
# Longest line kept (bytes of UTF-8): the daemon's default input.max_line_bytes is 64 KiB.
MAX_LINE_BYTES = 4096

logger = logging.getLogger("corpus")

_NUMBER = re.compile(r"[0-9]+")


def programs() -> list[str]:
    """Every program module's name."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE / "programs")]) if not m.name.startswith("_"))


def line_shape(line: str) -> str:
    """A line with every digit run as ``0``: lines of one shape differ only in numbers."""
    return _NUMBER.sub("0", line)


def select(lines: list[str], max_lines: int = MAX_LINES) -> list[str]:
    """At most ``max_lines`` of ``lines``: the first of each shape, then others, in their order.

    Empty lines and lines over :data:`MAX_LINE_BYTES` are dropped; a line is kept once.
    """
    seen: set[str] = set()
    candidates: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        line = line.rstrip("\r\n")
        if not line.strip() or len(line.encode("utf-8", "replace")) > MAX_LINE_BYTES or line in seen:
            continue
        seen.add(line)
        candidates.append((index, line))
    shapes: set[str] = set()
    first: list[tuple[int, str]] = []
    rest: list[tuple[int, str]] = []
    for item in candidates:
        shape = line_shape(item[1])
        (rest if shape in shapes else first).append(item)
        shapes.add(shape)
    kept = first[:max_lines] + rest[: max(0, max_lines - len(first))]
    return [line for _, line in sorted(kept)]


def install(packages: list[str]) -> None:
    """``apt-get install`` the packages (without starting services: the driver starts what it needs)."""
    if not packages:
        return
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    # policy-rc.d exit 101: packages do not start their services on install (left in place:
    # collections may run side by side, and a corpus machine never wants them started).
    policy = Path("/usr/sbin/policy-rc.d")
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    # Wait for another apt run's lock instead of failing.
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def collect(name: str) -> Path:
    """Install, run and drive one program; write and return its log file."""
    module = importlib.import_module(f"programs.{name}")
    install(list(module.PACKAGES))
    with tempfile.TemporaryDirectory(prefix=f"corpus-{name}-") as workdir:
        lines = module.collect(Path(workdir))
    kept = select(lines)
    if not kept:
        raise RuntimeError(f"{name}: no log lines collected")
    LOGS.mkdir(exist_ok=True)
    out = LOGS / f"{name}.log"
    out.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    logger.info("%s: %d lines collected, %d kept in %s", name, len(lines), len(kept), out)
    return out


README = HERE / "README.md"
TABLE_BEGIN = "<!-- programs table: python corpus/collect.py --readme -->"
TABLE_END = "<!-- end of programs table -->"


def summary_table() -> str:
    """A markdown table of the committed corpus: program, lines, line shapes, where its format is defined."""
    rows = ["| program | lines | line shapes | format defined in |", "| --- | --- | --- | --- |"]
    total = shapes_total = 0
    names = programs()
    for name in names:
        module = importlib.import_module(f"programs.{name}")
        path = LOGS / f"{name}.log"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        shapes = len({line_shape(line) for line in lines})
        total += len(lines)
        shapes_total += shapes
        rows.append(f"| {name} | {len(lines)} | {shapes} | {module.FORMAT_SOURCE} |")
    rows.append(f"| **{len(names)} programs** | {total} | {shapes_total} | |")
    return "\n".join(rows) + "\n"


def write_readme_table() -> None:
    """Replace the table between the markers of ``corpus/README.md`` with :func:`summary_table`."""
    text = README.read_text(encoding="utf-8")
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    README.write_text(f"{head}{TABLE_BEGIN}\n{summary_table()}{TABLE_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("programs", nargs="*", help="program modules to collect (default: all)")
    parser.add_argument("--readme", action="store_true", help="only rewrite corpus/README.md's table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.path.insert(0, str(HERE))
    if args.readme:
        write_readme_table()
        return 0
    failed = []
    for name in args.programs or programs():
        try:
            collect(name)
        except Exception:  # noqa: BLE001 - one program's failure leaves the others' files
            logger.exception("%s: collection failed", name)
            failed.append(name)
    write_readme_table()
    if failed:
        logger.error("failed: %s", " ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
