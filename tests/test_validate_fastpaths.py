"""The speed paths of ``babyctl validate`` give exactly the findings of the plain paths.

* the two-process (fork) examination of large curriculum files vs one process;
* the whole-file read (one decode, one control-byte check) vs line by line;
* the per-example phrase gate vs checking every assistant turn on its own.
"""
from __future__ import annotations

import json
import pickle
import random
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from babyctl.validate import engine, loader, parallel, run_paths
from babyctl.validate.example import Example
from babyctl.validate.rules.phrases import check_phrases
from babyctl.validate.settings import Settings

WORDS = ("the", "cat", "river", "stone", "learn", "quiet", "bright", "maybe", "window", "garden", "follow",
         "careful", "answer", "simple", "morning", "paper", "listen", "yellow", "travel", "number")
SCRIPTED = ("As an AI language model, I can't say.", "I'm sorry, but I cannot do that.",
            "That goes against my programming.", "I don't have feelings.", "Fill [explains concerns] in {name}.",
            "I am just a program.", "I'm not able to help with that.")


def mixed_lines(n: int, seed: int = 3) -> list[str]:
    """Good lines plus every kind of per-line and cross-line problem, spread over the file so
    that duplicates and near-duplicates cross the halves the worker split makes."""
    rng = random.Random(seed)
    good = []
    for i in range(n):
        msgs = [{"role": "system", "content": "Be kind."}] if i % 3 == 0 else []
        for _ in range(rng.choice((1, 2))):
            msgs.append({"role": "user", "content": " ".join(rng.choices(WORDS, k=12)) + "?"})
            msgs.append({"role": "assistant", "content": " ".join(rng.choices(WORDS, k=30)) + "."})
        good.append({"messages": msgs, "metadata": {"id": f"ex-{i}", "module": "m", "author": "a", "source": "s",
                                                   "created": "2026-01-02"}})
    out = []
    for i, obj in enumerate(good):
        r = rng.random()
        if r < 0.05 and out:
            out.append(rng.choice(out))  # exact duplicate (and duplicate id) of an earlier line
            continue
        if r < 0.10 and i > 10:
            near = json.loads(json.dumps(good[rng.randrange(i)]))
            words = near["messages"][-1]["content"].split()
            del words[rng.randrange(len(words))]
            near["messages"][-1]["content"] = " ".join(words)
            near.setdefault("metadata", {})["id"] = f"near-{i}"  # the line may have lost its metadata
            out.append(json.dumps(near))
            continue
        if r < 0.13:
            obj["messages"][-1]["content"] += " " + rng.choice(SCRIPTED)
        elif r < 0.15:
            out.append(json.dumps(obj)[: rng.randrange(5, 60)])  # truncated JSON
            continue
        elif r < 0.17:
            obj["messages"][0]["content"] = 7  # wrong type: schema-invalid, best-effort not possible
        elif r < 0.19:
            obj["messages"].reverse()
        elif r < 0.20:
            obj["messages"][-1]["content"] += "\u0001 and \u0085"
        elif r < 0.21:
            out.append("")
            continue
        elif r < 0.22:
            obj["metadata"]["lint_ignore"] = ["BC999"]
        elif r < 0.23:
            del obj["metadata"]
        out.append(json.dumps(obj, ensure_ascii=rng.random() < 0.5))
    return out


def findings(path: Path) -> list[tuple]:
    outcome = run_paths([path])
    return [(f.path, f.line, f.col, f.code, f.severity, f.message) for f in outcome.findings] + [outcome.examples]


