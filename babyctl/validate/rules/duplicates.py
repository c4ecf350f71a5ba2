"""BC401-BC403: duplicate ids, exact duplicates and near-identical examples.

Exact duplicates: a hash of the roles and the case-folded, whitespace-collapsed turns.
Near-duplicates: candidates are earlier examples sharing one of this example's K smallest
word-trigram hashes and MIN_SHARED of its SKETCH smallest (a bottom-k MinHash sketch over the
first and last HEAD_CHARS characters; CRC32 word hashes, stable between runs); the best one at
or above the threshold by :meth:`difflib.SequenceMatcher.ratio` over the user/assistant words is
reported. Exact pruning, each a necessary condition for a (better) match, keeps that rare: the
word-count bound (``real_quick_ratio``), the shared sketch values, the word-presence bound (no
more matches than the candidate's words found here), and "cannot beat the best so far".
The index keeps each example's place, sketch and words (one character per distinct word):
never the parsed example, and nothing is parsed again.
"""
from __future__ import annotations

import zlib
from array import array
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import filterfalse, islice
from typing import NamedTuple

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
_CHARS = 0x110000  # code points (a str holds any, surrogates included)


@dataclass
class DuplicateIndex:
    """Feed examples in file order with :meth:`add`; each returns its hits against earlier ones.
    Per example (by number, in lists): its place, sketch (packed) and words (:meth:`_encode`)."""

    threshold: float = 0.9
    _exact: dict[int, tuple[str, int]] = field(default_factory=dict)
    _ids: dict[str, tuple[str, int]] = field(default_factory=dict)
    _buckets: dict[int, int | list[int]] = field(default_factory=dict)  # trigram hash -> example(s)
    _where: list[tuple[str, int]] = field(default_factory=list)
    _sketches: list[bytes] = field(default_factory=list)
    _words: list[str] = field(default_factory=list)
    _vocab: dict[str, str] = field(default_factory=dict)  # word -> its character

    def add(self, path: str, line: int, feat: "Features") -> list[Hit]:
        """Hits of the example at ``path:line`` (its :func:`features`) against earlier ones."""
        where = (path, line)
        hits: list[Hit] = []
        if feat.id is not None:
            first = self._ids.setdefault(feat.id, where)
            if first is not where:
                hits.append(Hit("BC403", ("metadata", "id"), f"duplicate id {feat.id!r} (first used at {first[0]}:{first[1]})"))
        first = self._exact.setdefault(feat.key, where)
        if first is not where:
            hits.append(Hit("BC401", (), f"duplicate of the example at {first[0]}:{first[1]}"))
            return hits
        if feat.sketch is not None:
            near = self._near(where, feat.sketch, self._encode(feat.words))
            if near is not None:
                hits.append(near)
        return hits

    def _encode(self, words: list[str]) -> str:
        """``words`` as a string with one character per word (the same word, the same
        character): SequenceMatcher gives the same ratios for it as for the list."""
        vocab = self._vocab
        try:
            return "".join(map(vocab.__getitem__, words))
        except KeyError:  # new words: each gets the next character
            for w in words:
                if w not in vocab:  # past 1.1M distinct words (no real curriculum), words share characters
                    vocab[w] = chr(len(vocab)) if len(vocab) < _CHARS else chr(zlib.crc32(w.encode()) % _CHARS)
            return "".join(map(vocab.__getitem__, words))

    def _near(self, where: tuple[str, int], sketch: list[int], words: str) -> Hit | None:
        idx = len(self._words)
        cands: set[int] = set()
        for h in sketch[:K]:  # search each bucket that is not full, then join it
            b = self._buckets.get(h)
            if b is None:
                self._buckets[h] = idx  # a bucket of one example is stored bare
            elif b.__class__ is int:
                cands.add(b)
                self._buckets[h] = [b, idx]
            elif len(b) < MAX_BUCKET:
                cands.update(b)
                b.append(idx)
        self._where.append(where)
        self._sketches.append(array("q", sketch).tobytes())
        self._words.append(words)
        thr, n, all_words = self.threshold, len(words), self._words
        # ratio <= quick_ratio <= real_quick_ratio = 2 * min(n, m) / (n + m) >= thr needs
        # lo <= m <= hi (the word-count bound, one wider at each end against float rounding)
        lo, hi = int(n * thr / (2 - thr)) - 1, int(n * (2 - thr) / thr) + 2
        cands = sorted([c for c in cands if lo <= len(all_words[c]) <= hi])
        need = min(MIN_SHARED, len(sketch))
        mine = frozenset(sketch)
        best: tuple[float, int] | None = None
        known = matcher = None
        for c in cands:  # file order: the first of equally good matches wins
            other = all_words[c]
            m = len(other)
            if not _may_beat(2 * min(n, m) / (n + m), thr, best):
                continue  # cannot beat the best so far
            if len(mine.intersection(memoryview(self._sketches[c]).cast("q"))) < need:
                continue
            if other == words:
                r = 1.0  # what SequenceMatcher.ratio gives for equal sequences
            else:
                if known is None:
                    known = frozenset(words)
                # the word-presence bound: quick_ratio's matches are at most the candidate's
                # words found in this example. Its words not found here are counted up to one
                # more than the bound allows at the threshold (most candidates stop early)
                cap = max(int(m - thr * (n + m) / 2) + 1, 0)
                missing = len(list(islice(filterfalse(known.__contains__, other), cap + 1)))
                if missing > cap or not _may_beat(2 * (m - missing) / (n + m), thr, best):
                    continue
                if matcher is None:
                    matcher = SequenceMatcher(None, autojunk=False)
                    matcher.set_seq2(words)
                matcher.set_seq1(other)
                if not _may_beat(matcher.quick_ratio(), thr, best):
                    continue
                r = matcher.ratio()
            if r >= thr and (best is None or r > best[0]):
                best = (r, c)
                if r >= 1.0:
                    break  # nothing later can be strictly better
        if best is None:
            return None
        other_path, other_line = self._where[best[1]]
        return Hit("BC402", (), f"near-identical ({best[0]:.0%} word similarity of the user/assistant turns) to the "
                                f"example at {other_path}:{other_line}")


