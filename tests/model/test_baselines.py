"""The rule baselines, and the check that the scorer follows the spec: the spec's table, reproduced."""
from __future__ import annotations

from pathlib import Path

from logdelim.model.baselines import BASELINES, common_separators, whitespace
from logdelim.model.data import load_jsonl
from logdelim.model.scores import Scorer

# shared/spec/labels.md, rule-based baselines: delimiter F1 / punctuation accuracy / line exact match.
SPEC_TABLE = {
    "Android": ((0.737, 0.386, 0.000), (0.943, 0.840, 0.000)),
    "Apache": ((0.778, 0.354, 0.000), (0.971, 0.900, 0.000)),
    "BGL": ((0.931, 0.900, 0.240), (0.953, 0.931, 0.323)),
    "HDFS": ((0.901, 0.781, 0.000), (0.901, 0.781, 0.000)),
    "HPC": ((0.957, 0.663, 0.631), (0.980, 0.839, 0.855)),
    "Hadoop": ((0.807, 0.718, 0.000), (0.887, 0.813, 0.000)),
    "Linux": ((0.808, 0.552, 0.000), (0.948, 0.855, 0.000)),
    "OpenSSH": ((0.758, 0.381, 0.000), (0.929, 0.790, 0.000)),
    "Spark": ((0.866, 0.660, 0.000), (0.952, 0.869, 0.000)),
    "Windows": ((0.921, 0.569, 0.000), (0.957, 0.757, 0.004)),
    "Zookeeper": ((0.770, 0.592, 0.000), (0.836, 0.672, 0.000)),
}


def test_whitespace_rule_splits_on_any_whitespace_only() -> None:
    assert whitespace("a=b\tc  d\u00a0e") == "OOODODDODO"
    assert whitespace("") == ""


def test_common_separators_rule_splits_on_the_spec_list() -> None:
    line = "k=v, x;(a)[b]{c}\"q\"'r'|<t> p:q.r-s/t"
    labels = common_separators(line)
    for char, label in zip(line, labels):
        expected = "D" if char.isspace() or char in "=,;()[]{}\"'|<>" else "O"
        assert label == expected, (char, label)
    assert labels.endswith("OOOOOOOOO")  # ':' '.' '-' '/' are not in the list
    assert list(BASELINES) == ["whitespace", "common_separators"]


def test_baselines_reproduce_the_spec_table(loghub_files: list[Path]) -> None:
    seen = set()
    for path in loghub_files:
        examples = load_jsonl(path)
        system = examples[0]["system"]
        if system not in SPEC_TABLE:
            continue
        seen.add(system)
        for rule, expected in zip(BASELINES.values(), SPEC_TABLE[system]):
            scorer = Scorer()
            for example in examples:
                scorer.add(example["line"], example["labels"], rule(example["line"]))
            result = scorer.result()
            got = tuple(round(result[key], 3)
                        for key in ("delimiter_f1", "punctuation_accuracy", "line_exact_match"))
            assert got == expected, (system, rule.__name__)
    assert seen == set(SPEC_TABLE)
