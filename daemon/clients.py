"""The daemon's Kafka clients: how they are built (security included) and started.

Built: :func:`build_clients` turns the config's plain values into aiokafka
clients; ``kafka.security`` becomes an SSL context (the system's CAs unless
``ssl_cafile``/``ssl_capath`` name others) and, for OAUTHBEARER, an OIDC
client-credentials token provider (:class:`ClientCredentialsTokenProvider`).

Started: a sidecar starts beside its broker, and brokers restart: the daemon
waits for one instead of exiting. Each attempt first opens a TCP connection to
every bootstrap server (cheap, and silent: aiokafka logs an error per failed
bootstrap), then starts the clients; a failed start closes what it opened. The
wait is logged once per ``log_interval_s``, not once per attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiokafka.abc import AbstractTokenProvider

logger = logging.getLogger(__name__)

PRODUCER_LINGER_MS = 5
# aiokafka blocks a send while its partition's open batch is full and unsent, and Tansu
# answers each produce request in tens of milliseconds: large batches keep records
# flowing, where small ones made the producer, not the model, the bottleneck.
PRODUCER_BATCH_BYTES = 1024 * 1024
# Records are JSON with every token's text and offsets, about ten times their line, and
# compress some twentyfold. With zstd the producer spent less CPU per record than without
# (less to checksum and to write) and a produce request was answered in half the time, which
# is most of the daemon's latency. kafka.producer_options {compression_type: null} turns it off
# (for consumers whose client cannot read zstd: Kafka clients before 2.1).
PRODUCER_COMPRESSION = "zstd"
# An OAuth token is fetched again this long before it expires (or at half its life if shorter).
TOKEN_REFRESH_MARGIN_S = 60.0
TOKEN_REQUEST_TIMEOUT_S = 10.0

CONNECT_TIMEOUT_S = 2.0
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 5.0)
LOG_INTERVAL_S = 30.0
CLIENT_STOP_TIMEOUT_S = 1.0


class ClientCredentialsTokenProvider(AbstractTokenProvider):
    """OAUTHBEARER tokens from an OIDC token endpoint (client-credentials grant), cached until
    ``TOKEN_REFRESH_MARGIN_S`` before they expire.

    Args:
        token_url: the provider's token endpoint.
        client_id: the client's id.
        client_secret: its secret (never logged).
        scope: space-separated scopes, or None.
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None = None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid access token (fetched again when the cached one nears its expiry)."""
        async with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                token, expires_in_s = await asyncio.to_thread(self._fetch)
                margin_s = min(TOKEN_REFRESH_MARGIN_S, expires_in_s / 2)
                self._token, self._refresh_at = token, time.monotonic() + expires_in_s - margin_s
                return token
            return self._token

    def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._client_secret}
        if self.scope:
            form["scope"] = self.scope
        request = urllib.request.Request(
            self.token_url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TOKEN_REQUEST_TIMEOUT_S) as response:
                body = json.loads(response.read())
        except (OSError, ValueError) as exc:
            # The reason, not the request: its body holds the secret.
            raise RuntimeError(f"OAuth token request to {self.token_url} failed: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise RuntimeError(f"OAuth token endpoint {self.token_url} answered without an access_token")
        return body["access_token"], float(body.get("expires_in", 3600))


def ssl_context(security: Mapping[str, Any]) -> ssl.SSLContext:
    """The TLS context of ``kafka.security``: verify the broker against ``ssl_cafile``/``ssl_capath``
    (the system's CAs when neither is given), present ``ssl_certfile`` when given.

    Raises:
        OSError, ssl.SSLError: a file that cannot be read or is not a certificate or key.
    """
    context = ssl.create_default_context(cafile=security.get("ssl_cafile"), capath=security.get("ssl_capath"))
    if security.get("ssl_certfile"):
        context.load_cert_chain(security["ssl_certfile"], security.get("ssl_keyfile"), security.get("ssl_password"))
    context.check_hostname = bool(security.get("ssl_check_hostname", True))
    return context


def security_options(security: Mapping[str, Any]) -> dict[str, Any]:
    """aiokafka keyword arguments for a validated ``kafka.security`` (see ``config.SECURITY_KEYS``)."""
    protocol = security.get("security_protocol", "PLAINTEXT")
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(security)
    if protocol.startswith("SASL_"):
        mechanism = security["sasl_mechanism"]
        options["sasl_mechanism"] = mechanism
        if mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = ClientCredentialsTokenProvider(
                security["sasl_oauth_token_url"],
                security["sasl_oauth_client_id"],
                security["sasl_oauth_client_secret"],
                security.get("sasl_oauth_scope"),
            )
        for key in (
            "sasl_plain_username",
            "sasl_plain_password",
            "sasl_kerberos_service_name",
            "sasl_kerberos_domain_name",
        ):
            if key in security:
                options[key] = security[key]
    return options


def build_clients(kafka: Any) -> tuple[Any, Any, Any]:
    """Unstarted clients for the ``kafka`` config section: the group consumer (manual commits),
    the producer (acks=all) and the group-less consumer behind the high-watermark probe.

    ``kafka.consumer_options`` and ``kafka.producer_options`` (validated at load) are
    passed through last, so they win over the defaults chosen here.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    common = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        **security_options(kafka.security),
    }
    consumer = AIOKafkaConsumer(
        **{
            **common,
            "group_id": kafka.group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": kafka.auto_offset_reset,
            "session_timeout_ms": kafka.session_timeout_ms,
            "heartbeat_interval_ms": kafka.heartbeat_interval_ms,
            "fetch_max_wait_ms": kafka.fetch_max_wait_ms,
            "max_partition_fetch_bytes": kafka.max_message_bytes,
            "fetch_max_bytes": max(kafka.max_message_bytes, 50 * 1024 * 1024),
            **kafka.consumer_options,
        }
    )
    # Tansu has no idempotent producer; duplicates are what the record key is for.
    producer = AIOKafkaProducer(
        **{
            **common,
            "acks": "all",
            "enable_idempotence": False,
            "linger_ms": PRODUCER_LINGER_MS,
            "compression_type": PRODUCER_COMPRESSION,
            "max_batch_size": PRODUCER_BATCH_BYTES,
            "max_request_size": kafka.max_message_bytes,
            "request_timeout_ms": kafka.produce_timeout_ms,
            **kafka.producer_options,
        }
    )
    # Only watermarks are wanted from it: small fetches, short waits.
    probe = AIOKafkaConsumer(
        **common, group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=65536, fetch_max_wait_ms=100
    )
    return consumer, producer, probe


