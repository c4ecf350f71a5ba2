"""BC101/BC102: parse JSON and validate it against a pydantic model, locating every error."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ..documents import DUPLICATE_KEY_CODE, DuplicateKeyError, Problem, error_message, loads
from ..errors import InputError
from ..locate import locate_json


def json_problems(text: str) -> list[Problem]:
    """BC101 where JSON ``text`` is invalid, else BC106 for the first key that appears twice in
    one object (the models and the json module keep the last value silently), else none: the
    strict reader's verdict (:func:`babyctl.documents.loads`)."""
    try:
        loads(text)
    except DuplicateKeyError as e:
        return [Problem(e.line or 1, e.col or 1, DUPLICATE_KEY_CODE, e.message.removeprefix(DUPLICATE_KEY_CODE + " "))]
    except InputError as e:
        return [Problem(e.line or 1, e.col or 1, "BC101", e.message)]
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
        problems.append(Problem(line, col, "BC102", error_message(err)))
    return None, problems
