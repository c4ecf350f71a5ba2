"""The per-line work on curriculum JSONL, in chunks that either process can do.

A chunk is a list of lines already read, or (for a big file) a :class:`ByteChunk`: a range of
whole lines of the file's bytes, which the process doing it decodes and splits itself, so the
read of a big file is shared by both processes too. Either way :func:`examine_items` /
:func:`examine_bytes` give a :data:`Result`, and :class:`LineTexts` gives any line's text back
later (for a finding's column, or the rare near-duplicate comparison) without keeping every
line decoded.
"""
from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass
from itertools import repeat

from pydantic import ValidationError

from .example import Example, Hit
from .finding import Finding
from .loader import CONTROL_RE, decode_lines, describe_char
from .rules.chat import check_turns, turns_clean
from .rules.duplicates import features as dup_features
from .rules.duplicates import features_text
from .rules.phrases import check_phrases, check_placeholders
from .rules.provenance import check_lint_ignore, check_provenance
from .rules.schema import dict_validator, validate_json_text
from .settings import Settings

#: one line's result: (line number, findings as (col, code, message, severity or None), its
#: lint_ignore codes, its duplicate-index features or None when the line has no usable example)
Record = tuple
#: one chunk's result: (lines covered, line-level findings as (line, col, code, message), records)
Result = tuple


@dataclass(frozen=True)
class ByteChunk:
    """Whole lines ``data[start:end]`` of a file. The process that examines it numbers its
    lines from 1 (counting them is part of splitting them); the consumer, taking chunks in
    file order, knows how many lines came before and adds that (so nothing counts the whole
    file's lines before the work is shared out)."""

    start: int
    end: int


def byte_chunks(data: bytes, size: int) -> list[ByteChunk]:
    """``data`` cut after a line feed about every ``size`` bytes (one C-level find a chunk)."""
    chunks, start = [], 0
    while start < len(data):
        cut = data.find(b"\n", min(start + size, len(data)) - 1)
        end = len(data) if cut < 0 else cut + 1
        chunks.append(ByteChunk(start, end))
        start = end
    return chunks


def examine_bytes(data: bytes, chunk: ByteChunk, display: str, settings: Settings,
                  known_codes: frozenset[str]) -> Result:
    """Decode, split and examine one :class:`ByteChunk` of a file (LF endings, no BOM); its
    lines are numbered from 1."""
    texts, found = decode_lines(data[chunk.start:chunk.end], display, 1)
    items, blank = jsonl_items(texts, 1, found)
    extra = [(f.line, f.col, f.code, f.message) for f in found]
    extra += [(number, 1, "BC008", "blank line") for number in blank]
    return len(texts), extra, examine(items, display, settings, known_codes)


def examine_items(items: list[tuple[int, str, bool]], display: str, settings: Settings,
                  known_codes: frozenset[str]) -> Result:
    """:func:`examine` as a chunk's :data:`Result` (lines already read and listed)."""
    return len(items), [], examine(items, display, settings, known_codes)


def jsonl_items(texts: list[str | None], first: int, found: list[Finding]) -> tuple[list, list[int]]:
    """``(number, text, the raw line had a control character)`` of each decoded line that is
    not blank, and the numbers of the blank ones. ``found``: the decoding's findings."""
    raw_ctrl = {f.line for f in found if f.code == "BC006"}
    if not raw_ctrl and None not in texts and "" not in texts and not any(map(str.isspace, texts)):
        return list(zip(range(first, first + len(texts)), texts, repeat(False))), []  # usual case, C-level
    items, blank = [], []
    for number, text in enumerate(texts, first):
        if text is None:
            continue
        if not text or text.isspace():
            blank.append(number)
            continue
        items.append((number, text, number in raw_ctrl))
    return items, blank


def examine(items: list[tuple[int, str, bool]], display: str, settings: Settings,
            known_codes: frozenset[str]) -> list[Record]:
    """Every per-line check of curriculum lines ``(number, text, raw line had a control char)``:
    schema, turns, phrasing, placeholders, provenance, lint_ignore, escaped controls, and the
    features the duplicate index needs. Depends on nothing but its arguments."""
    from ..schemas.curriculum import CurriculumExample

    out: list[Record] = []
    for number, text, had_ctrl in items:
        problems, ex = example_of(display, number, text, CurriculumExample)
        pre = [(col, code, msg, None) for (_, col, code, msg) in problems] if problems else []
        if ex is None:
            out.append((number, pre, None, None))
            continue
        hits = [] if turns_clean(ex.messages) else check_turns(ex)
        hits += check_phrases(ex, settings)
        hits += check_placeholders(ex)
        hits += check_provenance(ex)
        if ex.ignore:
            hits += check_lint_ignore(ex, known_codes)
        # a decoded string holds a control character only if the raw line does (had_ctrl,
        # reported there) or it came from a JSON \u, \b or \f escape
        if not had_ctrl and "\\" in text and ("\\u" in text or "\\b" in text or "\\f" in text):
            hits += _escaped_controls(ex)
        for h in hits:
            pre.append((ex.col(h.loc, h.needle), h.code, h.message, h.severity))
        out.append((number, pre, ex.ignore, dup_features(ex)))
    return out


