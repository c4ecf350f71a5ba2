"""BC101/BC102: parse JSON and validate it against a pydantic model, locating every error."""
from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from ..locate import locate, locate_json, node_tree


class Problem(NamedTuple):
    """A document's problem at ``line:col`` of the text validated (line 1 = its first line)."""

    line: int
    col: int
    code: str
    message: str


def _loc_str(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(document)"


def _message(err: dict) -> str:
    msg = err["msg"]
    if err["type"] == "missing":
        return f"{_loc_str(err['loc'])}: required field missing"
    if err["type"] == "extra_forbidden":
        return f"{_loc_str(err['loc'])}: unknown field (not in the schema)"
    inp = err.get("input")
    shown = ""
    if isinstance(inp, (str, int, float, bool)) or inp is None:
        r = repr(inp)
        shown = f" (got {r[:60] + '...' if len(r) > 60 else r})"
    return f"{_loc_str(err['loc'])}: {msg}{shown}"


def json_problems(text: str) -> list[Problem]:
    """BC101 where JSON ``text`` is invalid, else BC106 for the first key that appears twice in
    one object (the models and the json module keep the last value silently), else none: the
    strict reader's verdict (:func:`babyctl.documents.loads`)."""
    from ..documents import DUPLICATE_KEY_CODE, loads
    from ..errors import InputError

    try:
        loads(text)
    except InputError as e:
        code, _, message = e.message.partition(" ")
        if code != DUPLICATE_KEY_CODE:
            code, message = "BC101", e.message
        return [Problem(e.line or 1, e.col or 1, code, message)]
    return []


def validate_json_text(text: str, model: type[BaseModel]) -> tuple[Any | None, list[Problem]]:
    """Validate JSON ``text`` (one JSONL line or a whole document) against ``model``, and look
    for duplicate keys (BC106).

    Returns ``(model_instance_or_None, problems)``, each located in ``text``.
    Never raises for bad input.
    """
    try:
        return model.model_validate_json(text), json_problems(text)
    except ValidationError as e:
        errors = e.errors(include_url=False)
    problems = json_problems(text)
    if any(err["type"] == "json_invalid" for err in errors):
        return None, [p for p in problems if p.code == "BC101"] or [
            Problem(1, 1, "BC101", "invalid JSON: " + errors[0]["msg"])]
    for err in errors:
        line, col = locate_json(text, err["loc"])
        problems.append(Problem(line, col, "BC102", _message(err)))
    return None, problems


def validate_yaml_data(text: str, data: Any, model: type[BaseModel]) -> tuple[Any | None, list[Problem]]:
    """Validate already-loaded YAML ``data`` against ``model``; problems located in ``text``."""
    try:
        return model.model_validate(data), []
    except ValidationError as e:
        tree = node_tree(text)
        out = []
        for err in e.errors(include_url=False):
            line, col = locate(tree, err["loc"])
            out.append(Problem(line, col, "BC701", _message(err)))
        return None, out

