"""Print findings: ``text`` (``path:line:col: CODE message``), ``json`` and ``github``
(workflow commands that annotate a pull request). Each reporter is a function
``(outcome, out, err) -> None``; :data:`REPORTERS` maps format names to them."""
from __future__ import annotations

import json
from collections import Counter
from typing import Callable, TextIO

from .engine import Outcome


def summary(outcome: Outcome) -> str:
    e, w = outcome.errors, outcome.warnings
    checked = f"{len(outcome.files)} file(s), {outcome.examples} example(s), {outcome.stimuli} stimul{'us' if outcome.stimuli == 1 else 'i'}"
    if not outcome.findings and not outcome.files:
        return "No files to check (0 files)."
    if not outcome.findings:
        return f"All checks passed ({checked})."
    return f"Found {e} error(s) and {w} warning(s) in {checked}."


def text(outcome: Outcome, out: TextIO, err: TextIO) -> None:
    """One ``path:line:col: CODE message`` line per finding (stdout); a summary on stderr."""
    write = out.write
    for f in outcome.findings:
        tag = "" if f.severity == "error" else " [warning]"
        write(f"{f.path}:{f.line}:{f.col}: {f.code}{tag} {f.message}\n")
    err.write(summary(outcome) + "\n")


def as_dict(outcome: Outcome) -> dict:
    by_code = Counter(f.code for f in outcome.findings)
    counts = {"errors": outcome.errors, "warnings": outcome.warnings, "files": len(outcome.files),
              "examples": outcome.examples, "stimuli": outcome.stimuli, "by_code": dict(sorted(by_code.items()))}
    return {"findings": [f.as_dict() for f in outcome.findings], "counts": counts}


def json_(outcome: Outcome, out: TextIO, err: TextIO) -> None:
    """The findings and counts as one JSON object on stdout."""
    out.write(json.dumps(as_dict(outcome), indent=2, ensure_ascii=False) + "\n")


def _esc_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _esc_prop(s: str) -> str:
    return _esc_data(s).replace(":", "%3A").replace(",", "%2C")


def github(outcome: Outcome, out: TextIO, err: TextIO) -> None:
    """GitHub Actions workflow commands: ``::error file=...,line=...,col=...,title=CODE::message``."""
    for f in outcome.findings:
        out.write(f"::{f.severity} file={_esc_prop(f.path)},line={f.line},col={f.col},"
                  f"title={_esc_prop(f.code)}::{_esc_data(f.message)}\n")
    err.write(summary(outcome) + "\n")


REPORTERS: dict[str, Callable[[Outcome, TextIO, TextIO], None]] = {"text": text, "json": json_, "github": github}


def write_report(outcome: Outcome, path, command: str = "validate") -> None:
    """Write the JSON report (findings, counts, provenance, sha256 of each file read) atomically."""
    from ..fsutil import atomic_write_json, sha256_file
    from ..provenance import base_fields
    from ..schemas.provenance import FileHash, Provenance

    inputs = []
    for display, p in sorted(outcome.files.items()):
        try:
            inputs.append(FileHash(path=display, sha256=sha256_file(p), size=p.stat().st_size))
        except OSError:
            continue
    prov = Provenance(**base_fields(command), inputs=inputs)
    doc = as_dict(outcome)
    doc["ok"] = outcome.errors == 0
    doc["provenance"] = prov.model_dump(mode="json")
    atomic_write_json(path, doc)
