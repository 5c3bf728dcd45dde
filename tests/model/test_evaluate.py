"""``logdelim eval``: scoring a real (tiny) checkpoint, the JSON output, and leave-one-system-out."""
from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from logdelim.daemon.cli import main
from logdelim.model.baselines import common_separators
from logdelim.model.evaluate import TAGGER, Evaluation, evaluate, loso_table
from logdelim.model.scores import Scorer
from logdelim.model.spans import labels_to_spans
from logdelim.model.train import TrainConfig, train

SCORES = ("delimiter_f1", "punctuation_accuracy", "line_exact_match", "token_f1")


def _toy_lines(system: str, count: int, seed: int) -> list[dict]:
    """Lines whose true labels are the common-separators rule's (so the rule scores 1.0 on them)."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "node7", "x1"]
    out = []
    for _ in range(count):
        if system == "kv":
            line = f"{rng.choice(words)}={rng.randint(0, 999)}, {rng.choice(words)}=({rng.choice(words)})"
        else:
            line = f"[{rng.choice(words)}] {rng.choice(words)}|{rng.randint(0, 99)};{rng.choice(words)}"
        out.append({"system": system, "line": line, "labels": common_separators(line)})
    return out


def _write_jsonl(path: Path, examples: list[dict]) -> str:
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))
    return str(path)


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("toy_data")
    return [_write_jsonl(folder / "kv.jsonl", _toy_lines("kv", 60, 1)),
            _write_jsonl(folder / "pipe.jsonl", _toy_lines("pipe", 60, 2))]


class _Oracle:
    """An engine stand-in that returns the gold tokens: the scorer's upper bound."""

    model_id, device = "oracle", "cpu"

    def __init__(self, examples: list[dict]) -> None:
        self.gold = {e["line"]: e["labels"] for e in examples}

    def tag(self, lines: list[str]) -> list[SimpleNamespace]:
        return [SimpleNamespace(line=line, tokens=labels_to_spans(line, self.gold[line])) for line in lines]


def test_evaluation_scores_tagger_and_baselines_and_pools_exactly() -> None:
    examples = _toy_lines("kv", 10, 3) + [
        {"system": "other", "line": "a:b c", "labels": "ODODO"},
        {"system": "other", "line": "x.y", "labels": "OOO"},
    ]
    data = evaluate(_Oracle(examples), examples).to_dict()
    assert list(data["systems"]) == ["kv", "other"]
    assert data["overall"]["lines"] == 12
    for entry in (*data["systems"].values(), data["overall"]):
        assert all(entry["scores"][TAGGER][key] == 1.0 for key in SCORES)
    # The rule is the truth on "kv" but misses ':' in "a:b c".
    assert data["systems"]["kv"]["scores"]["common_separators"]["line_exact_match"] == 1.0
    rule = Scorer()
    rule.add("a:b c", "ODODO", common_separators("a:b c"))
    rule.add("x.y", "OOO", common_separators("x.y"))
    assert data["systems"]["other"]["scores"]["common_separators"] == rule.result()
    # Saved per-system results pool to the same overall row as scoring everything at once.
    pooled = Evaluation()
    for system, entry in data["systems"].items():
        pooled.merge(Evaluation.from_system_dict(system, entry))
    assert pooled.to_dict()["overall"] == data["overall"]
    assert data["overall"]["confusion"]["labels"] == ["O", "D"]


def test_eval_cli_json_on_a_tiny_model(toy_checkpoint: Path, toy_data: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", str(toy_checkpoint), "--data", *toy_data, "--json", "--device", "cpu"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model_id"].startswith("charbilstm-") and data["device"] == "cpu"
    assert set(data["systems"]) == {"kv", "pipe"}
    assert data["overall"]["lines"] == 120
    for entry in (*data["systems"].values(), data["overall"]):
        assert set(entry["scores"]) == {"tagger", "whitespace", "common_separators"}
        for scores in entry["scores"].values():
            assert all(0.0 <= scores[key] <= 1.0 for key in SCORES)
        # The toy labels are the common-separators rule, so that baseline is perfect.
        assert entry["scores"]["common_separators"]["line_exact_match"] == 1.0
    report = data["overall"]["report"]
    assert report["D"]["support"] + report["O"]["support"] == report["micro avg"]["support"]
    assert sum(map(sum, data["overall"]["confusion"]["matrix"])) == report["micro avg"]["support"]


