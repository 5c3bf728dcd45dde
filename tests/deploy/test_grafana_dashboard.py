"""Structure of the Grafana dashboard, and every panel query checked by promtool's parser."""

from __future__ import annotations

import yaml
from deploy_support import dashboard, panel_queries, run_tool, tool

# Panel title -> a series it must chart (the list).
REQUIRED_PANELS = {
    "Lines in and out per second": ("logdelim_lines_consumed_total", "logdelim_records_produced_total"),
    "End-to-end latency p50 / p99": ("logdelim_end_to_end_seconds_bucket",),
    "Batch size (lines)": ("logdelim_batch_size_lines_bucket",),
    "Inference time per batch": ("logdelim_inference_seconds_bucket",),
    "Consumer lag per partition": ("logdelim_consumer_lag_messages",),
    "Dead letters by reason": ("logdelim_dead_letters_total",),
    "Cache hit ratio": ("logdelim_cache_hit_ratio",),
    "Delimiter confidence": ("logdelim_delimiter_confidence_bucket",),
    "Model id and device": ("logdelim_model_info", "logdelim_build_info"),
    "New templates and templates tracked": ("logdelim_new_templates_total", "logdelim_templates_tracked"),
}


def test_dashboard_has_the_required_panels() -> None:
    panels = {panel["title"]: panel for panel in dashboard()["panels"]}
    for title, series in REQUIRED_PANELS.items():
        assert title in panels, f"missing panel {title!r}"
        exprs = " ".join(target["expr"] for target in panels[title]["targets"])
        for name in series:
            assert name in exprs, f"{title}: does not query {name}"
    latency = " ".join(t["expr"] for t in panels["End-to-end latency p50 / p99"]["targets"])
    assert "histogram_quantile(0.5," in latency and "histogram_quantile(0.99," in latency
    model = panels["Model id and device"]["targets"][0]["expr"]
    assert "model_id" in model and "device" in model


def test_datasource_is_a_template_variable_used_everywhere() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["includeAll"] and variables["instance"]["allValue"] == ".*"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in board["panels"]:
        refs = [panel["datasource"]] + [target["datasource"] for target in panel["targets"]]
        assert all(ref == {"type": "prometheus", "uid": "${datasource}"} for ref in refs), panel["title"]
        for target in panel["targets"]:
            # Every query follows the job and instance pickers.
            assert "$job" in target["expr"] and "$instance" in target["expr"], panel["title"]


def test_panels_do_not_overlap() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_every_panel_query_parses(tmp_path) -> None:
    # promtool has no bare "parse" command; a rule file with one recording rule per query
    # gets every expression through Prometheus' own parser.
    queries = panel_queries()
    assert len(queries) >= len(REQUIRED_PANELS)
    group = {
        "name": "dashboard",
        "rules": [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)],
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    result = run_tool([tool("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
