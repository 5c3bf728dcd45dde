"""Tests of the synthetic labelled-line generator (``logdelim.model.synth``): spec invariants,
determinism, family coverage, hand-checked token lists and punctuation balance."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from logdelim.model.spans import labels_to_spans
from logdelim.model.synth import (
    CONST,
    FAMILIES,
    FIELD,
    VALUES,
    VAR,
    assemble,
    generate,
    json_pieces,
    logfmt_pieces,
    piece_labels,
    render,
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate(4000, seed=11)


def _tokens(line: str, labels: str) -> list[str]:
    return [span.text for span in labels_to_spans(line, labels)]


def _assembled_tokens(pieces: list[tuple[str, str]]) -> tuple[str, list[str]]:
    line, labels, _ = assemble(pieces)
    return line, _tokens(line, labels)


def test_rows_follow_the_spec_invariants(rows: list[dict]) -> None:
    for row in rows:
        line, labels = row["line"], row["labels"]
        assert set(row) == {"system", "line", "labels", "kinds"}
        kinds = row["kinds"]
        assert len(kinds) == len(line) and set(kinds) <= {"D", "F", "C", "V"}
        assert all((kind == "D") == (label == "D") for kind, label in zip(kinds, labels)), line
        assert row["system"].startswith("synthetic/")
        assert len(labels) == len(line) > 0
        assert set(labels) <= {"O", "D"}
        assert line == line.strip() and "\n" not in line and "\r" not in line
        for char, label in zip(line, labels):
            if char.isspace():
                assert label == "D", (line, char)
            elif char.isalnum():
                assert label == "O", (line, char)


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first = generate(300, seed=5)
    assert first == generate(300, seed=5)
    assert generate(100, seed=5) == first[:100]
    assert generate(300, seed=6) != first
    assert len(first) == 300


def test_every_family_appears(rows: list[dict]) -> None:
    counts = Counter(row["system"] for row in rows)
    assert set(counts) == {f"synthetic/{family}" for family in FAMILIES}
    assert min(counts.values()) >= 50


def test_piece_labels_constant_and_variable() -> None:
    assert piece_labels("dfs.DataNode: ", False) == "OOODOOOOOOOODD"
    assert piece_labels("10.0.0.1:80 x", True) == "OOOOOOOOOOODO"
    assert piece_labels("a\tb", True) == "ODO"
    assert piece_labels("", True) == ""


def test_render_fields_padding_and_literal_braces() -> None:
    r = random.Random(0)
    pieces = render(r, "{{{file}}} [{level:<5}] {msg}", {"file": "a.py:12", "level": "INFO", "msg": [("done.", CONST)]})
    line, tokens = _assembled_tokens(pieces)
    assert line == "{a.py:12} [INFO ] done."
    assert tokens == ["a.py:12", "INFO", "done"]


def test_logfmt_line_tokens() -> None:
    r = random.Random(0)
    msg = render(r, "Listening on {hostport}", {"hostport": "10.0.0.1:8080"})
    pieces = logfmt_pieces(
        r, [("level", "info"), ("msg", msg), ("http.status", "200"), ("path", "C:\\Program Files\\x")]
    )
    line, tokens = _assembled_tokens(pieces)
    assert line == 'level=info msg="Listening on 10.0.0.1:8080" http.status=200 path="C:\\\\Program Files\\\\x"'
    assert tokens == [
        "level",
        "info",
        "msg",
        "Listening",
        "on",
        "10.0.0.1:8080",
        "http",
        "status",
        "200",
        "path",
        "C:\\\\Program",
        "Files\\\\x",
    ]


def test_url_is_one_token() -> None:
    url = "https://api.example.com:8443/v1/items?q=x&y=z"
    line, tokens = _assembled_tokens(render(random.Random(0), "GET {url} -> {status}", {"url": url, "status": "200"}))
    assert tokens == ["GET", url, "200"]


def test_ipv6_host_port_and_scoped_address() -> None:
    pieces = render(
        random.Random(0), "peer {hostport} via {ip}: ok", {"hostport": "[2001:db8::1]:443", "ip": "fe80::1%eth0"}
    )
    assert _assembled_tokens(pieces)[1] == ["peer", "[2001:db8::1]:443", "via", "fe80::1%eth0", "ok"]


def test_clock_durations_and_header_components_are_one_token() -> None:
    r = random.Random(3)
    durations = []
    for _ in range(300):
        component, duration = VALUES["component"](r), VALUES["duration"](r)
        durations.append(duration)
        pieces = render(r, "{component}|closed, lifetime {duration}", {"component": component, "duration": duration})
        assert _assembled_tokens(pieces)[1] == [component, "closed", "lifetime", duration]
    # Minutes:seconds (``00:01``) and hours:minutes:seconds elapsed times are both generated.
    assert any(re.fullmatch(r"\d\d:\d\d", d) for d in durations)
    assert any(re.fullmatch(r"\d+:\d\d:\d\d(\.\d{3})?", d) for d in durations)


def test_windows_path_with_space_splits_only_at_the_space() -> None:
    pieces = render(
        random.Random(0), "Loaded file {winpath} ({size})", {"winpath": "C:\\Program Files\\x.dll", "size": "1.2GiB"}
    )
    assert _assembled_tokens(pieces)[1] == ["Loaded", "file", "C:\\Program", "Files\\x.dll", "1.2GiB"]


def test_json_object_syntax_is_delimiter_values_are_tokens() -> None:
    r = random.Random(0)
    obj = {
        "level": [("info", FIELD)],
        "ts": "1.5e9",
        "msg": render(r, "open {path}: denied", {"path": '/tmp/"a b"'}),
        "http": {"ok": "true"},
    }
    line, tokens = _assembled_tokens(json_pieces(obj, spaced=False))
    assert line == '{"level":"info","ts":1.5e9,"msg":"open /tmp/\\"a b\\": denied","http":{"ok":true}}'
    assert tokens == [
        "level",
        "info",
        "ts",
        "1.5e9",
        "msg",
        "open",
        '/tmp/\\"a',
        'b\\"',
        "denied",
        "http",
        "ok",
        "true",
    ]


def test_outer_whitespace_is_trimmed_with_its_labels() -> None:
    line, labels, kinds = assemble([("  ", CONST), ("x y", VAR), (" .", CONST)])
    assert (line, labels, kinds) == ("x y .", "ODODD", "VDVDD")


def test_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError):
        assemble([("a\nb", FIELD)])


def test_family_spot_checks(rows: list[dict]) -> None:
    by_family: dict[str, list[list[str]]] = {}
    for row in rows:
        by_family.setdefault(row["system"].split("/", 1)[1], []).append(_tokens(row["line"], row["labels"]))
    # klog: level letter and MMDD form one token, then the time, the thread id and file:line.
    for tokens in by_family["klog"]:
        assert tokens[0][0] in "IWEF" and tokens[0][1:].isdigit() and ":" in tokens[3]
    # access logs: the Common Log Format time stays one token, as does the request path.
    for tokens in by_family["web_access"]:
        assert any(t.count("/") == 2 and t.count(":") == 3 for t in tokens)
        assert any(t.startswith("/") for t in tokens)


def test_conventions_of_the_programs_own_formats(rows: list[dict]) -> None:
    """What a program prints with one %s is one token, as corpus/formats and the 27-program
    annotations label it (dpkg's and APT's name:arch and .deb path, a key fingerprint, a tty,
    BIND's address#port, a constraint's name); what it prints with several is several (Apache's
    module and level); a percent sign the format prints literally ("%.1f%%") is a delimiter."""
    one_value = re.compile(
        r"[\w.+-]+:(amd64|arm64|i386|all)\b|\.\.\./\S+\.deb|SHA256:\w+|(?<=TTY=)pts/\d+|(?<=client )[\d.]+#\d+"
    )
    one_values = constraints = percents = apache = 0
    for row in rows:
        line, tokens = row["line"], _tokens(row["line"], row["labels"])
        for match in one_value.finditer(line):
            one_values += 1
            assert match.group() in tokens, line
        # Apache 2.4's "[%-m:%l]": module and level are two fields.
        for match in re.finditer(r"\] \[(\w+):(\w+)\] \[pid ", line):
            apache += 1
            assert match.group(1) in tokens and match.group(2) in tokens, line
        for match in re.finditer(r'constraint "(\w+_pkey)"', line):
            constraints += 1
            assert match.group(1) in tokens, line
        for match in re.finditer(r"buffers \(([\d.]+)%\)", line):
            percents += 1
            assert match.group(1) in tokens and row["labels"][match.end(1)] == "D", line
    assert one_values > 20 and constraints > 0 and percents > 0 and apache > 0


def test_values_that_hold_punctuation_stay_one_token(rows: list[dict]) -> None:
    """A JSON string value is one value whatever it holds (a media type, a user agent, an
    HTTP date); the names of an HTTP header map are data, so one token each as well; a DNS
    name keeps its root dot; PostgreSQL's "[unknown]" and "[local]" are values. A constant
    key in kebab case is still constant text: its hyphens are delimiters."""
    header_names = dns_names = placeholders = kebab_keys = 0
    for row in rows:
        line, tokens = row["line"], _tokens(row["line"], row["labels"])
        for match in re.finditer(r'"headers": ?\{"([\w-]+)": ?\["([^"]*)"\]', line):
            header_names += 1
            name, value = match.group(1), match.group(2)
            assert name in tokens and row["kinds"][match.start(1)] == "V", line
            assert value.split(" ")[0] in tokens, line
        for match in re.finditer(r"(?<= )[\w.-]+\.(?= (A|AAAA|MX|TXT|PTR|NS|SOA|CNAME|SRV) IN\b)", line):
            dns_names += 1
            assert match.group() in tokens, line
        for match in re.finditer(r"\[(unknown|local)\](?=[@ )])", line):
            placeholders += 1
            assert match.group() in tokens, line
        for match in re.finditer(r'[{,] ?"[a-z]+(-)[a-z]+": ?', line):
            kebab_keys += 1
            assert row["labels"][match.start(1)] == "D", line
    assert header_names > 5 and dns_names > 0 and placeholders > 5 and kebab_keys > 5


def test_punctuation_gets_both_labels(rows: list[dict]) -> None:
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        for char, label in zip(row["line"], row["labels"]):
            if not char.isalnum() and not char.isspace():
                counts[char, label] += 1
    inside = sum(n for (_, label), n in counts.items() if label == "O")
    assert 0.3 < inside / sum(counts.values()) < 0.7
    for char in ":.-/_,[]=":
        o, d = counts[char, "O"], counts[char, "D"]
        assert min(o, d) >= 0.01 * (o + d), (char, o, d)


def test_kinds_header_fields_message_variables_and_constant_text() -> None:
    r = random.Random(0)
    pieces = render(
        r,
        "{level} [{thread}] {msg}",
        {
            "level": "INFO",
            "thread": "main",
            "msg": render(r, "took {duration} on {host}", {"duration": "3 ms", "host": "db-1"}, kind=VAR),
        },
    )
    line, _, kinds = assemble(pieces)
    assert line == "INFO [main] took 3 ms on db-1"
    assert kinds == "FFFFDDFFFFDDCCCCDVDVVDCCDVVVV"


def test_every_family_has_constant_text_or_variables(rows: list[dict]) -> None:
    """Kinds are not all fields: every family's messages carry constant text or variables."""
    by_family: dict[str, Counter] = {}
    for row in rows:
        by_family.setdefault(row["system"], Counter()).update(row["kinds"])
    for family, counts in by_family.items():
        assert counts["C"] + counts["V"] > 0.2 * (counts["C"] + counts["V"] + counts["F"]), family