def set_mode(monkeypatch, mode: str, chunk_bytes: int = 4000, chunk_lines: int = 37) -> None:
    """How validate reads a curriculum file: "one" (whole, one process), "bytes" (byte chunks
    decoded where examined, two processes) or "lines" (read whole, line chunks, two processes)."""
    monkeypatch.setattr(parallel, "_cores", lambda: 2)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 1 if mode == "bytes" else 10**12)
    monkeypatch.setattr(engine, "PARALLEL_MIN_LINES", 2 if mode == "lines" else 10**9)
    monkeypatch.setattr(engine, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(engine, "CHUNK_LINES", chunk_lines)


#: raw lines no JSON encoder writes: invalid UTF-8, raw control bytes, whitespace-only, a C1 control
_RAW_BAD = [b"\xff\xfe{}", b'{"messages": [{"role": "user", "content": "a\x01b"}]}', b"   \t ",
            '{"messages": [{"role": "user", "content": "q\u0085"}, {"role": "assistant", "content": "a"}]}'.encode()]


def mixed_file(path: Path, n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = [ln.encode() for ln in mixed_lines(n, seed=seed)]
    for bad in _RAW_BAD:
        for _ in range(3):
            lines.insert(rng.randrange(len(lines)), bad)
    data = b"\n".join(lines) + b"\n"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return data


MIXED = Path("curriculum/mixed.jsonl")


def one_process_reference(tmp_path: Path, monkeypatch, n: int, seed: int) -> tuple[bytes, list]:
    """Write a mixed file of ``n`` lines under ``tmp_path`` (the current folder from now on) and
    return its bytes and what one process finds in it."""
    data = mixed_file(tmp_path / MIXED, n, seed=seed)
    monkeypatch.chdir(tmp_path)
    set_mode(monkeypatch, "one")
    return data, findings(MIXED)


def test_two_processes_find_exactly_what_one_finds(tmp_path, monkeypatch):
    data, one = one_process_reference(tmp_path, monkeypatch, 1200, seed=3)
    forks = []
    real_fork = parallel.os.fork

    def counting_fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(parallel.os, "fork", counting_fork)
    for mode in ("bytes", "lines"):
        set_mode(monkeypatch, mode)
        forks.clear()
        assert findings(MIXED) == one, mode
        assert forks, f"the two-process path did not run ({mode})"
    codes = {f[3] for f in one[:-1]}
    assert {"BC002", "BC006", "BC008", "BC101", "BC102", "BC201", "BC301", "BC401", "BC402", "BC403", "BC104",
            "BC103"} <= codes
    # a line over the size limit (BC009) is found the same way by every reader
    monkeypatch.setattr(loader, "MAX_LINE_BYTES", 600)
    set_mode(monkeypatch, "one")
    small = findings(MIXED)
    assert any(f[3] == "BC009" for f in small[:-1])
    for mode in ("bytes", "lines"):
        set_mode(monkeypatch, mode)
        assert findings(MIXED) == small, mode
    # duplicates found across the halves: a line in the second half refers to one in the first
    half = len(data.splitlines()) // 2
    crossing = [f for f in one[:-1] if f[3] in ("BC401", "BC402") and f[1] > half
                and int(f[5].rsplit(":", 1)[1]) <= half]
    assert crossing


def test_a_big_file_with_crlf_or_a_bom_is_read_the_ordinary_way(tmp_path, monkeypatch):
    """A file over the byte threshold that the byte chunks cannot take (CRLF endings, a BOM) is
    read once, the ordinary way: same findings as one process, BC004/BC003 included."""
    data, _ = one_process_reference(tmp_path, monkeypatch, 200, seed=4)
    for variant, code in ((data.replace(b"\n", b"\r\n"), "BC004"), (b"\xef\xbb\xbf" + data, "BC003")):
        (tmp_path / MIXED).write_bytes(variant)
        set_mode(monkeypatch, "one")
        one = findings(MIXED)
        assert code in {f[3] for f in one[:-1]}
        set_mode(monkeypatch, "bytes")
        assert findings(MIXED) == one


def test_a_failed_worker_is_redone_in_the_parent(tmp_path, monkeypatch):
    _, one = one_process_reference(tmp_path, monkeypatch, 300, seed=9)
    monkeypatch.setattr(pickle, "dumps", lambda *a, **k: b"not a pickle")  # the child's output is garbage
    for mode in ("bytes", "lines"):
        set_mode(monkeypatch, mode)
        assert findings(MIXED) == one, mode


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"", b"a", b"\xc3\xa9", b"x" * 7, b"\n", b"\n\n"]), max_size=30).map(b"".join),
       st.integers(1, 12))
