"""Engine results with kinds by a fixed rule, for tests that must not depend on the shipped model's kind head."""

from __future__ import annotations

import re
from typing import Any

from logdelim.model.spans import token_bounds
from logdelim.model.templates import template, template_and_fields, template_id


class KindResult:
    """A TagResult of a checkpoint with a kind head, by a rule: ``D`` at spaces and ``=``, ``V``
    in tokens holding a digit (``F`` when it is a leading token with a ``:``), ``C`` elsewhere.

    Like the engine's, every token has one kind (``token_kinds``: one letter per token).
    """

    def __init__(self, line: str) -> None:
        labels = "".join("D" if c in " =" else "O" for c in line)
        kinds = list(labels.replace("O", "C"))
        for match in re.finditer(r"[^ =]+", line):
            if any(c.isdigit() for c in match.group()):
                kind = "F" if match.start() == 0 and ":" in match.group() else "V"
                kinds[match.start() : match.end()] = kind * len(match.group())
        self.line, self.labels, self.kinds = line, labels, "".join(kinds)
        self.bounds = token_bounds(labels)
        self.token_kinds = "".join(self.kinds[start] for start, _ in self.bounds)
        self.delimiter_confidence = [0.9] * labels.count("D")
        self.min_confidence = 0.7
        self.template = template(line, self.kinds)
        self.template_id = template_id(self.template)
        self.template_fields = template_and_fields(line, self.bounds, self.token_kinds)[1]


class KindEngine:
    """An engine whose results carry kinds (``KindResult``), recording its calls."""

    model_id = "kinds-test"
    device = "cpu"
    has_kinds = True
    cache_hits = cache_misses = cache_bytes = 0

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def tag(self, lines: list[str]) -> list[Any]:
        self.calls.append(list(lines))
        return [KindResult(line) for line in lines]
