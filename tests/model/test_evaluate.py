"""``logdelim eval``: scoring a real (tiny) checkpoint, the JSON output, and leave-one-system-out."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from logdelim.daemon.cli import main
from logdelim.model import checkpoint
from logdelim.model.baselines import common_separators
from logdelim.model.evaluate import (
    GOLD,
    TAGGER,
    TRAINING_DATA_DIR,
    Evaluation,
    evaluate,
    format_text,
    kinds_markdown,
    loso_table,
    margin_summary,
    seeds_markdown,
    training_files,
)
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
    return [
        _write_jsonl(folder / "kv.jsonl", _toy_lines("kv", 60, 1)),
        _write_jsonl(folder / "pipe.jsonl", _toy_lines("pipe", 60, 2)),
    ]


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


def test_eval_cli_json_on_a_tiny_model(
    toy_checkpoint: Path, toy_data: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
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


def test_eval_cli_text_has_table_report_and_confusion(
    toy_checkpoint: Path, toy_data: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--model", str(toy_checkpoint), "--data", toy_data[0], "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| kv | 60 |" in out and "| **overall** | 60 |" in out
    assert "macro avg" in out and "gold\\pred" in out


def test_loso_runs_chosen_folds_resumes_and_pools(
    toy_data: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    common = [
        "eval",
        "--loso",
        "--data",
        *toy_data,
        "--out",
        str(tmp_path),
        "--minutes-per-system",
        "0.03",
        "--synthetic-lines",
        "0",
        "--hidden-size",  # a training option, handed to every fold
        "8",
        "--device",
        "cpu",
    ]
    assert main([*common, "--systems", "kv"]) == 0
    first = (tmp_path / "kv" / "result.json").stat().st_mtime_ns
    assert (tmp_path / "kv" / "model.pt").exists()
    assert "Not yet run (not in the overall row): pipe" in capsys.readouterr().out
    saved = json.loads((tmp_path / "kv" / "result.json").read_text())
    assert saved["train_config"]["exclude_systems"] == ["kv"] and saved["lines"] == 60
    assert saved["train_config"]["hidden_size"] == 8
    assert checkpoint.load(tmp_path / "kv" / "model.pt").model.config.hidden_size == 8

    assert main([*common, "--json"]) == 0  # resumes: kv is kept, pipe is trained
    data = json.loads(capsys.readouterr().out)
    assert (tmp_path / "kv" / "result.json").stat().st_mtime_ns == first
    assert data["missing"] == [] and set(data["systems"]) == {"kv", "pipe"}
    assert data["overall"]["lines"] == 120
    assert data == loso_table(tmp_path, ["kv", "pipe"])
    table = (tmp_path / "loso.md").read_text()
    assert "| **overall** | 120 |" in table and "F1 over common separators" in table
    above = sum(
        entry["scores"]["tagger"]["delimiter_f1"] > entry["scores"]["common_separators"]["delimiter_f1"]
        for entry in data["systems"].values()
    )
    assert f"Tagger delimiter F1 above common separators on {above} of 2 systems" in table

    # A saved fold trained under other settings is kept, but not silently.
    assert main([*common[:-2], "--seed", "7", "--device", "cpu", "--systems", "kv"]) == 0
    assert (tmp_path / "kv" / "result.json").stat().st_mtime_ns == first
    assert "kv was trained with other settings" in caplog.text

    # --rescore scores the saved models again, in a run folder that moved, and trains nothing.
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    shutil.copytree(tmp_path, moved)
    result = moved / "kv" / "result.json"
    stale = json.loads(result.read_text())
    stale["scores"]["tagger"]["delimiter_f1"] = -1.0
    result.write_text(json.dumps(stale))
    monkeypatch.setattr("logdelim.model.evaluate.train", _no_training)
    capsys.readouterr()
    rescore = ["eval", "--loso", "--rescore", "--data", *toy_data, "--out", str(moved), "--device", "cpu", "--json"]
    assert main(rescore) == 0
    again = json.loads(result.read_text())
    assert again == saved  # the same model scores the same, training kept as it was
    assert json.loads(capsys.readouterr().out)["systems"]["kv"] == loso_table(tmp_path, ["kv", "pipe"])["systems"]["kv"]
    assert main(["eval", "--rescore", "--data", *toy_data]) == 2


def _no_training(*args: object, **kwargs: object) -> None:
    raise AssertionError("--rescore must not train")


def test_loso_over_seeds_keeps_each_seed_and_tables_mean_and_range(
    toy_data: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["eval", "--loso", "--data", *toy_data, "--out", str(tmp_path), "--device", "cpu"]
    tiny = ["--minutes-per-system", "0.03", "--synthetic-lines", "0", "--hidden-size", "8"]
    assert main([*common, *tiny, "--seeds", "0,1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    overall = {}
    for seed in (0, 1):
        for system in ("kv", "pipe"):
            saved = json.loads((tmp_path / f"seed-{seed}" / system / "result.json").read_text())
            assert saved["train_config"]["seed"] == seed
        loso = json.loads((tmp_path / f"seed-{seed}" / "loso.json").read_text())
        overall[seed] = loso["overall"]["scores"]["tagger"]["delimiter_f1"]
    assert [row["seed"] for row in summary["seeds"]] == [0, 1] and summary["missing_seeds"] == []
    assert [row["delimiter F1"] for row in summary["seeds"]] == [overall[0], overall[1]]
    assert summary["mean"]["delimiter F1"] == pytest.approx((overall[0] + overall[1]) / 2)
    assert summary["min"]["delimiter F1"] == min(overall.values())
    assert summary["max"]["delimiter F1"] == max(overall.values())
    assert "kind accuracy" not in summary["mean"]  # these lines carry no kinds: no figure, not a zero
    table = (tmp_path / "seeds.md").read_text()
    assert table == seeds_markdown(summary) + "\n"
    assert f"| 0 | {overall[0]:.3f} |" in table and "| **mean** |" in table and "of 2 |" in table

    # A run over some systems tables the seeds over those folds alone.
    (tmp_path / "seed-1" / "pipe" / "result.json").unlink()
    assert main([*common, "--seeds", "0,1", "--systems", "kv", "--minutes-per-system", "0.03", "--json"]) == 0
    kv_only = json.loads(capsys.readouterr().out)
    for row in kv_only["seeds"]:
        kv = json.loads((tmp_path / f"seed-{row['seed']}" / "kv" / "result.json").read_text())
        assert row["delimiter F1"] == kv["scores"]["tagger"]["delimiter_f1"] and row["systems"] == 1
    assert [row["seed"] for row in kv_only["seeds"]] == [0, 1]
    # One seed's folds incomplete: it is left out of the table and named.
    assert main([*common, "--seeds", "0,1", "--rescore"]) == 0
    text = capsys.readouterr().out
    assert "| 0 |" in text and "| 1 |" not in text and "Seeds not complete (not in the table): 1" in text
    assert "Not yet run (not in the overall row): pipe" in (tmp_path / "seed-1" / "loso.md").read_text()

    assert main([*common, "--seeds", "0,x"]) == 2
    assert "--seeds takes comma-separated integers" in capsys.readouterr().err
    assert main([*common, "--seeds", "0", "--seed", "1"]) == 2
    assert "not both" in capsys.readouterr().err


def test_loso_rejects_unknown_system(toy_data: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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
    cfg = TrainConfig(
        data=(data_path,),
        out_dir=str(tmp_path / "model"),
        synthetic_lines=0,
        max_minutes=0.05,
        max_epochs=3,
        seed=0,
        device="cpu",
    )
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


# --------------------------------------------------------------------------- kinds and grouping


def _pieces_example(system: str, event: str, pieces: list[tuple[str, str]]) -> dict:
    """A labelled line from ``(text, kind)`` pieces, by the spec's rules: whitespace ``D``; inside a field
    or variable ``F``/``V``; constant text ``C`` where alphanumeric, else ``D``."""
    line, kinds = "", ""
    for text, kind in pieces:
        line += text
        kinds += "".join("D" if c.isspace() else kind if kind != "C" or c.isalnum() else "D" for c in text)
    labels = "".join("D" if k == "D" else "O" for k in kinds)
    return {"system": system, "line": line, "labels": labels, "kinds": kinds, "event": event}


def _kinds_lines(system: str, count: int, seed: int) -> list[dict]:
    """Lines with a header (time, level), three events, and variables that the digit rule half misses."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        header = [
            (f"12:{rng.randint(10, 59)}:{rng.randint(10, 59)}", "F"),
            (" ", "C"),
            (rng.choice(["INFO", "WARN"]), "F"),
            (" ", "C"),
        ]
        choice = rng.randrange(3)
        if choice == 0:
            body = [("open port ", "C"), (str(rng.randint(1, 9999)), "V")]
        elif choice == 1:
            # A variable without a digit: the digit rule calls it constant text.
            body = [("user ", "C"), (rng.choice(["bob", "alice", "carol"]), "V"), (" logged in", "C")]
        else:
            body = [("closed after ", "C"), (f"{rng.randint(1, 99)} ms", "V")]
        out.append(_pieces_example(system, f"E{choice}", header + body))
    return out