def test_byte_chunks_cover_whole_lines(data, size):
    from babyctl.validate.jsonl import LineTexts, byte_chunks

    chunks = byte_chunks(data, size)
    assert b"".join(data[c.start:c.end] for c in chunks) == data
    assert all(data[c.end - 1:c.end] == b"\n" for c in chunks[:-1])  # cut after a line feed
    texts = data.decode().split("\n")
    if texts[-1] == "":
        texts.pop()
    lazy = LineTexts(data=data, chunks=chunks)
    before = 0
    for c in chunks:  # what the consumer does: each chunk's line count, in file order
        part = data[c.start:c.end].decode().split("\n")
        count = len(part) - (part[-1] == "")
        assert lazy.counted(count) == before
        before += count
    assert before == len(texts)
    assert [lazy[n] for n in range(len(texts), 0, -1)] == texts[::-1]
    with pytest.raises(IndexError):
        lazy[len(texts) + 1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=60) | st.sampled_from([b"\r", b"\r\n", b"\xc2\x85", b"\x7f", b"\xef\xbb\xbf",
                                                          b"\xe9", b"\x00", b"ok", "\u00e9".encode()]),
                max_size=12).map(lambda parts: b"\n".join(parts)))
def test_whole_file_read_equals_line_by_line(tmp_path, data):
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    fast = loader.read_source(path, "f.jsonl")
    real = loader._decode_fast
    try:
        loader._decode_fast = lambda data, display, first: None
        slow = loader.read_source(path, "f.jsonl")
    finally:
        loader._decode_fast = real
    assert fast.texts == slow.texts
    assert fast.findings == slow.findings


def _reference_phrases(ex: Example, s: Settings) -> list:
    """The per-turn gate only (what check_phrases did before the per-example gate)."""
    hits = []
    for i, (role, content) in enumerate(ex.messages):
        if role != "assistant":
            continue
        low = content.lower()
        present = {h for h in s.all_hints if h in low}
        for p in s.phrases:
            if any(present.isdisjoint(g) for g in p.hints):
                continue
            m = p.regex.search(content)
            if m:
                hits.append((p.code, i, m.group(), p.severity))
    return hits


_FRAGMENTS = ["as a", "an ai", " AI ", "I'm", "I am", "just", "can't", "cannot", "sorry", "apologize", "but",
              "not able to", "against my", "programming", "don't", "have", "feelings", "language model", "\n",
              "comply", "unable to", "provide", "my guidelines", "prevent", " ", ", ", ".", "chatbot", "ſ", "İ"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["user", "assistant", "system"]),
                          st.lists(st.sampled_from(_FRAGMENTS), max_size=14).map("".join)), min_size=1, max_size=5))
def test_phrase_gate_per_example_equals_per_turn(turns):
    s, _ = Settings.from_params(None)
    ex = Example("p", 1, "", turns, None, frozenset())
    got = [(h.code, h.loc[1], h.needle, h.severity) for h in check_phrases(ex, s)]
    assert got == _reference_phrases(ex, s)


def _ungated_phrases(ex: Example, s: Settings) -> list:
    """Every phrase's regex on every assistant turn: no hint gate of any kind."""
    return [(p.code, i, m.group(), p.severity)
            for i, (role, content) in enumerate(ex.messages) if role == "assistant"
            for p in s.phrases for m in [p.regex.search(content)] if m]


_HINT_FRAGMENTS = sorted({h for p in Settings.from_params(None)[0].phrases for g in p.hints for h in g}) + _FRAGMENTS


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["user", "assistant"]),
                          st.lists(st.sampled_from(_HINT_FRAGMENTS) | st.text(alphabet="aiIsmnot '.", max_size=6),
                                   max_size=12).map("".join)), min_size=1, max_size=4))
def test_first_hint_pre_gate_equals_no_gate(turns):
    """The per-example pre-gate (no hint of any phrase's first group: skip all) loses no match."""
    s, _ = Settings.from_params(None)
    assert s.first_hints  # the defaults all carry hints, so the pre-gate is on
    ex = Example("p", 1, "", turns, None, frozenset())
    got = [(h.code, h.loc[1], h.needle, h.severity) for h in check_phrases(ex, s)]
    assert got == _ungated_phrases(ex, s)


