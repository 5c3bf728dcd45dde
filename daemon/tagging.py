"""The tagging process: the engine in a child process of the daemon.

In one process the tagging thread and the event loop share the GIL, and every
time the network's code gives it up it waits for the event loop's switch
interval to get it back: beside a busy Python thread, tagging slowed down by more
than an order of magnitude (compiling the network with TorchScript only narrowed the
gap). A child process has its own interpreter, so the event loop and the network each
get a core.

:meth:`TaggingProcess.encode_messages` is the pipeline's per-batch call: the
child runs :func:`~logdelim.daemon.inputs.encode_messages` (tagging and the
output records' JSON), so the event loop only sends bytes (and counts each
record's ``template_id``, which comes back beside it in ``inputs.Encoded``), and
the daemon's tagging thread waits on the pipe without the GIL. ``model_id``, ``device``,
``cache_hits``, ``cache_misses`` and ``cache_bytes`` mirror the child's engine. A child that dies
(killed, out of memory, a crash in native code) is started again and its batch
retried message by message, so a message that kills the child every time
becomes a ``tagging_error`` dead letter and the others get their records.

A watchdog thread makes the child's state visible whether or not traffic flows:
a child that exits while the daemon is idle is replaced within a second, and a
call left unanswered for ``timeout_s`` (a stopped, deadlocked or hung child) gets
the child killed, which turns into the same replacement and message-by-message
retry, so a line that hangs the model becomes a dead letter too.
"""

from __future__ import annotations

import gc
import itertools
import logging
import multiprocessing
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from logdelim.daemon import inputs
from logdelim.daemon.records import Source
from logdelim.model.grouping import StreamGroups

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 5.0
# How often the watchdog looks at the child: a dead one is noticed within this.
WATCHDOG_INTERVAL_S = 0.25
# Socket buffer asked for each end of the pipe (the kernel caps it at net.core.wmem_max):
# room for a whole batch's records, so the child hands a reply over in one write and goes
# on to the next batch, instead of waiting on the parent's thread, which reads a chunk per
# turn of the GIL it shares with the event loop.
PIPE_BUFFER_BYTES = 4 * 1024 * 1024


def _widen(end: Connection) -> None:
    """Ask for :data:`PIPE_BUFFER_BYTES` of socket buffer on one end of a ``multiprocessing`` pipe."""
    try:
        with socket.socket(fileno=os.dup(end.fileno())) as sock:  # the dup is closed, the pipe stays open
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_BUFFER_BYTES)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PIPE_BUFFER_BYTES)
    except OSError as exc:  # not a socket on this platform: the default buffers only cost speed
        logger.debug("could not widen the tagging pipe: %r", exc)


class ChildDied(RuntimeError):
    """The tagging process exited during a call (a new one has been started)."""


def _serve(conn: Connection, engine_options: dict[str, Any]) -> None:
    """The child: load and warm the engine, then answer ``(lines, source columns)`` requests (plus
    ``events, enrich_key, input_field`` when enriching) with ``inputs.encode_messages`` until
    None or the parent is gone."""
    from logdelim.model.engine import Engine

    try:
        engine = Engine.load(**engine_options)
        warm_up_s = engine.warm_up()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails to start
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    gc.freeze()  # see app.serve: a full collection would walk torch's objects on every pass
    # The records' groups, learnt from the lines this child tags (a new child starts afresh).
    groups = StreamGroups()
    conn.send(("ready", engine.model_id, engine.device, warm_up_s))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if request is None:
            return
        lines, sources, *enrich = request
        # encode_messages turns any failure of the model into tagging_error rejections.
        encoded = inputs.encode_messages(engine, lines, _sources(sources), *enrich, groups=groups)
        conn.send((_columns(encoded), engine.cache_hits, engine.cache_misses, engine.cache_bytes))


# A reply's outcomes cross the pipe as columns when all are records: pickle calls Python code for
# every named tuple (its __getnewargs__), which made pickling a 512-line reply take several
# times as long as the plain tuples of its columns, in the process that tags.
_Reply = tuple[tuple[Any, ...], ...] | list[inputs.Encoded | inputs.Rejection]