class _KindOracle(_Oracle):
    """An engine stand-in with a kind head that predicts the gold kinds (``kinds=None``: no kind head)."""

    def __init__(self, examples: list[dict], with_kinds: bool = True) -> None:
        super().__init__(examples)
        self.kinds = {e["line"]: e["kinds"] if with_kinds else "" for e in examples}

    def tag(self, lines: list[str]) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(line=line, tokens=labels_to_spans(line, self.gold[line]), kinds=self.kinds[line])
            for line in lines
        ]


def test_kinds_are_scored_beside_the_baselines_and_pool_exactly() -> None:
    examples = _kinds_lines("alpha", 60, 1) + _kinds_lines("beta", 40, 2)
    data = evaluate(_KindOracle(examples), examples).to_dict()
    for system in ("alpha", "beta"):
        scores = data["systems"][system]["kinds"]["scores"]
        assert list(scores) == [TAGGER, "tagger_stream", "digit_rule", "drain3", "drain3_masked", GOLD]  # no regexes
        assert scores[TAGGER]["kind_accuracy"] == scores[TAGGER]["template_exact_match"] == 1.0
        assert scores[TAGGER]["grouping_accuracy"] == scores[GOLD]["grouping_accuracy"] == 1.0
        # The digit rule has no header fields and misses the user names.
        assert scores["digit_rule"]["kind_accuracy"] < 1.0 and scores["digit_rule"]["template_exact_match"] == 0.0
        assert scores["digit_rule"]["grouping_accuracy"] < 1.0
        assert 0.0 <= scores["drain3"]["grouping_accuracy"] <= 1.0
        assert "kind_accuracy" not in scores["drain3"]  # a grouping only
    overall = data["overall"]["kinds"]["scores"]
    systems = [data["systems"][s]["kinds"]["scores"]["digit_rule"] for s in ("alpha", "beta")]
    assert overall["digit_rule"]["grouping_accuracy"] == pytest.approx(
        (systems[0]["grouping_accuracy"] + systems[1]["grouping_accuracy"]) / 2
    )  # the mean over systems
    assert overall["digit_rule"]["grouping_accuracy_pooled"] == pytest.approx(
        (systems[0]["grouping_accuracy"] * 60 + systems[1]["grouping_accuracy"] * 40) / 100
    )  # line-weighted
    assert overall[TAGGER]["ga_systems"] == 2 and overall[TAGGER]["ga_lines"] == 100
    # The delimiter part is what it was without kinds.
    plain = [{k: v for k, v in e.items() if k not in ("kinds", "event")} for e in examples]
    without = evaluate(_Oracle(plain), plain).to_dict()
    assert "kinds" not in without["overall"] and "kinds" not in without["systems"]["alpha"]
    assert {k: v for k, v in data["overall"].items() if k != "kinds"} == without["overall"]
    # Saved per-system results (as leave-one-system-out saves them) pool to the same overall row.
    pooled = Evaluation()
    for system, entry in data["systems"].items():
        pooled.merge(Evaluation.from_system_dict(system, json.loads(json.dumps(entry))))
    assert pooled.to_dict()["overall"] == data["overall"]
    with pytest.raises(ValueError, match="already counted"):
        pooled.merge(Evaluation.from_system_dict("alpha", data["systems"]["alpha"]))


