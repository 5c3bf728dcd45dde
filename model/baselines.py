"""The baselines of ``shared/spec/labels.md``: the bars the tagger must beat.

Delimiter rules, each a function ``line -> labels`` (an ``O``/``D`` string), built
like the tagger's output: the rule finds token spans, and the labels are derived
from them with ``logdelim.model.spans.spans_to_labels``.

- ``whitespace``: tokens are the maximal runs of non-whitespace characters.
- ``common separators``: whitespace and ``= , ; ( ) [ ] { } " ' | < >`` split.

A kind rule, ``line -> kinds`` (``D``/``F``/``C``/``V`` per character, section
"Kinds" of the spec):

- ``digit rule``: tokens of the common-separators rule; a token holding a digit
  is a variable, any other a constant.

Grouping baselines, each a function over all lines of one system, in log order,
returning a group key per line (GA compares the partition, not the keys). They
run Drain3 (``drain3``, default settings) on each line's *content*, the part after
its header, as the Loghub benchmark parses the content of a known header format:
here the header is what the gold kinds call it (``templates.content_start``), the
same for every baseline.

- ``drain3``: the content as it is.
- ``drain3_regex``: the content with the Loghub benchmark's hand-written
  per-system regexes replaced by ``<*>`` first, with Drain3's default similarity
  threshold and depth.
- ``drain3_tuned``: the same regexes with the benchmark's per-system similarity
  threshold and tree depth too: the benchmark's hand-tuned Drain, measured on the
  lines the tagger is scored on rather than quoted from its paper.
- ``drain3_masked``: the content with the tagger's predicted variables and fields
  replaced by ``<*>`` (its template): does Drain3 group our templates better than
  template equality does?
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from logdelim.model.extras import require
from logdelim.model.spans import spans_to_labels
from logdelim.model.templates import WILDCARD, content_start, template

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


# --------------------------------------------------------------------------- kinds


def digit_rule(line: str) -> str:
    """Kinds of ``line`` under the digit rule: common-separators tokens, ``V`` when a token holds a digit.

    Delimiters (whitespace and the common separators) are ``D``; every other token is ``C``. The rule
    knows no header, so it never predicts ``F``.
    """
    kinds = ["D"] * len(line)
    for match in _COMMON_SEPARATORS_TOKEN.finditer(line):
        token = match.group()
        # str.isdigit rather than [0-9]: a digit in any script makes a number as much as 0-9 does.
        kind = "V" if any(char.isdigit() for char in token) else "C"
        kinds[match.start() : match.end()] = kind * len(token)
    return "".join(kinds)


# Name -> kind rule, in display order.
KIND_BASELINES: dict[str, Callable[[str], str]] = {
    "digit_rule": digit_rule,
}


# --------------------------------------------------------------------------- grouping (Drain3)

# The Loghub benchmark's per-system preprocessing regexes: each match in a line's content is replaced
# by "<*>", in this order, before Drain parses it. Copied verbatim from logpai/logparser,
# logparser/Drain/benchmark.py (``benchmark_settings[system]["regex"]``, commit
# db272234a0cb35422caedef30845f37db1062da9), Copyright (C) 2016-2023 LOGPAI, Apache License 2.0.
# HealthApp's list is empty there: its "hand-tuned" Drain masks nothing, so its regex baseline is
# Drain3's default one.
BENCHMARK_REGEXES: dict[str, tuple[str, ...]] = {
    "HDFS": (r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"),
    "Hadoop": (r"(\d+\.){3}\d+",),
    "Spark": (r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"),
    "Zookeeper": (r"(/|)(\d+\.){3}\d+(:\d+)?",),
    "BGL": (r"core\.\d+",),
    "HPC": (r"=\d+",),
    "Thunderbird": (r"(\d+\.){3}\d+",),
    "Windows": (r"0x.*?\s",),
    "Linux": (r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"),
    "Android": (
        r"(/[\w-]+)+",
        r"([\w-]+\.){2,}[\w-]+",
        r"\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b",
    ),
    "HealthApp": (),
    "Apache": (r"(\d+\.){3}\d+",),
    "Proxifier": (r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"),
    "OpenSSH": (r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"),
    "OpenStack": (r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"),
    "Mac": (r"([\w-]+\.){2,}[\w-]+",),
}
# The same file's per-system similarity threshold (``st``) and parse-tree depth (``depth``), which
# Drain3 takes as ``drain_sim_th`` and ``drain_depth`` (both count the tree's depth the same way).
BENCHMARK_TUNING: dict[str, tuple[float, int]] = {
    "HDFS": (0.5, 4),
    "Hadoop": (0.5, 4),
    "Spark": (0.5, 4),
    "Zookeeper": (0.5, 4),
    "BGL": (0.5, 4),
    "HPC": (0.5, 4),
    "Thunderbird": (0.5, 4),
    "Windows": (0.7, 5),
    "Linux": (0.39, 6),
    "Android": (0.2, 6),
    "HealthApp": (0.2, 4),
    "Apache": (0.5, 4),
    "Proxifier": (0.6, 3),
    "OpenSSH": (0.6, 5),
    "OpenStack": (0.5, 5),
    "Mac": (0.7, 6),
}
_COMPILED_REGEXES = {system: tuple(re.compile(r) for r in rs) for system, rs in BENCHMARK_REGEXES.items()}


@contextmanager
def _quiet_drain3() -> Iterator[None]:
    """Drain3 logs every new cluster at INFO: thousands of lines that would swamp the output and slow the loop."""
    drain_logger = logging.getLogger("drain3")
    level = drain_logger.level
    drain_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        drain_logger.setLevel(level)


def drain3_groups(messages: Sequence[str], tuning: tuple[float, int] | None = None) -> list[int]:
    """Drain3's cluster of each message, fed in order to a fresh miner.

    A fresh in-memory config (no ``drain3.ini`` lookup in the working directory, no persistence) so the
    figures are the same everywhere. A message stays in the cluster it joined (Drain3 never merges
    clusters), so the id returned when it was added is its final group.

    Args:
        messages: the texts to parse, in log order.
        tuning: ``(similarity threshold, tree depth)``; None: Drain3's defaults.
    """
    # Imported here: Drain3 is in the bench extra, and the rule baselines need nothing beyond the core.
    miner_class = require("drain3", "bench").TemplateMiner
    config_class = require("drain3.template_miner_config", "bench").TemplateMinerConfig
    with _quiet_drain3():
        config = config_class()
        if tuning is not None:
            config.drain_sim_th, config.drain_depth = tuning
        miner = miner_class(config=config)
        return [miner.add_log_message(message)["cluster_id"] for message in messages]


def contents(lines: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """Each line's content: what follows its header under ``kinds`` (see ``templates.content_start``)."""
    return [line[content_start(k) :] for line, k in zip(lines, kinds, strict=True)]


