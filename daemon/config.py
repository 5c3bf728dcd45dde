"""Daemon configuration: YAML into frozen dataclasses, validated once at startup.

The dataclass field defaults are the single place each setting's default lives,
and the comment above each field (or constant) is its documentation:
``docs/configuration.md`` is generated from them (``make docs``). An unknown key
or a bad value raises :class:`ConfigError` naming the key
(``kafka.bootstrap_servrs: unknown key``), so a typo fails at startup instead of
silently running with a default.

Overrides, applied in this order over the YAML file:

1. environment variables ``LOGDELIM_<SECTION>__<KEY>``, e.g.
   ``LOGDELIM_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` or
   ``LOGDELIM_BATCHING__MAX_LINES=256``;
2. ``--set section.key=value`` flags of ``logdelim run``.

An override of a string key (``kafka.bootstrap_servers``, every ``kafka.security``
key but ``ssl_check_hostname``) is taken as the string it is: a password ``0123``
stays ``"0123"``, ``[x`` stays ``"[x"`` (``null`` or empty clears a key that may
be null). Other values are parsed as YAML scalars/flow values, so ``true``, ``42``
and ``[a, b]`` mean what they mean in the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

ENV_PREFIX = "LOGDELIM_"

# kafka.security: its keys and the rules for combining them.

# security_protocol's values; PLAINTEXT when not given.
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# sasl_mechanism's values. PLAIN and SCRAM need sasl_plain_username and
# sasl_plain_password; OAUTHBEARER needs sasl_oauth_token_url (http or https),
# sasl_oauth_client_id and sasl_oauth_client_secret, and fetches an OIDC
# client-credentials token again before it expires.
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI")
# TLS keys: they need security_protocol SSL or SASL_SSL. Without ssl_cafile or ssl_capath
# the system's CAs are trusted; ssl_certfile and ssl_keyfile (and ssl_password when the
# key is encrypted) give mutual TLS. ssl_check_hostname is true or false.
SSL_KEYS = frozenset({"ssl_cafile", "ssl_capath", "ssl_certfile", "ssl_keyfile", "ssl_password", "ssl_check_hostname"})
# SASL keys: they need security_protocol SASL_PLAINTEXT or SASL_SSL, and sasl_mechanism.
SASL_KEYS = frozenset(
    {
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "sasl_kerberos_service_name",
        "sasl_kerberos_domain_name",
        "sasl_oauth_token_url",
        "sasl_oauth_client_id",
        "sasl_oauth_client_secret",
        "sasl_oauth_scope",
    }
)
# Secrets: never echoed in logs or errors; each also read from a file (KEY_file, a trailing
# newline dropped), as Kubernetes mounts secrets.
SECRET_KEYS = frozenset({"sasl_plain_password", "sasl_oauth_client_secret", "ssl_password"})
# Keys with a KEY_file twin (the key's value read from that file): the secrets, and the
# user name that goes with a password (one Kubernetes Secret then holds both, as KEDA's
# TriggerAuthentication reads them).
FILE_KEYS = SECRET_KEYS | {"sasl_plain_username"}
# Every kafka.security key: aiokafka's own names, plus the OAUTHBEARER client-credentials
# keys (sasl_oauth_*) and the *_file twins; any other key is an error. Validated at load (a
# bad combination exits 2 naming the key, before the model loads).
SECURITY_KEYS = frozenset({"security_protocol"}) | SSL_KEYS | SASL_KEYS | {f"{k}_file" for k in FILE_KEYS}
# Paths checked at load (the file must exist).
SECURITY_FILE_KEYS = frozenset({"ssl_cafile", "ssl_certfile", "ssl_keyfile"})
# aiokafka arguments kafka.consumer_options / producer_options may not set: logdelim's own
# contract (manual commits, acks=all, bytes in and out) or a kafka.* key that owns the setting.
OWNED_CLIENT_OPTIONS = {
    "loop": "set by logdelim",
    "topics": "set by logdelim",
    "bootstrap_servers": "use kafka.bootstrap_servers",
    "client_id": "use kafka.client_id",
    "group_id": "use kafka.group_id",
    "enable_auto_commit": "logdelim commits what it has delivered",
    "auto_offset_reset": "use kafka.auto_offset_reset",
    "session_timeout_ms": "use kafka.session_timeout_ms",
    "heartbeat_interval_ms": "use kafka.heartbeat_interval_ms",
    "fetch_max_wait_ms": "use kafka.fetch_max_wait_ms",
    "acks": "logdelim needs acks=all",
    "max_request_size": "use kafka.max_message_bytes",
    "request_timeout_ms": "use kafka.produce_timeout_ms (producer) or leave the consumer's",
    "key_serializer": "records are bytes",
    "value_serializer": "records are bytes",
    "key_deserializer": "messages are bytes",
    "value_deserializer": "messages are bytes",
    "partitioner": "records go to their input's partition number",
    "transactional_id": "no transactions",
    "partition_assignment_strategy": "not a plain value",
}


class ConfigError(ValueError):
    """A configuration problem; the message starts with the dotted key at fault."""


@dataclasses.dataclass(frozen=True)
class KafkaConfig:
    """Where lines come from and records go, and how delivery is tracked."""

    # The brokers to start from, host:port[,host:port...].
    bootstrap_servers: str = "127.0.0.1:9092"
    # The topics whose messages are the log lines (a single name may be written without brackets).
    input_topics: tuple[str, ...] = ("logs.raw",)
    # A regex subscription instead of input_topics (which must then be left out): every
    # topic whose name it matches from the start (aiokafka's re.match; end it with $ to
    # match whole names), including topics created later (found at metadata refreshes).
    input_pattern: str | None = None
    # Where the records go: one per input message. It must not be an input topic.
    output_topic: str = "logs.tokens"
    # Where bad input goes, its original bytes with the reason in headers.
    dead_letter_topic: str = "logs.dead"
    # The consumer group: replicas with the same group_id share the input partitions.
    group_id: str = "logdelim"
    # Sent to the brokers with every request (broker logs, quotas).
    client_id: str = "logdelim"
    # earliest or latest: where a group without committed offsets starts.
    auto_offset_reset: str = "earliest"
    # How often the acknowledged prefix of each partition is committed: often, because
    # uncommitted lines count against batching.max_in_flight_lines.
    commit_interval_ms: int = 200
    # Tansu answers a group join only after half the session timeout: lower it for a
    # faster start (the demo uses 3000), keep it well above stalls of the host.
    session_timeout_ms: int = 10000
    # Must be below session_timeout_ms.
    heartbeat_interval_ms: int = 3000
    # How long the broker may hold a fetch waiting for data. With aiokafka's 500 ms
    # default that wait adds to the latency of a steady stream (Tansu holds the fetch
    # that long even when data arrives). 20 ms, like batching.max_wait_ms: an idle
    # consumer then sends one small fetch per 20 ms per broker.
    fetch_max_wait_ms: int = 20
    # Our own resend attempts after aiokafka's internal retries give up on a record.
    produce_retries: int = 5
    # Per produce request.
    produce_timeout_ms: int = 30000
    # Largest message read or written; must cover input.max_line_bytes for dead letters.
    max_message_bytes: int = 8 * 1024 * 1024
    # SIGTERM / revocation drain budget; with the final commit (<= 1.5 s) and client
    # stops (<= 1 s each) a stop stays within 10 s.
    drain_timeout_s: float = 6.0
    # How long a start waits for a broker that is not reachable yet (retried with backoff,
    # /readyz 503 meanwhile) before exiting 1; null: wait forever (a sidecar outlives
    # its broker's restarts).
    startup_timeout_s: float | None = None
    # TLS and SASL, in aiokafka's names (see "kafka.security" below); validated at load,
    # *_file keys read. It holds secrets, so it is left out of the config's repr.
    security: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    # aiokafka's own keyword arguments, passed through (fetch_min_bytes, max_poll_interval_ms,
    # isolation_level, client_rack, ...); checked against its signatures.
    consumer_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # The same for the producer. Records go out zstd-compressed (JSON with every token's
    # offsets compresses some twentyfold): compression_type gzip, lz4, snappy, or null for
    # none (consumers on Kafka clients older than 2.1 cannot read zstd).
    producer_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(bool(self.bootstrap_servers.strip()), "kafka.bootstrap_servers", "must not be empty")
        _require(
            len(self.input_topics) > 0 and all(self.input_topics),
            "kafka.input_topics",
            "must be a non-empty list of topic names",
        )
        for key in ("output_topic", "dead_letter_topic", "group_id"):
            _require(bool(getattr(self, key)), f"kafka.{key}", "must not be empty")
        _require(
            self.input_pattern is not None or self.output_topic not in self.input_topics,
            "kafka.output_topic",
            "must not be an input topic",
        )
        _require(
            self.input_pattern is not None or self.dead_letter_topic not in self.input_topics,
            "kafka.dead_letter_topic",
            "must not be an input topic",
        )
        if self.input_pattern is not None:
            self._check_input_pattern()
        _require(
            self.auto_offset_reset in ("earliest", "latest"), "kafka.auto_offset_reset", "must be earliest or latest"
        )
        _positive(
            self,
            "kafka",
            (
                "commit_interval_ms",
                "session_timeout_ms",
                "heartbeat_interval_ms",
                "fetch_max_wait_ms",
                "produce_timeout_ms",
                "max_message_bytes",
                "drain_timeout_s",
            ),
        )
        _require(
            self.heartbeat_interval_ms < self.session_timeout_ms,
            "kafka.heartbeat_interval_ms",
            "must be below kafka.session_timeout_ms",
        )
        _require(self.produce_retries >= 0, "kafka.produce_retries", "must be >= 0")
        _require(
            self.startup_timeout_s is None or self.startup_timeout_s > 0,
            "kafka.startup_timeout_s",
            "must be > 0 or null",
        )
        # Frozen: the resolved mapping (secret files read) replaces the given one.
        object.__setattr__(self, "security", _check_security(self.security))
        for name in ("consumer_options", "producer_options"):
            _check_client_options(name, getattr(self, name))

    def _check_input_pattern(self) -> None:
        """``input_pattern`` compiles, replaces ``input_topics``, and never matches what we write."""
        default_topics = next(f.default for f in dataclasses.fields(self) if f.name == "input_topics")
        _require(
            self.input_topics == default_topics,
            "kafka.input_pattern",
            "give kafka.input_pattern or kafka.input_topics, not both",
        )
        _require(bool(self.input_pattern), "kafka.input_pattern", "must not be empty (null: use kafka.input_topics)")
        try:
            pattern = re.compile(self.input_pattern or "")
        except re.error as exc:
            raise ConfigError(f"kafka.input_pattern: {self.input_pattern!r} is not a regex: {exc}") from None
        # Reading our own records or dead letters back would loop for ever.
        for key in ("output_topic", "dead_letter_topic"):
            topic = getattr(self, key)
            _require(
                pattern.match(topic) is None,
                "kafka.input_pattern",
                f"{self.input_pattern!r} matches kafka.{key} {topic!r}",
            )


def _check_security(security: Mapping[str, Any]) -> dict[str, Any]:
    """``kafka.security`` validated (protocol, mechanism, the keys each needs, files that
    exist) with every ``*_file`` secret read into its key. Errors name the key, never a secret."""
    out = dict(security)
    for key, value in security.items():
        _require(key in SECURITY_KEYS, f"kafka.security.{key}", "unknown key")
        if key == "ssl_check_hostname":
            _require(isinstance(value, bool), f"kafka.security.{key}", "must be true or false")
        else:
            _require(
                isinstance(value, str) and value != "",
                f"kafka.security.{key}",
                "must be a non-empty string" if key in SECRET_KEYS else f"{value!r} is not a non-empty string",
            )
    for key in FILE_KEYS:
        path = out.pop(f"{key}_file", None)
        if path is None:
            continue
        _require(key not in out, f"kafka.security.{key}_file", f"give {key} or {key}_file, not both")
        try:
            secret = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"kafka.security.{key}_file: cannot read {path!r}: {exc.strerror}") from None
        _require(secret != "", f"kafka.security.{key}_file", f"{path!r} is empty")
        out[key] = secret
    for key in SECURITY_FILE_KEYS & out.keys():
        _require(Path(out[key]).is_file(), f"kafka.security.{key}", f"{out[key]!r} is not a file")
    if "ssl_capath" in out:
        _require(
            Path(out["ssl_capath"]).is_dir(), "kafka.security.ssl_capath", f"{out['ssl_capath']!r} is not a directory"
        )
    protocol = out.setdefault("security_protocol", "PLAINTEXT")
    _require(
        protocol in SECURITY_PROTOCOLS,
        "kafka.security.security_protocol",
        f"{protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}",
    )
    if protocol not in ("SSL", "SASL_SSL"):
        for key in sorted(SSL_KEYS & out.keys()):
            raise ConfigError(f"kafka.security.{key}: needs security_protocol SSL or SASL_SSL, not {protocol}")
    if "ssl_keyfile" in out or "ssl_password" in out:
        _require("ssl_certfile" in out, "kafka.security.ssl_certfile", "needed with ssl_keyfile or ssl_password")
    if not protocol.startswith("SASL_"):
        for key in sorted(SASL_KEYS & out.keys()):
            raise ConfigError(
                f"kafka.security.{key}: needs security_protocol SASL_PLAINTEXT or SASL_SSL, not {protocol}"
            )
        return out
    mechanism = out.get("sasl_mechanism")
    _require(
        mechanism in SASL_MECHANISMS,
        "kafka.security.sasl_mechanism",
        f"{mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}"
        if mechanism
        else f"needed with security_protocol {protocol} ({', '.join(SASL_MECHANISMS)})",
    )
    needed = {
        "PLAIN": ("sasl_plain_username", "sasl_plain_password"),
        "SCRAM-SHA-256": ("sasl_plain_username", "sasl_plain_password"),
        "SCRAM-SHA-512": ("sasl_plain_username", "sasl_plain_password"),
        "OAUTHBEARER": ("sasl_oauth_token_url", "sasl_oauth_client_id", "sasl_oauth_client_secret"),
        "GSSAPI": (),
    }[str(mechanism)]
    for key in needed:
        hint = f" (or {key}_file)" if key in FILE_KEYS else ""
        _require(key in out, f"kafka.security.{key}", f"needed with sasl_mechanism {mechanism}{hint}")
    if mechanism == "OAUTHBEARER":
        url = out["sasl_oauth_token_url"]
        _require(
            url.startswith(("https://", "http://")),
            "kafka.security.sasl_oauth_token_url",
            f"{url!r} is not an http(s) URL",
        )
    return out


def _check_client_options(name: str, options: Mapping[str, Any]) -> None:
    """Every key of ``kafka.{name}`` is an aiokafka argument of that client that logdelim does not own."""
    import inspect

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    client = AIOKafkaConsumer if name == "consumer_options" else AIOKafkaProducer
    accepted = set(inspect.signature(client.__init__).parameters) - {"self"}
    for key, value in options.items():
        where = f"kafka.{name}.{key}"
        _require(key in accepted, where, f"not an argument of aiokafka's {client.__name__}")
        _require(key not in OWNED_CLIENT_OPTIONS, where, OWNED_CLIENT_OPTIONS.get(key, ""))
        _require(not key.startswith(("sasl_", "ssl_", "security_")), where, "use kafka.security")
        _require(value is None or isinstance(value, (str, int, float, bool)), where, "must be a plain value")


@dataclasses.dataclass(frozen=True)
class BatchingConfig:
    """Micro-batching and backpressure."""

    # A batch is tagged once it holds this many messages (of a backlog of four batches'
    # worth, as when tagging is far behind, it takes twice as many) ...
    max_lines: int = 512
    # ... or once its oldest message has waited this long.
    max_wait_ms: int = 20
    # Lines fetched but not yet committed; at the bound, partitions are paused (and resumed
    # at half). Also the most lines a crash makes the next owner of a partition process
    # twice. It must cover what the pipeline holds at full speed (batches queued for
    # tagging, records the producer has not had acknowledged, acknowledged ones waiting
    # for the next commit) with room to spare, or fetching stops in turns.
    max_in_flight_lines: int = 32768

    def __post_init__(self) -> None:
        _positive(self, "batching", ("max_lines", "max_wait_ms", "max_in_flight_lines"))
        _require(
            self.max_in_flight_lines >= self.max_lines, "batching.max_in_flight_lines", "must be >= batching.max_lines"
        )


@dataclasses.dataclass(frozen=True)
class InputConfig:
    """What counts as a taggable line (see docs/operations.md, "Bad input and dead letters")."""

    # Longer messages go to the dead-letter topic with reason too_long (with format json:
    # longer events, whatever their field holds).
    max_line_bytes: int = 65536
    # raw: the message value is the line. json: the value is a JSON object (Fluent Bit,
    # Vector) and the line is the string at `field`.
    format: str = "raw"
    # Dotted path of the line in a JSON event: log, message, kubernetes.msg.
    field: str = "log"

    def __post_init__(self) -> None:
        _positive(self, "input", ("max_line_bytes",))
        _require(self.format in ("raw", "json"), "input.format", f"{self.format!r} is not raw or json")
        _require(
            all(self.field.split(".")),
            "input.field",
            f"{self.field!r} is not a dotted path of JSON keys (log, kubernetes.msg)",
        )


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """What is written per input message (see docs/operations.md, "JSON inputs")."""

    # record: our JSON record (line, tokens, template...). enrich: the input JSON event
    # itself with the annotation added under enrich_key (needs input.format json).
    mode: str = "record"
    # The key the annotation goes under in an enriched event (replacing one already there).
    enrich_key: str = "logdelim"
    # source: records keyed topic:partition:offset of their input (consumers deduplicate
    # by it). input: the input message's own key (compaction, per-key order downstream).
    key: str = "source"

    def __post_init__(self) -> None:
        _require(self.mode in ("record", "enrich"), "output.mode", f"{self.mode!r} is not record or enrich")
        _require(bool(self.enrich_key), "output.enrich_key", "must not be empty")
        _require(self.key in ("source", "input"), "output.key", f"{self.key!r} is not source or input")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which checkpoint tags, and where."""

    # The checkpoint file; null: the shipped model.
    path: str | None = None
    # auto (the GPU when there is one, else the CPU), cpu, cuda or cuda:N.
    device: str = "auto"
    # torch CPU threads. 1 by default: the event loop needs a core too, and on a shared
    # 2-core machine two torch threads fighting other work made 512-line batches many
    # times slower. Raise it on machines with idle cores. null = torch's own choice.
    num_threads: int | None = 1
    # Network calls at once in each tagging process, each on its own tile of a batch's new
    # line shapes (with num_threads torch threads each). Only a batch of many new shapes
    # makes several tiles, so a warm stream runs one call at a time while a stream of new
    # shapes (a new deployment, a replay) gets this many cores.
    parallel_tiles: int = 2
    # Entries of the engine's exact memo cache (0: off), bounded by cache_max_bytes too.
    cache_size: int = 200_000
    # What the line and shape caches may hold, counted in bytes, so a stream of ever new
    # long lines cannot grow the tagging process past its memory limit.
    cache_max_bytes: int = 128 * 1024 * 1024
    # int8 dynamic quantisation of the network (CPU only).
    quantize: bool = False
    # Tag in a child process (daemon/tagging.py), so the event loop and the network each
    # get a core; false: in a thread of the daemon, sharing the GIL with the event loop.
    tagging_process: bool = True
    # Tagging processes (with tagging_process). Each tags whole batches in turn and holds
    # its own copy of the network and its own caches (cache_max_bytes is shared out among
    # them), so more workers use more cores and more memory; 1 leaves the second core of a
    # 2-core machine to the event loop and the broker client.
    workers: int = 1
    # Template ids the daemon remembers (least recently seen forgotten first) to count
    # templates new to it in logdelim_new_templates_total: about 220 bytes each, so 11 MB.
    # Below the number of templates a stream keeps using, known ones count as new again.
    max_tracked_templates: int = 50_000
    # A tagging call unanswered this long takes /readyz to 503 (the pod stops taking
    # traffic while the tagger is stuck) ...
    tagger_stall_s: float = 5.0
    # ... and one unanswered this long gets its tagging process killed and replaced (its
    # batch retried message by message, so a line that hangs the model becomes a dead letter).
    tagger_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        device = self.device
        valid = device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
        _require(valid, "model.device", f"{device!r} is not auto, cpu, cuda or cuda:N")
        _require(self.num_threads is None or self.num_threads > 0, "model.num_threads", "must be > 0 or null")
        _require(self.cache_size >= 0, "model.cache_size", "must be >= 0")
        _require(self.max_tracked_templates > 0, "model.max_tracked_templates", "must be > 0")
        _require(self.cache_max_bytes >= 0, "model.cache_max_bytes", "must be >= 0")
        _positive(self, "model", ("tagger_stall_s", "tagger_timeout_s", "workers", "parallel_tiles"))
        _require(
            self.workers == 1 or self.tagging_process, "model.workers", "more than 1 needs model.tagging_process: true"
        )
        _require(
            self.tagger_stall_s <= self.tagger_timeout_s, "model.tagger_stall_s", "must be <= model.tagger_timeout_s"
        )
        if self.path is not None:
            _require(Path(self.path).is_file(), "model.path", f"{self.path!r} is not a file")


