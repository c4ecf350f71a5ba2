"""Append-only JSONL files that survive interruption.

A run appends finished rows to ``<name>.partial`` (flush + fsync per batch). When
every row is there, the rows are written to ``<name>`` atomically (in the order
asked for) and the partial file is removed. A restart reuses every finished row
whose *fingerprint* (the settings that made it) matches the current one, so an
interrupted run never redoes finished work. Rows made with other settings are
not deleted: a partial file holding them is moved aside to
``<name>.partial.stale-<UTC time>``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from ..documents import parse_jsonl
from ..errors import InputError
from ..fsutil import append_text, atomic_write_text
from ..secrets import scrub  # credentials never reach a stored row
from ..provenance import utc_now


def _read_rows(path: Path, *, repair_tail: bool) -> list[dict]:
    """Rows of a JSONL file. A last line cut short by a crash is dropped (and cut off the
    file when ``repair_tail``); any other bad line is an error naming file and line."""
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        data = data[:cut]
        if repair_tail:
            with open(path, "r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
    try:
        return [row for _, _, row in parse_jsonl(data.decode("utf-8", errors="replace"), path, "row")]
    except InputError as e:
        raise InputError(f"corrupt row: {e.message} (delete the file to start over)", path=path,
                         line=e.line, col=e.col)


def row_key(row: dict, key: str | tuple[str, ...]):
    """A row's key: one field's value, or a tuple of several (e.g. stimulus id and repeat)."""
    return row[key] if isinstance(key, str) else tuple(row.get(k) for k in key)


class ResumableJsonl:
    """Rows keyed by ``key`` (e.g. ``stimulus_id``, or ``("stimulus_id", "repeat")``), each
    carrying a ``fingerprint`` field."""

    def __init__(self, final: str | Path, *, key: str | tuple[str, ...], fingerprint: str):
        self.final = Path(final)
        self.partial = self.final.with_name(self.final.name + ".partial")
        self.key = key
        self.fingerprint = fingerprint
        self.stale: Path | None = None

    def load_done(self) -> dict:
        """Finished rows with a matching fingerprint, by key (final file first, then partial)."""
        done: dict[str, dict] = {}
        for row in _read_rows(self.final, repair_tail=False):
            if row.get("fingerprint") == self.fingerprint:
                done[row_key(row, self.key)] = row
        partial_rows = _read_rows(self.partial, repair_tail=True)
        if any(r.get("fingerprint") != self.fingerprint for r in partial_rows):
            stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
            self.stale = self.partial.with_name(f"{self.partial.name}.stale-{stamp}")
            os.replace(self.partial, self.stale)
            partial_rows = [r for r in partial_rows if r.get("fingerprint") == self.fingerprint]
            if partial_rows:  # keep the matching ones in a fresh partial file
                self.append(partial_rows)
        for row in partial_rows:
            done[row_key(row, self.key)] = row
        return done

    def append(self, rows: Iterable[dict]) -> None:
        """Append rows durably (flush + fsync)."""
        text = "".join(json.dumps(scrub(r), ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
        if not text:
            return
        append_text(self.partial, text)  # an OSError (disk full) names the file

    def finish(self, rows_in_order: list[dict]) -> Path:
        """Write the final file atomically and remove the partial one."""
        text = "".join(json.dumps(scrub(r), ensure_ascii=False, sort_keys=True) + "\n" for r in rows_in_order)
        atomic_write_text(self.final, text)
        if self.partial.exists():
            self.partial.unlink()
        return self.final
