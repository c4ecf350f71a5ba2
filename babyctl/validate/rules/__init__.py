"""Validate's rules, one module per family (codes in :data:`babyctl.validate.finding.RULES`).

A rule on one curriculum example is a function ``(ex: Example, settings: Settings) -> list[Hit]``
listed in :data:`EXAMPLE_RULES`; rules across files are indexes fed by the engine or
:data:`babyctl.validate.engine.EXPERIMENT_CHECKS`; document rules are called from the engine's
``check_<kind>`` methods. Rules return :class:`Hit` records and never import the engine, which
locates, filters and reports them. How to add one: docs/validate.md, "To add a rule".
"""
from __future__ import annotations

from typing import Callable

from ..example import Example, Hit
from ..settings import Settings
from .chat import check_escaped_controls, check_turns
from .generated import check_generated
from .phrases import check_phrases, check_placeholders
from .provenance import check_lint_ignore, check_provenance

ExampleRule = Callable[[Example, Settings], list[Hit]]

#: every rule run on each curriculum example, in this order
EXAMPLE_RULES: tuple[ExampleRule, ...] = (
    check_turns,             # BC201-BC203
    check_phrases,           # BC3xx phrases (validate.phrases)
    check_placeholders,      # BC310, BC311
    check_provenance,        # BC103
    check_lint_ignore,       # BC104
    check_generated,         # BC107
    check_escaped_controls,  # BC006 from JSON escapes
)