@dataclasses.dataclass(frozen=True)
class MetricsConfig:
    """The /metrics, /healthz and /readyz server."""

    # Address the server binds, before the model loads (a port in use fails the start at once).
    host: str = "0.0.0.0"
    # Port of /metrics, /healthz and /readyz (the images' health check and the Kubernetes
    # probes expect 9108: change them together).
    port: int = 9108
    # /healthz answers 503 once the event loop has not run its heartbeat for this long
    # (a stuck loop: the liveness probe restarts the pod).
    loop_stall_s: float = 10.0

    def __post_init__(self) -> None:
        _positive(self, "metrics", ("loop_stall_s",))
        _require(0 <= self.port <= 65535, "metrics.port", f"{self.port} is not a TCP port")


@dataclasses.dataclass(frozen=True)
class LoggingConfig:
    """Log level and line format."""

    # DEBUG, INFO, WARNING, ERROR or CRITICAL. aiokafka's own logs show from WARNING up
    # unless DEBUG.
    level: str = "INFO"
    # plain: text lines on stderr. json: one JSON object per line (ts, level, logger,
    # message, and exc for failures).
    format: str = "plain"

    def __post_init__(self) -> None:
        _require(
            self.level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
            "logging.level",
            f"{self.level!r} is not a log level",
        )
        _require(self.format in ("plain", "json"), "logging.format", f"{self.format!r} is not plain or json")


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole daemon configuration."""

    kafka: KafkaConfig = dataclasses.field(default_factory=KafkaConfig)
    batching: BatchingConfig = dataclasses.field(default_factory=BatchingConfig)
    input: InputConfig = dataclasses.field(default_factory=InputConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    metrics: MetricsConfig = dataclasses.field(default_factory=MetricsConfig)
    logging: LoggingConfig = dataclasses.field(default_factory=LoggingConfig)

    def __post_init__(self) -> None:
        if self.output.mode == "enrich":
            _require(self.input.format == "json", "output.mode", "enrich needs input.format json")
            # The annotation would replace the very string its offsets index.
            _require(
                self.output.enrich_key != self.input.field.split(".")[0],
                "output.enrich_key",
                f"{self.output.enrich_key!r} would replace input.field {self.input.field!r}",
            )


def _require(condition: bool, key: str, problem: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {problem}")


def _positive(section: object, name: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        _require(getattr(section, key) > 0, f"{name}.{key}", "must be > 0")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against (and lightly converted to) the type ``hint``; error names ``key``."""
    origin = get_origin(hint)
    if origin is not None and type(None) in get_args(hint):  # Optional[X]
        if value is None:
            return None
        (inner,) = [a for a in get_args(hint) if a is not type(None)]
        return _coerce(value, inner, key)
    if hint is bool:
        _require(isinstance(value, bool), key, f"{value!r} is not true/false")
        return value
    if hint is int:
        _require(isinstance(value, int) and not isinstance(value, bool), key, f"{value!r} is not an integer")
        return value
    if hint is float:
        _require(isinstance(value, (int, float)) and not isinstance(value, bool), key, f"{value!r} is not a number")
        return float(value)
    if hint is str:
        _require(isinstance(value, str), key, f"{value!r} is not a string")
        return value
    if origin is tuple:
        if isinstance(value, str):  # a single topic written without brackets
            value = [value]
        _require(isinstance(value, list), key, f"{value!r} is not a list")
        return tuple(_coerce(item, str, f"{key}[{i}]") for i, item in enumerate(value))
    if origin is Mapping or hint is Mapping:
        _require(isinstance(value, dict), key, f"{value!r} is not a mapping")
        return dict(value)
    raise TypeError(f"no coercion for {hint!r} ({key})")  # pragma: no cover - programming error