def test_pre_gate_is_off_when_a_phrase_has_no_hints():
    from babyctl.validate.settings import Phrase
    import re

    s = Settings(phrases=[Phrase("BC301", re.compile("zz", re.I), "error", "m")])
    assert s.first_hints is None
    ex = Example("p", 1, "", [("user", "q"), ("assistant", "ZZ top")], None, frozenset())
    assert [h.needle for h in check_phrases(ex, s)] == ["ZZ"]


@settings(max_examples=300, deadline=None)
@given(st.sets(st.text(alphabet="abcjkvy nt'.é\\\"", min_size=1, max_size=6), min_size=1, max_size=10),
       st.text(alphabet="abcjkvy nt'.é\\\"", max_size=40))
def test_keyed_gate_equals_any_anchor(anchors, text):
    """Grouping anchors under a key character (checked first), each with a second character
    checked next, changes nothing: the gate passes exactly when the text holds some anchor;
    every anchor holds its key and its second character."""
    from babyctl.validate.settings import _gate, gate_function, gate_passes

    gate = _gate(tuple(sorted(anchors)))
    assert gate_function(gate)(text) == gate_passes(text, gate)
    assert sorted(a for _, group in gate for _, a in group) == sorted(anchors)
    assert all(key in a and second in a for key, group in gate for second, a in group)
    assert all(second != key or len(set(a)) == 1 for key, group in gate for second, a in group)
    assert gate_passes(text, gate) == any(a in text for a in anchors)
    s, _ = Settings.from_params(None)
    assert gate_passes(text, s.gate) == any(a in text for a in s.first_hints)
    assert s.gate_test(text) == gate_passes(text, s.gate)


@given(st.sets(st.text(alphabet="abcnot ", min_size=1, max_size=8), min_size=1, max_size=12))
def test_anchors_cover_every_hint(hints):
    from babyctl.validate.settings import _anchors

    anchors = _anchors(set(hints))
    assert len(anchors) <= len(hints)
    assert all(any(a in h for a in anchors) for h in hints)


def test_child_results_streamed_in_many_chunks_equal_one_process(tmp_path, monkeypatch):
    """Chunks come from a shared queue; the parent consumes them in order whoever made them. A
    chunk of bad output means the parent does that chunk; a child that dies means the parent
    does every chunk it did not get."""
    from babyctl.validate import jsonl

    data, one = one_process_reference(tmp_path, monkeypatch, 900, seed=5)
    set_mode(monkeypatch, "bytes")
    chunks = len(jsonl.byte_chunks(data, engine.CHUNK_BYTES))
    assert chunks > 10
    examined = []
    real_examine = jsonl.examine

    def counting_examine(items, *args):
        examined.append(len(items))  # in the parent only: the child's list is its own copy
        return real_examine(items, *args)

    monkeypatch.setattr(jsonl, "examine", counting_examine)
    # both processes take chunks (who takes which is a race): same findings
    assert findings(MIXED) == one
    assert len(examined) < chunks
    # the parent takes none: every chunk comes from the child, in order
    monkeypatch.setattr(parallel, "PARENT_TAKES_CHUNKS", False)
    examined.clear()
    assert findings(MIXED) == one
    assert examined == []
    real_dumps, calls = pickle.dumps, []

    def dumps_bad_third(obj, *a, **k):  # runs in the child: its 3rd chunk is garbage
        calls.append(1)
        return b"not a pickle" if len(calls) == 3 else real_dumps(obj, *a, **k)

    monkeypatch.setattr(pickle, "dumps", dumps_bad_third)
    assert findings(MIXED) == one
    assert len(examined) == 1  # the parent redid that chunk only

    def dumps_dies_at_third(obj, *a, **k):  # the child dies while holding its 3rd chunk
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError
        return real_dumps(obj, *a, **k)

    examined.clear()
    calls.clear()
    monkeypatch.setattr(pickle, "dumps", dumps_dies_at_third)
    assert findings(MIXED) == one
    assert len(examined) == chunks - 2  # everything after the child's first two chunks