def mask_benchmark_regexes(system: str, content: str) -> str:
    """``content`` with each of the Loghub benchmark's regexes of ``system`` replaced by ``<*>``, in order.

    Raises:
        KeyError: the benchmark has no settings for ``system``.
    """
    for pattern in _COMPILED_REGEXES[system]:
        content = pattern.sub(WILDCARD, content)
    return content


def drain3_default(system: str, lines: Sequence[str], gold_kinds: Sequence[str]) -> list[int]:
    """Drain3, default settings, on the content of each line of ``system`` (the header by ``gold_kinds``)."""
    return drain3_groups(contents(lines, gold_kinds))


def _masked_contents(system: str, lines: Sequence[str], gold_kinds: Sequence[str]) -> list[str]:
    """Each line's content with the benchmark's regexes of ``system`` masked (see :func:`mask_benchmark_regexes`)."""
    return [mask_benchmark_regexes(system, content) for content in contents(lines, gold_kinds)]


def drain3_regex(system: str, lines: Sequence[str], gold_kinds: Sequence[str]) -> list[int] | None:
    """Drain3 on the content masked by the Loghub benchmark's regexes; None when ``system`` has no settings."""
    if system not in _COMPILED_REGEXES:
        return None
    return drain3_groups(_masked_contents(system, lines, gold_kinds))


def drain3_tuned(system: str, lines: Sequence[str], gold_kinds: Sequence[str]) -> list[int] | None:
    """Drain3 as the Loghub benchmark tunes it for ``system`` (regexes, threshold, depth); None without settings."""
    if system not in BENCHMARK_TUNING:
        return None
    return drain3_groups(_masked_contents(system, lines, gold_kinds), BENCHMARK_TUNING[system])


def masked_content(line: str, gold_kinds: str, predicted_kinds: str) -> str:
    """The content of ``line`` (header by ``gold_kinds``) as its template under ``predicted_kinds``.

    Every predicted variable or field run in the content (with the whitespace between them) is one
    ``<*>``; the header is cut where the other Drain3 baselines cut it, so they parse the same text.
    """
    start = content_start(gold_kinds)
    return template(line[start:], predicted_kinds[start:])


def drain3_masked(lines: Sequence[str], gold_kinds: Sequence[str], predicted_kinds: Sequence[str]) -> list[int]:
    """Drain3 on each line's content masked by the predicted kinds (see :func:`masked_content`)."""
    return drain3_groups(
        [
            masked_content(line, gold, predicted)
            for line, gold, predicted in zip(lines, gold_kinds, predicted_kinds, strict=True)
        ]
    )


# Name -> grouping baseline over a system's lines and gold kinds (None: not defined for that system).
GROUPING_BASELINES: dict[str, Callable[[str, Sequence[str], Sequence[str]], list[int] | None]] = {
    "drain3": drain3_default,
    "drain3_regex": drain3_regex,
    "drain3_tuned": drain3_tuned,
}
