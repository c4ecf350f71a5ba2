"""Credentials babyctl holds (judge API keys, the Hub token) and their removal from what it stores.

A credential is :func:`register`-ed where it is read (from the environment or the Hub login).
From then on :func:`scrub` replaces it in every string babyctl writes -- JSON artifacts
(:func:`babyctl.fsutil.dumps_json`), evaluation rows, error messages -- in every form an echo
can take there: verbatim, and spelled with JSON escapes (``\\u0073k-...``, ``\\/``, surrogate
pairs, escapes of escapes), ``\\xNN`` escapes or URL percent-encoding, mixed freely with plain
characters. A string that, once such escapes are decoded, contains the credential has the
escaped span replaced: ``json.loads`` of what is stored never recovers it.

Only the value is ever replaced; the name of the variable that holds it is not a secret.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

REDACTED = "[REDACTED]"
#: shorter values are not treated as credentials (scrubbing "ab" everywhere would garble text)
MIN_LENGTH = 6

_REGISTERED: set[str] = set()


def register(value: str | None) -> None:
    """Remember ``value`` as a credential for the rest of the process."""
    if value and len(value) >= MIN_LENGTH:
        _REGISTERED.add(value)


def registered() -> frozenset[str]:
    return frozenset(_REGISTERED)


def scrub(obj: Any, secrets: Iterable[str] | None = None) -> Any:
    """``obj`` (str, dict, list, tuple; other values as they are) with every credential removed."""
    found = [s for s in (_REGISTERED if secrets is None else secrets) if s and len(s) >= MIN_LENGTH]
    if not found:
        return obj
    return _scrub(obj, sorted(found, key=len, reverse=True))


def scrub_text(text: str | None, secrets: Iterable[str] | None = None) -> str | None:
    return None if text is None else scrub(text, secrets)


def _scrub(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        return _text(obj, secrets)
    if isinstance(obj, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_scrub(v, secrets) for v in obj)
    return obj


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\([\\/\"'bfnrt])|%([0-9a-fA-F]{2})")
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
#: an escape can hide an escape (``\\u005cu0073`` is ``\u0073`` is ``s``): decode this many times
_ROUNDS = 4


def _text(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s in text:
            text = text.replace(s, REDACTED)
    for _ in range(16):  # each pass redacts at least one hidden copy, or stops
        if "\\" not in text and "%" not in text:
            break
        spans = _hidden(text, secrets)
        if not spans:
            break
        for a, b in _merged(spans)[::-1]:
            text = text[:a] + REDACTED + text[b:]
    return text


def _hidden(text: str, secrets: list[str]) -> list[tuple[int, int]]:
    """Spans of ``text`` that decode (one or more levels of escapes) to a credential."""
    cur = text
    starts = list(range(len(text)))
    ends = [i + 1 for i in range(len(text))]
    for _ in range(_ROUNDS):
        dec, s1, e1 = _decode(cur)
        if dec == cur:
            return []
        starts = [starts[i] for i in s1]
        ends = [ends[j - 1] for j in e1]
        cur = dec
        spans = []
        for s in secrets:
            i = cur.find(s)
            while i >= 0:
                spans.append((starts[i], ends[i + len(s) - 1]))
                i = cur.find(s, i + 1)
        if spans:
            return spans
    return []


def _decode(text: str) -> tuple[str, list[int], list[int]]:
    """One level of escapes decoded; for each decoded character its span in ``text``."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        m = _ESCAPE.match(text, i) if text[i] in "\\%" else None
        if m is None:
            out.append(text[i])
            starts.append(i)
            ends.append(i + 1)
            i += 1
            continue
        u, x, simple, pct = m.groups()
        end = m.end()
        if u is not None:
            code = int(u, 16)
            if 0xD800 <= code < 0xDC00:  # a surrogate pair spelled as two escapes
                low = re.compile(r"\\u(d[c-f][0-9a-f]{2})", re.I).match(text, end)
                if low:
                    code = 0x10000 + ((code - 0xD800) << 10) + (int(low.group(1), 16) - 0xDC00)
                    end = low.end()
            ch = chr(code)
        elif x is not None:
            ch = chr(int(x, 16))
        elif pct is not None:
            ch = chr(int(pct, 16))
        else:
            ch = _SIMPLE.get(simple, simple)
        out.append(ch)
        starts.append(i)
        ends.append(end)
        i = end
    return "".join(out), starts, ends


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
