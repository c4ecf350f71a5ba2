"""BC401-BC403: duplicate ids, exact duplicates and near-identical examples.

Exact duplicates: a hash of the case-folded, whitespace-collapsed turns (roles
included). Near-duplicates: the non-system turns as case-folded words; candidates
are examples sharing one of their K smallest word-trigram hashes and at least
MIN_SHARED of their SKETCH smallest (a bottom-k MinHash sketch over the first
and last HEAD_CHARS characters), confirmed with :class:`difflib.SequenceMatcher` over all the
words. Word hashes are CRC32 (not Python's salted ``hash``), so results do not
change between runs. Cost is about linear in the number of examples.
"""
from __future__ import annotations

import heapq
import zlib
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from ..example import Example, Hit

#: smallest bigram hashes indexed per example (candidate generation)
K = 4
#: smallest bigram hashes kept per example; a candidate must share MIN_SHARED of them
SKETCH = 8
MIN_SHARED = 2
#: characters from each end of an example's user/assistant text that go into its sketch
HEAD_CHARS = 120
#: a bucket this full is boilerplate, not evidence; it is not searched
MAX_BUCKET = 64
#: shorter texts (in words) are left to the exact check
MIN_WORDS = 6


@dataclass
class DuplicateIndex:
    """Feed examples in order with :meth:`add`; each returns hits against earlier examples."""

    threshold: float = 0.9
    _exact: dict[int, tuple[str, int]] = field(default_factory=dict)
    _ids: dict[str, tuple[str, int]] = field(default_factory=dict)
    _buckets: dict[int, list[int]] = field(default_factory=dict)
    _docs: list[tuple[str, int, str, frozenset[int]]] = field(default_factory=list)

    def add(self, ex: Example) -> list[Hit]:
        hits: list[Hit] = []
        meta = ex.metadata
        if meta is not None:
            ex_id = meta.get("id")
            if isinstance(ex_id, str) and ex_id:
                first = self._ids.get(ex_id)
                if first is not None:
                    hits.append(Hit("BC403", ("metadata", "id"), f"duplicate id {ex_id!r} (first used at {first[0]}:{first[1]})"))
                else:
                    self._ids[ex_id] = (ex.path, ex.line)
        system = []
        rest = []
        for role, content in ex.messages:
            (system if role == "system" else rest).append(content)
        text = " \x00 ".join(rest).casefold()  # \x00 keeps turn boundaries in the key
        key = hash((tuple([r for r, _ in ex.messages]), " ".join(" ".join(system).casefold().split()),
                    " ".join(text.split())))  # exact check is in-process only: salted hash is fine
        first = self._exact.get(key)
        if first is not None:
            hits.append(Hit("BC401", (), f"duplicate of the example at {first[0]}:{first[1]}"))
            return hits
        self._exact[key] = (ex.path, ex.line)
        near = self._near(ex, text)
        if near is not None:
            hits.append(near)
        return hits

    def _near(self, ex: Example, text: str) -> Hit | None:
        # C-level work only on the hot path (join, casefold, encode, split, map, zip, hash, set):
        # the sketch reads HEAD_CHARS characters from each end; the similarity check reads everything.
        sample = text if len(text) <= 2 * HEAD_CHARS else text[:HEAD_CHARS] + " " + text[-HEAD_CHARS:]
        ids = list(map(zlib.crc32, sample.encode("utf-8", "replace").split()))
        if len(ids) < MIN_WORDS:
            return None
        sketch = sorted(set(map(hash, zip(ids, ids[1:], ids[2:]))))[:SKETCH]
        mine = frozenset(sketch)
        need = min(MIN_SHARED, len(sketch))
        buckets = self._buckets
        cands: set[int] = set()
        for h in sketch[:K]:
            b = buckets.get(h)
            if b is not None and len(b) < MAX_BUCKET:
                cands.update(b)
        best = None
        if cands:
            words = text.split()
            n = len(words)
            thr = self.threshold
            sm = None
            docs = self._docs
            for c in sorted(cands):
                path, line, other_text, theirs = docs[c]
                if len(mine & theirs) < need:
                    continue
                other = other_text.split()
                m = len(other)
                if 2 * min(n, m) / (n + m) < thr:
                    continue
                if sm is None:
                    sm = SequenceMatcher(None, autojunk=False)
                    sm.set_seq2(words)
                sm.set_seq1(other)
                if sm.real_quick_ratio() < thr or sm.quick_ratio() < thr:
                    continue
                r = sm.ratio()
                if r >= thr and (best is None or r > best[0]):
                    best = (r, path, line)
        idx = len(self._docs)
        self._docs.append((ex.path, ex.line, text, mine))
        for h in sketch[:K]:
            b = buckets.get(h)
            if b is None:
                buckets[h] = [idx]
            elif len(b) < MAX_BUCKET:
                b.append(idx)
        if best is None:
            return None
        r, path, line = best
        return Hit("BC402", (), f"near-identical ({r:.0%} word similarity of the user/assistant turns) to the example at {path}:{line}")