_TEXT_PARTS = ["a", "Bc", " ", "  ", "\t", "\n", "\x1c", "\x85", "\xa0", "\u3000", "\u2028", "é", "İ", "ß", "\x00",
               "word", "x y"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]),
                          st.lists(st.sampled_from(_TEXT_PARTS), max_size=10).map("".join)), max_size=4))
@example([("user", "q"), ("assistant", "x y x y x y x y x y x y z w")])  # repeated trigrams
def test_duplicate_features_fast_path_equals_split_join(turns):
    """features() skips split + join for single-spaced text: same key and word count."""
    from babyctl.validate.rules import duplicates

    ex = Example("p", 1, "", turns, None, frozenset())
    ex_id, key, n, sketch, sig = duplicates.features(ex)
    text = duplicates.features_text(turns)
    assert sig == (duplicates.signature(sketch) if sketch is not None else 0)
    # the sketch: the SKETCH smallest distinct word-trigram hashes of the sampled ends
    h = duplicates.HEAD_CHARS
    sample = text if len(text) <= 2 * h else text[:h] + " " + text[-h:]
    ids = [zlib.crc32(w) for w in sample.encode("utf-8", "replace").split()]
    want = sorted({hash(t) for t in zip(ids, ids[1:], ids[2:])})[:duplicates.SKETCH]
    assert sketch == (want if len(ids) >= duplicates.MIN_WORDS else None)
    system = " ".join(c for r, c in turns if r == "system").casefold().split()
    words = " \x00 ".join(c for r, c in turns if r != "system").casefold().split()
    assert key == hash((tuple(r for r, _ in turns), " ".join(system), " ".join(words)))
    assert n == len(words)
    assert duplicates._single_spaced(text) == (text != "" and " ".join(text.split()) == text)


@pytest.mark.parametrize("text", ["ab c \x00 d\u00e9", "a\u3000b", "a\x01b", "a\x01 b", "a\nb", "\u1e9e x", "a ",
                                  " a", "a  b", ""] + [f"a b{c}c" for c in " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u2028"])
def test_single_spaced_is_split_join_identity(text):
    from babyctl.validate.rules import duplicates

    assert duplicates._single_spaced(text) == (text != "" and " ".join(text.split()) == text)


def test_split_characters_are_all_of_unicode_whitespace():
    from babyctl.validate.rules.duplicates import _ASCII_SPACES, _SPACES

    assert set(_SPACES) == {chr(i) for i in range(0x110000) if chr(i).isspace()} - {" "}
    assert set(_ASCII_SPACES) == {c for c in _SPACES if c.isascii()}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant", "tool", "User"]),
                          st.sampled_from(["", " ", "\n\t", "hi", " x "])), max_size=6))
def test_turns_clean_only_when_check_turns_finds_nothing(turns):
    from babyctl.validate.rules.chat import check_turns, turns_clean

    ex = Example("p", 1, "", turns, None, frozenset())
    assert turns_clean(turns) == (check_turns(ex) == [])
    assert turns_clean(turns) == (check_turns(ex) == [])  # second time: from the cache


