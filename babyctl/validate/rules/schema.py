"""BC101/BC102: parse JSON and validate it against a pydantic model, locating every error."""
from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from ...locate import locate, locate_json, node_tree


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


def validate_json_text(text: str, model: type[BaseModel]) -> tuple[Any | None, list[tuple[int, int, str, str]]]:
    """Validate JSON ``text`` (one JSONL line or a whole document) against ``model``.

    Returns ``(model_instance_or_None, problems)``; each problem is
    ``(line, col, code, message)`` relative to ``text`` (line 1 = its first line).
    Never raises for bad input.
    """
    try:
        return model.model_validate_json(text), []
    except ValidationError as e:
        errors = e.errors(include_url=False)
    if any(err["type"] == "json_invalid" for err in errors):
        try:
            json.loads(text)
        except json.JSONDecodeError as je:
            return None, [(je.lineno, je.colno, "BC101", f"invalid JSON: {je.msg}")]
        except RecursionError:
            return None, [(1, 1, "BC101", "invalid JSON: nested too deeply")]
        return None, [(1, 1, "BC101", "invalid JSON: " + errors[0]["msg"])]
    problems = []
    for err in errors:
        line, col = locate_json(text, err["loc"])
        problems.append((line, col, "BC102", _message(err)))
    return None, problems


def validate_yaml_data(text: str, data: Any, model: type[BaseModel]) -> tuple[Any | None, list[tuple[int, int, str, str]]]:
    """Validate already-loaded YAML ``data`` against ``model``; problems located in ``text``."""
    try:
        return model.model_validate(data), []
    except ValidationError as e:
        tree = node_tree(text)
        out = []
        for err in e.errors(include_url=False):
            line, col = locate(tree, err["loc"])
            out.append((line, col, "BC701", _message(err)))
        return None, out


@cache
def dict_validator(model: type[BaseModel]):
    """A validator that accepts exactly what ``model`` accepts but gives plain data: each
    model (``model`` and the models in its fields) becomes a dict of its fields (defaults
    filled in, extra keys after them), as ``{**m.__dict__, **m.__pydantic_extra__}`` would.

    It is derived from the model's own core schema (each ``model`` node replaced by the
    equivalent ``typed-dict`` node: same fields, same config), so it cannot drift from the
    model, and it skips building model instances: ~1.5x faster per curriculum line. Its
    *errors* are not the model's (wording, for a non-object where a model was expected): on
    failure, validate with the model itself (:func:`validate_json_text`). Raises TypeError for
    a model it cannot mirror (computed fields, model validators, custom ``__init__``, post-init,
    root models: each needs a model instance)."""
    from pydantic_core import SchemaValidator

    return SchemaValidator(_typed_dicts(model.__pydantic_core_schema__))


def _typed_dicts(node):
    """``node`` with each ``model`` node replaced by a ``typed-dict`` node with the same config
    (which carries strictness and extra behaviour down to the fields' validators)."""
    if isinstance(node, list):
        return [_typed_dicts(v) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") != "model":
        return {k: _typed_dicts(v) for k, v in node.items()}
    fields = node["schema"]
    cls = node.get("cls")
    decorators = getattr(cls, "__pydantic_decorators__", None)
    if fields.get("type") != "model-fields" or fields.get("computed_fields") or node.get("custom_init") \
            or node.get("post_init") or node.get("root_model") or (decorators and decorators.model_validators):
        raise TypeError(f"dict_validator: {cls} is not a plain fields-only model")
    config = node.get("config", {})
    return {"type": "typed-dict", "config": config,
            "fields": {name: {"type": "typed-dict-field", "schema": _typed_dicts(f["schema"]),
                              "required": f["schema"].get("type") != "default"}
                       for name, f in fields["fields"].items()}}
