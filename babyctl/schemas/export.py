"""Export the models as JSON Schema 2020-12 files."""
from __future__ import annotations

import json
from pathlib import Path

from ..fsutil import atomic_write_text
from . import MODELS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://babyctl.invalid/schemas/"


def schema_for(name: str) -> dict:
    """The JSON Schema of one model, with ``$schema``, ``$id`` and ``title``."""
    model = MODELS[name]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DIALECT, "$id": f"{BASE_ID}{name}.schema.json", **schema}


def render(name: str) -> str:
    return json.dumps(schema_for(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export(out_dir: str | Path) -> list[Path]:
    """Write ``<out_dir>/<name>.schema.json`` for every model; returns the paths written."""
    out = Path(out_dir)
    written = []
    for name in MODELS:
        path = out / f"{name}.schema.json"
        text = render(name)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
        written.append(path)
    return written


def drift(out_dir: str | Path) -> list[str]:
    """Names whose committed schema differs from the model (empty when in sync)."""
    out = Path(out_dir)
    bad = []
    for name in MODELS:
        path = out / f"{name}.schema.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(name):
            bad.append(name)
    return bad
