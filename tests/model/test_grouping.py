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


def test_a_word_the_tagger_made_a_variable_somewhere_needs_fewer_values() -> None:
    groups = StreamGroups(min_values=6, wildcard_values=3)
    for _ in range(10):
        groups.group("Failed password for root from <*> port <*>")
    groups.group("Failed password for ftp from <*> port <*>")
    # Two words and no <*> from the tagger: not yet evidence.
    assert groups.group_of("Failed password for root from <*> port <*>") == "Failed password for root from <*> port <*>"
    groups.group("Failed password for <*> from <*> port <*>")
    # The tagger's own <*> there, but on far fewer lines than root, and only two words.
    assert groups.group_of("Failed password for root from <*> port <*>") == "Failed password for root from <*> port <*>"
    # A third word: with the tagger's <*> beside it, three values make the position a variable.
    assert groups.group("Failed password for uucp from <*> port <*>") == "Failed password for <*> from <*> port <*>"
    assert groups.group_of("Failed password for root from <*> port <*>") == "Failed password for <*> from <*> port <*>"
    # Without the tagger's <*>, three words are not enough.
    for word in ("opened", "closed", "reset"):
        groups.group(f"session {word} for <*>")
    assert groups.group_of("session opened for <*>") == "session opened for <*>"


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
    batch = [("Failed password for <*> from <*>", "VV")] * 3
    batch += [("Failed password for ftp from <*>", "V"), ("session opened", "")]
    got = groups.group_batch(batch)
    wildcard = "Failed password for <*> from <*>"
    # Each distinct template once, grouped as the stream stands at the batch's end.
    assert got == {
        (wildcard, "VV"): (wildcard, template_id(wildcard)),
        ("Failed password for ftp from <*>", "V"): (wildcard, template_id(wildcard)),
        ("session opened", ""): ("session opened", template_id("session opened")),
    }
    # The counts went in: a second ftp line leaves <*> on fewer than twice as many lines.
    assert groups.group("Failed password for ftp from <*>") == "Failed password for ftp from <*>"


def test_memory_is_bounded() -> None:
    groups = StreamGroups(min_values=2, max_keys=10)
    for i in range(1000):
        groups.group(f"event {'x' * (i % 50 + 1)} happened here")
    assert len(groups) <= 2 * 10  # masked templates and counted templates, each bounded
    # With header fields: templates counted with fields marked, and lead words, bounded too.
    for i in range(1000):
        groups.group(f"<*> {'x' * (i % 7 + 1)} happened {'y' * (i % 53 + 1)} <*>", "FV")
    assert len(groups) <= 4 * 10


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        StreamGroups(min_values=1)
    with pytest.raises(ValueError):
        StreamGroups(wildcard_values=1)
    with pytest.raises(ValueError):
        StreamGroups(wildcard_ratio=0.5)
    with pytest.raises(ValueError):
        StreamGroups(field_ratio=0)


def test_a_value_cut_into_pieces_is_one_value() -> None:
    groups = StreamGroups()
    whole = groups.group("package: <*>, state: <*>")
    assert groups.group("package: Package_<*>~<*>~~<*>, state: <*>") == whole
    assert groups.group("[<*>:<*>@<*>:<*>] client: done") == "[<*>] client: done"
    # Nothing but wildcards and punctuation would be left: unrelated events must not meet there.
    assert groups.group("<*>: <*>:<*>") == "<*>: <*>:<*>"
    assert groups.group("<*>: <*>") == "<*>: <*>"