def test_eval_cli_text_has_table_report_and_confusion(toy_checkpoint: Path, toy_data: list[str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", str(toy_checkpoint), "--data", toy_data[0], "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| kv | 60 |" in out and "| **overall** | 60 |" in out
    assert "macro avg" in out and "gold\\pred" in out


def test_loso_runs_chosen_folds_resumes_and_pools(toy_data: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    common = ["eval", "--loso", "--data", *toy_data, "--out", str(tmp_path), "--minutes-per-system", "0.03",
              "--synthetic-lines", "0", "--device", "cpu"]
    assert main([*common, "--systems", "kv"]) == 0
    first = (tmp_path / "kv" / "result.json").stat().st_mtime_ns
    assert (tmp_path / "kv" / "model.pt").exists()
    assert "Not yet run (not in the overall row): pipe" in capsys.readouterr().out
    saved = json.loads((tmp_path / "kv" / "result.json").read_text())
    assert saved["train_config"]["exclude_systems"] == ["kv"] and saved["lines"] == 60

    assert main([*common, "--json"]) == 0  # resumes: kv is kept, pipe is trained
    data = json.loads(capsys.readouterr().out)
    assert (tmp_path / "kv" / "result.json").stat().st_mtime_ns == first
    assert data["missing"] == [] and set(data["systems"]) == {"kv", "pipe"}
    assert data["overall"]["lines"] == 120
    assert data == loso_table(tmp_path, ["kv", "pipe"])
    table = (tmp_path / "loso.md").read_text()
    assert "| **overall** | 120 |" in table and "F1 over common separators" in table

    # A saved fold trained under other settings is kept, but not silently.
    assert main([*common[:-2], "--seed", "7", "--device", "cpu", "--systems", "kv"]) == 0
    assert (tmp_path / "kv" / "result.json").stat().st_mtime_ns == first
    assert "kv was trained with other settings" in caplog.text


def test_loso_rejects_unknown_system(toy_data: list[str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--loso", "--data", *toy_data, "--out", str(tmp_path), "--systems", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_eval_cli_on_a_multiclass_alphabet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(4)
    examples = []
    for _ in range(40):
        line = f"{rng.choice(['acme', 'initech'])} paid {rng.choice(['bob', 'alice'])} {rng.randint(1, 99)}"
        labels = ["B-NUM" if c.isdigit() else "B-ORG" if line.index(" ") > i else "O" for i, c in enumerate(line)]
        examples.append({"system": "toy", "line": line, "labels": labels})
    data_path = _write_jsonl(tmp_path / "entities.jsonl", examples)
    cfg = TrainConfig(data=(data_path,), out_dir=str(tmp_path / "model"), synthetic_lines=0, max_minutes=0.05,
                      max_epochs=3, seed=0, device="cpu")
    model = train(cfg)["checkpoint"]
    assert main(["eval", "--model", model, "--data", data_path, "--json", "--device", "cpu"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["binary"] is False
    overall = data["overall"]
    assert overall["scores"] == {}  # the four scores and the rules are defined for O/D only
    assert {"B-NUM", "B-ORG", "O"} <= set(overall["report"]) and overall["lines"] == 40
    assert overall["report"]["micro avg"]["support"] == sum(len(e["line"]) for e in examples)
    assert main(["eval", "--model", model, "--data", data_path, "--device", "cpu"]) == 0
    assert "B-ORG" in capsys.readouterr().out
