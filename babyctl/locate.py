"""Map a pydantic error location (a key path) to a line and column in YAML or JSON text.

Used to report ``path:line:col`` for findings in JSON and YAML documents. YAML is
a superset of JSON for this purpose, so one composer-based walker serves both.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import yaml

# PyYAML is imported where YAML is read, not here: ``babyctl validate`` of JSONL files reads
# none, and imports this module (for :func:`locate_json`) on its start-up path (~15 ms saved)


_LOADER: type | None = None


def fast_loader() -> type:
    """libyaml's safe loader when PyYAML was built with it (10-20x faster), else the pure-Python one,
    made strict: a key given twice in one mapping is an error at the second key's line (PyYAML
    silently keeps the last value; DVC's YAML reader refuses the file).

    Every YAML document babyctl reads (params.yaml, stimuli, ...) goes through this loader."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        _LOADER = type("StrictSafeLoader", (base,), {"construct_mapping": _construct_mapping_once,
                                                     "construct_object": _construct_object_or_error})
    return _LOADER


def _construct_object_or_error(self, node, deep=False):
    """``construct_object``, with a scalar Python cannot build -- an integer over 4300 digits, a
    timestamp on 2026-13-40 -- an error at its line instead of a ``ValueError`` escaping the loader."""
    import yaml

    try:
        return yaml.SafeLoader.construct_object(self, node, deep=deep)
    except yaml.YAMLError:
        raise
    except (ValueError, OverflowError) as e:
        raise yaml.constructor.ConstructorError(None, None, f"invalid {node.tag.rsplit(':', 1)[-1]} value: "
                                                f"{str(e).split(';')[0]}", node.start_mark)


def _construct_mapping_once(self, node, deep=False):
    """``SafeConstructor.construct_mapping`` that refuses duplicate keys (``<<`` merges may override)."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {key!r} (first at line {first.start_mark.line + 1})", key_node.start_mark)
    return yaml.SafeLoader.construct_mapping(self, node, deep=deep)


def node_tree(text: str) -> yaml.Node | None:
    """Compose ``text`` into a YAML node tree (positions kept); None if it cannot."""
    import yaml

    try:
        return yaml.compose(text, Loader=fast_loader())
    except yaml.YAMLError:
        return None


def locate(root: yaml.Node | None, loc: Sequence[str | int]) -> tuple[int, int]:
    """1-based (line, col) of the deepest node on ``loc`` that exists.

    For a mapping key the position is the key's own; for a missing key it is the
    position of the mapping that should hold it.
    """
    if root is None:
        return (1, 1)
    import yaml

    node = root
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line, col = key.start_mark.line + 1, key.start_mark.column + 1
                    node = value
                    break
            else:
                return (line, col)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
        else:
            return (line, col)
    return (line, col)


def locate_json(text: str, loc: Sequence[str | int]) -> tuple[int, int]:
    """1-based (line, col) of the deepest key/item on ``loc`` in JSON ``text``.

    A fast path for JSON (JSONL lines, consent records): it walks the text with the
    C JSON scanner, skipping sibling values with ``raw_decode``, instead of
    composing a YAML tree. Falls back to (1, 1) -- or the deepest position reached --
    on text it cannot walk. Columns count characters, not bytes.
    """
    idx = _json_index(text, loc)
    line = text.count("\n", 0, idx) + 1
    return line, idx - (text.rfind("\n", 0, idx) + 1) + 1


_DECODER = None


def _json_index(text: str, loc: Sequence[str | int]) -> int:
    import json
    from json.decoder import scanstring

    global _DECODER
    if _DECODER is None:
        _DECODER = json.JSONDecoder()
    ws = " \t\n\r"
    n = len(text)

    def skip(i: int) -> int:
        while i < n and text[i] in ws:
            i += 1
        return i

    i = skip(0)
    if text.startswith("\ufeff", i):
        i = skip(i + 1)
    best = i
    try:
        for part in loc:
            if i >= n:
                return best
            if text[i] == "{" and isinstance(part, str):
                i = skip(i + 1)
                found = False
                while i < n and text[i] == '"':
                    key_pos = i
                    key, i = scanstring(text, i + 1)
                    i = skip(i)
                    if i >= n or text[i] != ":":
                        return best
                    i = skip(i + 1)
                    if key == part:
                        best, found = key_pos, True
                        break
                    _, i = _DECODER.raw_decode(text, i)
                    i = skip(i)
                    if i < n and text[i] == ",":
                        i = skip(i + 1)
                if not found:
                    return best
            elif text[i] == "[" and isinstance(part, int):
                i = skip(i + 1)
                for _ in range(part):
                    if i >= n or text[i] == "]":
                        return best
                    _, i = _DECODER.raw_decode(text, i)
                    i = skip(i)
                    if i < n and text[i] == ",":
                        i = skip(i + 1)
                if i >= n or text[i] == "]":
                    return best
                best = i
            else:
                return best
    except (ValueError, IndexError):
        return best
    return best