def test_a_value_read_partly_as_text_joins_the_wildcard_at_its_place() -> None:
    groups = StreamGroups(min_values=6, wildcard_ratio=2)
    groups.group("ntpd[<*>]: synchronized to <*>, stratum <*>")
    # The value's own brackets or marks in the template: alone, an event of its own.
    assert groups.group("ntpd[<*>]: synchronized to LOCAL(<*>), stratum <*>") == (
        "ntpd[<*>]: synchronized to LOCAL(<*>), stratum <*>"
    )
    groups.group("ntpd[<*>]: synchronized to <*>, stratum <*>")
    # Two lines of <*> against one: both readings of the value join it, the sentence's comma kept.
    assert groups.group_of("ntpd[<*>]: synchronized to LOCAL(<*>), stratum <*>") == (
        "ntpd[<*>]: synchronized to <*>, stratum <*>"
    )
    assert (
        groups.group("ntpd[<*>]: synchronized to #<*>#, stratum <*>") == "ntpd[<*>]: synchronized to <*>, stratum <*>"
    )
    # A value in the template's own brackets is not a value read partly as text.
    assert groups.group("ntpd[<*>]: synchronized to [<*>], stratum <*>") == (
        "ntpd[<*>]: synchronized to [<*>], stratum <*>"
    )
    # The chunk's middle as the value, inside its outer punctuation.
    for _ in range(2):
        groups.group("loading <*>: invalid program image")
    assert groups.group("loading allreduce_int_<*>: invalid program image") == "loading <*>: invalid program image"


def test_a_thread_name_with_spaces_read_in_pieces_joins_the_wildcard() -> None:
    groups = StreamGroups(wildcard_ratio=2)
    for _ in range(2):
        groups.group("<*> [<*>] Address change detected. Old: <*>")
    assert groups.group("<*> [CommitterEvent Processor #<*>] Address change detected. Old: <*>") == (
        "<*> [<*>] Address change detected. Old: <*>"
    )
    # A bracket without a wildcard is constant text; one without whitespace is a chunk.
    assert groups.group("<*> [main thread] Address change detected. Old: <*>") == (
        "<*> [main thread] Address change detected. Old: <*>"
    )


def test_a_value_read_partly_as_text_takes_many_values_to_become_a_variable() -> None:
    groups = StreamGroups(min_values=3)
    names = ["Surface(name=<*>)", "Window{<*>}", "Task:<*>@x"]
    got = [groups.group(f"destroying {name} now") for name in names]
    assert got[:2] == ["destroying Surface(name=<*>) now", "destroying Window{<*>} now"]
    assert got[2] == "destroying <*> now"
    # No key without a constant letter: two unrelated events of wildcards and punctuation stay apart.
    for _ in range(3):
        groups.group("<*>: <*>")
    assert groups.group("<*>: x<*>") == "<*>: x<*>"


HEADER_WORD = "<*> [<*>] org.apache.hadoop.ipc.Client: Address change detected. Old: <*> New: <*>"
HEADER_FIELD = "<*> [<*>] <*>: Address change detected. Old: <*> New: <*>"


def test_a_name_read_as_a_header_field_on_a_fair_share_of_lines_is_one_everywhere() -> None:
    groups = StreamGroups(field_ratio=0.25)
    for _ in range(8):
        groups.group(HEADER_WORD, "FFVV")
    # One field line in nine: the logger name may still be the message's own text.
    assert groups.group(HEADER_FIELD, "FFFVV") == HEADER_FIELD
    assert groups.group_of(HEADER_WORD, "FFVV") == HEADER_WORD
    groups.group(HEADER_FIELD, "FFFVV")
    # Two field lines to eight: a quarter. The dotted name is the header's logger field.
    assert groups.group_of(HEADER_WORD, "FFVV") == HEADER_FIELD
    # Told nothing of fields, the stream keeps the word, as without header rules.
    assert groups.group_of(HEADER_WORD) == HEADER_WORD


def test_a_variable_in_place_of_a_word_is_no_header_field() -> None:
    groups = StreamGroups(field_ratio=0.25)
    for _ in range(4):
        groups.group("<*> PhoneStatusBar: suspendAutohide", "F")
        groups.group("<*> PhoneStatusBar: <*>", "FV")
    # The tagger's <*> there is a variable (as many lines as the word: under wildcard_ratio).
    assert groups.group_of("<*> PhoneStatusBar: suspendAutohide", "F") == "<*> PhoneStatusBar: suspendAutohide"


