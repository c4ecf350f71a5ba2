"""BC103/BC104: provenance metadata on curriculum examples, and lint_ignore codes."""
from __future__ import annotations

from ...schemas.curriculum import PROVENANCE_FIELDS
from ..example import Example, Hit
from ..finding import RULES
from ..settings import Settings

#: keys seen in the wild that mean a provenance field under another name
_ALIASES = {"created": ("date", "created_at"), "author": ("authors",), "source": ("origin",)}


def check_provenance(ex: Example, settings: Settings | None = None) -> list[Hit]:
    meta = ex.metadata
    if meta is None:
        return [Hit("BC103", (), "no metadata: provenance fields " + ", ".join(PROVENANCE_FIELDS) + " missing")]
    if all(map(meta.get, PROVENANCE_FIELDS)):
        return []  # every field truthy: none is None or "" (C-level, the usual case)
    missing = [f for f in PROVENANCE_FIELDS if meta.get(f) in (None, "")]
    if not missing:
        return []
    notes = []
    for f in missing:
        for alias in _ALIASES.get(f, ()):
            if alias in meta:
                notes.append(f"found '{alias}'; the field is '{f}'")
    note = f" ({'; '.join(notes)})" if notes else ""
    return [Hit("BC103", ("metadata",), "metadata lacks provenance field(s): " + ", ".join(missing) + note)]


def check_lint_ignore(ex: Example, settings: Settings | None = None) -> list[Hit]:
    if not ex.ignore:
        return []
    known = settings.known_codes if settings is not None else set(RULES)
    unknown = [c for c in sorted(ex.ignore) if c not in known]
    if not unknown:
        return []
    return [Hit("BC104", ("metadata", "lint_ignore"), "lint_ignore names unknown rule code(s): " + ", ".join(unknown))]
