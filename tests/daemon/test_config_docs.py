"""The generated docs pages cannot drift: docs/configuration.md is what docs/gen_config.py makes of
daemon/config.py today, every key is on it with a description, and the performance table is what
docs/gen_performance.py makes of docs/bench.json. The README's config and record examples are valid.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest
import yaml

from logdelim.daemon import config
from logdelim.daemon.records import load_schema
from logdelim.tools.bench import cold_lines

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_config() -> ModuleType:
    return _load("gen_config")


@pytest.fixture(scope="module")
def gen_performance() -> ModuleType:
    return _load("gen_performance")


def test_configuration_page_is_generated_from_the_dataclasses(gen_config) -> None:
    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert gen_config.render() == committed, "docs/configuration.md is stale: run make docs"


def test_every_field_of_every_section_is_on_the_page_with_a_description(gen_config) -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    sections = gen_config.sections()
    assert [name for name, _ in sections] == [f.name for f in dataclasses.fields(config.Config)]
    for name, cls in sections:
        assert f"## `{name}`" in page
        descriptions = gen_config.field_descriptions(cls)
        for field in dataclasses.fields(cls):
            assert f"| `{name}.{field.name}` |" in page, f"{name}.{field.name} is not on the page"
            assert descriptions[field.name], f"{name}.{field.name} has no comment above it in daemon/config.py"
    for key in config.SECURITY_KEYS:
        assert f"`{key}`" in page, f"kafka.security.{key} is not on the page"
    for key in config.OWNED_CLIENT_OPTIONS:
        assert f"| `{key}` |" in page


def test_the_defaults_block_is_the_default_config(gen_config) -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    block = page.split("## Every key at its default", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert config.from_mapping(yaml.safe_load(block)) == config.Config()


def test_comments_above_a_field_describe_it_and_a_blank_line_ends_them(gen_config) -> None:
    source = "\n".join(
        [
            "class C:",
            "    # unrelated",
            "",
            "    # first line",
            "    # second line",
            "    a: int = 1  # trailing",
            "    b: int = 2",
        ]
    )
    assert gen_config.described(source, {"a": 6, "b": 7}) == {"a": "first line second line trailing", "b": ""}


def test_performance_table_is_generated_from_bench_json(gen_performance) -> None:
    assert gen_performance.main(["--check"]) == 0, "docs/performance.md is stale: run make docs"


def test_performance_table_of_a_tagger_only_run(gen_performance) -> None:
    result = json.loads((DOCS / "bench.json").read_text(encoding="utf-8"))
    tagger_only = copy.deepcopy(result)
    for key in ("passthrough_lines_per_s", "daemon_lines_per_s", "daemon_vs_ceiling", "daemon_p99_latency_ms"):
        tagger_only[key] = None
    table = gen_performance.render_table(tagger_only, "x/bench.json")
    assert "not measured (`--no-pipeline`)" in table
    assert f"{result['tagger_lines_per_s']:,.0f}" in table
    page = gen_performance.update(f"a\n{gen_performance.BEGIN}\nold\n{gen_performance.END}\nb\n", table)
    assert page == f"a\n{gen_performance.BEGIN}\n{table}\n{gen_performance.END}\nb\n"


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_readme_config_and_record_examples_are_valid() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (config_block,) = _blocks(readme, "yaml")
    config.from_mapping(yaml.safe_load(config_block))
    (record_block,) = _blocks(readme, "json")
    jsonschema.validate(json.loads(record_block), load_schema())


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_docs_links_point_at_files_and_headings_that_exist() -> None:
    for page in [REPO / "README.md", *DOCS.glob("*.md")]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            linked = (page.parent / target) if target else page
            assert linked.exists(), f"{page.name} links to {target}, which does not exist"
            if anchor:
                assert anchor in _anchors(linked), f"{page.name} links to {target}#{anchor}: no such heading"


def test_profile_stages_puts_each_sample_in_its_first_matching_stage() -> None:
    profile = _load("profile_stages")
    loop = 'process 1:"python -m logdelim.daemon.cli run";main (cli.py:1);run_until_complete (base_events.py:1)'
    child = 'process 2:"spawn_main";_serve (daemon/tagging.py:1)'
    tile_thread = 'process 2:"spawn_main";Thread._bootstrap (threading.py:1);_worker (thread.py:1)'
    raw = [
        f"{loop};EpollSelector.select (selectors.py:1) 30",
        f"{loop};Handle._run (events.py:1);Emitter._records_delivered (emitter.py:1) 10",
        f"{loop};Handle._run (events.py:1);Sender._send_produce_req (sender.py:1) 40",
        f"{loop};Handle._run (events.py:1);something_else (x.py:1) 20",
        f"{child};encode_messages (inputs.py:1);record_of (inputs.py:2) 3",
        f"{child};_ConnectionBase.recv (connection.py:1) 1",
        'process 3:"waitress";Condition.wait (threading.py:1) 99',
        f"{loop.split(';')[0]};Thread._bootstrap (threading.py:1);MetricsServer._serve (endpoints.py:1) 7",
        f"{tile_thread} 50",  # an idle tile thread of the tagging process: not its main thread
    ]
    shares = profile.stage_shares(raw)
    assert shares["event loop"] == {
        "idle (waiting in select)": 30,
        "producer: record batches, requests, socket writes": 40,
        "acknowledgements: offsets done, latency histogram": 10,
        "other": 20,
    }
    # record_of is inside encode_messages: the record JSON stage comes first in the list and wins.
    assert shares["tagging process"] == {"record JSON": 3, "waiting for a request": 1}
    text = profile.table(shares)
    assert "| event loop | producer: record batches, requests, socket writes | 40% |" in text
    assert "| tagging process | record JSON | 75% |" in text


def test_profile_cold_times_each_stage_of_the_tagging_process_on_cold_lines() -> None:
    profile = _load("profile_cold")
    lines = cold_lines(60)
    rows = profile.measure(lines, batch_lines=25, rounds=1)
    assert [row["stage"] for row in rows] == [
        "uncached tagger (the bench's)",
        "daemon's engine (tag_messages)",
        "+ stream groups (batch_groups)",
        "+ records (encode_messages)",
    ]
    assert all(row["lines_per_s"] > 0 and row["cpu_us_per_line"] > 0 and row["cores"] > 0 for row in rows)
    text = profile.table(rows).splitlines()
    assert len(text) == 2 + len(rows)
    assert text[2].startswith("| uncached tagger (the bench's) |") and "| 1.00 |" in text[2]
