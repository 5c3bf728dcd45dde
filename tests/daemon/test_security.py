"""Secure clusters: kafka.security validated at load, secrets from files and the environment
that never leak into output, an OAuth token provider against a real HTTP endpoint, and TLS
end to end (client certificates included) through a TLS-terminating proxy.

Tansu cannot test SASL or broker-side TLS here: its ``--cert`` and ``--key`` options refuse
to be given together (and ``--cert`` alone serves plain TCP), and ``tansu user create``
against a broker with ``--authentication`` fails, so no SASL user can exist on a memory
broker. TLS is therefore terminated by a proxy in front of Tansu (the broker advertises the
proxy); SASL PLAIN/SCRAM/OAUTHBEARER are tested through the client construction and the
token endpoint, and a daemon configured for SASL against Tansu shows the secret stays out
of its output.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import require
from tcp_proxy import TcpProxy

from logdelim.daemon.clients import ClientCredentialsTokenProvider, security_options
from logdelim.daemon.config import ConfigError, from_mapping, load
from logdelim.tools.broker import broker_binary, broker_command, free_port, wait_for_port

PLANTED = "pl4nted-S3cret-7f1c"


def _security(**keys: Any) -> dict[str, Any]:
    return from_mapping({"kafka": {"security": keys}}).kafka.security


# --------------------------------------------------------------------------- validation at load


@pytest.mark.parametrize(
    ("security", "key"),
    [
        ({"security_protocol": "SASL_SSL"}, "kafka.security.sasl_mechanism"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "u"},
            "kafka.security.sasl_plain_password",
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "OAUTHBEARER",
                "sasl_oauth_client_id": "c",
                "sasl_oauth_client_secret": "s",
            },
            "kafka.security.sasl_oauth_token_url",
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "OAUTHBEARER",
                "sasl_oauth_token_url": "ftp://x",
                "sasl_oauth_client_id": "c",
                "sasl_oauth_client_secret": "s",
            },
            "kafka.security.sasl_oauth_token_url",
        ),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "MD5"}, "kafka.security.sasl_mechanism"),
        ({"security_protocol": "TLS"}, "kafka.security.security_protocol"),
        ({"ssl_cafile": "/etc/hostname"}, "kafka.security.ssl_cafile"),
        ({"sasl_mechanism": "PLAIN"}, "kafka.security.sasl_mechanism"),
        ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "kafka.security.ssl_cafile"),
        ({"security_protocol": "SSL", "ssl_keyfile": "/etc/hostname"}, "kafka.security.ssl_certfile"),
        ({"security_protocol": "SSL", "ssl_check_hostname": "no"}, "kafka.security.ssl_check_hostname"),
        ({"security_protocol": "SSL", "ssl_password_file": "/nonexistent"}, "kafka.security.ssl_password_file"),
        ({"sasl_plain_passwrd": "x"}, "kafka.security.sasl_plain_passwrd"),
    ],
)
def test_a_bad_security_combination_names_its_key(security: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        from_mapping({"kafka": {"security": security}})
    assert str(raised.value).startswith(key + ":"), raised.value


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"producer_options": {"compresion_type": "gzip"}}, "kafka.producer_options.compresion_type"),
        ({"producer_options": {"acks": 1}}, "kafka.producer_options.acks"),
        ({"consumer_options": {"group_id": "other"}}, "kafka.consumer_options.group_id"),
        ({"consumer_options": {"sasl_mechanism": "PLAIN"}}, "kafka.consumer_options.sasl_mechanism"),
        ({"consumer_options": {"max_poll_records": [1]}}, "kafka.consumer_options.max_poll_records"),
    ],
)
def test_client_options_are_checked_against_aiokafka(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}:"):
        from_mapping({"kafka": options})


async def test_client_options_reach_the_clients() -> None:
    from logdelim.daemon.clients import build_clients

    kafka = from_mapping(
        {
            "kafka": {
                "producer_options": {"compression_type": "gzip", "linger_ms": 7},
                "consumer_options": {"isolation_level": "read_committed"},
            }
        }
    ).kafka
    consumer, producer, probe = build_clients(kafka)
    try:
        # aiokafka keeps them privately.
        assert producer._compression_type == "gzip" and producer._message_accumulator._linger_time == 0.007
        assert consumer._isolation_level == "read_committed"
    finally:
        for client in (consumer, producer, probe):
            await client.stop()


def test_a_missing_protocol_means_plaintext_and_ssl_without_files_uses_the_system_cas() -> None:
    assert security_options(_security()) == {"security_protocol": "PLAINTEXT"}
    options = security_options(_security(security_protocol="SSL"))  # once: "ssl_context is mandatory"
    assert isinstance(options["ssl_context"], ssl.SSLContext) and options["ssl_context"].check_hostname


def test_sasl_mechanisms_build_their_client_arguments(tmp_path: Path) -> None:
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        options = security_options(
            _security(
                security_protocol="SASL_SSL", sasl_mechanism=mechanism, sasl_plain_username="u", sasl_plain_password="p"
            )
        )
        assert options["sasl_mechanism"] == mechanism and options["sasl_plain_password"] == "p"
        assert isinstance(options["ssl_context"], ssl.SSLContext)
    (tmp_path / "secret").write_text("client-secret\n")
    options = security_options(
        _security(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="OAUTHBEARER",
            sasl_oauth_token_url="https://idp/token",
            sasl_oauth_client_id="logdelim",
            sasl_oauth_client_secret_file=str(tmp_path / "secret"),
        )
    )
    provider = options["sasl_oauth_token_provider"]
    assert isinstance(provider, ClientCredentialsTokenProvider) and provider._client_secret == "client-secret"


# --------------------------------------------------------------------------- secrets


def test_secret_files_are_read_and_their_trailing_newline_dropped(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(PLANTED + "\n")
    security = _security(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_plain_username="u",
        sasl_plain_password_file=str(tmp_path / "password"),
    )
    assert security["sasl_plain_password"] == PLANTED and "sasl_plain_password_file" not in security
    with pytest.raises(ConfigError, match="not both"):
        _security(
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_plain_username="u",
            sasl_plain_password="x",
            sasl_plain_password_file=str(tmp_path / "password"),
        )
    assert PLANTED not in repr(
        from_mapping(
            {
                "kafka": {
                    "security": {
                        "security_protocol": "SASL_SSL",
                        "sasl_mechanism": "PLAIN",
                        "sasl_plain_username": "u",
                        "sasl_plain_password": PLANTED,
                    }
                }
            }
        )
    ), "the config's repr leaves the security section out"


@pytest.mark.parametrize("text", ["[x", "0123", "yes", "null", "{a: b}", "'quoted'"])
def test_environment_overrides_of_string_keys_stay_the_strings_given(text: str) -> None:
    config = load(
        None,
        environ={
            "LOGDELIM_KAFKA__SECURITY__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "LOGDELIM_KAFKA__SECURITY__SASL_MECHANISM": "PLAIN",
            "LOGDELIM_KAFKA__SECURITY__SASL_PLAIN_USERNAME": text,
            "LOGDELIM_KAFKA__SECURITY__SASL_PLAIN_PASSWORD": text,
            "LOGDELIM_KAFKA__CLIENT_ID": text,
        },
    )
    assert config.kafka.security["sasl_plain_password"] == text
    assert config.kafka.security["sasl_plain_username"] == text and config.kafka.client_id == text


def test_a_value_that_is_not_yaml_is_an_error_that_does_not_echo_it() -> None:
    with pytest.raises(ConfigError) as raised:
        load(None, environ={"LOGDELIM_BATCHING__MAX_LINES": "[" + PLANTED})
    assert str(raised.value).startswith("batching.max_lines:") and PLANTED not in str(raised.value)


def _run(args: list[str], env: dict[str, str] | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "logdelim.daemon.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
    )


def test_a_bad_security_config_exits_2_naming_the_key_before_the_model_loads(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "security": {
                        "security_protocol": "SASL_SSL",
                        "sasl_mechanism": "SCRAM-SHA-512",
                        "sasl_plain_username": "u",
                    }
                }
            }
        )
    )
    done = _run(["run", "--config", str(config)], env={"LOGDELIM_KAFKA__SECURITY__SASL_OAUTH_CLIENT_SECRET": PLANTED})
    assert done.returncode == 2, done.stderr
    assert "kafka.security.sasl_plain_password" in done.stderr and "Traceback" not in done.stderr
    assert PLANTED not in done.stdout + done.stderr


def test_a_planted_secret_appears_in_no_output_of_a_daemon_that_uses_it(broker, tmp_path: Path, unique_name) -> None:
    """SASL PLAIN against Tansu (which refuses the mechanism): the daemon retries, logs why, stops."""
    (tmp_path / "password").write_text(PLANTED)
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": broker.bootstrap_servers,
                    "group_id": unique_name("secret"),
                    "startup_timeout_s": 8.0,
                    "security": {
                        "security_protocol": "SASL_PLAINTEXT",
                        "sasl_mechanism": "PLAIN",
                        "sasl_plain_username": "logdelim",
                        "sasl_plain_password_file": str(tmp_path / "password"),
                    },
                },
                "metrics": {"host": "127.0.0.1", "port": free_port()},
                "logging": {"level": "DEBUG"},
            }
        )
    )
    done = _run(["run", "--config", str(config)], timeout_s=120)
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "kafka.startup_timeout_s" in output, output[-3000:]
    assert "UnsupportedSaslMechanism" in output, "the SASL exchange was attempted"
    assert PLANTED not in output
    # Through the environment too (and a config error of another key on top).
    env_done = _run(
        ["run", "--config", str(config), "--set", "batching.max_lines=0"],
        env={"LOGDELIM_KAFKA__SECURITY__SASL_PLAIN_PASSWORD": PLANTED},
    )
    assert env_done.returncode == 2 and PLANTED not in env_done.stdout + env_done.stderr


# --------------------------------------------------------------------------- OAuth token endpoint


class _TokenEndpoint(http.server.BaseHTTPRequestHandler):
    requests: list[dict[str, list[str]]] = []
    expires_in_s = 3600

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        type(self).requests.append(form)
        body = json.dumps(
            {"access_token": f"token-{len(self.requests)}", "token_type": "Bearer", "expires_in": self.expires_in_s}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def token_endpoint() -> Iterator[tuple[str, type[_TokenEndpoint]]]:
    handler = type("Endpoint", (_TokenEndpoint,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token", handler
    server.shutdown()
    server.server_close()


async def test_oauth_tokens_are_fetched_with_client_credentials_and_refreshed_before_expiry(token_endpoint) -> None:
    url, endpoint = token_endpoint
    provider = ClientCredentialsTokenProvider(url, "logdelim", PLANTED, scope="kafka")
    assert await provider.token() == "token-1"
    assert await provider.token() == "token-1", "cached while far from expiry"
    assert endpoint.requests == [
        {
            "grant_type": ["client_credentials"],
            "client_id": ["logdelim"],
            "client_secret": [PLANTED],
            "scope": ["kafka"],
        }
    ]
    endpoint.expires_in_s = 2  # a short-lived token is fetched again at half its life
    provider._refresh_at = 0.0
    assert await provider.token() == "token-2"
    time.sleep(1.1)
    assert await provider.token() == "token-3"


async def test_an_unreachable_token_endpoint_fails_without_the_secret() -> None:
    provider = ClientCredentialsTokenProvider(f"http://127.0.0.1:{free_port()}/token", "logdelim", PLANTED)
    with pytest.raises(RuntimeError) as raised:
        await provider.token()
    assert "token request" in str(raised.value) and PLANTED not in str(raised.value)


# --------------------------------------------------------------------------- TLS end to end


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate it signed."""
    require(shutil.which("openssl") is not None, "openssl is not installed (make system-deps)")
    out = tmp_path_factory.mktemp("certs")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=logdelim-test-ca",
        cwd=out,
    )
    (out / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=out,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            cwd=out,
        )
    return out