def test_a_checkpoint_without_a_kind_head_gets_the_baselines_only() -> None:
    examples = _kinds_lines("alpha", 30, 3)
    scores = evaluate(_KindOracle(examples, with_kinds=False), examples).to_dict()["overall"]["kinds"]["scores"]
    assert list(scores) == ["digit_rule", "drain3", GOLD]


def test_benchmark_regexes_apply_to_loghub_systems_and_lines_without_events_get_no_ga() -> None:
    examples = _kinds_lines("HDFS", 20, 4)
    scores = evaluate(_KindOracle(examples), examples).to_dict()["systems"]["HDFS"]["kinds"]["scores"]
    assert "drain3_regex" in scores and "drain3_tuned" in scores
    no_events = [{k: v for k, v in e.items() if k != "event"} for e in examples]
    scores = evaluate(_KindOracle(no_events), no_events).to_dict()["systems"]["HDFS"]["kinds"]["scores"]
    assert list(scores) == [TAGGER, "digit_rule"] and "grouping_accuracy" not in scores[TAGGER]
    broken = [{**examples[0], "kinds": examples[0]["kinds"][:-1]}]
    with pytest.raises(ValueError, match="kinds for"):
        evaluate(_KindOracle(broken), broken)


def test_kinds_tables_in_text_and_loso(tmp_path: Path) -> None:
    examples = _kinds_lines("alpha", 30, 5) + _kinds_lines("beta", 30, 6)
    data = {"model_id": "oracle", "device": "cpu", **evaluate(_KindOracle(examples), examples).to_dict()}
    table = kinds_markdown(data)
    assert "| tagger kind acc / template exact / GA |" in table and "| Drain3 default GA |" in table
    assert "| alpha | 30 | 1.000 / 1.000 / 1.000 |" in table
    assert "| **overall** | 60 | 1.000 / 1.000 / 1.000 |" in table
    assert "line-weighted: tagger 1.000" in table
    assert table in format_text(data)
    # Leave-one-system-out pools saved folds' kinds too.
    for system in ("alpha", "beta"):
        (tmp_path / system).mkdir()
        record = {"system": system, "model_id": "oracle", **data["systems"][system]}
        (tmp_path / system / "result.json").write_text(json.dumps(record))
    pooled = loso_table(tmp_path, ["alpha", "beta"])
    assert pooled["overall"]["kinds"] == data["overall"]["kinds"]
    assert "Kinds and grouping of each left-out system" in (tmp_path / "loso.md").read_text()


