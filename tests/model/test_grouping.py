"""Stream groups: a word that takes many values among otherwise equal templates is a variable."""

from __future__ import annotations

import pytest

from logdelim.model.grouping import StreamGroups
from logdelim.model.templates import template_id


def test_a_word_with_many_values_becomes_a_variable() -> None:
    groups = StreamGroups(min_values=3)
    users = ["root", "ftp", "git", "oracle"]
    got = [groups.group(f"Failed password for {user} from <*> port <*>") for user in users]
    # Two values are not evidence yet; the third makes the position a variable, for every later line.
    assert got[:2] == ["Failed password for root from <*> port <*>", "Failed password for ftp from <*> port <*>"]
    assert got[2:] == ["Failed password for <*> from <*> port <*>"] * 2
    assert groups.group("Failed password for root from <*> port <*>") == "Failed password for <*> from <*> port <*>"
    # What the stream learnt applies to a template seen before it: its group, without recording it.
    assert groups.group_of("Failed password for ftp from <*> port <*>") == "Failed password for <*> from <*> port <*>"
    assert groups.group_of("Accepted password for root") == "Accepted password for root"


def test_few_values_keep_events_apart() -> None:
    groups = StreamGroups(min_values=3)
    assert groups.group("session opened for <*>") == "session opened for <*>"
    assert groups.group("session closed for <*>") == "session closed for <*>"
    assert groups.group("session opened for <*>") == "session opened for <*>"


def test_words_between_punctuation_vary_but_not_parts_of_values() -> None:
    groups = StreamGroups(min_values=2)
    groups.group("login user=ftp ok")
    assert groups.group("login user=git ok") == "login user=<*> ok"
    # A letter run glued to a digit or to a wildcard is part of a value, not a word.
    groups.group("took <*>ms on x86")
    assert groups.group("took <*>us on x64") == "took <*>us on x64"


def test_a_word_the_tagger_made_a_variable_on_most_lines_joins_them() -> None:
    groups = StreamGroups(min_values=6)
    for _ in range(4):
        groups.group("Failed password for <*> from <*> port <*>")
    # Two user names the tagger kept as text: too few values alone, but the tagger's own <*>
    # is on twice as many lines or more.
    assert groups.group("Failed password for ftp from <*> port <*>") == "Failed password for <*> from <*> port <*>"
    assert groups.group("Failed password for sshd from <*> port <*>") == "Failed password for <*> from <*> port <*>"


def test_a_word_about_as_common_as_the_wildcard_stays_an_event_of_its_own() -> None:
    groups = StreamGroups(min_values=6, wildcard_ratio=2)
    for _ in range(3):
        groups.group("BTLE scanner Powered On")
    for _ in range(4):
        groups.group("BTLE scanner Powered <*>")
    assert groups.group_of("BTLE scanner Powered On") == "BTLE scanner Powered On"
    for _ in range(2):
        groups.group("BTLE scanner Powered <*>")
    # Now six lines of <*> against three of On.
    assert groups.group_of("BTLE scanner Powered On") == "BTLE scanner Powered <*>"


def test_a_batch_is_recorded_then_grouped_with_ids() -> None:
    groups = StreamGroups()
    batch = ["Failed password for <*> from <*>"] * 3 + ["Failed password for ftp from <*>", "session opened"]
    got = groups.group_batch(batch)
    wildcard = "Failed password for <*> from <*>"
    # Each distinct template once, grouped as the stream stands at the batch's end.
    assert got == {
        wildcard: (wildcard, template_id(wildcard)),
        "Failed password for ftp from <*>": (wildcard, template_id(wildcard)),
        "session opened": ("session opened", template_id("session opened")),
    }
    # The counts went in: a second ftp line leaves <*> on fewer than twice as many lines.
    assert groups.group("Failed password for ftp from <*>") == "Failed password for ftp from <*>"


def test_memory_is_bounded() -> None:
    groups = StreamGroups(min_values=2, max_keys=10)
    for i in range(1000):
        groups.group(f"event {'x' * (i % 50 + 1)} happened here")
    assert len(groups) <= 2 * 10  # masked templates and counted templates, each bounded


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        StreamGroups(min_values=1)
    with pytest.raises(ValueError):
        StreamGroups(wildcard_ratio=0.5)


def test_a_value_cut_into_pieces_is_one_value() -> None:
    groups = StreamGroups()
    whole = groups.group("package: <*>, state: <*>")
    assert groups.group("package: Package_<*>~<*>~~<*>, state: <*>") == whole
    assert groups.group("[<*>:<*>@<*>:<*>] client: done") == "[<*>] client: done"
    # Nothing but wildcards and punctuation would be left: unrelated events must not meet there.
    assert groups.group("<*>: <*>:<*>") == "<*>: <*>:<*>"
    assert groups.group("<*>: <*>") == "<*>: <*>"
