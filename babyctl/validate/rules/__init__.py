"""Validate's rules, one module per family (codes in :data:`babyctl.validate.finding.RULES`).

How to add a rule (see docs/validate.md, "Adding a rule"):

1. Register its code in :data:`babyctl.validate.finding.RULES` (``BC`` + family digit + two
   digits; the rule table in docs/validate.md is checked against it by a test).
2. Write it where its input is:

   * **one curriculum example** -> a function ``(ex: Example, settings: Settings) -> list[Hit]``
     in a module here, listed in :data:`EXAMPLE_RULES`. A :class:`~babyctl.validate.example.Hit`
     names a key path in the line (and optionally the matched text, for the column).
   * **across examples or files** (duplicates, contamination, leakage) -> an index object fed
     by :meth:`babyctl.validate.engine.Run.check_curriculum` (see :mod:`.duplicates`), or a
     check run once every file is read, listed in :data:`babyctl.validate.engine.EXPERIMENT_CHECKS`.
   * **a document** (consent record, review, stimulus, params) -> a function returning Hits for
     the parsed model, called from the engine's ``check_<kind>`` method.

Rules return :class:`Hit` records and never import the engine; the engine locates each hit
(``path:line:col``), applies ``lint_ignore`` and the severity settings, and reports.
"""
from __future__ import annotations

from typing import Callable

from ..example import Example, Hit
from ..settings import Settings
from .chat import check_escaped_controls, check_turns
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
    check_escaped_controls,  # BC006 from JSON escapes
)
