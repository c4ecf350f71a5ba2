"""Reading input files into text, JSON values or typed documents, with errors that name the file and line.

One place for "the file is missing / unreadable / not UTF-8 / not JSON / has a duplicate key /
does not match its model", so that every loader (params, consent records, reviews, stimuli,
build inputs and outputs, eval rows, migrate) reports alike. ``babyctl validate`` has its own
reader (it collects findings instead of stopping at the first error) and uses the same codes.

**JSON is strict.** Every JSON and JSONL reader here rejects a key that appears twice in one
object -- the json module would keep the last one silently, so a second ``"decision"`` or
``"content"`` could hide the first -- with :data:`DUPLICATE_KEY_CODE` and ``file:line:col`` of
the second occurrence.

**The JSONL blank-line policy** (one for every reader): a file is split on ``\\n`` only (a
``\\r`` before it is dropped; U+2028 and other Unicode line breaks are *inside* a line, as JSON
allows); a line that is empty or only whitespace is skipped; line numbers count every line,
skipped ones included, so ``file:line`` always points at the real line. The last line may lack
its ``\\n``. ``babyctl validate`` warns about blank lines (BC008); nothing else complains.
"""
from __future__ import annotations

import json
import stat
from json.decoder import scanstring
from pathlib import Path
from typing import Any, Iterator, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import InputError
from .locate import locate, node_tree

M = TypeVar("M", bound=BaseModel)

#: the finding code of a duplicate JSON key (validate uses the same one)
DUPLICATE_KEY_CODE = "BC106"


class Problem(NamedTuple):
    """A document's problem at ``line:col`` of the text read (line 1 = its first line), with
    validate's rule code, for readers that report every problem instead of raising."""

    line: int
    col: int
    code: str
    message: str


def error_message(err: dict) -> str:
    """One pydantic error as ``key.path: what`` (with the value given, when short)."""
    where = ".".join(str(p) for p in err["loc"]) or "(document)"
    if err["type"] == "missing":
        return f"{where}: required field missing"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown field (not in the schema)"
    inp = err.get("input")
    shown = ""
    if isinstance(inp, (str, int, float, bool)) or inp is None:
        r = repr(inp)
        shown = f" (got {r[:60] + '...' if len(r) > 60 else r})"
    return f"{where}: {err['msg']}{shown}"


def read_bytes(path: str | Path, what: str, hint: str = "",
               error: type[InputError] = InputError) -> bytes:
    """The file's bytes; ``error`` naming ``what`` (and ``hint``) when it cannot be read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # /dev/zero would be read forever, a pipe block
            raise error(f"cannot read {what}: not a regular file (a device, pipe or socket)", path=path)
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found{hint}", path=path)
    except OSError as e:
        raise error(f"cannot read {what}: {e.strerror or e}", path=path)


def decode(raw: bytes, path: str | Path, what: str, error: type[InputError] = InputError) -> str:
    """``raw`` as UTF-8; invalid bytes raise ``error`` naming the line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise error(f"cannot read {what}: invalid UTF-8 byte 0x{raw[e.start]:02x}", path=path, line=line)


def read_text(path: str | Path, what: str, hint: str = "",
              error: type[InputError] = InputError) -> str:
    """The file decoded as UTF-8; errors as :func:`read_bytes`, plus invalid UTF-8 (with its line)."""
    return decode(read_bytes(path, what, hint, error), path, what, error)


# --- strict JSON -----------------------------------------------------------------------------
class _DuplicateKey(ValueError):
    pass


