"""``logdelim bench``: every measurement runs on the same lines and reports positive rates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from logdelim.daemon.cli import main
from logdelim.model.bench import CACHED_ROUNDS, read_lines, time_chunks

RATE_KEYS = (
    "tagger_lines_per_s",
    "tagger_chars_per_s",
    "tagger_cached_lines_per_s",
    "drain3_lines_per_s",
    "regex_lines_per_s",
    "tagger_vs_drain3",
    "tagger_cached_vs_drain3",
)


def test_read_lines_takes_raw_text_and_labelled_jsonl(tmp_path: Path) -> None:
    raw = tmp_path / "app.log"
    raw.write_bytes(b"first line\r\nsecond \xff line\n\nlast")
    assert read_lines([raw]) == ["first line", "second \ufffd line", "", "last"]
    labelled = tmp_path / "app.jsonl"
    labelled.write_text('{"system": "app", "line": "a b", "labels": "ODO"}\n{"line": "c", "labels": "O"}\n')
    assert read_lines([labelled, raw]) == ["a b", "c", "first line", "second \ufffd line", "", "last"]


def test_time_chunks_stops_at_the_cap_and_repeats_to_the_minimum() -> None:
    calls: list[int] = []
    capped = time_chunks(lambda chunk: calls.append(len(chunk)), [["a"]] * 5, max_seconds=0.0)
    assert capped["lines"] == 1 and calls == [1]
    repeated = time_chunks(lambda chunk: None, [["ab", "c"]], min_seconds=0.01)
    assert repeated["lines"] > 2 and repeated["chars"] == repeated["lines"] * 3 / 2
    assert repeated["seconds"] >= 0.01 and repeated["lines_per_s"] > 0


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    """300 lines of 12 shapes: repeats make cache hits on the stream."""
    log = tmp_path / "small.log"
    log.write_text("".join(f"2024-01-0{i % 3 + 1} INFO worker[{i % 4}] job=build status=ok\n" for i in range(300)))
    return log


# --no-pipeline: the pipeline half has its own tests (tests/daemon/test_bench_pipeline.py).
def test_bench_json_on_a_small_file(
    toy_checkpoint: Path, small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "bench",
                "--model",
                str(toy_checkpoint),
                "--data",
                str(small_log),
                "--json",
                "--seconds",
                "1",
                "--device",
                "cpu",
                "--threads",
                "1",
                "--no-pipeline",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    for key in RATE_KEYS:
        assert result[key] > 0, key
    assert result["lines"] == 300
    assert result["tagger_chars_per_s"] > result["tagger_lines_per_s"]
    assert result["tagger_cached_lines"] == 300 and result["cache_hit_ratio"] > 0.5
    # Cached tagger and Drain3 alternate; the headline ratio is the median of the rounds' own ratios.
    rounds = result["cached_rounds"]
    assert len(rounds) == CACHED_ROUNDS
    for pair in rounds:
        assert pair["ratio"] == pytest.approx(pair["tagger_cached_lines_per_s"] / pair["drain3_lines_per_s"])
    assert result["tagger_cached_vs_drain3"] == sorted(p["ratio"] for p in rounds)[len(rounds) // 2]
    # The tagger figures use one network call per usable core; the cached stream is also measured on one.
    assert result["parallel_tiles"] == len(os.sched_getaffinity(0))
    assert all(pair["tagger_cached_one_core_lines_per_s"] > 0 for pair in rounds)
    assert (
        result["tagger_cached_one_core_lines_per_s"]
        == sorted(p["tagger_cached_one_core_lines_per_s"] for p in rounds)[len(rounds) // 2]
    )
    assert result["drain3_lines_per_s"] == sorted(p["drain3_lines_per_s"] for p in rounds)[len(rounds) // 2]
    assert result["machine"]["torch_threads"] == 1 and result["machine"]["device"] == "cpu"
    assert result["machine"]["cpu_cores"] >= 1
    assert result["model_id"].startswith("charbilstm-")


def test_bench_text_table(
    toy_checkpoint: Path, small_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "bench",
                "--model",
                str(toy_checkpoint),
                "--data",
                str(small_log),
                "--seconds",
                "0.2",
                "--device",
                "cpu",
                "--no-pipeline",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for row in ("tagger, uncached", "tagger, cached stream", "drain3 add_log_message", "regex split"):
        assert row in out


def test_bench_lines_default_to_the_shared_data(tmp_path, monkeypatch) -> None:
    (tmp_path / "X.jsonl").write_text('{"system": "X", "line": "a b", "labels": "ODO"}\n')
    monkeypatch.setenv("LOGDELIM_LOGHUB_LABELS", str(tmp_path))
    from logdelim.model.bench import bench_lines

    assert bench_lines(None) == ["a b"]
    assert bench_lines([]) == ["a b"]
    monkeypatch.setenv("LOGDELIM_LOGHUB_LABELS", str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="no --data given"):
        bench_lines(None)
