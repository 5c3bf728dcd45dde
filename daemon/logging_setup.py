"""Log output of the daemon: plain text lines by default, JSON lines on request.

JSON lines carry ``ts``, ``level``, ``logger``, ``message`` and, for failures,
``exc``, so log shippers need no parsing rules.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Kinds of message RepeatFilter remembers before it forgets those outside the window.
_MAX_KINDS = 1000


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RepeatFilter(logging.Filter):
    """Lets one record per (logger, level, message template) through every ``window_s`` seconds.

    During a broker outage aiokafka logs the same connection error for every
    retry of every client, hundreds of lines a minute that bury everything else.
    The first record of a kind passes; its repeats within the window are counted
    and the next one to pass says how many were held back. Records of loggers
    outside ``prefix`` (the daemon's own) always pass.
    """

    def __init__(
        self, prefix: str = "aiokafka", window_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.prefix = prefix
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[str, int, str], list[float | int]] = {}  # key -> [passed at, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.window_s:
            seen[1] += 1
            return False
        held_back = int(seen[1]) if seen is not None else 0
        if len(self._seen) >= _MAX_KINDS:  # messages formatted before logging are all distinct kinds
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window_s}
        self._seen[key] = [now, 0]
        if held_back:
            record.msg = f"{record.msg} ({held_back} like it in the last {self.window_s:.0f} s not shown)"
        return True


def configure_logging(level: str, log_format: str) -> None:
    """Replace the root handlers with one stderr handler in ``log_format`` (plain | json)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiokafka logs every group rejoin at INFO; keep it unless the user asks for DEBUG.
    aiokafka = logging.getLogger("aiokafka")
    aiokafka.setLevel(max(logging.WARNING, root.level))
    # On the handler, not the logger: aiokafka logs from many child loggers.
    handler.addFilter(RepeatFilter("aiokafka"))
