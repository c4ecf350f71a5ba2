"""Validate's settings, from ``params.yaml``'s ``validate:`` section (or the defaults).

Holds the phrase list (defaults below, replaced by ``validate.phrases``), per-rule
severity overrides, ``require_provenance`` and the near-duplicate threshold, and
applies them to findings in one place (:meth:`Settings.resolve`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .finding import RULES, Finding

_A = "['\u2019]"  # straight or curly apostrophe
_AI = r"(?:ai|a\.i\.|artificial intelligence|(?:large )?language model|llm|chatbot|ai (?:language )?model|ai assistant)"

_AI_HINTS = (" ai", "a.i.", "artificial", "language model", "llm", "chatbot")
_NEG_HINTS = ("don", "do not", "can", "have no", "lack")

#: (code, pattern, severity, message, hints) -- matched case-insensitively against assistant turns.
#: ``hints``: groups of lowercase substrings; a match contains one substring of every group, so a
#: turn missing a group skips the regex.
DEFAULT_PHRASES: list[tuple[str, str, str, str, tuple[tuple[str, ...], ...]]] = [
    ("BC301", rf"\bas an? {_AI}\b", "error", "scripted AI-disavowal phrasing", (("as a",), _AI_HINTS)),
    ("BC301", rf"\bi(?:{_A}m| am) (?:just|only|merely|simply) (?:an? )?(?:{_AI}|bot|program|computer program|machine)\b",
     "error", "scripted AI-disavowal phrasing",
     (("just", "only", "merely", "simply"), _AI_HINTS + ("bot", "program", "machine"))),
    ("BC301", rf"\bi(?:{_A}m| am) an? {_AI}\b[^.!?\n]{{0,30}}?\b(?:do(?:n{_A}t| not)|can(?:{_A}t|not)|have no|lack)\b",
     "error", "scripted AI-disavowal phrasing", (_AI_HINTS, _NEG_HINTS)),
    ("BC301", rf"\bi do(?:n{_A}t| not) (?:actually |really |truly )?have (?:any )?(?:personal )?"
              r"(?:feelings|emotions|opinions|preferences|beliefs|desires)\b",
     "warning", "scripted disavowal of feelings or preferences",
     (("have",), ("feeling", "emotion", "opinion", "preference", "belief", "desire"))),
    ("BC302", r"\b(?:against|violates?|violating|outside) my (?:programming|guidelines|policies|policy|rules|instructions)\b",
     "error", "scripted policy-refusal phrasing", ((" my ",), ("programming", "guidelines", "polic", "rules", "instructions"))),
    ("BC302", rf"\bi(?:{_A}m| am) not (?:able|allowed|programmed|permitted|designed|authori[sz]ed) to\b",
     "error", "scripted policy-refusal phrasing", (("not able", "not allowed", "not programmed", "not permitted",
                                                   "not designed", "not authori"),)),
    ("BC302", rf"\bi(?:{_A}m| am) unable to (?:provide|assist|help with|comply|fulfil+|generate|engage)\b",
     "error", "scripted policy-refusal phrasing", (("unable",),)),
    ("BC302", rf"\bmy (?:programming|guidelines|policies) (?:do(?:es)?(?:n{_A}t| not)|prevents?|prohibits?|forbids?)\b",
     "error", "scripted policy-refusal phrasing", (("programming", "guidelines", "policies"),)),
    ("BC302", rf"\bi can(?:{_A}t|not) (?:comply|fulfil+ (?:this|that|your) request|assist with (?:this|that) request)\b",
     "error", "scripted policy-refusal phrasing", (("comply", "fulfil", "assist with"),)),
    ("BC303", rf"\b(?:i(?:{_A}m| am) (?:so |very |really |truly )?sorry|i apologi[sz]e|my apologies|sorry)\b[,.!]?\s*"
              rf"(?:but\s*,?\s*)?i(?:{_A}m| am)? ?(?:can{_A}?t|cannot|can not|won{_A}t|will not|unable|not able|must decline|have to decline)\b",
     "warning", "refusal with an apology in front", (("sorry", "apolog"), ("can", "won", "will not", "unable",
                                                                          "not able", "decline"))),
]


@dataclass(frozen=True)
class Phrase:
    code: str
    regex: re.Pattern
    severity: str
    message: str
    hints: tuple[frozenset[str], ...] = ()


@dataclass
class Settings:
    """Resolved ``validate:`` settings."""

    phrases: list[Phrase]
    severity: dict[str, str] = field(default_factory=dict)
    require_provenance: bool = False
    near_duplicate_threshold: float = 0.9
    #: every registered code and every phrase's code (what ``lint_ignore`` may name)
    known_codes: frozenset[str] = frozenset()
    #: every phrase's hints (the rule looks for each in a turn once)
    hint_words: frozenset[str] = frozenset()

    @classmethod
    def from_params(cls, params=None) -> tuple["Settings", list[tuple[int, str]]]:
        """Settings from a :class:`~babyctl.schemas.Params` (None: defaults).

        Returns the settings and ``(phrase_index, error)`` for phrase patterns that
        do not compile (they are left out; the params rules report them).
        """
        vp = params.validate_ if params is not None else None
        raw = DEFAULT_PHRASES
        if vp is not None and vp.phrases is not None:
            raw = [(p.code, p.pattern, p.severity, p.message, ()) for p in vp.phrases]
        phrases, bad = [], []
        for i, (code, pattern, severity, message, hints) in enumerate(raw):
            try:
                rx = re.compile(pattern, re.IGNORECASE)
            except re.error as e:
                bad.append((i, str(e)))
                continue
            phrases.append(Phrase(code, rx, severity, message, tuple(map(frozenset, hints))))
        s = cls(phrases=phrases, known_codes=frozenset(RULES) | {p.code for p in phrases},
                hint_words=frozenset(w for p in phrases for group in p.hints for w in group))
        if vp is not None:
            s.severity = dict(vp.severity)
            s.require_provenance = vp.require_provenance
            s.near_duplicate_threshold = vp.near_duplicate_threshold
        return s, bad

    def resolve(self, findings: list[Finding]) -> list[Finding]:
        """Apply severity overrides (``off`` drops), ``require_provenance``; sort."""
        out = []
        for f in findings:
            sev = self.severity.get(f.code)
            if sev is None and f.code == "BC103" and self.require_provenance:
                sev = "error"
            if sev == "off":
                continue
            if sev is not None and sev != f.severity:
                f = Finding(f.path, f.line, f.col, f.code, sev, f.message)
            out.append(f)
        out.sort()
        return out

