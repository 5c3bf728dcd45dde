"""The daemon's HTTP endpoints: ``/metrics``, ``/healthz`` and ``/readyz`` on one port.

Served by waitress rather than :mod:`http.server`: Prometheus and the kubelet's
probes share this port, and the standard library's server (a listen backlog of
5, no connection timeout, a thread per connection) made concurrent scrapers
time out even on an idle daemon, and half-sent requests kept a thread each.
Here the work is bounded: a fixed pool of worker threads answers complete
requests, one thread multiplexes every socket, idle or half-sent connections are closed after :data:`CHANNEL_TIMEOUT_S`, and at
most :data:`CONNECTION_LIMIT` connections are open (more wait in the backlog).

``/metrics`` is prometheus-client's own WSGI app, which negotiates gzip
(``Accept-Encoding``) and the OpenMetrics format (``Accept``), behind a cache
of :data:`PAGE_MAX_AGE_S` (:class:`_RecentPages`): rendering the daemon's page
takes 1 to 2 ms of the GIL the event loop needs, so a burst of scrapers shares
one rendering instead of taking turns at it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from waitress import wasyncore
from waitress.server import create_server

logger = logging.getLogger(__name__)

# Connections waiting to be accepted; the kernel caps it at net.core.somaxconn.
BACKLOG = 1024
# Worker threads answering requests: a request is at most a few milliseconds under the GIL,
# so more threads add contention, not throughput; four keep a probe from queueing behind
# one slow scrape.
WORKER_THREADS = 4
# Seconds a connection may sit without a complete request (idle keep-alive or half-sent)
# before the server closes it. Probes and scrapes send their request at once.
CHANNEL_TIMEOUT_S = 5
# How often (seconds) idle connections are looked for: bounds how late a timeout fires.
CLEANUP_INTERVAL_S = 1
# Open connections at most; each is a socket and a buffer in one thread, not a thread, so the
# limit guards file descriptors (the Kafka clients and the tagging process need theirs).
CONNECTION_LIMIT = 512
# The serving thread wakes at least this often (seconds) to run the idle-connection cleanup.
LOOP_TIMEOUT_S = 1
# Seconds a rendered /metrics page is served again to the same kind of request. Prometheus
# scrapes every 15 s or so, so only bursts (several scrapers, HA pairs) share a page. The
# bench's scrape phase (scrape_p99_ms) measures what a burst costs with and without it.
PAGE_MAX_AGE_S = 0.5
# Request variants (Accept, Accept-Encoding, query) kept at once; more and the cache starts over.
MAX_PAGE_VARIANTS = 16
# How long stop() waits for a worker thread inside a request, then for the serving thread.
STOP_TIMEOUT_S = 2.0

TEXT_PLAIN = "text/plain; charset=utf-8"
_STATUS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}

StartResponse = Callable[..., Any]


def _quiet_waitress() -> None:
    """Keep waitress's own chatter out of the daemon's log.

    "Task queue depth" warnings are the expected state during a burst of scrapes
    (the worker pool is bounded on purpose), and "Client disconnected" is INFO
    per impatient client; failures inside waitress still log at WARNING and above.
    """
    logging.getLogger("waitress").setLevel(logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def _bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening); OSError when the address is taken."""
    family, socktype, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, socktype, proto)
    try:
        # Restarts must not wait out TIME_WAIT; a port another process listens on still fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class MetricsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on one port, served from a background thread.

    Args:
        host: address to listen on ("0.0.0.0": every IPv4 interface).
        port: port to listen on; 0 picks a free one (see :attr:`port`).
        registry: what ``/metrics`` exports.
        is_ready: ``/readyz`` answers 200 while it returns true, else 503.
        is_live: ``/healthz`` answers 200 while it returns true, else 503.

    Both checks are called on the server's worker threads, once per probe, so they
    must be cheap and thread-safe; one that raises answers 503 (it is logged).

    Raises:
        OSError: when the address cannot be bound (port taken): the socket is bound
            here so the daemon fails before it spends time loading the model.
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        is_ready: Callable[[], bool],
        is_live: Callable[[], bool] = lambda: True,
    ) -> None:
        _quiet_waitress()
        self._checks = {
            "/healthz": (is_live, b"ok\n", b"event loop stalled\n"),
            "/readyz": (is_ready, b"ready\n", b"not ready\n"),
        }
        # Paths whose check raised last time: only the first failure in a row is logged at WARNING,
        # so a broken check does not write a traceback every probe period.
        self._failing: set[str] = set()
        self._metrics_app = _RecentPages(make_wsgi_app(registry), PAGE_MAX_AGE_S)
        sock = _bind(host, port)
        self._port: int = sock.getsockname()[1]
        self._map: dict[int, Any] = {}
        try:
            # Waitress listens on the socket here (with BACKLOG) and starts its worker threads.
            self._server = create_server(
                self._app,
                map=self._map,
                sockets=[sock],
                threads=WORKER_THREADS,
                backlog=BACKLOG,
                channel_timeout=CHANNEL_TIMEOUT_S,
                cleanup_interval=CLEANUP_INTERVAL_S,
                connection_limit=CONNECTION_LIMIT,
                asyncore_loop_timeout=LOOP_TIMEOUT_S,
                # poll(), not select(): select fails on descriptors numbered 1024 and up.
                asyncore_use_poll=True,
                # No "Server: waitress" header: nothing to fingerprint.
                ident=None,
            )
        except BaseException:
            sock.close()
            raise
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (differs from the requested one when that was 0)."""
        return self._port

    def start(self) -> MetricsServer:
        """Serve from a background daemon thread; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every socket, the listening one included (the port is free again).

        Idempotent; returns within about :data:`STOP_TIMEOUT_S` even when a check hangs.
        """
        self._stopping.set()
        if self._thread.is_alive():
            # Wakes the serving thread from poll(); it closes everything on its way out,
            # so no socket is touched by two threads. Under the lock, and only while nothing is
            # closed: a thread that saw the flag first has closed the wake-up pipe (a write to
            # it failed with EBADF, and its number may already belong to another socket).
            with self._lock:
                if not self._closed:
                    self._server.pull_trigger()
            self._thread.join(timeout=2 * STOP_TIMEOUT_S)
            if self._thread.is_alive():
                logger.warning("metrics server thread did not stop within %.0f s", 2 * STOP_TIMEOUT_S)
        elif self._thread.ident is None:  # never started: nothing else owns the sockets
            self._close()

    def _serve(self) -> None:
        try:
            while self._map and not self._stopping.is_set():
                wasyncore.loop(timeout=LOOP_TIMEOUT_S, use_poll=True, map=self._map, count=1)
        except Exception:  # noqa: BLE001 - logged; the daemon goes on without its endpoints
            logger.exception("metrics server failed")
        finally:
            self._close()

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        dispatcher = self._server.task_dispatcher
        dispatcher.shutdown(cancel_pending=True, timeout=STOP_TIMEOUT_S)
        if dispatcher.threads:
            # A worker is still inside a request (a hung check); when it finishes it writes to
            # the wake-up pipe, so that pipe stays open (its descriptor must not be reused).
            for fd, channel in list(self._map.items()):
                if channel is self._server.trigger:
                    del self._map[fd]
            logger.warning("%d metrics worker thread(s) still busy at stop", len(dispatcher.threads))
        wasyncore.close_all(self._map, ignore_all=True)

    # ------------------------------------------------------------------ WSGI

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)
        check = self._checks.get(path)
        if check is None:
            return _text(start_response, 404, b"not found\n", environ)
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return _text(start_response, 405, b"use GET\n", environ, [("Allow", "GET, HEAD")])
        healthy, ok_body, failed_body = check
        try:
            good = bool(healthy())
        except Exception:  # noqa: BLE001 - a broken check is a failed probe, not a dead server
            level = logging.DEBUG if path in self._failing else logging.WARNING
            self._failing.add(path)
            logger.log(level, "%s check raised; answering 503", path, exc_info=True)
            return _text(start_response, 503, b"check failed\n", environ)
        self._failing.discard(path)
        return _text(start_response, 200 if good else 503, ok_body if good else failed_body, environ)


class _RecentPages:
    """A WSGI app's answers, served again for ``max_age_s`` to requests of the same variant.

    The variant is what the answer depends on besides the time: method, ``Accept``,
    ``Accept-Encoding`` and the query string (``name[]`` filters). One rendering at
    a time: requests arriving meanwhile wait for it and share it. A request with
    ``Cache-Control: no-cache`` (HTTP's "revalidate") gets a new rendering, which
    later requests share: for a client that must see the counters as they are now
    (the bench polling for its last acknowledgement).
    """

    _VARIANT = ("REQUEST_METHOD", "HTTP_ACCEPT", "HTTP_ACCEPT_ENCODING", "QUERY_STRING")

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]], max_age_s: float) -> None:
        self._app = app
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        # variant -> (rendered at, status, headers, body)
        self._pages: dict[tuple[str, ...], tuple[float, str, list[tuple[str, str]], bytes]] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        variant = tuple(str(environ.get(name, "")) for name in self._VARIANT)
        with self._lock:
            page = self._pages.get(variant)
            now = time.monotonic()
            fresh = "no-cache" in str(environ.get("HTTP_CACHE_CONTROL", ""))
            if page is None or fresh or now - page[0] > self._max_age_s:
                page = (now, *self._render(environ))
                if len(self._pages) >= MAX_PAGE_VARIANTS:  # odd headers must not grow it without bound
                    self._pages.clear()
                self._pages[variant] = page
        _, status, headers, body = page
        start_response(status, headers)
        return [body]

    def _render(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer[:] = [status, list(headers)]

        body = b"".join(self._app(environ, start_response))
        return answer[0], answer[1], body


def _text(
    start_response: StartResponse,
    status: int,
    body: bytes,
    environ: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """A plain-text response (no body for HEAD: waitress leaves that to the application)."""
    start_response(
        _STATUS[status],
        [
            ("Content-Type", TEXT_PLAIN),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *(headers or []),
        ],
    )
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
