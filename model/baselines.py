"""The rule-based baselines of ``shared/spec/labels.md``: the bar the tagger must beat.

Each rule is a function ``line -> labels`` (an ``O``/``D`` string), built like
the tagger's output: the rule finds token spans, and the labels are derived from
them with ``logdelim.model.spans.spans_to_labels``.

- ``whitespace``: tokens are the maximal runs of non-whitespace characters.
- ``common separators``: whitespace and ``= , ; ( ) [ ] { } " ' | < >`` split.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from logdelim.model.spans import spans_to_labels

# The separators of the "common separators" rule besides whitespace (the spec's list).
COMMON_SEPARATORS = "=,;()[]{}\"'|<>"

# Python's ``\s`` on str patterns matches exactly the characters for which str.isspace() is true.
WHITESPACE_SPLIT = re.compile(r"\s+")
COMMON_SEPARATORS_SPLIT = re.compile(r"[\s" + re.escape(COMMON_SEPARATORS) + "]+")

_WHITESPACE_TOKEN = re.compile(r"\S+")
_COMMON_SEPARATORS_TOKEN = re.compile(r"[^\s" + re.escape(COMMON_SEPARATORS) + "]+")


def _labels_from_tokens(line: str, token: re.Pattern[str]) -> str:
    """``line``'s labels when the matches of ``token`` are its tokens and the rest is ``D``."""
    return spans_to_labels(len(line), [m.span() for m in token.finditer(line)])


def whitespace(line: str) -> str:
    """Labels of ``line`` under the whitespace rule: every whitespace character is ``D``."""
    return _labels_from_tokens(line, _WHITESPACE_TOKEN)


def common_separators(line: str) -> str:
    """Labels of ``line`` under the common-separators rule.

    Whitespace and ``= , ; ( ) [ ] { } " ' | < >`` are ``D``, everything else ``O``.
    """
    return _labels_from_tokens(line, _COMMON_SEPARATORS_TOKEN)


# Name (as used in reports and JSON keys) -> rule, in display order.
BASELINES: dict[str, Callable[[str], str]] = {
    "whitespace": whitespace,
    "common_separators": common_separators,
}
