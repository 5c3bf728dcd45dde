"""The HTTP endpoints (/metrics, /healthz, /readyz): routes, content negotiation, and staying up under load.

No broker: each test serves a fresh registry on a free 127.0.0.1 port. The load
tests check that every request is answered and that threads and connections stay
bounded; their latencies are recorded (``record_property``), not asserted: the
speed target is the benchmark's (``logdelim bench``: ``scrape_p99_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from logdelim.daemon.endpoints import (
    CHANNEL_TIMEOUT_S,
    CLEANUP_INTERVAL_S,
    LOOP_TIMEOUT_S,
    PAGE_MAX_AGE_S,
    MetricsServer,
)
from logdelim.tools.bench import scrape_load

Check = Callable[[], bool]


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    _counter(registry).inc(3)
    return registry


def _counter(registry: CollectorRegistry) -> Counter:
    return Counter("logdelim_test_requests", "A counter so the page is not empty", registry=registry)


@pytest.fixture
def serve() -> Iterator[Callable[..., MetricsServer]]:
    """``serve(is_ready=..., is_live=...)``: a started server on a free port; stopped at teardown."""
    servers: list[MetricsServer] = []

    def start(is_ready: Check = lambda: True, is_live: Check | None = None) -> MetricsServer:
        if is_live is None:
            server = MetricsServer("127.0.0.1", 0, _registry(), is_ready)
        else:
            server = MetricsServer("127.0.0.1", 0, _registry(), is_ready, is_live)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


def get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, http.client.HTTPResponse, bytes]:
    """One request on a new connection: (status, response, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response, response.read()
    finally:
        connection.close()


def _raise() -> bool:
    raise RuntimeError("check broke")


# --------------------------------------------------------------------------- routes


def test_metrics_page_and_probes_answer_200(serve: Callable[..., MetricsServer]) -> None:
    server = serve()
    status, response, body = get(server.port, "/metrics")
    assert status == 200
    assert response.getheader("Content-Type").startswith("text/plain")
    assert b"logdelim_test_requests_total 3.0" in body
    assert get(server.port, "/healthz")[::2] == (200, b"ok\n")
    assert get(server.port, "/readyz")[::2] == (200, b"ready\n")
    assert get(server.port, "/readyz?verbose=1")[::2] == (200, b"ready\n")


@pytest.mark.parametrize("path", ["/", "/metricsx", "/healthz/", "/favicon.ico"])
def test_other_paths_are_not_found(serve: Callable[..., MetricsServer], path: str) -> None:
    assert get(serve().port, path)[0] == 404


@pytest.mark.parametrize(
    ("ready", "live", "readyz", "healthz"),
    [
        (True, True, (200, b"ready\n"), (200, b"ok\n")),
        (False, True, (503, b"not ready\n"), (200, b"ok\n")),
        (True, False, (200, b"ready\n"), (503, b"event loop stalled\n")),
        (False, False, (503, b"not ready\n"), (503, b"event loop stalled\n")),
    ],
)
def test_probes_follow_their_checks(
    serve: Callable[..., MetricsServer], ready: bool, live: bool, readyz: tuple[int, bytes], healthz: tuple[int, bytes]
) -> None:
    server = serve(is_ready=lambda: ready, is_live=lambda: live)
    assert get(server.port, "/readyz")[::2] == readyz
    assert get(server.port, "/healthz")[::2] == healthz
    assert get(server.port, "/metrics")[0] == 200, "the page does not depend on the checks"


def test_liveness_defaults_to_live(serve: Callable[..., MetricsServer]) -> None:
    assert get(serve(is_ready=lambda: False).port, "/healthz")[::2] == (200, b"ok\n")


def test_a_check_is_asked_on_every_probe(serve: Callable[..., MetricsServer]) -> None:
    state = {"ready": False}
    server = serve(is_ready=lambda: state["ready"])
    assert get(server.port, "/readyz")[0] == 503
    state["ready"] = True
    assert get(server.port, "/readyz")[0] == 200


def test_a_check_that_raises_answers_503_and_the_server_stays_up(serve: Callable[..., MetricsServer]) -> None:
    broken = {"ready": True, "live": True}

    def ready() -> bool:
        return broken["ready"] and _raise()

    def live() -> bool:
        return broken["live"] and _raise()

    server = serve(is_ready=ready, is_live=live)
    for _ in range(3):  # repeatedly: a failure must not take a worker thread or the server down
        assert get(server.port, "/readyz")[0] == 503
        assert get(server.port, "/healthz")[0] == 503
        assert get(server.port, "/metrics")[0] == 200
    broken.update(ready=False, live=False)  # the checks answer False now: no longer raising
    assert get(server.port, "/readyz")[::2] == (503, b"not ready\n")
    assert get(server.port, "/healthz")[::2] == (503, b"event loop stalled\n")


def test_head_probe_has_no_body(serve: Callable[..., MetricsServer]) -> None:
    status, _, body = get(serve().port, "/readyz", method="HEAD")
    assert (status, body) == (200, b"")


# --------------------------------------------------------------------------- content negotiation


def test_metrics_are_gzipped_when_the_client_accepts_it(serve: Callable[..., MetricsServer]) -> None:
    status, response, body = get(serve().port, "/metrics", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert response.getheader("Content-Encoding") == "gzip"
    assert b"logdelim_test_requests_total 3.0" in gzip.decompress(body)


def test_metrics_in_openmetrics_format_when_asked(serve: Callable[..., MetricsServer]) -> None:
    status, response, body = get(serve().port, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200
    assert response.getheader("Content-Type").startswith("application/openmetrics-text")
    assert b"logdelim_test_requests_total 3.0" in body and body.endswith(b"# EOF\n")


def test_each_kind_of_request_gets_its_own_page(serve: Callable[..., MetricsServer]) -> None:
    port = serve().port
    # Asked back to back, within the page cache's age: each still answered in its own format.
    plain = get(port, "/metrics")
    zipped = get(port, "/metrics", {"Accept-Encoding": "gzip"})
    openmetrics = get(port, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    filtered = get(port, "/metrics?name[]=logdelim_test_requests_total")
    assert plain[1].getheader("Content-Encoding") is None and plain[2].startswith(b"# HELP")
    assert zipped[1].getheader("Content-Encoding") == "gzip" and gzip.decompress(zipped[2]) == plain[2]
    assert openmetrics[2].endswith(b"# EOF\n")
    assert b"logdelim_test_requests_total 3.0" in filtered[2] and b"_created" not in filtered[2]


@pytest.fixture
def counting() -> Iterator[tuple[int, Counter]]:
    """A started server whose page has a counter at 0, and the counter: (port, counter)."""
    registry = CollectorRegistry()
    counter = _counter(registry)
    server = MetricsServer("127.0.0.1", 0, registry, lambda: True).start()
    try:
        assert b"logdelim_test_requests_total 0.0" in get(server.port, "/metrics")[2]
        yield server.port, counter
    finally:
        server.stop()


def test_a_page_is_never_older_than_its_max_age(counting: tuple[int, Counter]) -> None:
    port, counter = counting
    counter.inc()
    time.sleep(PAGE_MAX_AGE_S + 0.1)
    assert b"logdelim_test_requests_total 1.0" in get(port, "/metrics")[2]


def test_no_cache_gets_a_new_page_within_the_max_age(counting: tuple[int, Counter]) -> None:
    port, counter = counting
    counter.inc()
    # Within the max age: the cached page for a plain request, a new one for no-cache.
    assert b"logdelim_test_requests_total 0.0" in get(port, "/metrics")[2]
    assert b"logdelim_test_requests_total 1.0" in get(port, "/metrics", {"Cache-Control": "no-cache"})[2]


# --------------------------------------------------------------------------- binding and stopping


def test_a_port_in_use_raises_at_construction_and_leaks_no_thread(serve: Callable[..., MetricsServer]) -> None:
    taken = serve().port
    threads = threading.active_count()
    with pytest.raises(OSError):
        MetricsServer("127.0.0.1", taken, _registry(), lambda: True)
    assert threading.active_count() == threads


def test_stop_is_prompt_idempotent_and_frees_the_port() -> None:
    threads = threading.active_count()
    server = MetricsServer("127.0.0.1", 0, _registry(), lambda: True).start()
    assert get(server.port, "/healthz")[0] == 200
    idle = socket.create_connection(("127.0.0.1", server.port))  # an open connection must not hold stop up
    try:
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0
        server.stop()
        # The port is free at once: a new server binds it (connections the server closed are in
        # TIME_WAIT on it, which the server's SO_REUSEADDR allows, as a restart needs).
        MetricsServer("127.0.0.1", server.port, _registry(), lambda: True).stop()
        idle.settimeout(2.0)
        try:
            closed = idle.recv(1) == b""
        except ConnectionResetError:  # still in the accept queue when the listener closed
            closed = True
        assert closed, "open connections are closed on stop"
    finally:
        idle.close()
    deadline = time.monotonic() + 2.0
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == threads, "the serving and worker threads ended"


def test_stop_after_the_serving_thread_closed_everything_does_not_touch_its_pipe() -> None:
    # The serving thread may see the stop flag and close its sockets, the wake-up pipe included,
    # between stop()'s flag and its wake-up: stop() must not write to that closed descriptor.
    server = MetricsServer("127.0.0.1", 0, _registry(), lambda: True).start()
    assert get(server.port, "/healthz")[0] == 200
    server._close()  # what the serving thread does on its way out, while it is still alive
    server.stop()
    server.stop()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", server.port))


def test_stop_without_start_releases_the_port() -> None:
    server = MetricsServer("127.0.0.1", 0, _registry(), lambda: True)
    server.stop()
    with socket.socket() as again:  # no connection was ever made: even a plain bind succeeds
        again.bind(("127.0.0.1", server.port))


def test_stop_returns_while_a_check_hangs() -> None:
    release = threading.Event()
    server = MetricsServer("127.0.0.1", 0, _registry(), lambda: release.wait(30)).start()

    def probe_once() -> None:
        with contextlib.suppress(OSError):  # the server closes this connection unanswered when it stops
            get(server.port, "/readyz")

    probe = threading.Thread(target=probe_once, daemon=True)
    probe.start()
    try:
        time.sleep(0.3)  # the probe is inside the check
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5.0
    finally:
        release.set()
        probe.join(5)


# --------------------------------------------------------------------------- load


def test_fifty_concurrent_scrapers_are_all_answered(
    serve: Callable[..., MetricsServer], record_property: Callable[[str, object], None]
) -> None:
    server = serve()
    result = asyncio.run(scrape_load("127.0.0.1", server.port, scrapers=50, requests_each=10))
    for key in ("scrape_p50_ms", "scrape_p99_ms", "scrape_max_ms", "scrape_seconds"):
        record_property(key, result[key])  # timing is the benchmark's to judge, not this test's
    assert result["scrape_requests"] == 500
    assert result["scrape_errors"] == 0, result["scrape_error_examples"]


def test_half_sent_requests_take_no_threads_and_are_closed(serve: Callable[..., MetricsServer]) -> None:
    server = serve()
    threads = threading.active_count()
    stalled: list[socket.socket] = []
    try:
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /metr")  # and nothing more
            stalled.append(sock)
        time.sleep(0.5)  # the server has accepted and read them
        assert threading.active_count() < threads + 10
        # A probe meanwhile is answered: stalled connections hold no worker.
        assert get(server.port, "/healthz")[0] == 200

        deadline = time.monotonic() + CHANNEL_TIMEOUT_S + CLEANUP_INTERVAL_S + LOOP_TIMEOUT_S + 3
        for sock in stalled:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            assert sock.recv(1) == b"", "the server closed the stalled connection"
        assert threading.active_count() < threads + 10
        assert get(server.port, "/metrics")[0] == 200
    finally:
        for sock in stalled:
            sock.close()
