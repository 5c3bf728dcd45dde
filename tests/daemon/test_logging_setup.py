"""Log output: aiokafka's repeated errors are held back, the daemon's own lines never are."""

from __future__ import annotations

import logging

from logdelim.daemon.logging_setup import RepeatFilter


def _record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeats_within_the_window_are_held_back_and_then_counted() -> None:
    now = [100.0]
    repeats = RepeatFilter("aiokafka", window_s=10.0, clock=lambda: now[0])
    passed = [
        repeats.filter(_record("aiokafka.conn", "Unable connect to node with id %s: %s", node, "refused"))
        for node in range(50)
    ]
    assert passed == [True] + [False] * 49, "one line per kind of error, whatever its arguments"
    assert repeats.filter(
        _record("aiokafka.conn", "Unable connect to node with id %s: %s", 1, "refused", level=logging.WARNING)
    ), "another level is another kind"
    assert repeats.filter(
        _record("aiokafka.consumer.group_coordinator", "Unable connect to node with id %s: %s", 1, "refused")
    ), "another logger is another kind"
    now[0] += 10.5
    record = _record("aiokafka.conn", "Unable connect to node with id %s: %s", 7, "refused")
    assert repeats.filter(record)
    assert record.getMessage() == "Unable connect to node with id 7: refused (49 like it in the last 10 s not shown)"
    record = _record("aiokafka.conn", "Unable connect to node with id %s: %s", 8, "refused")
    assert not repeats.filter(record)


def test_kinds_outside_the_window_are_forgotten_when_there_are_many() -> None:
    now = [0.0]
    repeats = RepeatFilter("aiokafka", window_s=10.0, clock=lambda: now[0])
    for i in range(1500):  # pre-formatted messages: every one is its own kind
        now[0] = i * 0.1
        assert repeats.filter(_record("aiokafka.conn", f"connection {i} lost"))
    assert len(repeats._seen) <= 1000


def test_the_daemon_s_own_lines_always_pass() -> None:
    repeats = RepeatFilter("aiokafka", clock=lambda: 0.0)
    assert all(repeats.filter(_record("logdelim.daemon.pipeline", "produce failed: %s", i)) for i in range(20))


def test_the_daemon_s_handler_holds_back_aiokafka_repeats() -> None:
    from logdelim.daemon.logging_setup import configure_logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("INFO", "json")
        (handler,) = root.handlers
        assert any(isinstance(f, RepeatFilter) and f.prefix == "aiokafka" for f in handler.filters)
    finally:
        for added in list(root.handlers):
            root.removeHandler(added)
        for old in handlers:
            root.addHandler(old)
        root.setLevel(level)