def _reference_near(self, path, line, n, sketch, sig=None):
    """DuplicateIndex._near as it was: search the buckets, then add to them (lists only), no
    signature pre-check, each example's text kept."""
    from difflib import SequenceMatcher

    from babyctl.validate.example import Hit
    from babyctl.validate.rules import duplicates as d

    text = d.features_text(self._kept[(path, line)].messages)
    mine = frozenset(sketch)
    need = min(d.MIN_SHARED, len(sketch))
    cands = set()
    for h in sketch[:d.K]:
        b = self._buckets.get(h)
        if b is not None and len(b) < d.MAX_BUCKET:
            cands.update(b)
    best = None
    for c in sorted(cands):
        other_path, other_line, other_text, theirs = self._docs[c]
        if len(mine & theirs) < need:
            continue
        other = other_text.split()
        m = len(other)
        if 2 * min(n, m) / (n + m) < self.threshold:
            continue
        sm = SequenceMatcher(None, other, text.split(), autojunk=False)
        if sm.real_quick_ratio() < self.threshold or sm.quick_ratio() < self.threshold:
            continue
        r = sm.ratio()
        if r >= self.threshold and (best is None or r > best[0]):
            best = (r, other_path, other_line)
    idx = len(self._docs)
    self._docs.append((path, line, text, mine))
    for h in sketch[:d.K]:
        b = self._buckets.get(h)
        if b is None:
            self._buckets[h] = [idx]
        elif len(b) < d.MAX_BUCKET:
            b.append(idx)
    if best is None:
        return None
    r, other_path, other_line = best
    return Hit("BC402", (), f"near-identical ({r:.0%} word similarity of the user/assistant turns) to the example at {other_path}:{other_line}")


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([1, 2, 3, 64]), st.sampled_from([4, 16, 512]),
       st.sampled_from([1, 8, 512]))
@example(0, 64, 512, 512)
@example(0, 64, 4, 8)
def test_duplicate_index_one_pass_buckets_equal_search_then_add(seed, max_bucket, sig_bits, word_bits):
    """Near-duplicate search with singleton buckets as ints, one pass, the signature pre-check and
    the word-bits bound == the two-pass lists without them (small SIG_BITS / WORD_BITS: many
    bit collisions, in one sketch or text too)."""
    from babyctl.validate.rules import duplicates as d

    rng = random.Random(seed)
    words = WORDS[: rng.randint(3, len(WORDS))]
    base = [" ".join(rng.choices(words, k=rng.randint(4, 14))) for _ in range(8)]
    exs = []
    for i in range(150):
        text = rng.choice(base) if rng.random() < 0.5 else " ".join(rng.choices(words, k=rng.randint(4, 14)))
        if rng.random() < 0.5:
            w = text.split()
            w[rng.randrange(len(w))] = rng.choice(words)
            text = " ".join(w)
        exs.append(Example("p", i + 1, "", [("user", "q " + str(i % 3)), ("assistant", text)], None, frozenset()))
    old_max, old_bits, old_words = d.MAX_BUCKET, d.SIG_BITS, d.WORD_BITS
    try:
        d.MAX_BUCKET, d.SIG_BITS, d.WORD_BITS = max_bucket, sig_bits, word_bits
        fast, ref = d.DuplicateIndex(threshold=0.8), d.DuplicateIndex(threshold=0.8)
        ref._near = _reference_near.__get__(ref)
        got = [fast.add(e) for e in exs]
        want = [ref.add(e) for e in exs]
    finally:
        d.MAX_BUCKET, d.SIG_BITS, d.WORD_BITS = old_max, old_bits, old_words
    assert got == want
    if (seed, max_bucket) == (0, 64):  # the explicit examples: these have near hits
        assert sum(h.code == "BC402" for hs in want for h in hs) > 5


def test_no_memfd_or_no_fork_gives_the_same_findings(tmp_path, monkeypatch):
    """Without memfd the child writes to an unlinked temporary file; without fork, one process."""
    _, one = one_process_reference(tmp_path, monkeypatch, 300, seed=11)
    set_mode(monkeypatch, "bytes")

    def no_memfd(*a):
        raise OSError("no memfd here")

    monkeypatch.setattr(parallel.os, "memfd_create", no_memfd, raising=False)
    assert findings(MIXED) == one

    def no_fork():
        raise OSError("no fork here")

    monkeypatch.setattr(parallel.os, "fork", no_fork)
    assert findings(MIXED) == one



_JSON_LEAF = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) | st.sampled_from(
    ["", "x", "user", "assistant", "system", "tool", "a b", "ok-1", "bad id", "2026-01-02", "2026-13-40", "BC201"])
