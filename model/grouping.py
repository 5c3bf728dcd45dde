"""Groups from the stream's own evidence: a word that varies is a variable.

The tagger decides each line alone, and on a system it never saw it can take a
variable word for constant text (``Failed password for root``, ``... for ftp``):
every value then makes a template of its own. Among lines whose templates are
equal but for one word, that word is a variable once it has taken many values
(Drain's insight, without Drain's similarity threshold that merges events
differing in a word or two). The tagger's own reading is evidence too: where it
makes that word ``<*>`` on most lines of the event, a word it kept on a few is
a variable it missed (``... for ftp from`` beside many ``... for <*> from``).
A header field is evidence of its own, the header's format being the stream's:
a word or dotted name the tagger reads as a header field on a fair share of an
event's lines is one on all of them (``... org.apache.hadoop.ipc.Client: Address
change`` beside ``... <*>: Address change``), a line whose header took in the
message's first word is read as the lines that keep it as text, when those are
most (``<*> address: <*>`` beside many ``<*> instruction address: <*>``), and a
bracket that opens with a header field is one field (a thread name such as
``[IPC Server handler 5 on 8030]``), and so is a dotted name in the header that holds
a field or a variable (a logger name cut at different dots on different lines,
``<*>.Client:`` beside ``<*>.ipc.Client:`` and ``org.apache.<*>.ipc.Client:``). And a
value the tagger's delimiters cut into pieces on some lines (``<*>~<*>~<*>`` where
other lines have ``<*>``) is one value for grouping, and a value the tagger read partly as text
(``allreduce_int_<*>``, ``LOCAL(<*>),``, a thread name ``[CommitterEvent
Processor #<*>]``) is a value like a word: it joins the ``<*>`` the tagger gave
that place on more lines, or becomes one after many values.
:class:`StreamGroups` applies these online, template by
template, in bounded memory; the template and its id stay the tagger's, and
the group of a template is what the stream has learnt so far: a template seen
early may join a group later, when its varying word has shown enough values, so
records already written keep their ``template_id`` and a store maps ids to
groups when it reads them (``group_of``).
"""

from __future__ import annotations

import functools
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

from .templates import WILDCARD
from .templates import template_id as make_template_id

# A wildcard made of header fields (``templates.template_and_fields``), inside this module only:
# the header rules key on it, groups and their ids never show it.
_FIELD = "<F>"