def _columns(encoded: list[inputs.Encoded | inputs.Rejection]) -> _Reply:
    """``encoded`` as one tuple per field when every outcome is a record, else as it is."""
    if all(type(outcome) is inputs.Encoded for outcome in encoded):
        return tuple(zip(*encoded))
    return encoded


def _source_columns(sources: Sequence[Source]) -> tuple[tuple[Any, ...], ...]:
    """A request's sources as one tuple per field: pickling a named tuple runs Python code (its
    ``__getnewargs__``) in the daemon's process, whose GIL the event loop shares; plain tuples do not."""
    return tuple(zip(*sources))


def _sources(columns: tuple[tuple[Any, ...], ...]) -> list[Source]:
    """The sources of a request made by :func:`_source_columns`."""
    return list(map(tuple.__new__, itertools.repeat(Source), zip(*columns)))


def _rows(reply: _Reply) -> list[inputs.Encoded | inputs.Rejection]:
    """The outcomes of a reply made by :func:`_columns`."""
    if isinstance(reply, list):
        return reply
    # tuple.__new__ makes each named tuple without running Python code per record.
    return list(map(tuple.__new__, itertools.repeat(inputs.Encoded), zip(*reply)))


class TaggingProcess:
    """An engine in a child process, callable from several threads at once.

    Calls are answered in the order they were sent, so two threads keep the child
    busy: one thread's batch is pickled and sent, and the other's reply read and
    unpickled, while the child tags. With one thread the child waited on those
    steps, and they wait for the event loop's GIL (1-5 ms per 512-line batch).

    Args:
        engine_options: keyword arguments of ``Engine.load`` (plain values: they are pickled).
        on_restart: called each time a child died and was replaced (the daemon counts it).
        timeout_s: a call unanswered this long gets the child killed and replaced (None: no deadline).
    """

    def __init__(
        self,
        engine_options: dict[str, Any],
        on_restart: Callable[[], None] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self._options = dict(engine_options)
        self._on_restart = on_restart
        self.timeout_s = timeout_s
        self._context = multiprocessing.get_context("spawn")  # no fork of a process with threads and torch
        self.cache_hits = 0
        self.cache_misses = 0
        self.cache_bytes = 0
        self.restarts = 0
        self._send_lock = threading.RLock()  # re-taken by _died when a send fails
        # Guards the replies: a caller reads the pipe only when its request is the next one answered.
        self._turn = threading.Condition()
        self._generation = 0  # bumped by every restart: requests sent to an older child are lost
        # When each unanswered request was sent, oldest first (answers come in order).
        self._sent_at: deque[float] = deque()
        self._kill_reason: str | None = None
        self._closing = threading.Event()
        self._start()
        self._watchdog = threading.Thread(target=self._watch, name="tagging-watchdog", daemon=True)
        self._watchdog.start()

    def _start(self) -> None:
        self._conn, child = self._context.Pipe()
        for end in (self._conn, child):
            _widen(end)
        self._process = self._context.Process(
            target=_serve, args=(child, self._options), name="logdelim-tagger", daemon=True
        )
        self._process.start()
        child.close()
        try:
            reply = self._conn.recv()
        except EOFError:
            raise RuntimeError(
                f"the tagging process exited with status {self._process.exitcode} before it was ready"
            ) from None
        if reply[0] == "error":
            raise RuntimeError(f"the tagging process could not load the model: {reply[1]}")
        _, self.model_id, self.device, warm_up_s = reply
        self._sent = self._answered = 0
        self._sent_at.clear()
        self._kill_reason = None
        # Counters start again with a new child's cache.
        self._hits_before, self._misses_before = self.cache_hits, self.cache_misses
        logger.info(
            "tagging process %d ready: model %s on %s (warmed up in %.2f s)",
            self._process.pid,
            self.model_id,
            self.device,
            warm_up_s,
        )

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self._process.pid

    def oldest_call_age_s(self) -> float:
        """Seconds the oldest unanswered call has waited (0.0 when none is)."""
        try:
            return max(0.0, time.monotonic() - self._sent_at[0])
        except IndexError:
            return 0.0

    def _watch(self) -> None:
        """Replace a child that exited while no call noticed; kill one that misses the deadline."""
        while not self._closing.wait(WATCHDOG_INTERVAL_S):
            generation, process = self._generation, self._process
            # exitcode, not is_alive(): a replacement a caller is starting is not alive yet either,
            # and taking it for dead would replace it at once (two restarts for one death).
            if process.exitcode is not None:
                if not self._closing.is_set():
                    try:
                        self._died(generation, 0, process)
                    except Exception:  # noqa: BLE001 - a child that cannot start is tried again next pass
                        logger.exception("could not start a new tagging process")
                continue
            age_s = self.oldest_call_age_s()
            if self.timeout_s is not None and age_s > self.timeout_s and self._kill_reason is None:
                self._kill_reason = f"no answer within {self.timeout_s:g} s"
                logger.error("tagging process %d has not answered a batch for %.1f s: killing it", process.pid, age_s)
                process.kill()

    def encode_messages(
        self,
        lines: Sequence[str],
        sources: Sequence[Source],
        events: Sequence[bytes] | None = None,
        enrich_key: str | None = None,
        input_field: str | None = None,
    ) -> list[inputs.Encoded | inputs.Rejection]:
        """:func:`~logdelim.daemon.inputs.encode_messages` in the child; message by message if it dies.

        ``events`` (``output.mode: enrich``) travel as the events' bytes, not parsed objects:
        bytes pickle as one copy, and the child splices into them without parsing.
        """
        enrich = () if events is None else (enrich_key, input_field)
        try:
            return self._call(lines, sources, events, enrich)
        except ChildDied:
            pass
        out: list[inputs.Encoded | inputs.Rejection] = []
        for index, (line, source) in enumerate(zip(lines, sources)):
            try:
                out.extend(self._call([line], [source], None if events is None else [events[index]], enrich))
            except ChildDied as exc:
                out.append(inputs.Rejection(inputs.TAGGING_ERROR, f"the tagging process died on this message: {exc}"))
        return out

    def _call(
        self,
        lines: Sequence[str],
        sources: Sequence[Source],
        events: Sequence[bytes] | None,
        enrich: tuple[str | None, ...],
    ) -> list[inputs.Encoded | inputs.Rejection]:
        # Records: (lines, source columns); enriched events add (events, enrich_key, input_field).
        request: tuple[Any, ...] = (list(lines), _source_columns(sources))
        if events is not None:
            request = (*request, list(events), *enrich)
        with self._send_lock:
            generation, conn, ticket = self._generation, self._conn, self._sent
            try:
                self._sent_at.append(time.monotonic())
                conn.send(request)
            except OSError as exc:
                raise self._died(generation, len(lines)) from exc
            self._sent += 1
        with self._turn:
            while self._generation == generation and self._answered != ticket:
                self._turn.wait()
            if self._generation != generation:
                raise ChildDied("the tagging process was replaced before it answered")
            try:
                reply, hits, misses, cache_bytes = conn.recv()
                failure = None
            except (EOFError, OSError) as exc:
                failure = exc
            else:
                self._answered += 1
                self._sent_at.popleft()
                self._turn.notify_all()
        if failure is not None:  # outside the turn: _died takes the send lock first
            raise self._died(generation, len(lines)) from failure
        self.cache_hits, self.cache_misses = self._hits_before + hits, self._misses_before + misses
        self.cache_bytes = cache_bytes
        return _rows(reply)

    def _died(
        self, generation: int, lines: int, process: multiprocessing.process.BaseProcess | None = None
    ) -> ChildDied:
        """Replace the child that served ``generation`` (once, whichever caller sees it die first).

        ``process``: the child the watchdog saw exit (its view of generation and child is
        read without the locks, so it may pair the new generation with the old child).
        """
        with self._send_lock, self._turn:
            if self._generation != generation or (process is not None and process is not self._process):
                return ChildDied("the tagging process died")
            if self._closing.is_set():  # killed by close(): no replacement
                self._generation += 1
                self._turn.notify_all()
                return ChildDied("the tagging process was closed")
            self._process.join(JOIN_TIMEOUT_S)
            status = self._process.exitcode
            cause = self._kill_reason or f"exit status {status}"
            self.restarts += 1
            if lines:
                logger.error("the tagging process died (%s) during a batch of %d lines; starting another", cause, lines)
            else:
                logger.error("the tagging process died (%s) while idle; starting another", cause)
            self._conn.close()
            self._generation += 1
            self._turn.notify_all()
            self._start()
            if self._on_restart is not None:
                self._on_restart()
            return ChildDied(f"the tagging process died ({cause})")

    def close(self) -> None:
        """Stop the child: asked to exit when no call is unanswered, else killed at once.

        The daemon closes its tagging processes once the pipeline has drained, so a call
        still unanswered then is a batch the drain gave up on: the child would finish it,
        and every request queued behind it, for nothing, stretching the stop past its budget.
        An idle child that has not exited within ``JOIN_TIMEOUT_S`` is killed too.
        """
        self._closing.set()
        if self._watchdog is not threading.current_thread():
            self._watchdog.join()
        if self._sent_at:
            logger.info("tagging process %d: %d calls unanswered at close; killing it", self.pid, len(self._sent_at))
            self._process.kill()
        else:
            try:
                self._conn.send(None)
            except OSError:
                pass
        self._process.join(JOIN_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()


class TaggingPool:
    """``workers`` tagging processes behind one :class:`~.encoder.Encoder`: each call goes to the next in turn.

    For machines with cores to spare: the pipeline's tagging threads (two per process)
    keep every child busy, and the pipeline still emits outcomes in batch order, since
    it awaits each batch's call in the order it made them. Every child loads its own
    network and keeps its own caches, so ``cache_max_bytes`` is shared out among them.

    Args:
        engine_options: keyword arguments of ``Engine.load`` (``cache_max_bytes`` is the pool's total).
        workers: how many tagging processes.
        on_restart: called each time a child died and was replaced.
        timeout_s: a call unanswered this long gets its child killed and replaced (None: no deadline).
    """

    def __init__(
        self,
        engine_options: dict[str, Any],
        workers: int = 1,
        on_restart: Callable[[], None] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        options = dict(engine_options)
        if options.get("cache_max_bytes") is not None:
            options["cache_max_bytes"] //= workers
        self.processes: list[TaggingProcess] = []
        try:
            for _ in range(workers):
                self.processes.append(TaggingProcess(options, on_restart, timeout_s))
        except BaseException:
            self.close()
            raise
        self._next = itertools.count()
        self.model_id = self.processes[0].model_id
        self.device = self.processes[0].device

    @property
    def cache_hits(self) -> int:
        """Lines answered from the children's caches so far."""
        return sum(p.cache_hits for p in self.processes)

    @property
    def cache_misses(self) -> int:
        """Lines the children's networks had to tag so far."""
        return sum(p.cache_misses for p in self.processes)

    @property
    def cache_bytes(self) -> int:
        """Bytes the children's caches hold now."""
        return sum(p.cache_bytes for p in self.processes)

    @property
    def restarts(self) -> int:
        """Children that died and were replaced so far."""
        return sum(p.restarts for p in self.processes)

    def encode_messages(
        self,
        lines: Sequence[str],
        sources: Sequence[Source],
        events: Sequence[bytes] | None = None,
        enrich_key: str | None = None,
        input_field: str | None = None,
    ) -> list[inputs.Encoded | inputs.Rejection]:
        """:meth:`TaggingProcess.encode_messages` in the next child in turn."""
        process = self.processes[next(self._next) % len(self.processes)]  # count() is atomic under the GIL
        return process.encode_messages(lines, sources, events, enrich_key, input_field)

    def close(self) -> None:
        """Close every child."""
        for process in self.processes:
            process.close()
