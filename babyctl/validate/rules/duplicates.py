"""BC401-BC403: duplicate ids, exact duplicates and near-identical examples.

Exact duplicates: a hash of the case-folded, whitespace-collapsed turns (roles
included). Near-duplicates: the non-system turns as case-folded words; candidates
are examples sharing one of their K smallest word-trigram hashes and at least
MIN_SHARED of their SKETCH smallest (a bottom-k MinHash sketch over the first
and last HEAD_CHARS characters), confirmed with :class:`difflib.SequenceMatcher` over all the
words. Word hashes are CRC32 (not Python's salted ``hash``), so results do not
change between runs. Cost is about linear in the number of examples.

Before the similarity check a candidate must pass cheap exact filters, each a necessary
condition: a one-integer signature of its sketch, the word-count bound (SequenceMatcher's
``real_quick_ratio``), the shared sketch values, and a word-presence bound on ``quick_ratio``; a
candidate that cannot beat the best match so far is skipped, and an identical one ends the search.
"""
from __future__ import annotations

import zlib
from array import array
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Callable

from ..example import Example, Hit

#: smallest trigram hashes indexed per example (candidate generation)
K = 4
#: smallest trigram hashes kept per example; a candidate must share MIN_SHARED of them
SKETCH = 8
MIN_SHARED = 2
#: characters from each end of an example's user/assistant text that go into its sketch
HEAD_CHARS = 120
#: a bucket this full is boilerplate, not evidence; it is not searched
MAX_BUCKET = 64
#: shorter texts (in words) are left to the exact check
MIN_WORDS = 6
#: bits of an example's sketch signature (each sketch value sets bit ``value % SIG_BITS``): a
#: one-integer pre-check of "shares MIN_SHARED sketch values" before touching the sketch itself
SIG_BITS = 512
#: bits of the word bitmap (:func:`word_bits`) kept for an example that reaches the similarity
#: check: a bound on the words two examples can share, before reading either text (a power of
#: two: ``h & (WORD_BITS - 1)`` is ``h % WORD_BITS``, negative ``h`` too)
WORD_BITS = 512
#: ``1 << i`` for every bit number ``word_bits`` can give (also for a smaller WORD_BITS, as tests set)
_POWERS = [1 << i for i in range(WORD_BITS)]