class DuplicateKeyError(InputError):
    """A JSON object holds one key twice (message: ``BC106 duplicate key ...``)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey()
    return obj


def find_duplicate_key(text: str) -> tuple[int, str, int] | None:
    """(offset, key, offset of its first occurrence) of the first key that repeats within one
    object of JSON ``text``, or None.

    Only called once a duplicate is known to exist, so it may be a plain character walk.
    """
    stack: list[dict | None] = []  # a dict per open object ({"keys": {key: offset}, "expect": bool}), None per array
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            try:
                s, j = scanstring(text, i + 1)
            except ValueError:
                return None
            frame = stack[-1] if stack else None
            if frame is not None and frame["expect"]:
                if s in frame["keys"]:
                    return i, s, frame["keys"][s]
                frame["keys"][s] = i
                frame["expect"] = False
            i = j
            continue
        if c == "{":
            stack.append({"keys": {}, "expect": True})
        elif c == "[":
            stack.append(None)
        elif c in "]}":
            if stack:
                stack.pop()
        elif c == "," and stack and stack[-1] is not None:
            stack[-1]["expect"] = True
        i += 1
    return None


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset``; columns count characters."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def loads(text: str | bytes, path: str | Path | None = None, *, line: int = 1, what: str = "JSON") -> Any:
    """``json.loads`` that rejects duplicate keys; errors are :class:`InputError` at ``path:line:col``.

    ``line`` is the file line ``text`` starts on (a JSONL line's number).
    """
    if isinstance(text, bytes):
        text = decode(text, path or "<bytes>", what)
    try:
        try:
            return json.loads(text, object_pairs_hook=_unique_keys)
        except _DuplicateKey:
            json.loads(text)  # a syntax error anywhere is reported before a duplicate key
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", path=path, line=line + e.lineno - 1, col=e.colno)
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", path=path, line=line)
    except ValueError as e:  # an integer longer than Python converts (sys.get_int_max_str_digits())
        raise InputError(f"invalid JSON: {str(e).split(';')[0]}", path=path, line=line)
    offset, key, first = find_duplicate_key(text) or (0, "?", 0)
    (ln, col), (ln0, col0) = _position(text, offset), _position(text, first)
    where = f"col {col0}" if ln0 == ln else f"line {line + ln0 - 1}, col {col0}"
    raise DuplicateKeyError(f"{DUPLICATE_KEY_CODE} duplicate key {json.dumps(key)} (first at {where}); JSON "
                            "readers would keep the last value", path=path, line=line + ln - 1, col=col)


def read_json(path: str | Path, what: str, hint: str = "", error: type[InputError] = InputError) -> Any:
    """The strict JSON value of a file (see :func:`loads`)."""
    return loads(read_text(path, what, hint, error), path, what=what)


# --- JSONL -----------------------------------------------------------------------------------
def jsonl_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of each non-blank line: the one blank-line policy (module docstring)."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip():
            yield number, line


def parse_jsonl(text: str, path: str | Path | None, what: str = "JSONL line",
                *, objects: bool = True) -> Iterator[tuple[int, str, Any]]:
    """(line number, line text, value) per non-blank line; strict JSON; ``objects``: each must be one."""
    for number, line in jsonl_lines(text):
        value = loads(line, path, line=number, what=what)
        if objects and not isinstance(value, dict):
            raise InputError(f"invalid {what}: not a JSON object", path=path, line=number)
        yield number, line, value


def read_jsonl(path: str | Path, what: str, hint: str = "", *, objects: bool = True,
               error: type[InputError] = InputError) -> list[tuple[int, Any]]:
    """(line number, value) of every non-blank line of a JSONL file."""
    text = read_text(path, what, hint, error)
    return [(number, value) for number, _, value in parse_jsonl(text, path, what, objects=objects)]


def model_error(e: ValidationError, what: str, path: str | Path | None, line: int | None = None,
                text: str | None = None, hint: str = "") -> InputError:
    """The first pydantic error as an :class:`InputError`; located in ``text`` when given."""
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(document)"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    if text is not None and line is None:
        line, _ = locate(node_tree(text), err["loc"])
    return InputError(f"invalid {what}: {where}: {err['msg']}{more}{hint}", path=path, line=line)


def read_jsonl_models(path: str | Path, model: type[M], what: str, hint: str = "",
                      text: str | None = None) -> list[tuple[int, str, M]]:
    """(line number, line text, model) per non-blank line of a JSONL file of ``model`` documents.

    Each line is decoded strictly (duplicate keys refused) and validated in pydantic's JSON mode
    (so ISO dates parse under strict models).
    """
    if text is None:
        text = read_text(path, what, hint)
    out = []
    for number, line, _ in parse_jsonl(text, path, what):
        try:
            out.append((number, line, model.model_validate_json(line)))
        except ValidationError as e:
            raise model_error(e, what, path, number)
    return out


def parse_json_model(raw: bytes | str, model: type[M], path: str | Path, what: str, hint: str = "") -> M:
    """Validate one JSON document (strict: duplicate keys refused); the first error names its line."""
    text = decode(raw, path, what) if isinstance(raw, bytes) else raw
    loads(text, path, what=what)
    try:
        return model.model_validate_json(text)
    except ValidationError as e:
        raise model_error(e, what, path, text=text, hint=hint)
