"""BC201-BC203: ChatML turn order and empty turns; BC006 for control characters from JSON escapes.

Valid: an optional leading ``system`` turn, then ``user`` and ``assistant``
alternating (starting with ``user``), ending on ``assistant``; no empty content.
"""
from __future__ import annotations

from ..example import Example, Hit
from ..loader import CONTROL_RE, describe_char
from ..settings import Settings


def check_turns(ex: Example, settings: Settings | None = None) -> list[Hit]:
    hits: list[Hit] = []
    msgs = ex.messages
    for i, (role, content) in enumerate(msgs):
        if not content or content.isspace():  # == not content.strip(), without a copy
            hits.append(Hit("BC203", ("messages", i, "content"), f"messages[{i}] ({role}) has empty content"))
    start = 1 if msgs and msgs[0][0] == "system" else 0
    expected = "user"
    for i in range(start, len(msgs)):
        role = msgs[i][0]
        if role != expected:
            if role == "system":
                why = "a system turn is only allowed first"
            elif i == start:
                why = f"the first non-system turn must be user, not {role}"
            else:
                why = f"two {role} turns in a row"
            hits.append(Hit("BC201", ("messages", i, "role"), f"turn order: messages[{i}] is {role}: {why}"))
            break
        expected = "assistant" if role == "user" else "user"
    if msgs and msgs[-1][0] != "assistant":
        hits.append(Hit("BC202", ("messages", len(msgs) - 1, "role"),
                        f"the conversation ends on a {msgs[-1][0]} turn, not assistant"))
    return hits


def check_escaped_controls(ex: Example, settings: Settings | None = None) -> list[Hit]:
    """BC006 in decoded strings: a control character from a JSON escape (``\\u0007``, ``\\b``,
    ``\\f``). One in the raw line is reported by the loader, once."""
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
