"""One curriculum line as the example rules see it (:class:`Example`), what a rule returns
(:class:`Hit`), and :func:`parse_example`: the line through the pydantic model, once."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import ValidationError

from ..locate import locate_json
from .schema import Problem, json_problems, validate_json_text


class Hit(NamedTuple):
    """A rule's result: where in the document (a key path), what, and optional overrides.

    ``needle`` is the matched text: when given, the column is that text's position in the
    raw line (searched from the key's column), not the key's. ``nth``: which occurrence of the
    needle (0 = the first), so a repeated hit gets its own column. ``severity`` None: the rule's
    default (:data:`~babyctl.validate.finding.RULES`)."""

    code: str
    loc: tuple
    message: str
    severity: str | None = None
    needle: str | None = None
    nth: int = 0


@dataclass(slots=True)
class Example:
    """A curriculum line whose messages are usable (it may still have schema problems)."""

    path: str
    line: int
    raw: str
    messages: list[tuple[str, str]]  # (role, content)
    metadata: dict | None
    ignore: frozenset[str]  # metadata.lint_ignore
    raw_control: bool = False  # the raw line holds a control character (reported as BC006 already)


def col_of(raw: str, loc: tuple, needle: str | None = None, nth: int = 0) -> int:
    """1-based column of ``loc`` (or of the ``nth`` occurrence of ``needle`` at/after it) in the
    raw JSONL line ``raw``."""
    _, col = locate_json(raw, loc)
    if needle:
        enc = json.dumps(needle, ensure_ascii=False)[1:-1]
        pos = raw.find(enc, col - 1)
        for _ in range(nth):
            if pos < 0:
                break
            pos = raw.find(enc, pos + len(enc))
        if pos >= 0:
            return pos + 1
    return col


def parse_example(path: str, number: int, text: str, raw_control: bool = False) -> tuple[list[Problem], Example | None]:
    """Schema problems of one curriculum line (the :class:`~babyctl.schemas.CurriculumExample`
    model, the one validator), and its :class:`Example` (None: no usable messages)."""
    from ..schemas.curriculum import CurriculumExample

    try:
        obj = CurriculumExample.model_validate_json(text)
    except ValidationError:
        problems = validate_json_text(text, CurriculumExample)[1]
        return problems, _best_effort_example(path, number, text, raw_control)
    problems = json_problems(text)
    meta = None
    ignore = frozenset()
    if obj.metadata is not None:
        meta = {**obj.metadata.__dict__, **(obj.metadata.__pydantic_extra__ or {})}
        if meta["lint_ignore"]:
            ignore = frozenset(meta["lint_ignore"])
    return problems, Example(path, number, text, [(m.role, m.content) for m in obj.messages], meta, ignore, raw_control)


def _best_effort_example(path: str, line: int, text: str, raw_control: bool) -> Example | None:
    """An Example from a schema-invalid line when its messages are still usable, else None."""
    try:
        obj = json.loads(text)
        msgs = [(m["role"], m["content"]) for m in obj["messages"]]
    except (ValueError, RecursionError, TypeError, KeyError):  # not an object with a list of turns
        return None
    if not all(isinstance(r, str) and isinstance(c, str) for r, c in msgs):
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else None
    ignore = meta.get("lint_ignore") if meta else None
    ignore = frozenset(c for c in ignore if isinstance(c, str)) if isinstance(ignore, list) else frozenset()
    return Example(path, line, text, msgs, meta, ignore, raw_control)