def _may_beat(bound: float, threshold: float, best: tuple | None) -> bool:
    """A candidate whose bound on the ratio is below the threshold, or not above the best
    ratio so far, cannot be a (better) match."""
    return bound >= threshold and (best is None or bound > best[0])


class Features(NamedTuple):
    """What the index needs of one example (computed without the index)."""

    id: str | None  # metadata.id
    key: int  # the exact-duplicate key: a hash of the roles and the normalised turns
    words: list[str]  # the words of the user/assistant turns, case-folded, with "\x00" between turns
    sketch: list[int] | None  # None: too short for the near-duplicate search


def features(ex: Example) -> Features:
    meta = ex.metadata
    ex_id = meta.get("id") if meta is not None else None
    roles = tuple(r for r, _ in ex.messages)
    system = " ".join(" ".join(c for r, c in ex.messages if r == "system").casefold().split())
    text = " \x00 ".join([c for r, c in ex.messages if r != "system"]).casefold()  # turn boundaries kept
    words = text.split()
    key = hash((roles, system, tuple(words)))
    return Features(ex_id if isinstance(ex_id, str) and ex_id else None, key, words, _sketch(text))


def _sketch(text: str) -> list[int] | None:
    """The SKETCH smallest distinct word-trigram hashes of the ends of ``text`` (None: too short)."""
    sample = text if len(text) <= 2 * HEAD_CHARS else text[:HEAD_CHARS] + " " + text[-HEAD_CHARS:]
    ids = list(map(zlib.crc32, sample.encode("utf-8", "replace").split()))
    if len(ids) < MIN_WORDS:
        return None
    return sorted(set(map(hash, zip(ids, ids[1:], ids[2:]))))[:SKETCH]