def bootstrap_addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    """``"a:9092,[::1]:9093"`` -> ``[("a", 9092), ("::1", 9093)]`` (port 9092 when none is given)."""
    out = []
    for server in bootstrap_servers.split(","):
        server = server.strip()
        host, sep, port = server.rpartition(":")
        if not sep or host.endswith(":") or (":" in host and not host.startswith("[")):  # no port given
            host, port = server, "9092"
        out.append((host.strip("[]"), int(port)))
    return out


async def _reachable(addresses: Sequence[tuple[str, int]]) -> str | None:
    """None when some bootstrap server accepts a TCP connection, else why none did."""
    problems = []
    for host, port in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            problems.append(f"{host}:{port}: {exc!r}")
            continue
        writer.close()
        return None
    return "; ".join(problems)


async def stop_client(name: str, client: Any) -> None:
    """``client.stop()`` within ``CLIENT_STOP_TIMEOUT_S``; a failure is logged, not raised (exiting anyway)."""
    try:
        await asyncio.wait_for(client.stop(), CLIENT_STOP_TIMEOUT_S)
    # aiokafka's fetcher can leak a CancelledError out of stop() when the broker is gone.
    except (asyncio.CancelledError, Exception) as exc:  # noqa: BLE001 - exiting anyway
        logger.warning("%s did not stop cleanly: %r", name, exc)


async def start_when_reachable(
    build: Callable[[], Sequence[tuple[str, Any]]],
    bootstrap_servers: str,
    timeout_s: float | None,
    stop: asyncio.Event,
    log_interval_s: float = LOG_INTERVAL_S,
) -> list[Any] | None:
    """Build and start clients once the broker answers, retrying with backoff.

    Args:
        build: makes a fresh set of unstarted ``(name, client)`` pairs, started in that
            order (a client whose start failed is not started again: aiokafka's are single use).
        bootstrap_servers: the clients' ``host:port[,host:port]``.
        timeout_s: give up after this long (None: wait until ``stop``).
        stop: set to give up at once (a SIGTERM while waiting).

    Returns:
        The started clients, in ``build``'s order; None after ``timeout_s`` or ``stop``.
    """
    addresses = bootstrap_addresses(bootstrap_servers)
    started_at = time.monotonic()
    attempts = 0
    logged_at: float | None = None
    while not stop.is_set():
        problem = await _reachable(addresses)
        if problem is None:
            clients = list(build())
            try:
                for _, client in clients:
                    await client.start()
                if attempts:
                    logger.info("connected to %s after %.1f s", bootstrap_servers, time.monotonic() - started_at)
                return [client for _, client in clients]
            except Exception as exc:  # noqa: BLE001 - any failure to start is retried
                problem = repr(exc)
                await asyncio.gather(*(stop_client(name, client) for name, client in clients))
        attempts += 1
        waited_s = time.monotonic() - started_at
        if timeout_s is not None and waited_s >= timeout_s:
            logger.error(
                "broker at %s not reachable within kafka.startup_timeout_s=%g s (%d attempts): %s",
                bootstrap_servers,
                timeout_s,
                attempts,
                problem,
            )
            return None
        if logged_at is None or time.monotonic() - logged_at >= log_interval_s:
            logged_at = time.monotonic()
            logger.warning(
                "broker at %s not reachable yet (%d attempts in %.0f s): %s; still trying",
                bootstrap_servers,
                attempts,
                waited_s,
                problem,
            )
        delay_s = BACKOFF_S[min(attempts - 1, len(BACKOFF_S) - 1)]
        if timeout_s is not None:
            delay_s = min(delay_s, max(0.0, timeout_s - waited_s))
        try:
            await asyncio.wait_for(stop.wait(), delay_s)
        except asyncio.TimeoutError:
            pass
    return None
