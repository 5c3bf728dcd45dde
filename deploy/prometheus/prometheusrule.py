"""Write prometheusrule.yaml, the PrometheusRule that carries rules.yml to the Prometheus Operator.

rules.yml stays the one source (promtool checks and unit-tests it); a PrometheusRule's
``spec`` is the same ``groups:`` document, so the resource is rules.yml indented under a
fixed header. kustomize cannot wrap a file into a custom resource, hence this script:

    python3 deploy/prometheus/prometheusrule.py           # rewrite prometheusrule.yaml
    python3 deploy/prometheus/prometheusrule.py --check   # exit 1 when it is stale (the deploy tests run this)
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules.yml"
OUTPUT = HERE / "prometheusrule.yaml"

HEADER = """\
# GENERATED from rules.yml by prometheusrule.py: do not edit. Edit rules.yml, then run
#   python3 deploy/prometheus/prometheusrule.py
# The recording rules and alerts of rules.yml for the Prometheus Operator; deploy/k8s/base
# includes it. The operator loads the PrometheusRules its Prometheus' ruleSelector matches
# (kube-prometheus-stack: the label release=<its Helm release>, unless
# ruleSelectorNilUsesHelmValues is false): add that label in your overlay when it needs one.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: logdelim
spec:
"""


def render(rules_text: str) -> str:
    """The PrometheusRule document for ``rules_text`` (rules.yml): its ``groups:`` onwards, under ``spec``.

    The comments before ``groups:`` describe the file, not the rules, and are left out.
    """
    lines = rules_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = "".join(f"  {line}\n" if line.strip() else "\n" for line in lines[start:])
    return HEADER + body


def main(argv: list[str]) -> int:
    """Write (or with ``--check``, compare) prometheusrule.yaml; returns the exit status."""
    expected = render(RULES.read_text(encoding="utf-8"))
    if argv == ["--check"]:
        if not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != expected:
            sys.stderr.write(f"{OUTPUT} is stale (rules.yml changed): run python3 {Path(__file__)}\n")
            return 1
        return 0
    if argv:
        sys.stderr.write("usage: prometheusrule.py [--check]\n")
        return 2
    OUTPUT.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