def test_a_bracket_that_opens_with_a_header_field_is_one_field() -> None:
    groups = StreamGroups()
    # A thread name with spaces ([IPC Server handler 5 on 8030]) the tagger read in pieces.
    assert groups.group("<*> [<*> handler <*> on <*>] x: done", "FFFF") == "<*> [<*>] x: done"
    # Not when it opens with a variable, nor without the fields.
    assert groups.group("<*> [<*> handler <*> on <*>] x: done", "FVVV") == "<*> [<*> handler <*> on <*>] x: done"
    assert groups.group("<*> [<*> handler <*> on <*>] x: done") == "<*> [<*> handler <*> on <*>] x: done"


def test_a_header_name_read_partly_as_a_field_or_a_variable_is_one_field() -> None:
    groups = StreamGroups()
    # The logger org.apache.hadoop.ipc.Client cut at different dots on different lines: one event.
    want = "<*> [<*>] <*>: Address change detected. Old: <*>"
    assert groups.group("<*> [<*>] <*>.Client: Address change detected. Old: <*>", "FFFV") == want
    assert groups.group("<*> [<*>] org.<*>.ipc.Client: Address change detected. Old: <*>", "FFFV") == want
    # A field right before the name merges with it, as the spec's template merges adjacent fields.
    assert groups.group("<*> dfs.<*>: BLOCK* allocateBlock: <*>", "FFV") == "<*>: BLOCK* allocateBlock: <*>"
    # A thread name read as words before it is still the header.
    thread = "<*> [DataStreamer for file <*>] <*>.Client: Address change detected. Old: <*>"
    want = "<*> [DataStreamer for file <*>] <*>: Address change detected. Old: <*>"
    assert StreamGroups().group(thread, "FVFV") == want
    # A part read as a variable, after the header's fields and a thread name read as text.
    variable = "<*> [CommitterEvent <*> #<*>] org.apache.<*>.ipc.Client: Address change detected. Old: <*>"
    assert StreamGroups().group(variable, "FFVVV") == (
        "<*> [CommitterEvent <*> #<*>] <*>: Address change detected. Old: <*>"
    )
    # Not a dotted name in the message (a field there is the tagger's slip), nor after the colon
    # that ends a header (Spark's `<*>: mapred.<*>.id is deprecated`, the property name a
    # variable on some lines), nor one of variables after no field.
    message = "<*>: getRecentTasks: topActivity=ComponentInfo{x.<*>} for <*>.Client"
    assert groups.group(message, "FFF") == message
    after_colon = "<*>: mapred.<*>.id is deprecated"
    assert groups.group(after_colon, "FV") == after_colon
    assert groups.group("<*> [<*>] <*>.Client: done", "VVV") == "<*> [<*>] <*>.Client: done"
    # Nor without the fields.
    assert groups.group("<*> [<*>] <*>.Client: done") == "<*> [<*>] <*>.Client: done"


WITH_WORD = "<*> CBS Read out package <*>"  # the header's component read as text
WORD_IN_HEADER = "<*> Read out package <*>"  # the same line with the component in the header


def test_a_word_next_to_a_header_field_joins_it_as_the_spec_template_does() -> None:
    groups = StreamGroups(field_ratio=0.25)
    for _ in range(4):
        groups.group(WITH_WORD, "FV")
    # One line in four reads CBS as a header field, merged into the field before it.
    groups.group(WORD_IN_HEADER, "FV")
    assert groups.group_of(WITH_WORD, "FV") == WORD_IN_HEADER


def test_a_line_whose_header_took_in_the_first_word_joins_the_lines_that_read_it_as_text() -> None:
    groups = StreamGroups(field_ratio=0.25, wildcard_ratio=2)
    groups.group(WITH_WORD, "FV")
    groups.group(WORD_IN_HEADER, "FV")
    # As many lines each way: neither reading is the stream's yet.
    assert groups.group_of(WORD_IN_HEADER, "FV") == WORD_IN_HEADER
    for _ in range(9):
        groups.group(WITH_WORD, "FV")
    # Ten lines with the word as text against one: the header's format is the stream's.
    assert groups.group_of(WORD_IN_HEADER, "FV") == WITH_WORD
    assert groups.group_of(WITH_WORD, "FV") == WITH_WORD
    # Not without the fields, nor for a word further into the message.
    assert groups.group_of(WORD_IN_HEADER) == WORD_IN_HEADER
    for _ in range(10):
        groups.group("<*> Loaded CBS package <*>", "FV")
    assert groups.group("<*> Loaded package <*>", "FV") == "<*> Loaded package <*>"


