"""Config: the issue's keys and defaults, errors naming the key, env and --set overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from logdelim.daemon.config import Config, ConfigError, from_mapping, load

ISSUE_EXAMPLE = """
kafka:
  bootstrap_servers: "127.0.0.1:9092"
  input_topics: ["logs.raw"]
  output_topic: "logs.tokens"
  dead_letter_topic: "logs.dead"
  group_id: "logdelim"
batching:
  max_lines: 512
  max_wait_ms: 20
model:
  path: null
  device: auto
metrics:
  host: 0.0.0.0
  port: 9108
"""


def test_issue_example_loads_and_equals_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(ISSUE_EXAMPLE)
    config = load(path, environ={})
    assert config == Config()
    assert config.kafka.input_topics == ("logs.raw",)
    assert config.batching.max_wait_ms == 20 and config.metrics.port == 9108


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kafka": {"bootstrap_servrs": "x:1"}}, "kafka.bootstrap_servrs: unknown key"),
        ({"kafak": {}}, "kafak: unknown key"),
        ({"batching": {"max_lines": "many"}}, "batching.max_lines: 'many' is not an integer"),
        ({"batching": {"max_lines": 0}}, "batching.max_lines: must be > 0"),
        ({"batching": {"max_lines": 64, "max_in_flight_lines": 8}}, "batching.max_in_flight_lines"),
        ({"model": {"device": "tpu"}}, "model.device: 'tpu' is not auto, cpu, cuda or cuda:N"),
        ({"model": {"path": "/nonexistent/model.pt"}}, "model.path:"),
        ({"metrics": {"port": 70000}}, "metrics.port: 70000 is not a TCP port"),
        ({"kafka": {"input_topics": []}}, "kafka.input_topics"),
        ({"kafka": {"output_topic": "logs.raw"}}, "kafka.output_topic: must not be an input topic"),
        ({"kafka": {"security": {"sasl_pasword": "x"}}}, "kafka.security.sasl_pasword: unknown key"),
        ({"logging": {"format": "xml"}}, "logging.format"),
        ({"batching": {"max_wait_ms": True}}, "batching.max_wait_ms"),
        ({"kafka": {"fetch_max_wait_ms": 0}}, "kafka.fetch_max_wait_ms: must be > 0"),
        ({"model": {"workers": 0}}, "model.workers: must be > 0"),
        ({"model": {"parallel_tiles": 0}}, "model.parallel_tiles: must be > 0"),
        ({"model": {"workers": 2, "tagging_process": False}}, "model.workers: more than 1 needs model.tagging_process"),
    ],
)
def test_bad_config_names_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_mapping(raw)
    assert str(info.value).startswith(message)


def test_json_inputs_default_to_raw_records_keyed_by_source() -> None:
    config = Config()
    assert (config.input.format, config.input.field) == ("raw", "log")
    assert (config.output.mode, config.output.key, config.output.enrich_key) == ("record", "source", "logdelim")
    assert config.kafka.input_pattern is None


def test_json_input_enrich_and_pattern_load() -> None:
    config = from_mapping(
        {
            "kafka": {"input_pattern": r"app\.logs\..*", "output_topic": "tokens"},
            "input": {"format": "json", "field": "kubernetes.msg"},
            "output": {"mode": "enrich", "key": "input", "enrich_key": "tokens"},
        }
    )
    assert config.kafka.input_pattern == r"app\.logs\..*"
    assert config.input.field == "kubernetes.msg" and config.output.mode == "enrich"
    assert config.output.key == "input" and config.output.enrich_key == "tokens"
    # input_topics keeps its default, unused: the pipeline subscribes to the pattern.
    assert config.kafka.input_topics == Config().kafka.input_topics


def test_json_input_keys_by_environment_and_set_flags() -> None:
    config = load(
        None,
        overrides={"output.mode": "enrich", "output.key": "input"},
        environ={
            "LOGDELIM_INPUT__FORMAT": "json",
            "LOGDELIM_INPUT__FIELD": "message",
            "LOGDELIM_KAFKA__INPUT_PATTERN": "svc-.*",
        },
    )
    assert (config.input.format, config.input.field) == ("json", "message")
    assert (config.output.mode, config.output.key, config.kafka.input_pattern) == ("enrich", "input", "svc-.*")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"input": {"format": "xml"}}, "input.format: 'xml' is not raw or json"),
        ({"input": {"field": ""}}, "input.field:"),
        ({"input": {"field": "kubernetes..msg"}}, "input.field:"),
        ({"input": {"field": 3}}, "input.field: 3 is not a string"),
        ({"output": {"mode": "append"}}, "output.mode: 'append' is not record or enrich"),
        ({"output": {"mode": "enrich"}}, "output.mode: enrich needs input.format json"),
        ({"output": {"mode": "enrich"}, "input": {"format": "raw"}}, "output.mode: enrich needs input.format json"),
        ({"output": {"key": "random"}}, "output.key: 'random' is not source or input"),
        ({"output": {"enrich_key": ""}}, "output.enrich_key: must not be empty"),
        (
            {"output": {"mode": "enrich", "enrich_key": "log"}, "input": {"format": "json"}},
            "output.enrich_key: 'log' would replace input.field 'log'",
        ),
        (
            {"output": {"mode": "enrich", "enrich_key": "k8s"}, "input": {"format": "json", "field": "k8s.msg"}},
            "output.enrich_key: 'k8s' would replace input.field 'k8s.msg'",
        ),
        ({"output": {"modes": "enrich"}}, "output.modes: unknown key"),
        (
            {"kafka": {"input_pattern": "app-.*", "input_topics": ["app-a"]}},
            "kafka.input_pattern: give kafka.input_pattern or kafka.input_topics, not both",
        ),
        # Written out, even the default list counts as given.
        (
            {"kafka": {"input_pattern": "app-.*", "input_topics": ["logs.raw"]}},
            "kafka.input_pattern: give kafka.input_pattern or kafka.input_topics, not both",
        ),
        ({"kafka": {"input_pattern": "app-("}}, "kafka.input_pattern: 'app-(' is not a regex"),
        ({"kafka": {"input_pattern": ""}}, "kafka.input_pattern: must not be empty"),
        ({"kafka": {"input_pattern": r"logs\."}}, r"kafka.input_pattern: 'logs\\.' matches kafka.output_topic"),
        (
            {"kafka": {"input_pattern": "app-.*", "dead_letter_topic": "app-dead"}},
            "kafka.input_pattern: 'app-.*' matches kafka.dead_letter_topic 'app-dead'",
        ),
        ({"kafka": {"input_pattern": ".*"}}, "kafka.input_pattern: '.*' matches kafka.output_topic"),
    ],
)
def test_bad_json_input_settings_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_mapping(raw)
    assert str(info.value).startswith(message)


def test_input_pattern_with_topics_fails_when_built_directly_too() -> None:
    from logdelim.daemon.config import KafkaConfig

    with pytest.raises(ConfigError, match="^kafka.input_pattern: give"):
        KafkaConfig(input_topics=("a",), input_pattern="b.*")


def test_run_exits_2_for_enrich_without_json(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("output:\n  mode: enrich\n")
    result = subprocess.run(
        [sys.executable, "-m", "logdelim.daemon.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "output.mode: enrich needs input.format json" in result.stderr


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.kafka.group_id = "other"  # type: ignore[misc]


def test_env_then_explicit_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("batching:\n  max_lines: 100\n")
    environ = {
        "LOGDELIM_KAFKA__BOOTSTRAP_SERVERS": "broker:19092",
        "LOGDELIM_BATCHING__MAX_LINES": "256",
        "LOGDELIM_KAFKA__INPUT_TOPICS": "[a, b]",
        "LOGDELIM_MODEL__NUM_THREADS": "null",
        "UNRELATED": "1",
    }
    config = load(
        path, overrides={"batching.max_lines": "300", "kafka.security.security_protocol": "SSL"}, environ=environ
    )
    assert config.kafka.bootstrap_servers == "broker:19092"
    assert config.kafka.input_topics == ("a", "b")
    assert config.batching.max_lines == 300
    assert config.kafka.security == {"security_protocol": "SSL"}


def test_env_override_with_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^kafka.bootstrap_servrs: unknown key"):
        load(None, environ={"LOGDELIM_KAFKA__BOOTSTRAP_SERVRS": "x:1"})


def test_run_exits_2_naming_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("kafka:\n  bootstrap_servrs: x:1\n")
    result = subprocess.run(
        [sys.executable, "-m", "logdelim.daemon.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "kafka.bootstrap_servrs: unknown key" in result.stderr


def test_security_settings_pass_through_to_aiokafka() -> None:
    import ssl

    from logdelim.daemon.clients import security_options

    sasl = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "u",
        "sasl_plain_password": "p",
    }
    assert security_options(sasl) == sasl
    options = security_options({"security_protocol": "SSL", "ssl_check_hostname": False})
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext) and not options["ssl_context"].check_hostname
    assert not any(key.startswith("ssl_") and key != "ssl_context" for key in options)


async def test_group_consumer_fetch_wait_comes_from_the_config() -> None:
    from logdelim.daemon.clients import build_clients

    assert Config().kafka.fetch_max_wait_ms == 20  # aiokafka's 500 ms default would add to latency
    consumer, producer, probe = build_clients(from_mapping({"kafka": {"fetch_max_wait_ms": 35}}).kafka)
    # aiokafka keeps the setting only privately until the fetcher starts.
    assert consumer._fetch_max_wait_ms == 35
    for client in (consumer, producer, probe):
        await client.stop()  # never started; stopping keeps aiokafka's unclosed-client warnings away


def test_engine_options_are_the_model_sections_plain_values() -> None:
    from logdelim.daemon.app import engine_options

    model = from_mapping(
        {"model": {"device": "cpu", "cache_max_bytes": 1024, "num_threads": 2, "parallel_tiles": 3}}
    ).model
    assert engine_options(model) == {
        "path": None,
        "device": "cpu",
        "num_threads": 2,
        "parallel_tiles": 3,
        "quantize": False,
        "cache_size": model.cache_size,
        "cache_max_bytes": 1024,
    }
