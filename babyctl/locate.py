"""Map a pydantic error location (a key path) to a line and column in YAML or JSON text.

Used to report ``path:line:col`` for findings in JSON and YAML documents. YAML is
a superset of JSON for this purpose, so one composer-based walker serves both.
"""
from __future__ import annotations

from typing import Sequence

import yaml


def node_tree(text: str) -> yaml.Node | None:
    """Compose ``text`` into a YAML node tree (positions kept); None if it cannot."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def locate(root: yaml.Node | None, loc: Sequence[str | int]) -> tuple[int, int]:
    """1-based (line, col) of the deepest node on ``loc`` that exists.

    For a mapping key the position is the key's own; for a missing key it is the
    position of the mapping that should hold it.
    """
    if root is None:
        return (1, 1)
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
