"""Groups from the stream's own evidence: a word that varies is a variable.

The tagger decides each line alone, and on a system it never saw it can take a
variable word for constant text (``Failed password for root``, ``... for ftp``):
every value then makes a template of its own. Among lines whose templates are
equal but for one word, that word is a variable once it has taken many values
(Drain's insight, without Drain's similarity threshold that merges events
differing in a word or two). The tagger's own reading is evidence too: where it
makes that word ``<*>`` on most lines of the event, a word it kept on a few is
a variable it missed (``... for ftp from`` beside many ``... for <*> from``).
And a value the tagger's delimiters cut into
pieces on some lines (``<*>~<*>~<*>`` where other lines have ``<*>``) is one
value for grouping. :class:`StreamGroups` applies both online, template by
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

from .templates import WILDCARD
from .templates import template_id as make_template_id


class StreamGroups:
    """Online grouping of templates: the group of a template is the template with a word made
    ``<*>`` once that word's position has shown ``min_values`` distinct words among templates
    otherwise equal, or once the template with ``<*>`` there has been seen on at least
    ``wildcard_ratio`` times as many lines as the template itself; the template until then.

    Args:
        min_values: distinct words at one position that make it a variable. Fewer merge events
            that differ in a word (``opened``/``closed``/``reset``), more leave variable words
            apart; six grouped best on the Loghub systems left out of training (3-15 tried).
        wildcard_ratio: how many times as many lines the tagger's ``<*>`` at a word's position
            must have as the word, for the word to join it. Where the word is about as common
            as the wildcard, the two are often distinct events (``Powered On`` beside ``Powered
            <*>`` for ``Off``); 1, 2 and 4 were tried (model card).
        max_keys: templates-with-one-word-masked remembered, and templates counted (least
            recently seen forgotten first), each with at most ``min_values`` words: the memory bound.
    """

    def __init__(self, min_values: int = 6, wildcard_ratio: float = 2.0, max_keys: int = 20_000) -> None:
        if min_values < 2 or wildcard_ratio < 1 or max_keys < 1:
            raise ValueError("min_values must be >= 2, wildcard_ratio >= 1 and max_keys >= 1")
        self.min_values = min_values
        self.wildcard_ratio = wildcard_ratio
        self.max_keys = max_keys
        self._values: OrderedDict[str, set[str] | None] = OrderedDict()  # None: refined
        self._lines: OrderedDict[str, int] = OrderedDict()  # lines seen per (joined) template

    def __len__(self) -> int:
        """Entries remembered: masked templates and counted templates (each at most ``max_keys``)."""
        return len(self._values) + len(self._lines)

    def group(self, template: str) -> str:
        """Record ``template`` and return its group (the template with a varying word as ``<*>``)."""
        self._record(template, 1)
        return self.group_of(template)

    def group_batch(self, templates: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Record a batch's templates; each distinct one's group and the group's id, as the stream
        shows them at the batch's end.

        The id is ``templates.template_id`` of the group's text, so a template that is a group
        of its own keeps its own id. A batch repeats its templates, so this records each once
        with its count: a fraction of :meth:`group` per line.
        """
        counts = Counter(templates)
        for template, lines in counts.items():
            self._record(template, lines)
        out = {}
        for template in counts:
            group = self.group_of(template)
            out[template] = (group, make_template_id(group))
        return out

    def _record(self, template: str, count: int) -> None:
        joined, masked = _keys(template)
        lines = self._lines
        lines[joined] = lines.get(joined, 0) + count
        lines.move_to_end(joined)
        if len(lines) > self.max_keys:
            lines.popitem(last=False)
        for key, word in masked:
            self._see(key, word)

    def group_of(self, template: str) -> str:
        """The group of ``template`` as the stream has shown it so far (recording nothing)."""
        return self._group(*_keys(template))

    def _group(self, joined: str, masked: tuple[tuple[str, str], ...]) -> str:
        for key, _ in masked:
            if key in self._values and self._values[key] is None:
                return key
        lines = self._lines.get(joined, 0)
        for key, _ in masked:
            wildcard_lines = self._lines.get(key, 0)
            if wildcard_lines and wildcard_lines >= self.wildcard_ratio * lines:
                return key
        return joined

    def _see(self, key: str, word: str) -> None:
        values = self._values
        if key in values:
            values.move_to_end(key)
            seen = values[key]
            if seen is None:
                return
        else:
            seen = values[key] = set()
            if len(values) > self.max_keys:
                values.popitem(last=False)
        seen.add(word)
        if len(seen) >= self.min_values:
            values[key] = None


# A word: letters and underscores between characters that are neither (``ftp`` in ``user=ftp``,
# ``snake_case``; not ``x86``, nor the ``ms`` glued to a wildcard in ``<*>ms``). Punctuation
# and wildcards are the template's structure.
_WORD = re.compile(r"(?<![\w*<>])[^\W\d]+(?![\w*<>])")


# A whitespace-separated chunk: its opening punctuation, its middle, its closing punctuation.
_CHUNK = re.compile(r"([^\w<]*)(.*?)([^\w>]*)")
_LETTER = re.compile(r"[^\W\d_]")


def _joined(template: str) -> str:
    """``template`` with each whitespace-separated chunk that holds two or more ``<*>`` made one
    ``<*>`` inside the chunk's outer punctuation (``[<*>:<*>@<*>]`` -> ``[<*>]``).

    Left as it is when no letter of constant text would remain: a template of wildcards
    and punctuation only (``<*>: <*>``) would then hold unrelated events.
    """
    if template.count(WILDCARD) < 2:
        return template
    chunks = template.split(" ")
    for i, chunk in enumerate(chunks):
        if chunk.count(WILDCARD) >= 2:
            match = _CHUNK.fullmatch(chunk)
            assert match is not None  # every string matches
            chunks[i] = match.group(1) + WILDCARD + match.group(3)
    joined = " ".join(chunks)
    return joined if _LETTER.search(joined.replace(WILDCARD, "")) else template


# Templates whose keys are kept: a stream repeats its templates, and the keys are most of
# the work per line. Each entry holds a template once per word, so this bounds the memory too.
_KEYS_CACHED = 1024


@functools.lru_cache(maxsize=_KEYS_CACHED)
def _keys(template: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``template`` :func:`_joined`, and that joined template's :func:`_masked` keys."""
    joined = _joined(template)
    return joined, tuple(_masked(joined))


def _masked(template: str) -> list[tuple[str, str]]:
    """``(template with one word as <*>, that word)`` for each word of ``template``."""
    return [(template[: m.start()] + WILDCARD + template[m.end() :], m.group()) for m in _WORD.finditer(template)]