class StreamGroups:
    """Online grouping of templates: the group of a template is the template with a word (or a
    chunk that holds a wildcard beside other characters) made ``<*>`` once that word's position
    has shown ``min_values`` distinct words among templates otherwise equal (``wildcard_values``
    where the tagger's own template has ``<*>`` there), or once the template with ``<*>`` there
    has been seen on at least ``wildcard_ratio`` times as many lines as the template itself, or
    (given which wildcards are header fields) once the template with a header field in place of
    a word or a dotted name has been seen on at least ``field_ratio`` times as many lines; a
    template whose header took in the message's first word is the group of the one template
    that reads the word as text, once that has ``wildcard_ratio`` times as many lines; the
    template until then.

    Args:
        min_values: distinct words at one position that make it a variable. Fewer merge events
            that differ in a word (``opened``/``closed``/``reset``), more leave variable words
            apart; six grouped best on the Loghub systems left out of training (3-15 tried).
        wildcard_values: the same where the tagger itself read the position as a variable on
            some line (its template with ``<*>`` there has been seen): fewer words are needed
            when the network agrees (user names it kept as text on most lines of an event, such
            as ``root``, ``uucp``, ``ftp``); 2-5 were tried (model card).
        wildcard_ratio: how many times as many lines the tagger's ``<*>`` at a word's position
            must have as the word, for the word to join it. Where the word is about as common
            as the wildcard, the two are often distinct events (``Powered On`` beside ``Powered
            <*>`` for ``Off``); 1, 2 and 4 were tried (model card).
        field_ratio: how many times as many lines the tagger's header field in place of a word
            or dotted name must have, as the template with the word, for the word to join it. A
            header field is rarely a word of the message (the tagger calls a message word a field
            on a few lines at most); 0.1, 0.25 and 0.5 were tried (model card).
        max_keys: templates-with-one-word-masked remembered, and templates counted (least
            recently seen forgotten first), each with at most ``min_values`` words: the memory bound.
    """

    def __init__(
        self,
        min_values: int = 6,
        wildcard_values: int = 3,
        wildcard_ratio: float = 2.0,
        field_ratio: float = 0.25,
        max_keys: int = 20_000,
    ) -> None:
        if min(min_values, wildcard_values) < 2 or wildcard_ratio < 1 or field_ratio <= 0 or max_keys < 1:
            raise ValueError(
                "min_values and wildcard_values must be >= 2, wildcard_ratio >= 1, field_ratio > 0 and max_keys >= 1"
            )
        self.min_values = min_values
        self.wildcard_values = wildcard_values
        self.wildcard_ratio = wildcard_ratio
        self.field_ratio = field_ratio
        self.max_keys = max_keys
        self._values: OrderedDict[str, set[str] | None] = OrderedDict()  # None: refined
        self._lines: OrderedDict[str, int] = OrderedDict()  # lines seen per (joined) template
        self._field_lines: OrderedDict[str, int] = OrderedDict()  # the same, header fields as _FIELD
        # Per template read with its lead word in the header (_lead), the template read with the
        # word as text; empty once two such templates differ.
        self._leads: OrderedDict[str, tuple[str, str] | tuple[()]] = OrderedDict()

    def __len__(self) -> int:
        """Entries remembered: masked templates and counted templates (each at most ``max_keys``)."""
        return len(self._values) + len(self._lines) + len(self._field_lines) + len(self._leads)

    def group(self, template: str, fields: str = "") -> str:
        """Record ``template`` and return its group (the template with a varying word as ``<*>``).

        ``fields``: which of its wildcards are header fields (``templates.template_and_fields``);
        empty when unknown, and then the header rules leave the template alone.
        """
        keys = _keys(template, fields)
        self._record(template, fields, keys, 1)
        return self._group(keys)

    def group_batch(self, templates: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
        """Record a batch's ``(template, fields)``; each distinct one's group and the group's id, as
        the stream shows them at the batch's end.

        The id is ``templates.template_id`` of the group's text, so a template that is a group
        of its own keeps its own id. A batch repeats its templates, so this records each once
        with its count: a fraction of :meth:`group` per line.
        """
        keyed = [(pair, _keys(*pair), lines) for pair, lines in Counter(templates).items()]
        for (template, fields), keys, lines in keyed:
            self._record(template, fields, keys, lines)
        out = {}
        for pair, keys, _ in keyed:
            group = self._group(keys)
            out[pair] = (group, make_template_id(group))
        return out

    def _record(self, template: str, fields: str, keys: _Keys, count: int) -> None:
        """Count ``template`` (its ``keys``: :func:`_keys`) on ``count`` more lines, and its words."""
        self._count(self._lines, keys.joined, count)
        if keys.field_joined:
            self._count(self._field_lines, keys.field_joined, count)
        # The words seen at each masked key (every new template passes here: inlined, with locals).
        values, min_values, max_keys = self._values, self.min_values, self.max_keys
        for key, word in keys.masked:
            if key in values:
                values.move_to_end(key)
                seen = values[key]
                if seen is None:
                    continue
            else:
                seen = values[key] = set()
                if len(values) > max_keys:
                    values.popitem(last=False)
            seen.add(word)
            if len(seen) >= min_values:
                values[key] = None
        if keys.lead:
            known = self._leads.get(keys.lead, (template, fields))
            # Two templates read with their lead words as text, each a lead key of its own: a line
            # whose header took the word in could be of either event.
            self._leads[keys.lead] = known if known and _keys(*known).joined == keys.joined else ()
            self._leads.move_to_end(keys.lead)
            if len(self._leads) > self.max_keys:
                self._leads.popitem(last=False)

    def _count(self, lines: OrderedDict[str, int], key: str, count: int) -> None:
        lines[key] = lines.get(key, 0) + count
        lines.move_to_end(key)
        if len(lines) > self.max_keys:
            lines.popitem(last=False)

    def group_of(self, template: str, fields: str = "") -> str:
        """The group of ``template`` (with ``fields`` as in :meth:`group`) as the stream has shown
        it so far (recording nothing)."""
        return self._group(_keys(template, fields))

    def _group(self, keys: _Keys) -> str:
        values = self._values
        for key, _ in keys.masked:
            if values.get(key, ()) is None:  # refined
                return key
        counted = self._lines.get
        lines = counted(keys.joined, 0)
        for key, _ in keys.masked:
            wildcard_lines = counted(key, 0)
            if wildcard_lines and (
                wildcard_lines >= self.wildcard_ratio * lines or len(values.get(key) or ()) >= self.wildcard_values
            ):
                return key
        field_counted = self._field_lines.get
        field_lines = field_counted(keys.field_joined, 0)
        for key in keys.field_masked:
            key_lines = field_counted(key, 0)
            if key_lines and key_lines >= self.field_ratio * field_lines:
                return _field_group(key)
        lead = self._leads.get(keys.field_joined)
        if lead:
            fuller = _keys(*lead)
            if field_counted(fuller.field_joined, 0) >= self.wildcard_ratio * field_lines:
                return self._group(fuller)
        return keys.joined


# A word: letters and underscores between characters that are neither (``ftp`` in ``user=ftp``,
# ``snake_case``, ``BLOCK`` in HDFS's ``BLOCK*``; not ``x86``, nor the ``ms`` glued to a wildcard
# in ``<*>ms``). Punctuation and wildcards are the template's structure.
_WORD = re.compile(r"(?<![\w<>])[^\W\d]+(?![\w<>])")


# A whitespace-separated chunk: its opening punctuation, its middle, its closing punctuation.
_CHUNK = re.compile(r"([^\w<]*)(.*?)([^\w>]*)")
_LETTER = re.compile(r"[^\W\d_]")
# A wildcard in one pair of brackets or quotes, or beside one mark: the template's own syntax
# around a value far more often than a value's own marks, and the commonest chunks by far.
_BRACKETED = re.compile(r"""(?:\[<\*>\]|\(<\*>\)|\{<\*>\}|"<\*>"|'<\*>'|[^\w\s]<\*>|<\*>[^\w\s]?)[,;:.]?""")
# A whitespace-separated chunk holding a wildcard.
_WILDCARD_CHUNK = re.compile(r"[^ ]*<\*>[^ ]*")
# The sentence punctuation that ends a chunk: ``,`` in ``LOCAL(<*>),``.
_ENDING = ",;:."


def _dotted_name(part: str) -> str:
    """The pattern of a dotted name whose parts are names or ``part``."""
    return rf"(?:[^\W\d][\w$]*|{part})(?:\.(?:[^\W\d][\w$]*|{part}))+"


# A dotted name, some of its parts perhaps header fields: ``org.apache.hadoop.ipc.Client``.
_DOTTED = re.compile(_dotted_name("<F>"))
# A dotted name, some of its parts perhaps wildcards of either kind, as a whole name (not the tail
# of a longer one): ``org.apache.<*>.ipc.Client``.
_HEADER_DOTTED = re.compile(r"(?<![\w$.])" + _dotted_name("<[F*]>") + r"(?![\w$])")
# A whitespace-separated chunk with a dot in it.
_DOTTED_CHUNKS = re.compile(r"[^ .]*\.[^ ]*")
# A square bracket and what it holds.
_SQUARE_BRACKET = re.compile(r"\[[^\[\]]*\]")
# A square bracket with whitespace inside.
_SPACED_BRACKET = re.compile(r"\[[^\[\]]* [^\[\]]*\]")
# Header fields with only whitespace between them.
_ADJACENT_FIELDS = re.compile(r"<F>(?: <F>)+")
# A bracket that opens with a header field and holds another wildcard after whitespace.
_FIELD_BRACKET = re.compile(r"\[<F>[^\[\]]* [^\[\]]*\]")
# Whitespace-separated chunks of punctuation alone at the start, before a wildcard: in a line with a
# header, the header's own syntax (BGL's ``-`` flag), which the tagger reads as a delimiter on some
# lines, part of a field on others; the wildcard after it a field, or the header's first value read
# as a variable (``- <*>:<*> iar <*>``, the epoch a variable, beside ``<*>:<*>:<*> iar <*>``).
_LEADING_MARKS = re.compile(r"^(?:[^\w\s<>]+ +)+(?=<F>|<\*>)")
# A header field, then chunks of marks (no brackets or quotes) and a field: one field read in pieces
# (Proxifier's program ``chrome.exe *64``, whose ``*`` the tagger reads as a delimiter on some lines).
_MARKED_FIELDS = re.compile(r"<F>(?: [^\w\s<>\[\](){}\"']+<F>(?= |$))+")
# Wildcards with only ``. `` or ``, `` between them: a value with spaces cut at its punctuation (an
# HDFS path and the block after it, ``<*>. <*>``), or a list of values as long as the line makes it.
_VALUE_LIST = re.compile(r"<\*>(?:[.,] <\*>)+")
# A wildcard, then chunks of a word glued to a wildcard: a list of values (HDFS's ``blk_<*> blk_<*>``).
_VALUE_WORDS = re.compile(r"<\*>(?: +\w+<\*>(?=[ .,]|$))+")


def _joined(template: str, fields: bool = False) -> str:
    """``template`` with each whitespace-separated chunk that holds two or more wildcards (header
    fields too, with ``fields``) made one wildcard inside the chunk's outer punctuation
    (``[<*>:<*>@<*>]`` -> ``[<*>]``): a header field when any of its wildcards was one, else ``<*>``;
    and each run of values (:data:`_VALUE_WORDS`, :data:`_VALUE_LIST`) made one ``<*>``.

    Left as it is when no letter of constant text would remain: a template of wildcards
    and punctuation only (``<*>: <*>``) would then hold unrelated events.
    """
    if _wildcards(template, fields) < 2:
        return template
    chunks = _VALUE_WORDS.sub(WILDCARD, template).split(" ")
    for i, chunk in enumerate(chunks):
        if "<" in chunk and _wildcards(chunk, fields) >= 2:
            match = _CHUNK.fullmatch(_plain(chunk))
            assert match is not None  # every string matches
            field = fields and _FIELD in chunk
            chunks[i] = match.group(1) + (_FIELD if field else WILDCARD) + match.group(3)
    joined = _VALUE_LIST.sub(WILDCARD, " ".join(chunks))
    return joined if _constant_letter(joined) else template


def _plain(template: str) -> str:
    """``template`` with its header-field wildcards as ``<*>``."""
    return template.replace(_FIELD, WILDCARD)


def _with_fields(template: str, fields: str) -> str | None:
    """``template`` with each wildcard that ``fields`` says is a header field (``F``) as _FIELD,
    each bracket opening with a field and holding more wildcards after whitespace as one field,
    a field read in pieces as one (:data:`_MARKED_FIELDS`), a dotted name in the header that holds
    a wildcard as one (:func:`_header_name`), and, when it has a field, without the punctuation chunks
    at its start (:data:`_LEADING_MARKS`).

    None when ``fields`` does not count the template's wildcards (no kinds, or a ``<*>`` in
    the line's own text)."""
    parts = template.split(WILDCARD)
    if len(fields) != len(parts) - 1 or not fields:
        return None
    out = [parts[0]]
    for field, part in zip(fields, parts[1:]):
        out.append(_FIELD if field == "F" else WILDCARD)
        out.append(part)
    marked = "".join(out)
    if "F" not in fields:
        return marked  # no header: none of the header rules applies
    marked = _MARKED_FIELDS.sub(_FIELD, _LEADING_MARKS.sub("", marked))
    if "." in marked:
        dotted = _HEADER_DOTTED.sub(lambda m: _FIELD if _header_name(m) else m.group(), marked)
        marked = _ADJACENT_FIELDS.sub(_FIELD, dotted) if dotted != marked else marked
    return _FIELD_BRACKET.sub(lambda m: f"[{_FIELD}]" if _wildcards(m.group(), True) >= 2 else m.group(), marked)


def _header_name(match: re.Match[str]) -> bool:
    """Whether a dotted name (``match``) that holds a wildcard is the header's: a logger name the
    tagger cut at a dot on some lines, reading part of it as a field or as a variable
    (``<*>.Client:``, ``org.apache.<*>.ipc.Client:``). So it is when only header fields, square
    brackets (a thread name) and punctuation but the colon that ends a header come before it,
    and a field is among them or in it."""
    name = match.group()
    if WILDCARD not in name and _FIELD not in name:
        return False
    head = _SQUARE_BRACKET.sub("", match.string[: match.start()])
    if ":" in head or not _fields_and_marks(head):
        return False
    return _FIELD in name or _FIELD in head


def _fields_and_marks(text: str) -> bool:
    """Whether ``text`` holds only header fields, punctuation and whitespace: no variable, no letter
    of constant text (the header before a word the header rules look at)."""
    return WILDCARD not in text and not _LETTER.search(text.replace(_FIELD, ""))


def _wildcards(text: str, fields: bool) -> int:
    """How many ``<*>`` ``text`` holds, and header-field wildcards too with ``fields``."""
    count = text.count(WILDCARD)
    return count + text.count(_FIELD) if fields else count


def _field_masked(template: str, letters: tuple[int, int] | None, words: list[tuple[int, int]]) -> list[str]:
    """``template`` with one word or dotted name as _FIELD, for each word and each whitespace-separated
    chunk's dotted middle of ``template`` (fields marked). Only keys that keep a constant letter (see
    _masked): ``letters`` and ``words`` are :func:`_words` of the plain template."""
    if letters is None:
        return []
    spans = list(words)
    if "." in template:
        first, last_end = letters
        for chunk in _DOTTED_CHUNKS.finditer(template):
            match = _CHUNK.fullmatch(chunk.group())
            assert match is not None  # every string matches
            middle = match.group(2)
            if _DOTTED.fullmatch(middle) and _LETTER.search(middle.replace(_FIELD, "")):
                start = chunk.start() + len(match.group(1))
                if first < start or start + len(middle) < last_end:
                    spans.append((start, start + len(middle)))
    keys = [template[:start] + _FIELD + template[end:] for start, end in spans]
    # The spec's template makes header fields with only whitespace between them one wildcard.
    return [_ADJACENT_FIELDS.sub(_FIELD, key) if "<F> <F>" in key else key for key in keys]


def _lead(template: str) -> str:
    """``template`` (fields marked) as a line whose header took in its lead word reads: the word as
    a header field, merged into the field before it (``<F> address: <*>`` for ``<F> instruction
    address: <*>``). The lead word is the first word, with only header fields and punctuation
    before it and a field right before it; empty without one."""
    match = _WORD.search(template)
    if match is None:
        return ""
    head = template[: match.start()]
    if not head.endswith(_FIELD + " ") or not _fields_and_marks(head):
        return ""
    key = _ADJACENT_FIELDS.sub(_FIELD, head + _FIELD + template[match.end() :])
    return key if _constant_letter(key) else ""


# Templates whose keys are kept: a stream repeats its templates, and the keys are most of
# the work per line. Each entry holds a template once per word, so this bounds the memory too.
_KEYS_CACHED = 1024


class _Keys(NamedTuple):
    """What the stream counts of a template: itself joined (:func:`_joined`) and its word-masked
    keys; with header fields known, the same with fields marked and its field-masked keys
    (empty without fields)."""

    joined: str
    masked: tuple[tuple[str, str], ...]
    field_joined: str
    field_masked: tuple[str, ...]
    lead: str


@functools.lru_cache(maxsize=_KEYS_CACHED)
def _keys(template: str, fields: str) -> _Keys:
    """The keys of ``template`` whose wildcards are header fields as ``fields`` says."""
    marked = _with_fields(template, fields)
    if marked is None:
        joined = _joined(template)
        return _Keys(joined, tuple(_masked(joined, *_words(joined))), "", (), "")
    field_joined = _joined(marked, fields=True)
    joined = _plain(field_joined)  # what _joined makes of the plain template: it joins the same chunks
    # Its words and letters are where the template with fields marked has them: one look for both.
    letters, words = _words(joined)
    return _Keys(
        joined,
        tuple(_masked(joined, letters, words)),
        field_joined,
        tuple(_field_masked(field_joined, letters, words)),
        _lead(field_joined),
    )


def _words(template: str) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """:func:`_letter_extent` of ``template`` and the spans of its words (:data:`_WORD`) that a key
    may mask: those whose masking keeps a constant letter. The same in the template with its
    header fields marked, whose marks neither hold a letter nor border a word differently."""
    letters = _letter_extent(template)
    if letters is None:
        return None, []  # no letter, no word
    first, end = letters
    return letters, [(s, e) for s, e in map(re.Match.span, _WORD.finditer(template)) if first < s or e < end]


@functools.lru_cache(maxsize=_KEYS_CACHED)
def _field_group(key: str) -> str:
    """The group of a template that joins the field-masked ``key``: the key as a plain template."""
    return _joined(_plain(key))


def _masked(template: str, letters: tuple[int, int] | None, words: list[tuple[int, int]]) -> list[tuple[str, str]]:
    """``(template with one word as <*>, that word)`` for each word of ``template``, then for each
    whitespace-separated chunk that holds a wildcard beside other characters (:func:`_chunk_masks`)
    and each square bracket with a wildcard and whitespace inside (:func:`_bracket_masks`).

    Only keys that keep a constant letter, as for chunks: the template of an event with one
    word of constant text (``<*> generating <*>``) masked to ``<*> <*> <*>`` met every other
    such event there, a stream's whole share of them in one group. ``letters`` and ``words``:
    :func:`_words` of ``template``.
    """
    if letters is None:
        return []  # no letter, no word
    masked = [(template[:s] + WILDCARD + template[e:], template[s:e]) for s, e in words]
    return masked + _chunk_masks(template, letters) + _bracket_masks(template) if WILDCARD in template else masked


def _constant_letter(key: str) -> bool:
    """Whether ``key`` keeps a letter of constant text (its wildcards and header fields hold none)."""
    return _LETTER.search(_plain(key).replace(WILDCARD, "")) is not None


def _letter_extent(template: str) -> tuple[int, int] | None:
    """Where ``template``'s letters begin and just past where they end (a wildcard holds none): a
    key that masks a span keeps a constant letter unless that span covers both; None: no letter."""
    first, last = _LETTER.search(template), _LETTER.search(template[::-1])
    if first is None or last is None:
        return None
    return first.start(), len(template) - last.start()


def _bracket_masks(template: str) -> list[tuple[str, str]]:
    """``(template with one bracket as [<*>], that bracket)`` for each square bracket that holds a
    wildcard and whitespace (``[CommitterEvent Processor #<*>]`` -> ``[<*>]``): a value with
    spaces, such as a thread name, which :func:`_chunk_masks` sees only in pieces."""
    out = []
    for match in _SPACED_BRACKET.finditer(template):
        if WILDCARD in match.group():
            key = template[: match.start()] + "[" + WILDCARD + "]" + template[match.end() :]
            if _constant_letter(key):
                out.append((key, match.group()))
    return out


def _chunk_masks(template: str, letters: tuple[int, int]) -> list[tuple[str, str]]:
    """``(template with one chunk as <*>, that chunk)`` for each whitespace-separated chunk that
    holds a wildcard and other characters: the chunk's middle as ``<*>`` inside its outer
    punctuation (``Surface(name=<*>)`` -> ``<*>)``), and the whole chunk as ``<*>`` but for the
    sentence punctuation that ends it (``LOCAL(<*>),`` and ``#<*>#,`` -> ``<*>,``), where the
    tagger's delimiters put the value's own brackets or marks in the template. Not for a wildcard
    in one pair of brackets or quotes or beside one mark (``[<*>]``, ``"<*>",``), the template's
    own syntax. Only keys that keep a constant letter: unrelated events must not meet in a
    template of wildcards (``letters``: :func:`_letter_extent` of the template)."""
    out: list[tuple[str, str]] = []
    first, last_end = letters
    for found in _WILDCARD_CHUNK.finditer(template):
        chunk = found.group()
        if chunk == WILDCARD or _BRACKETED.fullmatch(chunk):
            continue
        start, end = found.span()
        if first >= start and last_end <= end:
            continue
        match = _CHUNK.fullmatch(chunk)
        assert match is not None  # every string matches
        ending = chunk[len(chunk.rstrip(_ENDING)) :]
        for masked in dict.fromkeys((match.group(1) + WILDCARD + match.group(3), WILDCARD + ending)):
            if masked != chunk:
                out.append((template[:start] + masked + template[end:], chunk))
    return out