def test_a_header_that_took_in_one_of_several_words_stays_apart() -> None:
    groups = StreamGroups(field_ratio=0.25, wildcard_ratio=2)
    for word in ("OK", "FAIL"):
        for _ in range(10):
            groups.group(f"<*> {word} Read out package <*>", "FV")
    # The line could be of either event: no guess.
    assert groups.group(WORD_IN_HEADER, "FV") == WORD_IN_HEADER


def test_events_of_one_constant_word_never_meet_in_a_template_of_wildcards() -> None:
    groups = StreamGroups(min_values=3)
    words = ["generating", "flushing", "rebooting", "halting"]
    got = [groups.group(f"<*> {word} <*>", "FV") for word in words for _ in range(3)]
    # Masking the one word would leave no constant text: each event keeps its own template.
    assert set(got) == {f"<*> {word} <*>" for word in words}
    # A field-masked key needs a letter too: the word read as a header field joins nothing.
    assert groups.group("<*> <*>", "FV") == "<*> <*>"
    assert groups.group_of("<*> halting <*>", "FV") == "<*> halting <*>"


def test_punctuation_at_the_start_of_a_line_with_a_header_is_the_header_s() -> None:
    groups = StreamGroups()
    # BGL's "-" flag, a delimiter on some lines and inside the first field on others.
    assert groups.group("- <*> generating <*>", "FV") == groups.group("<*> generating <*>", "FV")
    # Also before the header's first value read as a variable (the epoch), fields after it.
    assert groups.group("- <*>:<*> iar <*>", "VFV") == groups.group("<*>:<*> iar <*>", "FFV")
    # Not in a line without a header field, nor without the fields: "-> <*>" and "<*>" may be
    # different events.
    assert groups.group("- <*> generating <*>", "VV") == "- <*> generating <*>"
    assert groups.group("- <*> generating <*>") == "- <*> generating <*>"


def test_a_header_field_read_in_pieces_around_a_mark_is_one_field() -> None:
    groups = StreamGroups()
    # Proxifier's program "chrome.exe *64": its "*" a delimiter on some lines.
    whole = groups.group("[<*>] <*> - <*> open through proxy <*>", "FFVV")
    assert groups.group("[<*>] <*> *<*> - <*> open through proxy <*>", "FFFVV") == whole
    # Brackets and quotes are the line's structure: a field in them stays one of its own.
    assert groups.group("<*> (<*>) x: done", "FF") == "<*> (<*>) x: done"
    assert groups.group('<*> "<*>" x: done', "FF") == '<*> "<*>" x: done'


def test_a_list_of_values_is_one_value() -> None:
    groups = StreamGroups()
    one = groups.group("<*>: ask <*> to delete <*>", "FVV")
    assert groups.group("<*>: ask <*> to delete <*> blk_<*> blk_<*>", "FVVVV") == one
    assert groups.group("<*>: allocateBlock: <*>. <*>", "FVV") == groups.group("<*>: allocateBlock: <*>", "FV")
    # A word between the values, or a wildcard glued to a word before it, keeps them apart.
    assert groups.group("<*>: ask <*> to <*>", "FVV") == "<*>: ask <*> to <*>"
    assert groups.group("<*>: run tcp_<*>_imp <*> error", "FVV") == "<*>: run tcp_<*>_imp <*> error"


def test_a_word_beside_a_literal_asterisk_is_a_word() -> None:
    groups = StreamGroups(field_ratio=0.25)
    for _ in range(2):
        groups.group("<*>: BLOCK* ask <*> to delete <*>", "FVV")
    # HDFS's "BLOCK*" read as a header field on three lines of the event.
    for _ in range(3):
        groups.group("<*>: <*>* ask <*> to delete <*>", "FFVV")
    assert groups.group_of("<*>: BLOCK* ask <*> to delete <*>", "FVV") == "<*>: <*>* ask <*> to delete <*>"
