"""BC006 in decoded strings: a control character that came from a JSON escape (``\\u0007``,
``\\b``, ``\\f``). One in the raw line is reported by the loader, once."""
from __future__ import annotations

from ..example import Example, Hit
from ..loader import CONTROL_RE, describe_char
from ..settings import Settings


def check_escaped_controls(ex: Example, settings: Settings | None = None) -> list[Hit]:
    text = ex.raw
    if ex.raw_control or "\\" not in text or not ("\\u" in text or "\\b" in text or "\\f" in text):
        return []
    hits = []
    for i, (_, content) in enumerate(ex.messages):
        m = CONTROL_RE.search(content)
        if m:
            hits.append(Hit("BC006", ("messages", i, "content"),
                            f"control character {describe_char(m.group())} in messages[{i}].content"))
    return hits
