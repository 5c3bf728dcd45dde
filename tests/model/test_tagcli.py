"""``logdelim tag``: records with templates and token kinds, ``--kinds`` for the per-character string."""

from __future__ import annotations

import json
import subprocess
import sys

from logdelim.model.engine import TagResult
from logdelim.model.grouping import StreamGroups
from logdelim.model.spans import token_bounds
from logdelim.model.tagcli import record
from logdelim.model.templates import template, template_id, template_of_tokens, token_kinds

LINE, LABELS, TOKEN_KINDS = "took 35 ms at 12:00", "OOOODOODOODOODOOOOO", "CVCCF"


def _result(line: str, labels: str, letters: str = "") -> TagResult:
    bounds = tuple(token_bounds(labels))
    text = template_of_tokens(line, bounds, letters) if letters else ""
    return TagResult(line, labels, bounds, (0.9,), 0.8765432, letters, text, template_id(text) if letters else "")


def test_record_has_template_id_and_token_kinds() -> None:
    obj = record(_result(LINE, LABELS, TOKEN_KINDS), kinds=True)
    assert list(obj) == ["line", "template", "template_id", "group", "group_id", "tokens", "min_confidence"]
    assert obj["template"] == "took <*> ms at <*>" and obj["template_id"] == template_id("took <*> ms at <*>")
    assert [(t["text"], t["kind"]) for t in obj["tokens"]] == [
        ("took", "constant"),
        ("35", "variable"),
        ("ms", "constant"),
        ("at", "constant"),
        ("12:00", "field"),
    ]
    assert obj["min_confidence"] == 0.8765
    with_kinds = record(_result(LINE, LABELS, TOKEN_KINDS), kinds=True, with_kinds=True)
    assert list(with_kinds)[:2] == ["line", "kinds"] and with_kinds["kinds"] == "CCCCDVVDCCDCCDFFFFF"


def test_record_has_the_group_of_its_template_in_the_stream() -> None:
    result = _result(LINE, LABELS, TOKEN_KINDS)
    obj = record(result, kinds=True, grouped=StreamGroups().group_batch([(result.template, result.template_fields)]))
    assert obj["group"] == obj["template"] and obj["group_id"] == obj["template_id"]
    assert record(_result(LINE, LABELS, TOKEN_KINDS), kinds=True)["group"] is None  # no stream, no group


def test_record_without_a_kind_head_has_null_templates() -> None:
    obj = record(_result("a b", "ODO"), kinds=False, with_kinds=True)
    assert obj["kinds"] is None and obj["template"] is None and obj["template_id"] is None
    assert obj["group"] is None and obj["group_id"] is None
    assert [t["kind"] for t in obj["tokens"]] == [None, None]


def test_a_line_without_tokens_has_its_template() -> None:
    assert record(_result("", ""), kinds=True)["template"] == ""


def test_tag_cli_prints_templates_and_with_kinds_the_kinds(toy_checkpoint, tmp_path) -> None:
    path = tmp_path / "in.log"
    path.write_text("time: 1:2 ok\nport: 33 ok\n\nid: 7:8:9 ok\n")

    def tag(*options: str) -> list[dict]:
        out = subprocess.run(
            [sys.executable, "-m", "logdelim.daemon.cli", "tag", "--model", str(toy_checkpoint), *options, str(path)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        return [json.loads(x) for x in out.splitlines()]

    plain, with_kinds = tag(), tag("--kinds")
    assert [r["line"] for r in with_kinds] == ["time: 1:2 ok", "port: 33 ok", "", "id: 7:8:9 ok"]
    assert all("kinds" not in r for r in plain)
    for short, full in zip(plain, with_kinds):
        kinds = full.pop("kinds")
        assert short == full, "--kinds adds kinds and changes nothing else"
        assert len(kinds) == len(full["line"]) and set(kinds) <= set("DFCV")
        assert full["template"] == template(full["line"], kinds)
        assert full["template_id"] == template_id(full["template"])
        bounds = [(t["start"], t["end"]) for t in full["tokens"]]
        assert [t["kind"] for t in full["tokens"]] == token_kinds(kinds, bounds)
