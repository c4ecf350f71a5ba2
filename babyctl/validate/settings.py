"""Validate's settings, from ``params.yaml``'s ``validate:`` section (or the defaults).

Holds the phrase list (defaults below, replaced by ``validate.phrases``), per-rule
severity overrides, ``require_provenance`` and the near-duplicate threshold, and
applies them to findings in one place (:meth:`Settings.resolve`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from .finding import Finding, default_severity

_A = "['\u2019]"  # straight or curly apostrophe
_AI = r"(?:ai|a\.i\.|artificial intelligence|(?:large )?language model|llm|chatbot|ai (?:language )?model|ai assistant)"

_AI_HINTS = (" ai", "a.i.", "artificial", "language model", "llm", "chatbot")
_NEG_HINTS = ("don", "do not", "can", "have no", "lack")

#: (code, pattern, severity, message, hints) -- matched case-insensitively against assistant turns.
#: ``hints``: groups of lowercase substrings; a match contains one substring of every group, so a
#: turn missing a group skips the regex (the fast path that keeps validate at >20k examples/s).
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


def _anchors(hints: set[str]) -> tuple[str, ...]:
    """Fewer substrings than ``hints`` such that every hint contains one of them (so a text
    holding no anchor holds no hint): hints holding another hint are dropped, and a 3-character
    substring shared by three or more hints stands in for them."""
    left = {h for h in hints if not any(o != h and o in h for o in hints)}
    out = set()
    while True:
        counts: dict[str, int] = {}
        for h in left:
            for sub in {h[i:i + 3] for i in range(len(h) - 2)}:
                counts[sub] = counts.get(sub, 0) + 1
        best = max(sorted(counts), key=counts.__getitem__, default=None)
        if best is None or counts[best] < 3:
            break
        out.add(best)
        left = {h for h in left if best not in h}
    return tuple(sorted(out | left))


#: characters from most to least frequent in English text (punctuation roughly placed;
#: characters not listed count as rarer than all of these)
_FREQUENT = " etaoinsrhldcumfpgwyb.,vk'xjqz"

#: a phrase pre-gate (:func:`_gate`): (key character, ((second character, anchor), ...)), ...
Gate = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


def _gate(anchors: tuple[str, ...]) -> Gate:
    """``anchors`` grouped under a key: each anchor's least frequent character. A text holds an
    anchor only if it holds that anchor's key, so ``key in text`` (a memchr, much faster than a
    substring search) rules out a whole group at once. Keys rarest first. Each anchor comes
    with its second least frequent character (its key again when it has one character), a
    second memchr before the anchor's own search."""
    rank = {c: i for i, c in enumerate(_FREQUENT)}

    def rarity(c: str) -> int:
        return -rank.get(c, len(rank))

    groups: dict[str, list[tuple[str, str]]] = {}
    for a in anchors:
        chars = sorted(set(a), key=lambda c: (rarity(c), c))
        groups.setdefault(chars[0], []).append((chars[1] if len(chars) > 1 else chars[0], a))
    order = sorted(groups, key=rarity)
    return tuple((k, tuple(groups[k])) for k in order)


def gate_passes(text: str, gate: Gate) -> bool:
    """True when ``text`` holds some anchor of ``gate`` (see :func:`_gate`). The reference
    for :func:`gate_function`."""
    for key, group in gate:
        if key in text:
            for second, anchor in group:
                if second in text and anchor in text:
                    return True
    return False


def gate_function(gate: Gate) -> Callable[[str], bool]:
    """:func:`gate_passes` for one ``gate``, as a single short-circuit expression compiled once
    (``k in t and (s in t and a in t or ...) or ...``, every string a constant written with
    ``repr``): the per-turn check runs no loop and unpacks no tuple."""
    if not gate:
        return lambda t: False
    expr = " or ".join(f"({key!r} in t and (" + " or ".join(f"{second!r} in t and {anchor!r} in t"
                                                             for second, anchor in group) + "))"
                       for key, group in gate)
    return eval(compile(f"lambda t: {expr}", "<babyctl phrase gate>", "eval"), {"__builtins__": {}})


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
    #: every hint of every phrase
    all_hints: tuple[str, ...] = ()
    #: anchors of the hints of every phrase's first (smallest) hint group (each such hint holds
    #: an anchor), or None when some phrase has no hints: a text holding no anchor passes no
    #: phrase's gate (see ``check_phrases``)
    first_hints: tuple[str, ...] | None = field(default=None, init=False, repr=False)
    #: ``first_hints`` grouped by key character (:func:`gate_passes`), or None
    gate: Gate | None = field(default=None, init=False, repr=False)
    #: :func:`gate_function` of ``gate``, or None
    gate_test: Callable[[str], bool] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.phrases and all(p.hints for p in self.phrases):
            self.first_hints = _anchors({h for p in self.phrases for h in p.hints[0]})
            self.gate = _gate(self.first_hints)
            self.gate_test = gate_function(self.gate)

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
            # smallest hint group first: the gate stops at the first group with no hint present
            phrases.append(Phrase(code, rx, severity, message, tuple(sorted(map(frozenset, hints), key=len))))
        s = cls(phrases=phrases, all_hints=tuple(sorted({h for p in phrases for g in p.hints for h in g})))
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


def is_known(code: str) -> bool:
    from .finding import RULES

    return code in RULES


__all__ = ["DEFAULT_PHRASES", "Phrase", "Settings", "default_severity", "is_known"]
