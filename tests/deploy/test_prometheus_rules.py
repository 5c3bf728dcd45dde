"""promtool checks of the Prometheus configuration, rules and their unit tests, and the
metric-name contract between the daemon and everything in deploy/ that queries it."""

from __future__ import annotations

import re

import yaml
from deploy_support import PROMETHEUS_DIR, RULES, metric_names, panel_queries, rules, run_tool, tool

ALERTS = {
    "LogdelimDown",
    "LogdelimAbsent",
    "LogdelimConsumerLagGrowing",
    "LogdelimNoProgress",
    "LogdelimDeadLetterRateHigh",
    "LogdelimEndToEndLatencyHigh",
    "LogdelimProduceErrors",
    "LogdelimTaggingProcessRestarts",
    "LogdelimNewTemplateBurst",
    "LogdelimTaggerStalled",
}


def test_promtool_check_config() -> None:
    result = run_tool([tool("promtool"), "check", "config", "prometheus.yml"], cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_rules() -> None:
    result = run_tool([tool("promtool"), "check", "rules", "rules.yml"], cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules('record')) + len(rules('alert'))} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = run_tool([tool("promtool"), "test", "rules", "tests.yml"], cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_issue_s_alerts_exist() -> None:
    assert {rule["alert"] for rule in rules("alert")} == ALERTS


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "tests.yml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for alert in ALERTS:
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"{alert}: no firing case"
        assert any(not case["exp_alerts"] for case in mine), f"{alert}: no not-firing case"


def test_every_alert_says_what_and_how_bad() -> None:
    for rule in rules("alert"):
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def _exported_families() -> dict[str, set[str]]:
    """Every metric family the daemon can export, with the series names it exports: the
    daemon's Metrics on a registry with the process collectors, expanded by type."""
    from logdelim.daemon.metrics import Metrics, process_registry

    registry = process_registry()
    Metrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name: {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
        for family in registry.collect()
    }


def test_deploy_queries_only_name_series_the_daemon_exports() -> None:
    families = _exported_families()
    family_of = {series: name for name, all_series in families.items() for series in all_series}
    queries = [(rule.get("record") or rule["alert"], rule["expr"]) for rule in rules("record") + rules("alert")]
    queries += panel_queries()
    used: set[str] = set()
    for where, expr in queries:
        unknown = metric_names(expr) - family_of.keys()
        assert not unknown, f"{where}: series the daemon does not export: {sorted(unknown)}"
        used |= {family_of[name] for name in metric_names(expr)}
    # And the other way round: every logdelim metric is charted or alerted on somewhere.
    unused = {name for name in families if name.startswith("logdelim_")} - used
    assert not unused, f"exported but neither charted nor alerted on: {sorted(unused)}"


def test_rules_select_the_contract_job() -> None:
    # rules.yml selects job="logdelim": the scrape config, ServiceMonitor and PodMonitor use it.
    scrape = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())["scrape_configs"]
    assert [job["job_name"] for job in scrape] == ["logdelim"]
    for rule in rules("record") + rules("alert"):
        if metric_names(rule["expr"]) or "up{" in rule["expr"]:
            assert 'job="logdelim"' in rule["expr"], rule


def test_alerts_follow_the_recording_rules_they_read_in_one_group() -> None:
    # Groups are evaluated concurrently, rules within one in order: an alert reading a
    # recording rule from another group (or an earlier position) sees last round's value.
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        seen: set[str] = set()
        for rule in group["rules"]:
            if "alert" in rule:
                read = set(re.findall(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", rule["expr"]))
                assert read <= seen, f"{rule['alert']} reads {sorted(read - seen)} before they are recorded"
            else:
                seen.add(rule["record"])
