"""The spec's character classes, and the translate tables that look them up at C speed."""

from __future__ import annotations

from logdelim.model.charclass import TranslateTable, char_class, class_string


def test_class_string_matches_char_class_on_any_text() -> None:
    # A long ASCII stretch with one non-ASCII character: the whole string is still classed right.
    text = "GET /index.html 200 " * 50 + "ж\u3000→😀\u0301\x00\t" + "tail, end"
    assert class_string(text) == "".join(char_class(c) for c in text)
    assert class_string("") == ""


def test_translate_table_learns_code_points_up_to_its_bound() -> None:
    calls: list[str] = []

    def lookup(char: str) -> str:
        calls.append(char)
        return "x"

    table = TranslateTable(lookup, max_entries=130)
    calls.clear()  # the 128 ASCII code points are filled at construction
    assert "жж".translate(table) == "xx"
    assert calls == ["ж"]  # learned once, then looked up in C
    assert "ёюя".translate(table) == "xxx"
    assert len(table) == 130  # ё was remembered; the bound stopped ю and я
    calls.clear()
    assert "я".translate(table) == "x" and calls == ["я"]
