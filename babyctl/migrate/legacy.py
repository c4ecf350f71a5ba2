"""Legacy files read leniently, in one place: the stimulus layout (for ``babyctl validate`` and
``babyctl migrate``) and JSONL whose broken lines a migration skips."""
from __future__ import annotations

import json
import re
from typing import Iterator

from ..documents import jsonl_lines


def json_objects(text: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each JSONL line of ``text`` that is a JSON object; other lines
    (not JSON, nested too deeply, not an object) are skipped: legacy input is read, not judged."""
    for no, line in jsonl_lines(text):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            yield no, obj


def legacy_items(text: str) -> list[tuple[str, int | None, dict]]:
    """(id, line, item) of each item of a legacy stimulus file: a JSON list of items, or
    ``{"items": [...]}``. An item's line is that of its ``"id"`` (the n-th item with an id, the
    n-th such line; None where it cannot be told). Text that is not such a list gives ``[]``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return []
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return []
    lines: dict[str, list[int]] = {}
    for no, ln in enumerate(text.splitlines(), 1):
        for m in re.finditer(r'"id"\s*:\s*"([^"]*)"', ln):
            lines.setdefault(m.group(1), []).append(no)
    seen: dict[str, int] = {}
    out = []
    for it in items:
        if isinstance(it, dict):
            i = str(it.get("id"))
            k = seen[i] = seen.get(i, -1) + 1
            found = lines.get(i, [])
            out.append((i, found[k] if k < len(found) else None, it))
    return out
