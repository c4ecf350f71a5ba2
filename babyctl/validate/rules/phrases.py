"""BC3xx in assistant turns: scripted phrasing (``validate.phrases``, BC301-BC303 by default;
reported only in the assistant's own voice, not quoted or in a third-person frame), unfilled
placeholders (BC310), template markers (BC311) and citation markup (BC312). What each rule
catches, with its exceptions: docs/validate.md ("Phrases", "Placeholders")."""
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
_WHAT = {"BC310": "unfilled placeholder in", "BC311": "template marker left in", "BC312": "citation markup left in"}
_CITE = re.compile(r"^\s*cite(?:_start|_end|\s*:\s*[\d,\s-]+)\s*$", re.IGNORECASE)
#: quoted spans on one line: "...", “...”, and '...' only when it opens after a space/start
_QUOTED = re.compile(r'"[^"\n]{1,400}"|\u201c[^\u201d\n]{1,400}\u201d|(?:(?<=\s)|^)\'[^\'\n]{2,400}\'(?=[\s.,;:!?)]|$)')
#: a third-person frame just before a match: "reads as an AI", "the character ... as a bot"
_THIRD = re.compile(r"\b(?:reads?|reading|sounds?|sounding|comes?|coming|came|seen|seems?|treated|presents?|presented|"
                    r"presenting|portray\w*|depict\w*|characters?|persona|they|he|she|someone|people|users?|"
                    r"themselves|writes?|writing|wrote|plays?|playing|acts?|acting)"
                    r"\W+(?:\w+\W+){0,3}$", re.IGNORECASE)
#: first person in the match itself ("I am just a program") keeps it in the assistant's voice
_FIRST = re.compile(r"^\s*i\b|\bi(?:'|\u2019)?m\b|\bi am\b|\bmy\b", re.IGNORECASE)


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _QUOTED.finditer(text)] if ('"' in text or "\u201c" in text or "'" in text) else []


def own_voice(text: str, start: int, end: int, spans: list[tuple[int, int]] | None = None) -> bool:
    """Is ``text[start:end]`` said in the assistant's own voice (not quoted, not a third-person frame)?"""
    for a, b in spans if spans is not None else _quoted_spans(text):
        if a <= start and end <= b:
            return False
    if _FIRST.search(text[start:end]):
        return True
    sentence_start = max(text.rfind(".", 0, start), text.rfind("\n", 0, start), text.rfind("!", 0, start),
                         text.rfind("?", 0, start)) + 1
    before = text[max(sentence_start, start - 60):start]
    return not _THIRD.search(before)


def check_phrases(ex: Example, settings: Settings) -> list[Hit]:
    hits: list[Hit] = []
    for i, (role, content) in enumerate(ex.messages):
        if role != "assistant":
            continue
        # the hints in this turn; a phrase with a hint group none of which is here cannot match it
        low = content.lower()
        present = {w for w in settings.hint_words if w in low}
        spans = None
        for p in settings.phrases:
            if any(map(present.isdisjoint, p.hints)):
                continue
            for m in p.regex.finditer(content):
                if spans is None:
                    spans = _quoted_spans(content)
                if not own_voice(content, m.start(), m.end(), spans):
                    continue
                text = m.group()
                hits.append(Hit(p.code, ("messages", i, "content"), f'{p.message}: "{text}"', p.severity,
                                text, content.count(text, 0, m.start())))
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
        found = []  # (code, match)
        for m in _BRACKET.finditer(text):
            inner = m.group(1)
            if _CITE.match(inner):
                found.append(("BC312", m))
            elif _MARKER_WORD.match(inner):
                found.append(("BC311", m))
            elif inner.strip().lower() in _EXEMPT or inner.strip().replace(",", "").replace(" ", "").isdigit():
                continue
            elif inner[:1].islower():
                if template_turn is None:
                    template_turn = bool(_TEMPLATE_TURN.search(content))
                if not template_turn:
                    found.append(("BC310", m))
        found += [("BC311", m) for rx in (_BRACES, _TODO) for m in rx.finditer(text)]
        for code, m in found:
            hits.append(Hit(code, loc, f'{_WHAT[code]} an assistant turn: "{m.group()}"', None, m.group(),
                            content.count(m.group(), 0, m.start())))
    return hits
