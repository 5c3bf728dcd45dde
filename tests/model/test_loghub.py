"""Spec labels rebuilt from Loghub structured CSVs (``logdelim label``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from logdelim.daemon.cli import main
from logdelim.model.loghub import FORMATS, label_row, template_kinds
from logdelim.model.spans import token_bounds


def template_labels(content: str, template: str) -> str | None:
    kinds = template_kinds(content, template)
    return None if kinds is None else kinds.translate(str.maketrans("CFV", "OOO"))


def test_template_kinds_follow_the_spec_rules() -> None:
    content = "PacketResponder 1 for block blk_-38865049064139660 terminating"
    kinds = template_kinds(content, "PacketResponder <*> for block <*> terminating")
    assert kinds == "CCCCCCCCCCCCCCCDVDCCCDCCCCCD" + "V" * 22 + "DCCCCCCCCCCC"
    labels = template_labels(content, "PacketResponder <*> for block <*> terminating")
    assert labels is not None and len(labels) == len(content)
    # The variable blk_-... stays one token (rule 2); the constant text splits at whitespace (rule 1).
    tokens = [content[i:j] for i, j in token_bounds(labels)]
    assert tokens == ["PacketResponder", "1", "for", "block", "blk_-38865049064139660", "terminating"]
    # Constant punctuation is a delimiter (rule 3); the same character inside a variable is not.
    assert template_labels("src: /10.0.0.1:50010", "src: <*>") == "OOODDOOOOOOOOOOOOOOO"


def test_template_whitespace_matches_any_run_and_a_mismatch_is_none() -> None:
    assert (
        template_labels(
            "We launched 1 speculations.  Sleeping 15000 ms.", "We launched <*> speculations. Sleeping <*> ms."
        )
        is not None
    )
    assert template_labels(" total = 5##6", "total = <*>##<*>") == "DOOOOODDDODDO"
    assert template_labels("open through proxy", "close, <*> bytes") is None


def test_rows_are_rebuilt_from_the_format_with_optional_parts() -> None:
    row = {
        "LineId": "1",
        "Month": "Jun",
        "Date": "14",
        "Time": "15:16:01",
        "Level": "combo",
        "Component": "sshd(pam_unix)",
        "PID": "19939.0",
        "Content": "session opened for user root",
        "EventTemplate": "session opened for user <*>",
    }
    line, labels, kinds = label_row(FORMATS["Linux"], row)
    assert kinds.startswith("FFFDFFDFFFFFFFFDFFFFFDFFFFFFFFFFFFFFDFFFFFDD")  # header values are fields
    assert kinds.endswith("DCCCCCCCDCCCCCCDCCCDCCCCDVVVV")
    # pandas' float rendering of the integer PID is undone; the [PID] part is present.
    assert line == "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: session opened for user root"
    assert labels[line.index("sshd") : line.index("[")] == "OOOOOOOOOOOOOO"  # a header value keeps its ( )
    assert labels[line.index("[") : line.index("[") + 1] == "D"
    line, _, _ = label_row(FORMATS["Linux"], {**row, "PID": ""})
    assert line == "Jun 14 15:16:01 combo sshd(pam_unix): session opened for user root"

    mac = {
        "Month": "Jul",
        "Date": "1",
        "Time": "09:00:55",
        "User": "calvisitor-10-105-160-95",
        "Component": "kernel",
        "PID": "0",
        "Address": "",
        "Content": "AirPort: Link Down",
        "EventTemplate": "AirPort: Link Down",
    }
    line, labels, _ = label_row(FORMATS["Mac"], mac)
    assert line == "Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: AirPort: Link Down"
    assert labels.endswith("OOOOOOODDOOOODOOOO")


def test_label_command_writes_spec_jsonl_and_skips_mismatches(tmp_path: Path, capsys) -> None:
    source = tmp_path / "Proxifier.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["LineId", "Time", "Program", "Content", "EventId", "EventTemplate"])
        writer.writerow(
            [
                "1",
                "10.30 16:49:06",
                "chrome.exe",
                "proxy.example.org:5070 open through proxy",
                "E2",
                "<*>:<*> open through proxy",
            ]
        )
        writer.writerow(["2", "10.30 16:49:07", "chrome.exe", "something else", "E9", "close, <*> bytes"])
    out = tmp_path / "out.jsonl"
    assert main(["label", "--system", "Proxifier", str(source), "--out", str(out)]) == 0
    rows = [json.loads(text) for text in out.read_text(encoding="utf-8").splitlines()]
    assert [row["line"] for row in rows] == ["[10.30 16:49:06] chrome.exe - proxy.example.org:5070 open through proxy"]
    assert rows[0]["system"] == "Proxifier" and len(rows[0]["labels"]) == len(rows[0]["line"])
    assert rows[0]["event"] == "E2" and rows[0]["kinds"].endswith("VVVVVVVVVVVVVVVVVDVVVVDCCCCDCCCCCCCDCCCCC")
    assert main(["label", "--system", "NoSuchSystem", str(source)]) == 2
    assert "give --format" in capsys.readouterr().err


def test_rebuilt_shared_lines_carry_the_shared_labels(loghub_files: list[Path]) -> None:
    """Where a rebuilt line equals the shared file's line, its labels, kinds and event are the shared ones.

    Not compared: Zookeeper (the shared labels match its Node field greedily, the CSV
    splits it) and HDFS (the CSV lost the dates' leading zeros, so no line is equal).
    """
    raw = loghub_files[0].parent.parent / "raw"
    compared = 0
    for labelled in loghub_files:
        system = labelled.stem
        structured = raw / system / f"{system}_2k.log_structured_corrected.csv"
        if system in ("Zookeeper", "HDFS") or not structured.exists():
            continue
        gold = [json.loads(text) for text in labelled.read_text(encoding="utf-8").splitlines() if text.strip()]
        with structured.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == len(gold), system
        equal = 0
        for row, example in zip(rows, gold):
            rebuilt = label_row(FORMATS[system], row)
            assert rebuilt is not None, (system, row["LineId"])
            if rebuilt[0] == example["line"]:
                equal += 1
                assert rebuilt[1:] == (example["labels"], example["kinds"]), (system, row["LineId"])
                assert row["EventId"] == example["event"], (system, row["LineId"])
        assert equal >= 0.75 * len(gold), (system, equal)
        compared += equal
    assert compared >= 15_000
