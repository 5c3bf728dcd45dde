"""The tagging process: the engine in a child process of the daemon.

In one process the tagging thread and the event loop share the GIL, and every
time the network's code gives it up it waits for the event loop's switch
interval to get it back: beside a busy Python thread, tagging 3,000 lines took
18.6 s instead of 0.4 s (4.3 s with the network compiled by TorchScript). A child
process has its own interpreter, so the event loop and the network each get a core.

:meth:`TaggingProcess.encode_messages` is the pipeline's per-batch call: the
child runs :func:`~logdelim.daemon.inputs.encode_messages` (tagging and the
output records' JSON), so the event loop only sends bytes (and counts each
record's ``template_id``, which comes back beside it in ``inputs.Encoded``), and
the daemon's tagging thread waits on the pipe without the GIL. ``model_id``, ``device``,
``cache_hits`` and ``cache_misses`` mirror the child's engine. A child that dies
(killed, out of memory, a crash in native code) is started again and its batch
retried message by message, so a message that kills the child every time
becomes a ``tagging_error`` dead letter and the others get their records.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from logdelim.daemon import inputs
from logdelim.daemon.records import Source

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 5.0


class ChildDied(RuntimeError):
    """The tagging process exited during a call (a new one has been started)."""


def _serve(conn: Connection, engine_options: dict[str, Any]) -> None:
    """The child: load and warm the engine, then answer ``(lines, sources)`` requests with
    ``inputs.encode_messages`` until None or the parent is gone."""
    from logdelim.model.engine import Engine

    try:
        engine = Engine.load(**engine_options)
        warm_up_s = engine.warm_up()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails to start
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    gc.freeze()  # see app.serve: a full collection would walk torch's objects on every pass
    conn.send(("ready", engine.model_id, engine.device, warm_up_s))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if request is None:
            return
        # encode_messages turns any failure of the model into tagging_error rejections.
        encoded = inputs.encode_messages(engine, *request)
        conn.send((encoded, engine.cache_hits, engine.cache_misses))


class TaggingProcess:
    """An engine in a child process, callable from several threads at once.

    Calls are answered in the order they were sent, so two threads keep the child
    busy: one thread's batch is pickled and sent, and the other's reply read and
    unpickled, while the child tags. With one thread the child waited on those
    steps, and they wait for the event loop's GIL (1-5 ms per 512-line batch).

    Args:
        engine_options: keyword arguments of ``Engine.load`` (plain values: they are pickled).
        on_restart: called each time a child died and was replaced (the daemon counts it).
    """

    def __init__(self, engine_options: dict[str, Any], on_restart: Callable[[], None] | None = None) -> None:
        self._options = dict(engine_options)
        self._on_restart = on_restart
        self._context = multiprocessing.get_context("spawn")  # no fork of a process with threads and torch
        self.cache_hits = 0
        self.cache_misses = 0
        self.restarts = 0
        self._send_lock = threading.RLock()  # re-taken by _died when a send fails
        # Guards the replies: a caller reads the pipe only when its request is the next one answered.
        self._turn = threading.Condition()
        self._generation = 0  # bumped by every restart: requests sent to an older child are lost
        self._start()

    def _start(self) -> None:
        self._conn, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child, self._options), name="logdelim-tagger",
                                              daemon=True)
        self._process.start()
        child.close()
        try:
            reply = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the tagging process exited with status {self._process.exitcode} "
                               "before it was ready") from None
        if reply[0] == "error":
            raise RuntimeError(f"the tagging process could not load the model: {reply[1]}")
        _, self.model_id, self.device, warm_up_s = reply
        self._sent = self._answered = 0
        # Counters start again with a new child's cache.
        self._hits_before, self._misses_before = self.cache_hits, self.cache_misses
        logger.info("tagging process %d ready: model %s on %s (warmed up in %.2f s)", self._process.pid,
                    self.model_id, self.device, warm_up_s)

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self._process.pid

    def encode_messages(self, lines: Sequence[str], sources: Sequence[Source]
                        ) -> list[inputs.Encoded | inputs.Rejection]:
        """:func:`~logdelim.daemon.inputs.encode_messages` in the child; message by message if it dies."""
        try:
            return self._call(lines, sources)
        except ChildDied:
            pass
        out: list[inputs.Encoded | inputs.Rejection] = []
        for line, source in zip(lines, sources):
            try:
                out.extend(self._call([line], [source]))
            except ChildDied as exc:
                out.append(inputs.Rejection(inputs.TAGGING_ERROR, f"the tagging process died on this message: {exc}"))
        return out

    def _call(self, lines: Sequence[str], sources: Sequence[Source]) -> list[inputs.Encoded | inputs.Rejection]:
        with self._send_lock:
            generation, conn, ticket = self._generation, self._conn, self._sent
            try:
                conn.send((list(lines), list(sources)))
            except OSError as exc:
                raise self._died(generation, len(lines)) from exc
            self._sent += 1
        with self._turn:
            while self._generation == generation and self._answered != ticket:
                self._turn.wait()
            if self._generation != generation:
                raise ChildDied("the tagging process was replaced before it answered")
            try:
                encoded, hits, misses = conn.recv()
                failure = None
            except (EOFError, OSError) as exc:
                failure = exc
            else:
                self._answered += 1
                self._turn.notify_all()
        if failure is not None:  # outside the turn: _died takes the send lock first
            raise self._died(generation, len(lines)) from failure
        self.cache_hits, self.cache_misses = self._hits_before + hits, self._misses_before + misses
        return encoded

    def _died(self, generation: int, lines: int) -> ChildDied:
        """Replace the child that served ``generation`` (once, whichever caller sees it die first)."""
        with self._send_lock, self._turn:
            if self._generation != generation:
                return ChildDied("the tagging process died")
            self._process.join(JOIN_TIMEOUT_S)
            status = self._process.exitcode
            self.restarts += 1
            logger.error("the tagging process died (exit status %s) during a batch of %d lines; starting another",
                         status, lines)
            self._conn.close()
            self._generation += 1
            self._turn.notify_all()
            self._start()
            if self._on_restart is not None:
                self._on_restart()
            return ChildDied(f"the tagging process died (exit status {status})")

    def close(self) -> None:
        """Ask the child to exit; killed if it has not within ``JOIN_TIMEOUT_S``."""
        try:
            self._conn.send(None)
        except OSError:
            pass
        self._process.join(JOIN_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