@dataclass
class DuplicateIndex:
    """Feed examples in order with :meth:`add`; each returns hits against earlier examples.

    The index keeps no example's text: ``text_of(path, line)`` gives an earlier example's
    :func:`features_text` back for the few pairs that reach the word-similarity check
    (``babyctl validate`` re-reads the line; without ``text_of``, :meth:`add` keeps its Examples)."""

    threshold: float = 0.9
    text_of: Callable[[str, int], str] | None = None
    _exact: dict[int, tuple[str, int]] = field(default_factory=dict)
    _ids: dict[str, tuple[str, int]] = field(default_factory=dict)
    _buckets: dict[int, int | list[int]] = field(default_factory=dict)  # one example: its index
    _docs: list[tuple[str, int, list[int]]] = field(default_factory=list)  # path, line, sketch
    _sizes: array = field(default_factory=lambda: array("q"))  # per doc: its word count (packed)
    _sigs: list[int] = field(default_factory=list)  # per doc: its sketch signature (see SIG_BITS)
    _kept: dict[tuple[str, int], Example] = field(default_factory=dict)  # add() without text_of
    _texts: dict[int, tuple[str, int]] = field(default_factory=dict)  # doc -> (text, word bits), once asked

    def add(self, ex: Example) -> list[Hit]:
        if self.text_of is None:
            self._kept[(ex.path, ex.line)] = ex
        return self.add_features(ex.path, ex.line, features(ex))

    def _text(self, idx: int, path: str, line: int) -> tuple[str, int, list[str] | None]:
        """Doc ``idx``'s :func:`features_text`, its :func:`word_bits`, and its words when they
        were split just now (else None: split the text when needed). Text and bits are kept
        once asked for: an example that reached the similarity check once tends to reach it
        again."""
        got = self._texts.get(idx)
        if got is not None:
            return got[0], got[1], None
        text = self.text_of(path, line) if self.text_of is not None else \
            features_text(self._kept[(path, line)].messages)
        words = text.split()
        bits = word_bits(words)
        self._texts[idx] = (text, bits)
        return text, bits, words

    def add_features(self, path: str, line: int, feat: "Features") -> list[Hit]:
        """:meth:`add` for an example whose :func:`features` were computed already (maybe in
        another process: nothing in them depends on the index)."""
        ex_id, key, n, sketch, sig = feat
        where = (path, line)
        hits: list[Hit] = []
        if ex_id is not None:
            first = self._ids.setdefault(ex_id, where)
            if first is not where:
                hits.append(Hit("BC403", ("metadata", "id"), f"duplicate id {ex_id!r} (first used at {first[0]}:{first[1]})"))
        first = self._exact.setdefault(key, where)
        if first is not where:
            hits.append(Hit("BC401", (), f"duplicate of the example at {first[0]}:{first[1]}"))
            return hits
        if sketch is not None:
            near = self._near(path, line, n, sketch, sig)
            if near is not None:
                hits.append(near)
        return hits

    def _near(self, path: str, line: int, n: int, sketch: list[int], sig: int) -> Hit | None:
        buckets = self._buckets
        docs = self._docs
        idx = len(docs)
        cands: set[int] | None = None
        # one pass: search each bucket (when not full), then add this example to it (when not
        # full); a bucket of one example is stored as the bare index. ``sketch`` holds no key twice.
        for h in sketch[:K]:
            b = buckets.setdefault(h, idx)
            if b is idx:
                continue
            if b.__class__ is int:
                if MAX_BUCKET > 1:
                    if cands is None:
                        cands = {b}
                    else:
                        cands.add(b)
                    buckets[h] = [b, idx]
            elif len(b) < MAX_BUCKET:
                if cands is None:
                    cands = set(b)
                else:
                    cands.update(b)
                b.append(idx)
        docs.append((path, line, sketch))
        self._sigs.append(sig)
        self._sizes.append(n)
        if cands is None:
            return None
        need = min(MIN_SHARED, len(sketch))
        # signature pre-check, a necessary condition for sharing ``need`` values: shared values
        # set the same bits in both signatures, and they are distinct bits when this sketch's
        # own values are (when two of them share a bit, only one bit can be asked for)
        need_bits = need if sig.bit_count() == len(sketch) else 1
        thr = self.threshold
        sigs = self._sigs
        sizes = self._sizes
        # a first pass in any order, with necessary conditions only: the word-count bound
        # 2 * min(n, m) / (n + m) >= thr needs lo <= m <= hi (one wider at each end, against
        # float rounding), and the signatures must share ``need_bits`` bits
        lo, hi = int(n * thr / (2 - thr)) - 1, int(n * (2 - thr) / thr) + 2
        cands = [c for c in cands if lo <= sizes[c] <= hi and (sigs[c] & sig).bit_count() >= need_bits]
        if not cands:
            return None
        best = None
        mine = sm = words = known = None
        for c in sorted(cands):  # file order: the first of equally good matches wins
            # ratio <= quick_ratio <= real_quick_ratio == bound: a candidate whose bound is below
            # the threshold, or not above the best so far, cannot be (a better) match
            m = sizes[c]
            bound = 2 * min(n, m) / (n + m)
            if bound < thr or (best is not None and bound <= best[0]):
                continue
            other_path, other_line, theirs = docs[c]
            if mine is None:
                mine = frozenset(sketch)
            if len(mine.intersection(theirs)) < need:
                continue
            if words is None:
                text, bits, words = self._text(idx, path, line)
                if words is None:
                    words = text.split()
                known = frozenset(words)
            other_text, other_bits, other = self._text(c, other_path, other_line)
            # quick_ratio counts matches, at most the words of either side found in the other:
            # each bit that one side's words set and the other's do not is at least one word
            # that cannot match (two int operations, before reading the other text at all) ...
            most = min(m - (other_bits & ~bits).bit_count(), n - (bits & ~other_bits).bit_count())
            if 2 * most / (n + m) < thr or (best is not None and 2 * most / (n + m) <= best[0]):
                continue
            if other is None:
                other = other_text.split()
            if other == words:
                r = 1.0  # what SequenceMatcher.ratio gives for equal word lists
            else:
                # ... and exactly: the number of ``other``'s words in ``known`` (C-level)
                bound = 2 * sum(map(known.__contains__, other)) / (n + m)
                if bound < thr or (best is not None and bound <= best[0]):
                    continue
                if sm is None:
                    sm = SequenceMatcher(None, autojunk=False)
                    sm.set_seq2(words)
                sm.set_seq1(other)
                q = sm.quick_ratio()
                if q < thr or (best is not None and q <= best[0]):
                    continue
                r = sm.ratio()
            if r >= thr and (best is None or r > best[0]):
                best = (r, other_path, other_line)
                if r >= 1.0:
                    break  # nothing later can be strictly better
        if best is None:
            return None
        r, other_path, other_line = best
        return Hit("BC402", (), f"near-identical ({r:.0%} word similarity of the user/assistant turns) to the example at {other_path}:{other_line}")


