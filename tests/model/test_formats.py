"""Labels of raw lines from a program's format strings (model/formats.py), against hand-made labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logdelim.daemon.cli import main
from logdelim.model.formats import FormatsError, header_pattern, label_line, load_formats, show

FORMATS = r"""
program: toyd
formats:
  - name: error
    header: '<Date> <Time> \[<Level>\] <Pid>#<Tid>: <Content>'
    templates:
      - 'open() "<*>" failed (2: No such file), client: <*>'
      - 'worker <*> exited'
  - name: access
    header: '<Addr> - <User> \[<Time>\] "<Method> <Path> <Proto>" <Status> <Bytes>( "<Agent>")?'
"""


@pytest.fixture()
def formats(tmp_path: Path):
    path = tmp_path / "toyd.yaml"
    path.write_text(FORMATS)
    return load_formats(path)


def test_header_fields_template_constants_and_variables(formats) -> None:
    _, fmts = formats
    line = '2026/12/05 10:00:01 [error] 42#0: open() "/srv/a.html" failed (2: No such file), client: 127.0.0.1'
    got = label_line(fmts, line)
    assert got is not None and got.event == "error:1"
    # Hand-made: header fields F, the format's punctuation D, the template's words C, the variables V
    # (a path and an address stay one token each, whatever punctuation they hold).
    header = "F" * 10 + "D" + "F" * 8 + "DD" + "F" * 5 + "DD" + "FF" + "D" + "F" + "DD"  # 2026/12/05 ... 42#0:_
    content = (
        "CCCC"
        + "DDDD"
        + "V" * 11
        + "DD"  # open() "/srv/a.html"_
        + "CCCCCC"
        + "DD"
        + "C"
        + "DD"
        + "CC"
        + "D"
        + "CCCC"
        + "D"
        + "CCCC"
        + "DDD"  # failed (2: No such file),_
        + "CCCCCC"
        + "DD"
        + "V" * 9  # client: 127.0.0.1
    )
    want = header + content
    assert got.kinds == want
    assert got.labels == want.translate(str.maketrans("CFV", "OOO"))
    assert show({"line": line, "kinds": got.kinds, "event": got.event}).endswith("|client/C|127.0.0.1/V|")


def test_second_template_and_first_match_wins(formats) -> None:
    _, fmts = formats
    got = label_line(fmts, "2026/12/05 10:00:02 [notice] 1#1: worker 7 exited")
    assert got is not None and got.event == "error:2"
    assert got.kinds.endswith("CCCCCCDVDCCCCCC")


def test_format_without_content_and_optional_part(formats) -> None:
    _, fmts = formats
    line = '127.0.0.1 - - [05/Dec/2026:10:00:03 +0000] "GET /a?b=1 HTTP/1.1" 404 153'
    got = label_line(fmts, line)
    assert got is not None and got.event == "access:0"
    # The format's ' - ' is a delimiter; the placeholder '-' of an empty user is the field's value, a token;
    # a time holding a space is one field (two tokens).
    assert show({"line": line, "kinds": got.kinds, "event": got.event}).split(None, 1)[1] == (
        "|127.0.0.1/F|-/F|05/Dec/2026:10:00:03/F|+0000/F|GET/F|/a?b=1/F|HTTP/1.1/F|404/F|153/F|"
    )
    with_agent = label_line(fmts, line + ' "curl/8.0"')
    assert with_agent is not None and with_agent.kinds.endswith("D" + "FFFFFFFF" + "D")


def test_escaped_mark_glued_to_a_field_and_templates_shared_by_anchor(tmp_path: Path) -> None:
    # memcached's "<%d %s" and ">%d %s": the mark is the format's text (a delimiter), the fd a field,
    # and the two directions are two formats, so two events, with one list of templates.
    path = tmp_path / "cached.yaml"
    path.write_text(
        "program: cached\n"
        "formats:\n"
        "  - {name: read, header: '\\<<Fd> <Content>', templates: &conn ['get <*>']}\n"
        "  - {name: write, header: '\\><Fd> <Content>', templates: *conn}\n"
    )
    _, fmts = load_formats(path)
    read, written = label_line(fmts, "<28 get user:1:profile"), label_line(fmts, ">28 get user:1:profile")
    assert read is not None and written is not None
    assert (read.event, written.event) == ("read:1", "write:1")
    assert read.kinds == written.kinds == "DFFDCCCD" + "V" * 14
    assert label_line(fmts, "28 get user:1") is None


def test_unmatched_lines_are_not_guessed(formats) -> None:
    _, fmts = formats
    assert label_line(fmts, "2026/12/05 10:00:02 [notice] 1#1: something else entirely") is None
    assert label_line(fmts, "not a line of this program") is None


def test_header_spaces_match_any_whitespace() -> None:
    assert header_pattern("<A>  <Content>").fullmatch("x \t y z") is not None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("program: p\nformats: []\n", "'formats' must be a list"),
        ("program: p\nformats:\n  - {name: a, header: '<A> <Content>'}\n", "formats[0]: templates go with"),
        ("program: p\nformats:\n  - {name: a, header: '<A>', templates: ['x']}\n", "formats[0]: templates go with"),
        ("program: p\nformats:\n  - {name: a, header: '<A>', extra: 1}\n", "formats[0]: a format has"),
        ("program: p\nformats:\n  - {name: a, header: '<A>'}\n  - {name: a, header: '<B>'}\n", "formats[1].name"),
        ("program: p\nformats:\n  - {name: a, header: '<A> <A>'}\n", "formats[0].header"),
        ("formats: []\nextra: 1\n", "the keys are"),
    ],
)
def test_bad_formats_files_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(FormatsError, match=f"bad.yaml: .*{key.replace('[', '.').replace(']', '.')}"):
        load_formats(path)


def test_label_logs_command_writes_jsonl_and_counts_unmatched(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "toyd.yaml").write_text(FORMATS)
    log = tmp_path / "toyd.log"
    log.write_text("2026/12/05 10:00:02 [notice] 1#1: worker 7 exited\nno such line\n")
    out = tmp_path / "toyd.jsonl"
    args = ["label-logs", "--formats", str(tmp_path / "toyd.yaml"), str(log), "--out", str(out)]
    with caplog.at_level("INFO", logger="logdelim.model.formats"):
        assert main(args) == 0
    assert "toyd: 1 lines labelled, 1 match no template" in caplog.text and "no template: no such line" in caplog.text
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["system"], r["event"]) for r in rows] == [("toyd", "error:2")]
    assert len(rows[0]["labels"]) == len(rows[0]["line"]) == len(rows[0]["kinds"])
    (tmp_path / "bad.yaml").write_text("program: p\n")
    assert main(["label-logs", "--formats", str(tmp_path / "bad.yaml"), str(log)]) == 2
