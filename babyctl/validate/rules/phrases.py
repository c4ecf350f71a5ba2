"""BC3xx: scripted phrasing and unfilled placeholders in assistant turns.

Phrases (BC301-BC303 by default) come from :class:`~babyctl.validate.settings.Settings`
(``validate.phrases`` replaces the defaults). Placeholders (BC310, BC311) are
fixed rules:

* BC311 -- explicit template markers, always: ``[INSERT ...]``, ``[TODO ...]``,
  ``[FILL IN ...]``, ``[PLACEHOLDER]``, ``{name}``, ``{{x}}``, and the words TODO, TBD, FIXME.
* BC310 -- a bracketed span starting with a lowercase letter (``[explains concerns]``,
  ``[topic]``), unless the turn presents a template for the user to fill in
  ("template", "swap in", "fill in") or it is ``[sic]``, a citation ``[1]``, a
  checkbox or a Markdown link. Code spans and fenced blocks are ignored.
"""
from __future__ import annotations

import re

from ..example import Example, Hit
from ..settings import Settings

_BRACKET = re.compile(r"\[([^\[\]\n]{1,80})\](?!\()")
_MARKER_WORD = re.compile(r"^\s*(?:insert|todo|tbd|fill[ -]?in|placeholder|your [a-z ]+ here)\b", re.IGNORECASE)
_BRACES = re.compile(r"\{\{[^{}\n]{1,60}\}\}|(?<![{$\\])\{[A-Za-z_][A-Za-z0-9_]{0,40}\}(?!\})")
_TODO = re.compile(r"\b(?:TODO|TBD|FIXME)\b")
_TEMPLATE_TURN = re.compile(r"\btemplates?\b|\bswap in\b|\bfill (?:it |them |this )?in\b|\bfill-in\b", re.IGNORECASE)
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
_EXEMPT = {"sic", "sic!", "...", "\u2026", "x", " "}


def _live(phrases: list, low: str) -> list:
    """The phrases whose every hint group has a hint in ``low`` (the others cannot match it)."""
    return [p for p in phrases if all(any(map(low.__contains__, group)) for group in p.hints)]


def check_phrases(ex: Example, settings: Settings) -> list[Hit]:
    turns = [(i, content) for i, (role, content) in enumerate(ex.messages) if role == "assistant"]
    if not turns or not settings.phrases:
        return []
    # Once per example: a phrase whose hint groups are not all present in the assistant turns
    # joined by LF cannot pass the per-turn check in any one turn (no hint holds a LF, so none
    # spans two turns), so its regex would not run on any turn.
    live = _live(settings.phrases, "\n".join([c for _, c in turns]).lower())
    hits: list[Hit] = []
    for i, content in turns:
        for p in live if len(turns) == 1 or not live else _live(live, content.lower()):
            m = p.regex.search(content)
            if m:
                hits.append(Hit(p.code, ("messages", i, "content"), f'{p.message}: "{m.group()}"', p.severity, m.group()))
    return hits


def check_placeholders(ex: Example, settings: Settings | None = None) -> list[Hit]:
    hits: list[Hit] = []
    for i, (role, content) in enumerate(ex.messages):
        if role != "assistant":
            continue
        # one memchr a marker family first ("D" for TODO/TBD, "X" for FIXME): most turns hold none
        if not ("[" in content or "{" in content or ("D" in content and ("TODO" in content or "TBD" in content))
                or ("X" in content and "FIXME" in content)):
            continue
        text = _CODE.sub(lambda m: " " * len(m.group()), content) if "`" in content else content
        loc = ("messages", i, "content")
        template_turn = None
        for m in _BRACKET.finditer(text):
            inner = m.group(1)
            if _MARKER_WORD.match(inner):
                hits.append(Hit("BC311", loc, f'template marker left in an assistant turn: "{m.group()}"', None, m.group()))
                continue
            if inner.strip().lower() in _EXEMPT or inner.strip().replace(",", "").replace(" ", "").isdigit():
                continue
            if not inner[:1].islower():
                continue
            if template_turn is None:
                template_turn = bool(_TEMPLATE_TURN.search(content))
            if not template_turn:
                hits.append(Hit("BC310", loc, f'unfilled placeholder in an assistant turn: "{m.group()}"', None, m.group()))
        for m in _BRACES.finditer(text):
            hits.append(Hit("BC311", loc, f'template marker left in an assistant turn: "{m.group()}"', None, m.group()))
        for m in _TODO.finditer(text):
            hits.append(Hit("BC311", loc, f'template marker left in an assistant turn: "{m.group()}"', None, m.group()))
    return hits