@pytest.fixture(scope="module")
def tls_broker(broker, certificates: Path) -> Iterator[str]:
    """A Tansu of its own behind a TLS-terminating proxy that requires a client certificate."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certificates / "ca.crt"))
    server_context.load_cert_chain(str(certificates / "server.crt"), str(certificates / "server.key"))
    server_context.verify_mode = ssl.CERT_REQUIRED
    broker_port, proxy_port = free_port(), free_port()
    command = broker_command(broker_port)
    command[command.index("--advertised-listener-url") + 1] = f"tcp://127.0.0.1:{proxy_port}"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    proxy = None
    try:
        wait_for_port(broker_port, 20, process)
        # Tansu's own CLI, straight to the broker (Kafka clients would follow the advertised proxy).
        for topic in ("tls-in", "tls-out", "tls-dead"):
            subprocess.run(
                [
                    broker_binary(),
                    "topic",
                    "create",
                    "--broker",
                    f"tcp://127.0.0.1:{broker_port}",
                    "--partitions",
                    "1",
                    topic,
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
        proxy = TcpProxy(proxy_port, broker_port, ssl_context=server_context).start()
        yield proxy.address
    finally:
        if proxy is not None:
            proxy.stop()
        process.terminate()
        process.wait(timeout=10)


def _client_tls(certificates: Path) -> dict[str, Any]:
    return {
        "security_protocol": "SSL",
        "ssl_cafile": str(certificates / "ca.crt"),
        "ssl_certfile": str(certificates / "client.crt"),
        "ssl_keyfile": str(certificates / "client.key"),
    }


async def _produce_and_read(bootstrap: str, security: dict[str, Any], values: list[bytes]) -> list[Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    options = security_options(_security(**security))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, **options)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait("tls-in", value, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        consumer.assign([TopicPartition("tls-out", 0)])
        await consumer.seek_to_beginning()
        out: list[Any] = []
        deadline = time.monotonic() + 90
        while len(out) < len(values) and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(messages)
        return out
    finally:
        await consumer.stop()


def test_the_daemon_annotates_over_tls_with_a_client_certificate(
    tls_broker: str, certificates: Path, daemon_launcher, tmp_path: Path
) -> None:
    launcher = daemon_launcher(tmp_path, tls_broker)
    try:
        daemon = launcher.launch(
            input_topics=["tls-in"],
            output_topic="tls-out",
            dead_letter_topic="tls-dead",
            group_id="tls",
            kafka={"security": _client_tls(certificates)},
        )
        values = [f"2024-05-01 12:00:00 INFO worker {i}: TLS line".encode() for i in range(50)]
        records = asyncio.run(_produce_and_read(tls_broker, _client_tls(certificates), values))
        assert sorted(json.loads(r.value)["source"]["offset"] for r in records) == list(range(50))
        assert daemon.stop(signal.SIGTERM)[0] == 0
    finally:
        launcher.kill_all()


def test_a_client_without_the_ca_or_certificate_is_refused(
    tls_broker: str, certificates: Path, daemon_launcher, tmp_path: Path
) -> None:
    launcher = daemon_launcher(tmp_path, tls_broker)
    try:
        # The system CAs do not know the test CA: the daemon keeps waiting, never ready, then gives up.
        daemon = launcher.launch(
            input_topics=["tls-in"],
            output_topic="tls-out",
            dead_letter_topic="tls-dead",
            group_id="tls-untrusted",
            wait_ready=False,
            kafka={"security": {"security_protocol": "SSL"}, "startup_timeout_s": 5.0},
        )
        assert daemon.process.wait(timeout=90) == 1
        assert "CERTIFICATE_VERIFY_FAILED" in daemon.log() or "certificate verify failed" in daemon.log()
    finally:
        launcher.kill_all()


async def test_records_are_zstd_compressed_unless_the_producer_options_say_otherwise() -> None:
    from logdelim.daemon.clients import build_clients

    for options, codec in (({}, "zstd"), ({"compression_type": None}, None), ({"compression_type": "gzip"}, "gzip")):
        consumer, producer, probe = build_clients(from_mapping({"kafka": {"producer_options": options}}).kafka)
        try:
            assert producer._compression_type == codec  # aiokafka keeps it privately
        finally:
            for client in (consumer, producer, probe):
                await client.stop()