def _build_section(cls: type, values: Any, name: str) -> Any:
    if values is None:
        values = {}
    _require(isinstance(values, dict), name, f"must be a mapping, not {type(values).__name__}")
    hints = get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        _require(key in hints, f"{name}.{key}", "unknown key")
        kwargs[key] = _coerce(value, hints[key], f"{name}.{key}")
    return cls(**kwargs)


def from_mapping(raw: Any) -> Config:
    """A validated :class:`Config` from parsed YAML (a dict of sections)."""
    if raw is None:
        raw = {}
    _require(isinstance(raw, dict), "<root>", "the config must be a mapping of sections")
    hints = get_type_hints(Config)
    sections = {}
    for name, values in raw.items():
        _require(name in hints, str(name), "unknown key")
        sections[name] = _build_section(hints[name], values, name)
    # KafkaConfig cannot tell input_topics left at its default from the same list written out.
    kafka = raw.get("kafka")
    _require(
        not (isinstance(kafka, dict) and kafka.get("input_pattern") is not None and "input_topics" in kafka),
        "kafka.input_pattern",
        "give kafka.input_pattern or kafka.input_topics, not both",
    )
    return Config(**sections)


def _override_type(parts: list[str]) -> str:
    """How an override's text reads: "str" (as is), "optional_str" (as is, null/empty: None) or "yaml"."""
    if len(parts) == 3:
        return "yaml" if parts[1] != "security" or parts[2] == "ssl_check_hostname" else "str"
    section = get_type_hints(Config).get(parts[0])
    hint = get_type_hints(section).get(parts[1]) if isinstance(section, type) else None
    if hint is str:
        return "str"
    if get_origin(hint) is not None and set(get_args(hint)) == {str, type(None)}:
        return "optional_str"
    return "yaml"


