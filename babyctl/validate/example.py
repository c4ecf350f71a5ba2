"""One parsed curriculum line, as the example rules see it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..locate import locate_json


class Hit(NamedTuple):
    """A rule's raw result: where in the example (a key path), what, and optional overrides.

    ``needle`` is the matched text: when given, the column is that text's position in
    the raw line (searched from the key's column), not the key's.
    """

    code: str
    loc: tuple
    message: str
    severity: str | None = None
    needle: str | None = None


@dataclass(slots=True)
class Example:
    path: str
    line: int
    raw: str
    messages: list[tuple[str, str]]
    metadata: dict | None
    ignore: frozenset[str]

    def col(self, loc: tuple, needle: str | None = None) -> int:
        """1-based column of ``loc`` (or of ``needle`` at/after it) in the raw line."""
        return col_of(self.raw, loc, needle)


def col_of(raw: str, loc: tuple, needle: str | None = None) -> int:
    """1-based column of ``loc`` (or of ``needle`` at/after it) in the raw JSONL line ``raw``."""
    _, col = locate_json(raw, loc)
    if needle:
        import json

        enc = json.dumps(needle, ensure_ascii=False)[1:-1]
        pos = raw.find(enc, col - 1)
        if pos >= 0:
            return pos + 1
    return col
