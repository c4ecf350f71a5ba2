"""BC401-BC403: duplicate ids, exact duplicates and near-identical examples.

Exact duplicates: a hash of the roles and the case-folded, whitespace-collapsed turns.
Near-duplicates: the user/assistant turns as case-folded words. Candidates are earlier
examples that share one of this example's K smallest word-trigram hashes and at least
MIN_SHARED of its SKETCH smallest (a bottom-k MinHash sketch over the first and last
HEAD_CHARS characters); the best candidate at or above the threshold, by
:meth:`difflib.SequenceMatcher.ratio` over all the words, is reported. Word hashes are CRC32
(not Python's salted ``hash``), so results do not change between runs.

Exact pruning keeps the similarity check rare, each bound a necessary condition for a
(better) match: the word-count bound (``real_quick_ratio``), the shared sketch values, the
word-presence bound (``quick_ratio`` cannot exceed the share of the candidate's words found
in this example), and "cannot beat the best so far"; an identical word list ends the search.

The index keeps, per example, its place, its sketch and its words as a compact string (one
character per distinct word): never the parsed example, and nothing is parsed again.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from difflib import SequenceMatcher
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
_CHARS = 0x110000  # code points (str holds any, surrogates included)


class Doc(NamedTuple):
    """What the near-duplicate search keeps of an earlier example."""

    path: str
    line: int
    sketch: frozenset[int]
    words: str  # one character per word (:meth:`DuplicateIndex._encode`)


@dataclass
class DuplicateIndex:
    """Feed examples in file order with :meth:`add`; each returns its hits against earlier ones."""

    threshold: float = 0.9
    _exact: dict[int, tuple[str, int]] = field(default_factory=dict)
    _ids: dict[str, tuple[str, int]] = field(default_factory=dict)
    _buckets: dict[int, list[int]] = field(default_factory=dict)  # trigram hash -> doc numbers
    _docs: list[Doc] = field(default_factory=list)
    _vocab: dict[str, str] = field(default_factory=dict)  # word -> its character

    def add(self, ex: Example) -> list[Hit]:
        where = (ex.path, ex.line)
        hits: list[Hit] = []
        meta = ex.metadata
        ex_id = meta.get("id") if meta is not None else None
        if isinstance(ex_id, str) and ex_id:
            first = self._ids.setdefault(ex_id, where)
            if first is not where:
                hits.append(Hit("BC403", ("metadata", "id"), f"duplicate id {ex_id!r} (first used at {first[0]}:{first[1]})"))
        roles = tuple(r for r, _ in ex.messages)
        system = " ".join(c for r, c in ex.messages if r == "system").casefold().split()
        text = features_text(ex.messages)
        words = text.split()
        first = self._exact.setdefault(hash((roles, " ".join(system), " ".join(words))), where)
        if first is not where:
            hits.append(Hit("BC401", (), f"duplicate of the example at {first[0]}:{first[1]}"))
            return hits
        sketch = _sketch(text)
        if sketch is not None:
            near = self._near(ex.path, ex.line, sketch, self._encode(words))
            if near is not None:
                hits.append(near)
        return hits

    def _encode(self, words: list[str]) -> str:
        """``words`` as a string with one character per word (the same word, the same
        character): SequenceMatcher gives the same ratios for it as for the list."""
        vocab = self._vocab
        out = []
        for w in words:
            c = vocab.get(w)
            if c is None:  # past 1.1M distinct words (no real curriculum), words share characters
                c = vocab[w] = chr(len(vocab)) if len(vocab) < _CHARS else chr(zlib.crc32(w.encode()) % _CHARS)
            out.append(c)
        return "".join(out)

    def _near(self, path: str, line: int, sketch: list[int], words: str) -> Hit | None:
        idx = len(self._docs)
        cands: set[int] = set()
        for h in sketch[:K]:
            bucket = self._buckets.setdefault(h, [])
            if len(bucket) < MAX_BUCKET:
                cands.update(bucket)
                bucket.append(idx)
        mine = frozenset(sketch)
        self._docs.append(Doc(path, line, mine, words))
        thr, n = self.threshold, len(words)
        need = min(MIN_SHARED, len(sketch))
        best = None
        known = matcher = None
        for c in sorted(cands):  # file order: the first of equally good matches wins
            doc = self._docs[c]
            m = len(doc.words)
            # ratio <= quick_ratio <= real_quick_ratio: a candidate whose bound is below the
            # threshold, or not above the best so far, cannot be a (better) match
            if not _may_beat(2 * min(n, m) / (n + m), thr, best):
                continue
            if len(mine & doc.sketch) < need:
                continue
            if doc.words == words:
                r = 1.0  # what SequenceMatcher.ratio gives for equal sequences
            else:
                if known is None:
                    known = frozenset(words)
                # quick_ratio counts matches: at most the candidate's words found in this example
                if not _may_beat(2 * sum(map(known.__contains__, doc.words)) / (n + m), thr, best):
                    continue
                if matcher is None:
                    matcher = SequenceMatcher(None, autojunk=False)
                    matcher.set_seq2(words)
                matcher.set_seq1(doc.words)
                if not _may_beat(matcher.quick_ratio(), thr, best):
                    continue
                r = matcher.ratio()
            if r >= thr and (best is None or r > best[0]):
                best = (r, doc.path, doc.line)
                if r >= 1.0:
                    break  # nothing later can be strictly better
        if best is None:
            return None
        r, other_path, other_line = best
        return Hit("BC402", (), f"near-identical ({r:.0%} word similarity of the user/assistant turns) to the "
                                f"example at {other_path}:{other_line}")


def _may_beat(bound: float, threshold: float, best: tuple | None) -> bool:
    return bound >= threshold and (best is None or bound > best[0])


def features_text(messages: list[tuple[str, str]]) -> str:
    """The user/assistant turns, case-folded, joined by `` \\x00 `` (keeps turn boundaries)."""
    return " \x00 ".join([c for r, c in messages if r != "system"]).casefold()


def _sketch(text: str) -> list[int] | None:
    """The SKETCH smallest distinct word-trigram hashes of the ends of ``text`` (None: too short)."""
    sample = text if len(text) <= 2 * HEAD_CHARS else text[:HEAD_CHARS] + " " + text[-HEAD_CHARS:]
    ids = [zlib.crc32(w) for w in sample.encode("utf-8", "replace").split()]
    if len(ids) < MIN_WORDS:
        return None
    return sorted(set(map(hash, zip(ids, ids[1:], ids[2:]))))[:SKETCH]