ANN_ROWS = {
    "web": "⟬12:00:01⟭ GET ⟦/index.html⟧ took ⟦3⟧ ms (ok.)",
    "db": "⟬12:00:02⟭ query=⟦select 1⟧ rows: ⟦5⟧; cache: hit.",
}


def test_training_files_convert_ann_to_jsonl_stably(tmp_path: Path) -> None:
    ann = tmp_path / "lines.ann"
    ann.write_text("".join(f"{program}\t{row}\n" for program, row in ANN_ROWS.items()), encoding="utf-8")
    jsonl = tmp_path / "other.jsonl"
    jsonl.write_text("")
    out = tmp_path / "run"
    files = training_files([str(jsonl), str(ann)], out)
    assert files[0] == str(jsonl) and files[1] == str(out / TRAINING_DATA_DIR / "01-lines.jsonl")
    converted = [json.loads(row) for row in Path(files[1]).read_text(encoding="utf-8").splitlines()]
    assert [e["system"] for e in converted] == ["web", "db"]
    assert all(len(e["labels"]) == len(e["line"]) for e in converted)
    mtime = Path(files[1]).stat().st_mtime_ns
    assert training_files([str(jsonl), str(ann)], out) == files  # same names on a resumed run...
    assert Path(files[1]).stat().st_mtime_ns == mtime  # ...and an unchanged file is not rewritten


def test_loso_trains_on_ann_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: --loso handed .ann paths to training, which reads JSONL only."""
    rng = random.Random(7)
    rows = []
    for _ in range(40):
        rows.append(
            f"web\t⟬12:00:{rng.randint(10, 59)}⟭ GET ⟦/{rng.choice(['a', 'b', 'c'])}.html⟧ "
            f"took ⟦{rng.randint(1, 99)}⟧ ms (ok.)"
        )
        rows.append(
            f"db\t⟬12:00:{rng.randint(10, 59)}⟭ query=⟦select {rng.randint(1, 9)}⟧ rows: ⟦{rng.randint(0, 9)}⟧;"
        )
    ann = tmp_path / "lines.ann"
    ann.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "loso"
    assert (
        main(
            [
                "eval",
                "--loso",
                "--data",
                str(ann),
                "--out",
                str(out),
                "--systems",
                "web",
                "--minutes-per-system",
                "0.03",
                "--synthetic-lines",
                "0",
                "--device",
                "cpu",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["missing"] == ["db"] and data["systems"]["web"]["lines"] == 40
    saved = json.loads((out / "web" / "result.json").read_text())
    assert saved["train_config"]["data"] == [str(out / TRAINING_DATA_DIR / "00-lines.jsonl")]
    # The left-out system's kinds are scored: the fold's tagger learned them from the .ann brackets.
    # (No GA: .ann lines carry no event.)
    kinds = data["systems"]["web"]["kinds"]["scores"]
    assert list(kinds) == [TAGGER, "digit_rule"] and 0.0 <= kinds[TAGGER]["kind_accuracy"] <= 1.0
    assert "Kinds and grouping of each left-out system" in (out / "loso.md").read_text()


def test_margin_summary_counts_systems_above_the_rule_and_names_the_others() -> None:
    def entry(tagger_f1: float, rule_f1: float) -> dict:
        return {"scores": {"tagger": {"delimiter_f1": tagger_f1}, "common_separators": {"delimiter_f1": rule_f1}}}

    data = {"systems": {"a": entry(0.99, 0.90), "b": entry(0.976, 0.980), "c": entry(0.95, 0.95)}}
    assert margin_summary(data, "common_separators") == (
        "Tagger delimiter F1 above common separators on 1 of 3 systems; not above: b -0.004, c +0.000."
    )
    assert margin_summary({"systems": {"a": entry(0.99, 0.90)}}, "common_separators").endswith("on 1 of 1 systems.")