_JSON = st.recursive(_JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["role", "content", "x"]), inner, max_size=3), max_leaves=6)
# per field: values a strict model and a lax one (or a missing default) would treat differently
_MESSAGE = st.fixed_dictionaries({}, optional={
    "role": st.sampled_from(["user", "assistant", "system", "tool", "User", 3, None]),
    "content": st.sampled_from(["hi", "", "a\u0085b", 1, 1.5, True, None, b"x".hex()]) | _JSON,
    "name": _JSON}) | _JSON
_META = st.fixed_dictionaries({}, optional={
    "id": st.sampled_from(["ex-1", "ok.2_b", "bad id", "", "-x", "a" * 129, 5, None]) | _JSON,
    "module": st.sampled_from(["m", 1, None, True]), "author": _JSON, "source": _JSON,
    "created": st.sampled_from(["2026-01-02", "2026-1-2", "2026-02-30", "today", 0, 1, 86400, 1.0, None,
                                "2026-01-02T00:00:00"]),
    "tags": st.lists(st.sampled_from(["t", 1, None]), max_size=2) | _JSON,
    "lint_ignore": st.lists(st.sampled_from(["BC201", "BC999", 5]), max_size=2) | st.sampled_from(["BC201", None]),
    "date": _JSON, "extra": _JSON}) | _JSON


@settings(max_examples=600, deadline=None)
@given(st.fixed_dictionaries({"messages": st.lists(_MESSAGE, max_size=3) | _JSON},
                             optional={"metadata": _META, "other": _JSON}) | _JSON)
@example({"messages": [{"role": "user", "content": "q"}], "metadata": {"id": "a", "x": 1, "created": "2026-01-02"}})
@example({"messages": [{"role": "user", "content": "q"}], "metadata": {"created": 0}})  # lax would take it
@example({"messages": [{"role": "user", "content": "q", "name": "n"}]})  # extra key in a strict model
def test_dict_validator_accepts_what_the_model_accepts_and_gives_its_data(doc):
    """The model's own validator and the derived dict validator agree on every document."""
    from pydantic import ValidationError

    from babyctl.schemas.curriculum import CurriculumExample
    from babyctl.validate.rules.schema import dict_validator

    text = json.dumps(doc)
    try:
        model = CurriculumExample.model_validate_json(text)
    except ValidationError:
        model = None
    try:
        data = dict_validator(CurriculumExample).validate_json(text)
    except ValidationError:
        data = None
    assert (model is None) == (data is None)
    if model is not None:
        assert data["messages"] == [m.__dict__ for m in model.messages]
        md = model.metadata
        want = None if md is None else {**md.__dict__, **(md.__pydantic_extra__ or {})}
        assert data["metadata"] == want
        assert want is None or list(data["metadata"]) == list(want)  # same key order


def test_dict_validator_refuses_models_it_cannot_mirror():
    from pydantic import BaseModel, computed_field, model_validator

    from babyctl.validate.rules.schema import dict_validator

    class WithComputed(BaseModel):
        a: int

        @computed_field
        def b(self) -> int:
            return self.a

    class WithModelValidator(BaseModel):
        a: int

        @model_validator(mode="after")
        def check(self):
            return self

    class Outer(BaseModel):
        inner: WithModelValidator

    for model in (WithComputed, WithModelValidator, Outer):
        with pytest.raises(TypeError, match="not a plain fields-only model"):
            dict_validator(model)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS[:8]), min_size=1, max_size=30), st.lists(st.sampled_from(WORDS[:12]), min_size=1,
       max_size=30), st.sampled_from([1, 2, 8, 512]))
def test_word_bits_bound_holds_for_quick_ratio(a, b, bits):
    """The word-bits bound the index prunes with is never below SequenceMatcher's quick_ratio."""
    from difflib import SequenceMatcher

    from babyctl.validate.rules import duplicates as d

    old = d.WORD_BITS
    try:
        d.WORD_BITS = bits
        ba, bb = d.word_bits(a), d.word_bits(b)
    finally:
        d.WORD_BITS = old
    most = min(len(b) - (bb & ~ba).bit_count(), len(a) - (ba & ~bb).bit_count())
    q = SequenceMatcher(None, b, a, autojunk=False).quick_ratio()
    assert 2 * most / (len(a) + len(b)) >= q - 1e-12
