"""Log output of the daemon: plain text lines by default, JSON lines on request.

JSON lines carry ``ts``, ``level``, ``logger``, ``message`` and, for failures,
``exc``, so log shippers need no parsing rules.
"""
from __future__ import annotations

import json
import logging
import sys
import time

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