#: what the index needs of one example: (id or None, exact key, word count of its
#: :func:`features_text`, its sketch or None when too short for the near check, the sketch's
#: signature)
Features = tuple


def features_text(messages: list[tuple[str, str]]) -> str:
    """The user/assistant turns, case-folded, joined by `` \\x00 `` (keeps turn boundaries)."""
    return " \x00 ".join([c for r, c in messages if r != "system"]).casefold()


def features(ex: Example) -> Features:
    """The index-independent part of :meth:`DuplicateIndex.add` for ``ex``."""
    meta = ex.metadata
    ex_id = meta.get("id") if meta is not None else None
    if not (isinstance(ex_id, str) and ex_id):
        ex_id = None
    msgs = ex.messages
    roles, contents = zip(*msgs) if msgs else ((), ())  # C-level: as tuples
    if "system" in roles:
        system = " ".join([c for r, c in msgs if r == "system"]).casefold().split()
        text = features_text(msgs)
    else:
        system, text = [], " \x00 ".join(contents).casefold()  # == features_text
    if _single_spaced(text):  # the usual case: split + join would give ``text`` back
        n, joined = text.count(" ") + 1, text
    else:
        words = text.split()
        n, joined = len(words), " ".join(words)
    # exact check: a salted hash is fine in-process (and in a forked worker, which shares the salt)
    key = hash((roles, " ".join(system), joined))
    # C-level work only on the hot path (join, casefold, encode, split, map, zip, hash, sort):
    # the sketch reads HEAD_CHARS characters from each end; the similarity check reads everything.
    sample = text if len(text) <= 2 * HEAD_CHARS else text[:HEAD_CHARS] + " " + text[-HEAD_CHARS:]
    ids = list(map(zlib.crc32, sample.encode("utf-8", "replace").split()))
    if len(ids) < MIN_WORDS:
        return ex_id, key, n, None, 0
    hashes = sorted(map(hash, zip(ids, ids[1:], ids[2:])))
    sketch = hashes[:SKETCH]  # the SKETCH smallest distinct hashes (a repeat is rare: then dedupe)
    sig = signature(sketch)
    # values that set distinct bits are distinct: only a sketch with fewer bits may repeat one
    if sig.bit_count() < len(sketch) and len(set(sketch)) < len(sketch):
        sketch = sorted(set(hashes))[:SKETCH]
        sig = signature(sketch)
    return ex_id, key, n, sketch, sig


def word_bits(words: list[str]) -> int:
    """An int with bit ``hash(w) % WORD_BITS`` set for each word ``w``: two examples share a
    word only if they share its bit (the salted ``hash`` is fine: bits are compared only within
    the process that made them, and any hash keeps the bound exact). C-level: the distinct bit
    numbers, then a sum of their powers of two from a table."""
    return sum(map(_POWERS.__getitem__, set(map((WORD_BITS - 1).__and__, map(hash, words)))))


def signature(sketch: list[int]) -> int:
    """An int with bit ``v % SIG_BITS`` set for each sketch value ``v``."""
    sig = 0
    for v in sketch:
        sig |= 1 << (v % SIG_BITS)
    return sig


#: every character ``str.split()`` splits on besides the space (``str.isspace``; a test checks
#: this list against all of Unicode)
_SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
           "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_ASCII_SPACES = _SPACES[:9]


def _single_spaced(text: str) -> bool:
    """True only when ``" ".join(text.split()) == text``: words separated by single spaces, no
    other whitespace, none at either end (C-level scans; ASCII text needs 9 of them)."""
    if text == "" or text[0] == " " or text[-1] == " " or "  " in text:
        return False
    if text.isascii():  # _ASCII_SPACES, spelled out: a chain of ``in`` is cheaper than any(map(...))
        return not ("\t" in text or "\n" in text or "\r" in text or "\x0b" in text or "\x0c" in text
                    or "\x1c" in text or "\x1d" in text or "\x1e" in text or "\x1f" in text)
    return not any(map(text.__contains__, _SPACES))
