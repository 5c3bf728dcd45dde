"""A TCP proxy between Kafka clients and a broker that a test can cut or stall.

Kafka clients connect to the address the broker advertises in its metadata, not
to the bootstrap address they were given, so a broker under test must advertise
the proxy's address (``fault_broker`` in test_faults.py starts a Tansu that does).
Every client connection then runs through here:

- :meth:`TcpProxy.cut` closes every connection and refuses new ones until
  :meth:`TcpProxy.restore` (a network partition seen by the client as resets);
- :meth:`TcpProxy.stall_produce` holds Produce requests (Kafka API key 0) sent by
  clients with a given ``client_id`` until :meth:`TcpProxy.release`: the
  daemon's output side hangs while other clients, such as the test's own
  producer, go on. A held request blocks its connection, as a slow broker would.

The proxy parses only the request header (size, api_key, api_version,
correlation_id, client_id), which every Kafka request version shares; bytes
are forwarded unchanged. Given an ``ssl_context``, the proxy terminates TLS: clients
connect with TLS (and client certificates, when the context requires them), the
broker behind it speaks plain Kafka, as behind a TLS-terminating load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import threading
from collections.abc import Coroutine
from typing import Any

PRODUCE_API_KEY = 0
HOST = "127.0.0.1"


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``upstream_port``; runs an event loop in a background thread."""

    def __init__(self, port: int, upstream_port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.upstream_port = upstream_port
        self.ssl_context = ssl_context  # given: clients speak TLS to the proxy (a TLS-terminating front)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._stalled_client: bytes | None = None
        self._flowing: asyncio.Event | None = None
        self.held_requests = 0  # Produce requests that waited on a stall (for assertions)
        self.connections = 0

    @property
    def address(self) -> str:
        """``host:port`` for clients."""
        return f"{HOST}:{self.port}"

    def start(self) -> TcpProxy:
        """Listen (returns once the port accepts connections)."""
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        """Close everything and end the thread."""
        self._call(self._close_all(stop_listening=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def cut(self) -> None:
        """Reset every connection and refuse new ones until :meth:`restore`."""
        self._call(self._close_all(stop_listening=False))

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._cut = False

    def stall_produce(self, client_id: str) -> None:
        """Hold Produce requests of clients named ``client_id`` until :meth:`release`."""
        self._call(self._stall(client_id.encode()))

    def release(self) -> None:
        """Forward the held Produce requests and stop holding new ones."""
        self._call(self._release())

    # ------------------------------------------------------------------ loop side

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, HOST, self.port, ssl=self.ssl_context)

    async def _stall(self, client_id: bytes) -> None:
        self._stalled_client = client_id
        self._flowing.clear()

    async def _release(self) -> None:
        self._stalled_client = None
        self._flowing.set()

    async def _close_all(self, stop_listening: bool) -> None:
        self._cut = True
        if stop_listening and self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()  # RST, as a broken network path looks to the client
        self._writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._cut:
            client_writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((client_writer, upstream_writer))
        await asyncio.gather(
            self._requests(client_reader, upstream_writer),
            self._pipe(upstream_reader, client_writer),
            return_exceptions=True,
        )
        for writer in (client_writer, upstream_writer):
            self._writers.discard(writer)
            writer.transport.abort()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client to broker, one request frame at a time, holding stalled Produce requests."""
        try:
            while True:
                size_bytes = await reader.readexactly(4)
                (size,) = struct.unpack(">i", size_bytes)
                frame = await reader.readexactly(size)
                api_key, _version, _correlation, id_length = struct.unpack(">hhih", frame[:10])
                client_id = frame[10 : 10 + id_length] if id_length > 0 else b""
                if (
                    api_key == PRODUCE_API_KEY
                    and self._stalled_client is not None
                    and client_id == self._stalled_client
                ):
                    self.held_requests += 1
                    await self._flowing.wait()
                writer.write(size_bytes + frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Broker to client, bytes as they come."""
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
