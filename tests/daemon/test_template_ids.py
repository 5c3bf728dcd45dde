"""``template_id`` is the same for the same template in every process, version and machine.

Records from different replicas, restarts and replays are grouped by it, so it must
not depend on anything a process chooses for itself (Python salts ``hash()`` per
process with PYTHONHASHSEED): the ids are computed in subprocesses with different
seeds and compared, and pinned to known values (BLAKE2b, 8-byte digest, of the
template's UTF-8 bytes) so that a change of the function fails here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from logdelim.daemon.records import Source, record_value
from logdelim.model.templates import template, template_id

# (line, kinds) -> the template the spec gives and its id, computed once and pinned.
HDFS_LINE = (
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating"
)
HDFS_KINDS = (
    "FFFFFFDFFFFFFDFFFDFFFFDFFFFFFFFFFFFFFFFFFFFFFFFFFFFDDCCCCCCCCCCCCCCCDVDCCCDCCCCCDVVVVVVVVVVVVVVVVVVVVVDCCCCCCCCCCC"
)
CASES = [
    (HDFS_LINE, HDFS_KINDS, "<*>: PacketResponder <*> for block <*> terminating", "d0272991c83dee81"),
    ("", "", "", "e4a6a0577479b2b4"),
    ("caf\u00e9 42 \u65e5\u672c", "CCCCDVVDCC", "caf\u00e9 <*> \u65e5\u672c", "ce7405d5933ccd04"),
]

# The daemon's path: a message's template and id from its lines' kinds (inputs.join), into the record.
SCRIPT = """
import json, sys
from types import SimpleNamespace
from logdelim.daemon import inputs
from logdelim.model.spans import token_bounds
from logdelim.model.templates import template, template_and_fields, template_id
cases = json.loads(sys.stdin.read())
ids = []
for line, kinds in cases:
    bounds = token_bounds("".join("D" if k == "D" else "O" for k in kinds))
    text = template(line, kinds)
    token_kinds = "".join(kinds[s] for s, _ in bounds)
    result = SimpleNamespace(line=line, bounds=bounds, token_kinds=token_kinds,
                             template=text, template_id=template_id(text), delimiter_confidence=(),
                             min_confidence=1.0, template_fields=template_and_fields(line, bounds, token_kinds)[1])
    tagged = inputs.join(inputs.segments(line), [result] if line else [], line, kinds=True)
    record = inputs.record_of(inputs.Source("t", 0, 0, None), line, tagged, "m")
    ids.append(json.loads(record)["template_id"])
print(json.dumps(ids))
"""


def _ids_in_a_process(seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        input=json.dumps([[line, kinds] for line, kinds, _, _ in CASES]),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def test_template_ids_are_pinned() -> None:
    for line, kinds, text, expected in CASES:
        assert template(line, kinds) == text
        assert template_id(text) == expected
        record = json.loads(record_value(Source("t", 0, 0, None), line, [], "m", 1.0, "", text))
        assert record["template_id"] == expected


def test_template_ids_are_the_same_in_two_processes_with_different_hash_seeds() -> None:
    first, second = _ids_in_a_process("1"), _ids_in_a_process("2")
    assert first == second == [expected for _, _, _, expected in CASES]


def test_the_shipped_model_gives_the_same_template_ids_in_two_processes() -> None:
    script = """
import json, sys
from logdelim.model.engine import Engine
lines = json.loads(sys.stdin.read())
print(json.dumps([[r.template, r.template_id] for r in Engine.load(device="cpu").tag(lines)]))
"""
    lines = [line for line, _, _, _ in CASES if line] + ["src: /10.0.0.1:50010 dest: /10.0.0.2:50010"]

    def run(seed: str) -> list[list[str]]:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(lines),
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        return json.loads(done.stdout)

    first, second = run("1"), run("2")
    assert first == second
    for text, identifier in first:
        assert text and identifier == template_id(text), "the shipped model has a kind head"
