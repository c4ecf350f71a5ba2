"""BC201-BC203: ChatML turn order and empty turns.

Valid: an optional leading ``system`` turn, then ``user`` and ``assistant``
alternating (starting with ``user``), ending on ``assistant``; no empty content.
"""
from __future__ import annotations

from ..example import Example, Hit


def check_turns(ex: Example) -> list[Hit]:
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


#: role sequences known to be in order (filled as they are met; few distinct ones occur)
_ORDERED: dict[tuple, bool] = {}


def turns_clean(msgs: list[tuple[str, str]]) -> bool:
    """True only when :func:`check_turns` finds nothing: the roles, as a tuple, are a sequence
    in order (looked up, computed once per distinct sequence) and no content is empty or blank."""
    if not msgs:
        return True  # no turns: check_turns finds nothing (the schema rule reports it)
    roles, contents = zip(*msgs)  # C-level: the roles and the contents, as tuples
    ok = _ORDERED.get(roles)
    if ok is None:
        if len(_ORDERED) > 1024:
            _ORDERED.clear()
        ok = _ORDERED[roles] = not check_turns(_Roles([(r, "x") for r in roles]))
    return ok and all(contents) and not any(map(str.isspace, contents))


class _Roles:
    """Just enough of an Example for :func:`check_turns`."""

    __slots__ = ("messages",)

    def __init__(self, messages):
        self.messages = messages
