"""Reading input files into text or typed documents, with errors that name the file and line.

One place for "the file is missing / unreadable / not UTF-8 / does not match its model", so
that every loader (params, consent records, reviews, stimuli, build outputs) reports alike.
"""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import InputError
from .locate import locate, node_tree

M = TypeVar("M", bound=BaseModel)


def read_bytes(path: str | Path, what: str, hint: str = "",
               error: type[InputError] = InputError) -> bytes:
    """The file's bytes; ``error`` naming ``what`` (and ``hint``) when it cannot be read."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found{hint}", path=path)
    except OSError as e:
        raise error(f"cannot read {what}: {e.strerror or e}", path=path)


def read_text(path: str | Path, what: str, hint: str = "",
              error: type[InputError] = InputError) -> str:
    """The file decoded as UTF-8; errors as :func:`read_bytes`, plus invalid UTF-8 (with its line)."""
    raw = read_bytes(path, what, hint, error)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise error(f"cannot read {what}: invalid UTF-8 byte 0x{raw[e.start]:02x}", path=path, line=line)


def parse_json_model(raw: bytes | str, model: type[M], path: str | Path, what: str, hint: str = "") -> M:
    """Validate one JSON document; the first error names the offending key's line."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        err = e.errors()[0]
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        line, _ = locate(node_tree(text), err["loc"])
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        raise InputError(f"invalid {what}: {where}: {err['msg']}{hint}", path=path, line=line)