def example_of(display: str, number: int, text: str, model) -> tuple[list, Example | None]:
    """Schema problems of one curriculum line (``model``: CurriculumExample), and its Example
    (None: no usable messages)."""
    try:
        obj = dict_validator(model).validate_json(text)  # the model's checks, plain dicts out
    except ValidationError:
        # the model itself, for its exact errors (it rejects what the dict validator rejects)
        problems = validate_json_text(text, model)[1]
        return problems, _best_effort_example(display, number, text)
    meta = obj["metadata"]
    ignore = frozenset(meta["lint_ignore"]) if meta is not None and meta["lint_ignore"] else _NO_CODES
    return [], Example(display, number, text, [(m["role"], m["content"]) for m in obj["messages"]], meta, ignore)


_NO_CODES: frozenset[str] = frozenset()


def duplicate_text(text: str) -> str:
    """The duplicate index's text (:func:`features_text`) of a line :func:`examine` found usable."""
    from ..schemas.curriculum import CurriculumExample

    return features_text(example_of("", 0, text, CurriculumExample)[1].messages)


def _best_effort_example(display: str, line: int, text: str) -> Example | None:
    """An Example from a schema-invalid line when its messages are still usable, else None."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
        return None
    msgs = []
    for m in obj["messages"]:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            return None
        msgs.append((m["role"], m["content"]))
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else None
    ignore = meta.get("lint_ignore") if meta else None
    ignore = frozenset(c for c in ignore if isinstance(c, str)) if isinstance(ignore, list) else frozenset()
    return Example(display, line, text, msgs, meta, ignore)


def _escaped_controls(ex: Example) -> list[Hit]:
    hits = []
    for i, (_, content) in enumerate(ex.messages):
        m = CONTROL_RE.search(content)
        if m:
            hits.append(Hit("BC006", ("messages", i, "content"),
                            f"control character {describe_char(m.group())} in messages[{i}].content"))
    return hits


class LineTexts:
    """A file's decoded lines by number: from a list already read, or from the file's bytes
    and its :class:`ByteChunk` list. Each chunk's line count is told (:meth:`counted`) in file
    order as its result is consumed; a chunk's line offsets are found on first use."""

    def __init__(self, texts: list[str | None] | None = None, data: bytes = b"",
                 chunks: list[ByteChunk] | None = None):
        self._texts = texts
        self._data = data
        self._chunks = chunks or []
        self._firsts = [1]  # first line number of each chunk counted so far, and of the next
        self._starts: dict[int, list[int]] = {}  # chunk index -> byte offset of each line

    def counted(self, lines: int) -> int:
        """The next chunk (in file order) holds ``lines`` lines; returns how many lines came
        before it."""
        before = self._firsts[-1] - 1
        self._firsts.append(before + 1 + lines)
        return before

    def __getitem__(self, number: int) -> str | None:
        if self._texts is not None:
            return self._texts[number - 1]
        i = bisect_right(self._firsts, number) - 1
        if not 0 <= i < len(self._firsts) - 1:
            raise IndexError(f"line {number} is not in a chunk counted so far")
        starts = self._starts.get(i)
        if starts is None:
            starts = self._starts[i] = _line_starts(self._data, self._chunks[i])
        k = number - self._firsts[i]
        return self._data[starts[k]:starts[k + 1] - 1].decode("utf-8")


def _line_starts(data: bytes, chunk: ByteChunk) -> list[int]:
    """Byte offset of each line of ``chunk``, then one past the end of its last line's line
    feed (there or not). A C-level find per line: no copy of the chunk (a split of a 1 MB chunk
    copies it into ~1,000 bytes objects: ~20x the time; a near-duplicate check of one line in
    a chunk is enough to need this)."""
    starts = [chunk.start]
    find, end, at = data.find, chunk.end, chunk.start
    while (at := find(b"\n", at, end) + 1) > 0:
        starts.append(at)
    if starts[-1] != end:  # the file's last line, without a line feed
        starts.append(end + 1)
    return starts