def apply_override(raw: dict[str, Any], dotted_key: str, text: str) -> None:
    """Set ``section.key`` (or ``kafka.security.key``) in ``raw`` to ``text`` (see the module doc).

    The text never appears in an error: it may be a secret.
    """
    parts = dotted_key.split(".")
    _require(len(parts) in (2, 3) and all(parts), dotted_key, "override keys look like section.key")
    kind = _override_type(parts)
    value: Any
    if kind == "str":
        value = text
    elif kind == "optional_str":
        value = None if text.strip() in ("", "null", "~") else text
    else:
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            raise ConfigError(f"{dotted_key}: not a valid value (YAML)") from None
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        _require(isinstance(node, dict), dotted_key, "cannot override inside a non-mapping")
    node[parts[-1]] = value


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """``{"kafka.bootstrap_servers": value}`` from ``LOGDELIM_KAFKA__BOOTSTRAP_SERVERS=value`` etc."""
    out = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            out[".".join(p.lower() for p in name[len(ENV_PREFIX) :].split("__"))] = value
    return out


def load(
    path: str | Path | None, overrides: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read the YAML file (None: defaults only), apply env then explicit overrides, validate.

    Raises:
        ConfigError: naming the first unknown key or bad value.
    """
    raw: Any = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    _require(isinstance(raw, dict), "<root>", "the config must be a mapping of sections")
    env = env_overrides(os.environ if environ is None else environ)
    for key, text in [*env.items(), *(overrides or {}).items()]:
        apply_override(raw, key, text)
    return from_mapping(raw)
