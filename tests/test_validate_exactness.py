"""What validate's shortcuts must never change: each is checked against a plain reference.

* the phrase rule's substring hints skip a regex only when it cannot match;
* the near-duplicate index (word-count, sketch, word-presence and best-so-far pruning, words as
  one character each) reports exactly what SequenceMatcher over every candidate reports;
* the line-by-line reader reports line endings, blank files and lines exactly as a whole-file
  reading does.
"""
from __future__ import annotations

import io
import random
import re
from difflib import SequenceMatcher

from hypothesis import given, settings
from hypothesis import strategies as st

from babyctl.validate.example import Example
from babyctl.validate.loader import decode
from babyctl.validate.rules import duplicates as d
from babyctl.validate.rules.phrases import check_phrases
from babyctl.validate.settings import Settings

_FRAGMENTS = ["as a", "an ai", " AI ", "I'm", "I am", "just", "can't", "cannot", "sorry", "apologize", "but",
              "not able to", "against my", "programming", "don't", "have", "feelings", "language model", "\n",
              "comply", "unable to", "provide", "my guidelines", "prevent", " ", ", ", ".", "chatbot", "ſ", "İ"]
_HINTS = sorted({h for p in Settings.from_params(None)[0].phrases for g in p.hints for h in g}) + _FRAGMENTS


def _ungated(ex: Example, s: Settings) -> list:
    """Every phrase's regex on every assistant turn: no hint of any kind."""
    return [(p.code, i, m.group(), p.severity)
            for i, (role, content) in enumerate(ex.messages) if role == "assistant"
            for p in s.phrases for m in [p.regex.search(content)] if m]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["user", "assistant", "system"]),
                          st.lists(st.sampled_from(_HINTS) | st.text(alphabet="aiIsmnot '.", max_size=6),
                                   max_size=14).map("".join)), min_size=1, max_size=4))
def test_phrase_hints_lose_no_match(turns):
    s, _ = Settings.from_params(None)
    ex = Example("p", 1, "", turns, None, frozenset())
    assert [(h.code, h.loc[1], h.needle, h.severity) for h in check_phrases(ex, s)] == _ungated(ex, s)


# --- the near-duplicate index -------------------------------------------------------------------
def _reference_near(texts: list[str], threshold: float) -> list[tuple[int, float] | None]:
    """For each text (user/assistant turns, already case-folded), its best earlier match as
    SequenceMatcher over word lists finds it among the same candidates (the buckets and the
    shared-sketch rule), with no pruning: (index, ratio) or None."""
    buckets: dict[int, list[int]] = {}
    sketches, words, places, exact, out = [], [], [], set(), []
    for i, text in enumerate(texts):
        w = text.split()
        if " ".join(w) in exact:
            out.append("exact")
            continue
        exact.add(" ".join(w))
        sketch = d._sketch(text)
        if sketch is None:
            out.append(None)
            continue
        cands = set()
        for h in sketch[:d.K]:
            b = buckets.setdefault(h, [])
            if len(b) < d.MAX_BUCKET:
                cands.update(b)
                b.append(len(words))
        best = None
        for c in sorted(cands):
            if len(set(sketch) & set(sketches[c])) < min(d.MIN_SHARED, len(sketch)):
                continue
            r = SequenceMatcher(None, words[c], w, autojunk=False).ratio()
            if r >= threshold and (best is None or r > best[1]):
                best = (places[c], r)
        sketches.append(sketch)
        words.append(w)
        places.append(i)
        out.append(best)
    return out


def _corpus(rng: random.Random, n: int) -> list[str]:
    vocab = [f"w{i}" for i in range(40)] + ["the", "a", "sea", "tide", "moon", "\x00"]
    base = [[rng.choice(vocab) for _ in range(rng.randint(4, 40))] for _ in range(12)]
    out = []
    for _ in range(n):
        w = list(rng.choice(base))
        for _ in range(rng.randint(0, 4)):  # a few edits: near, or not near, the base
            k = rng.randrange(len(w) + 1)
            op = rng.random()
            if op < 0.4 and w:
                w[min(k, len(w) - 1)] = rng.choice(vocab)
            elif op < 0.7:
                w.insert(k, rng.choice(vocab))
            elif w:
                del w[min(k, len(w) - 1)]
        out.append(" ".join(w))
    return out


def test_near_duplicate_pruning_reports_what_plain_search_reports():
    for seed in range(6):
        rng = random.Random(seed)
        texts = _corpus(rng, 400)
        threshold = rng.choice([0.6, 0.75, 0.9])
        want = _reference_near(texts, threshold)
        index = d.DuplicateIndex(threshold=threshold)
        got = []
        for i, text in enumerate(texts):
            feat = d.Features(None, hash(((), "", " ".join(text.split()))), text.split(), d._sketch(text))
            hits = index.add("f", i + 1, feat)
            codes = [h.code for h in hits]
            if "BC401" in codes:
                got.append("exact")
            elif hits:
                m = re.search(r"\((\d+)% .* at f:(\d+)$", hits[0].message)
                got.append((int(m.group(2)) - 1, m.group(1)))
            else:
                got.append(None)
        want = [w if w in (None, "exact") else (w[0], f"{w[1]:.0%}"[:-1]) for w in want]
        assert got == want, seed
        assert sum(1 for w in want if w not in (None, "exact")) > 20  # the corpus has near-duplicates


# --- line endings, read line by line ------------------------------------------------------------
def _reference_endings(data: bytes) -> list[tuple[int, str]]:
    """(line, code) of the line-ending findings, from the whole file at once."""
    if b"\r" not in data:
        return []
    crlf = data.count(b"\r\n")
    lf, cr = data.count(b"\n") - crlf, data.count(b"\r") - crlf
    kinds = [name for name, n in (("LF", lf), ("CRLF", crlf), ("CR", cr)) if n]
    if len(kinds) > 1:
        ends = [m.group() for m in re.finditer(rb"\r\n|\n|\r", data)]
        odd = next((i for i, e in enumerate(ends, 1) if e != ends[0]), 1)
        return [(odd, "BC005")]
    return [(1, "BC004" if kinds == ["CRLF"] else "BC005")]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"{}", b" ", b"\r", b"\n", b"\r\n", b"\t", b"\xef\xbb\xbf"]), max_size=12)
       .map(b"".join))
def test_line_by_line_reading_equals_whole_file_reading(data):
    found: list = []
    lines = list(decode(io.BytesIO(data).readlines(), "f", found))
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    raw = body.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    assert [line.text for line in lines] == [r[:-1].decode() if r.endswith(b"\r") else r.decode() for r in raw]
    assert sorted((f.line, f.code) for f in found if f.code in ("BC004", "BC005")) == _reference_endings(body)
    assert any(f.code == "BC007" for f in found) == (not body or body.isspace())
    assert any(f.code == "BC003" for f in found) == data.startswith(b"\xef\xbb\xbf")
