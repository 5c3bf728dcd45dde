"""Vocabulary edge cases: digits, unknown characters, any Unicode."""

from __future__ import annotations

import random
import re

from logdelim.model.vocab import (
    DIGIT,
    UNK_ALNUM,
    UNK_OTHER,
    UNK_SPACE,
    CharVocab,
    cache_key,
    key_text,
    shape,
    shape_labels,
)


def test_digits_share_one_id_and_one_key() -> None:
    vocab = CharVocab.from_lines(["abc 123"])
    assert vocab.encode("0123456789") == [DIGIT] * 10
    assert cache_key("port 8080 at 10.0.0.1") == cache_key("port 1234 at 99.9.9.9")
    assert cache_key("a1") != cache_key("b1")


def test_unknown_characters_fall_back_by_class() -> None:
    vocab = CharVocab.from_lines(["abc"])
    ids = vocab.encode("ж\u3000→")
    assert ids == [UNK_ALNUM, UNK_SPACE, UNK_OTHER]


def test_known_characters_get_their_own_ids_and_ascii_is_always_known() -> None:
    vocab = CharVocab.from_lines(["é"])
    ids = vocab.encode("é~a")
    assert len(set(ids)) == 3 and min(ids) >= 5


def test_min_count_drops_rare_characters() -> None:
    vocab = CharVocab.from_lines(["ééé ж"], min_count=2)
    assert vocab.encode("ж") == [UNK_ALNUM]
    assert vocab.encode("é") != [UNK_ALNUM]


def test_round_trip_through_char_list_and_lengths() -> None:
    vocab = CharVocab.from_lines(["x€y😀"])
    again = CharVocab(vocab.chars)
    text = "x€y😀 \t\x00"
    assert again.encode(text) == vocab.encode(text)
    assert len(vocab.encode(text)) == len(text)
    assert vocab.encode("") == []


def test_array_encoding_matches_the_list_encoding() -> None:
    vocab = CharVocab.from_lines(["héllo wörld ж"])
    for text in ["", "plain ascii 123", "\x00\x1f\x7f\t", "héllo ж 😀", "\u3000x"]:
        assert vocab.encode_array(text).tolist() == vocab.encode(text)


def test_array_encoding_of_ids_past_a_byte_and_lone_surrogates() -> None:
    # A vocabulary of hundreds of characters gives ids past 255: the wide path must keep them.
    vocab = CharVocab.from_lines(["".join(chr(c) for c in range(0x400, 0x600))])
    assert len(vocab) > 256
    text = "ascii \u05ff\u0400 " + "\udcff" + "ж" * 3
    ids = vocab.encode_array(text).tolist()
    assert ids == vocab.encode(text)
    assert max(ids) > 255


def test_shape_collapses_numbers_and_ids_and_nothing_else() -> None:
    assert shape("src: /10.0.0.1:50010 blk_-1234 x86_64 0xfa3 HTTP/1.1") == "src: /0.0.0.0:0 blk_-0 0_0 0 HTTP/0.0"
    assert shape("port 8080") == shape("port 1") == "port 0"
    assert shape("no digits, ключ 1٣") == "no digits, ключ 0٣"  # only ASCII runs change
    assert shape("") == ""


def test_shape_keeps_punctuation_in_order_and_labels_follow() -> None:
    rng = random.Random(5)
    alphabet = "ab09Z_-.:/ =\t[]ж٣"
    for _ in range(500):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        labels = "".join("O" if c.isalnum() else rng.choice("OD") for c in line)
        shaped, shaped_labels = shape(line), shape_labels(line, labels)
        assert len(shaped_labels) == len(shaped)
        assert re.sub(r"[A-Za-z0-9]", "", shaped) == re.sub(r"[A-Za-z0-9]", "", line)
        kept = [lab for c, lab in zip(line, labels) if not (c.isascii() and c.isalnum())]
        assert [lab for c, lab in zip(shaped, shaped_labels) if not (c.isascii() and c.isalnum())] == kept
        assert shape(key_text(cache_key(line))) == shaped
