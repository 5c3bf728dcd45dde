"""The real-programs corpus (corpus/): every program's driver and its collected lines.

The collected files are what later labelling and leave-one-program-out scores read,
so they are checked as committed: one log per driver, bounded, clean UTF-8 lines, and
no line kept twice. The selection that ``corpus/collect.py`` applies is unit-tested too.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
# The floor for leave-one-program-out: at least 15 programs and 3,000 lines.
MIN_PROGRAMS = 15
MIN_LINES = 3000
MIN_LINES_PER_PROGRAM = 100


@pytest.fixture(scope="module")
def collect() -> Iterator[ModuleType]:
    sys.path.insert(0, str(CORPUS))
    try:
        yield importlib.import_module("collect")
    finally:
        sys.path.remove(str(CORPUS))


def test_every_driver_has_its_log_and_every_log_its_driver(collect: ModuleType) -> None:
    drivers = set(collect.programs())
    logs = {path.stem for path in (CORPUS / "logs").glob("*.log")}
    assert drivers == logs
    assert len(drivers) >= MIN_PROGRAMS


def test_drivers_say_their_format_packages_and_how_to_collect(collect: ModuleType) -> None:
    for name in collect.programs():
        module = importlib.import_module(f"programs.{name}")
        assert module.__doc__ and len(module.__doc__) > 200, f"{name}: its docstring must document the format"
        assert isinstance(module.FORMAT_SOURCE, str) and module.FORMAT_SOURCE, name
        assert all(isinstance(p, str) for p in module.PACKAGES), name
        assert callable(module.collect), name


def test_logs_are_bounded_clean_lines_kept_once(collect: ModuleType) -> None:
    total = 0
    for path in sorted((CORPUS / "logs").glob("*.log")):
        raw = path.read_bytes()
        text = raw.decode("utf-8")  # strict: a collected file is valid UTF-8
        assert text.endswith("\n"), path.name
        lines = text[:-1].split("\n")
        assert MIN_LINES_PER_PROGRAM <= len(lines) <= collect.MAX_LINES, (path.name, len(lines))
        assert len(set(lines)) == len(lines), f"{path.name}: a line kept twice"
        for line in lines:
            assert line.strip() and "\r" not in line, path.name
            assert len(line.encode()) <= collect.MAX_LINE_BYTES, path.name
        total += len(lines)
    assert total >= MIN_LINES


def test_select_keeps_each_shape_first_in_order_within_the_bound(collect: ModuleType) -> None:
    lines = ["a 1", "a 2", "", "b", "a 3", "b", "c 10", "x" * (collect.MAX_LINE_BYTES + 1), "d 7\r"]
    assert collect.select(lines) == ["a 1", "a 2", "b", "a 3", "c 10", "d 7"]
    # Over the bound: one line of each shape before any second line of a shape.
    assert collect.select(lines, max_lines=4) == ["a 1", "b", "c 10", "d 7"]
    assert collect.select(lines, max_lines=5) == ["a 1", "a 2", "b", "c 10", "d 7"]
    assert collect.line_shape("pid 123 at 10.0.0.1") == "pid 0 at 0.0.0.0"


def test_readme_table_is_the_committed_corpus(collect: ModuleType) -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert f"{collect.TABLE_BEGIN}\n{collect.summary_table()}{collect.TABLE_END}" in readme, (
        "corpus/README.md is stale: python corpus/collect.py --readme"
    )


def test_every_program_has_formats_that_label_its_lines(collect: ModuleType) -> None:
    from logdelim.model.formats import label_line, load_formats

    for name in collect.programs():
        program, formats = load_formats(CORPUS / "formats" / f"{name}.yaml")
        assert program == name
        lines = (CORPUS / "logs" / f"{name}.log").read_text(encoding="utf-8").splitlines()
        labelled = [label_line(formats, line) for line in lines]
        unmatched = [line for line, result in zip(lines, labelled) if result is None]
        # The formats were written to label every line; a new collection they miss must say so here.
        assert len(unmatched) <= 0.05 * len(lines), (name, unmatched[:3])
        for result in labelled:
            if result is not None:
                assert len(result.kinds) == len(result.line) and set(result.kinds) <= set("DFCV")
        # Labels that tell nothing (every line one event) would not be a program's templates.
        assert len({result.event for result in labelled if result is not None}) >= 5, name
