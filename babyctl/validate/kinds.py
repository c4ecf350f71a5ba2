"""Tell what a file is -- curriculum, consent record, review record, stimulus bank, params --
from its place in the experiment and, failing that, its content."""
from __future__ import annotations

import json
import os
from pathlib import Path

CURRICULUM, CONSENT, STIMULI, PARAMS, UNKNOWN = "curriculum", "consent", "stimuli", "params", "unknown"
REVIEW = "review"
#: suffixes validate looks at when it walks a folder
SUFFIXES = (".jsonl", ".json")
PARAMS_NAMES = ("params.yaml", "params.yml")
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".dvc", ".pytest_cache"}


def by_place(path: Path, dirs: dict[str, str]) -> str | None:
    """Kind from the nearest parent folder named like a declared data folder.

    ``dirs`` maps folder name -> kind, e.g. ``{"curriculum": "curriculum"}``.
    """
    if path.name in PARAMS_NAMES:
        return PARAMS
    for parent in reversed(path.parent.parts):
        kind = dirs.get(parent)
        if kind is not None:
            return kind
    return None


def by_content(path: Path, first_text: str | None) -> str:
    """Kind from the first JSON object in the file (``first_text``: a JSONL line or the whole document)."""
    if not first_text:
        return UNKNOWN
    try:
        obj = json.loads(first_text)
    except (ValueError, RecursionError):
        return UNKNOWN
    if not isinstance(obj, dict):
        return UNKNOWN
    if path.suffix == ".jsonl":
        if "messages" in obj:
            return CURRICULUM
        if "prompt" in obj and ("bank" in obj or "trap" in obj):
            return STIMULI
    elif path.suffix == ".json" and ({"coding", "responses", "asker", "consents_to"} & obj.keys()):
        return CONSENT
    elif path.suffix == ".json" and "consent_record" in obj and ({"reviewer", "outcome"} & obj.keys()):
        return REVIEW
    return UNKNOWN


def expected_suffix(kind: str) -> tuple[str, ...]:
    return {CURRICULUM: (".jsonl",), STIMULI: (".jsonl",), CONSENT: (".json",), REVIEW: (".json",), PARAMS: (".yaml", ".yml")}.get(kind, ())


def walk(folder: Path) -> list[Path]:
    """Files under ``folder`` that validate checks (.jsonl, .json, params.yaml), sorted; hidden folders
    skipped. A symlink is listed as a file (its checks say where it leads), never followed."""
    out = []
    for d, dirs, files in os.walk(folder):
        links = [n for n in dirs if os.path.islink(os.path.join(d, n))]
        dirs[:] = [n for n in dirs if n not in links and n not in _SKIP_DIRS and not n.startswith(".")]
        out += [Path(d, n) for n in files + links if Path(n).suffix in SUFFIXES or n in PARAMS_NAMES]
    return sorted(out)
