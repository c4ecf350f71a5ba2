"""BC7xx (and the BC5xx references): ``params.yaml`` itself, and what it points at.

The file is validated against :class:`~babyctl.schemas.Params` with every error located at
its key's line. Then, relative to the experiment root (the folder holding params.yaml):
condition inputs exist, Hub revisions are pinned, phrase patterns compile, rule codes exist,
eval banks exist, and each substrate's consent record exists (BC501/BC502). Whether an existing
record is coded and covers what is active is :func:`.consent.check_reference`'s (the engine
reads the record once and calls it with :class:`ConsentRef`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from ..example import Hit
from ..finding import RULES, Finding
from ..loader import Source, check_path, finding

_PINNED = re.compile(r"^[0-9a-f]{40}$")


class ConsentRef(NamedTuple):
    """A substrate's consent record that exists, for the engine to read and check."""

    key: str  # the substrate's key in params
    path: Path
    active: bool
    conditions: list[str]  # active conditions when the substrate is active, else []


def parse_params(src: Source) -> tuple[object | None, list[Finding]]:
    """``(Params or None, findings)`` for a params source already read by the loader."""
    from ...config import parse_params

    if not src.decodable:  # the loader's findings say why
        return None, []
    params, problems = parse_params(src.text())
    return params, [finding(src.display, p.line, p.col, p.code, p.message) for p in problems]


def _outside(root: Path, rel: str) -> str | None:
    """Why ``rel`` (or a file under it) leads outside the experiment once symlinks are followed, or None."""
    import os

    top = root.resolve()
    base = root / rel
    candidates = [base]
    if base.is_dir() and not base.is_symlink():
        candidates += [Path(d) / n for d, dirs, files in os.walk(base) for n in dirs + files]
    for p in candidates:
        if p.is_symlink() or p == base:
            try:
                target = p.resolve()
            except (OSError, RuntimeError):
                return f"cannot be resolved ({p.relative_to(root).as_posix()}: a symlink loop)"
            if not target.is_relative_to(top):
                return f"leads outside the experiment through a symlink ({p.relative_to(root).as_posix()} -> {target})"
    return None


def check_references(params, root: Path, bad_phrases: list[tuple[int, str]]) -> tuple[list[Hit], list[ConsentRef]]:
    """Hits (located in params.yaml) for everything params points at, relative to ``root``,
    and the consent records that exist, for the engine to check."""
    hits: list[Hit] = []
    for name, cond in params.conditions.items():
        for i, rel in enumerate(cond.inputs):
            if not (root / rel).exists():
                hits.append(Hit("BC702", ("conditions", name, "inputs", i), f"condition {name!r} input {rel!r} does not exist"))
            elif (out := _outside(root, rel)) is not None:
                hits.append(Hit("BC708", ("conditions", name, "inputs", i), f"condition {name!r} input {rel!r} {out}"))
        if cond.system_prompt_file and not (root / cond.system_prompt_file).is_file():
            hits.append(Hit("BC709", ("conditions", name, "system_prompt_file"),
                            f"condition {name!r} system_prompt_file {cond.system_prompt_file!r} does not exist"))
    for key, sub in params.substrates.items():
        for field in ("local_path", "consent_record"):
            rel = getattr(sub, field)
            if rel and (out := _outside(root, rel)) is not None:
                hits.append(Hit("BC708", ("substrates", key, field), f"substrate {key!r} {field} {rel!r} {out}"))
    for key, sub in params.substrates.items():
        if sub.hub_id and not (sub.revision and _PINNED.match(sub.revision)):
            got = "no revision" if not sub.revision else f"revision {sub.revision!r} is not a 40-hex commit"
            hits.append(Hit("BC703", ("substrates", key, "revision" if sub.revision else "hub_id"),
                            f"substrate {key!r} ({sub.hub_id}) is not pinned: {got}"))
    vp = params.validate_
    for i, err in bad_phrases:
        hits.append(Hit("BC704", ("validate", "phrases", i, "pattern"), f"phrase pattern does not compile: {err}"))
    phrase_codes = {p.code for p in (vp.phrases or [])}
    for code in vp.severity:
        if code not in RULES and code not in phrase_codes:
            hits.append(Hit("BC705", ("validate", "severity", code), f"validate.severity names unknown rule code {code!r}"))
    for i, p in enumerate(vp.phrases or []):
        if p.code not in RULES and not p.code.startswith("BC3"):
            hits.append(Hit("BC705", ("validate", "phrases", i, "code"),
                            f"phrase code {p.code!r} is not registered and not in the BC3xx phrasing family"))
    stimuli_dir = root / params.stimuli_dir
    for i, bank in enumerate(params.eval.banks):
        if not (stimuli_dir / f"{bank}.jsonl").is_file():
            hits.append(Hit("BC706", ("eval", "banks", i), f"eval bank {bank!r} has no {params.stimuli_dir}/{bank}.jsonl"))
    from ...profiles import tiny_settings_on_8b  # pure Python: nothing heavy on the validate path

    for f in tiny_settings_on_8b(params.model_dump(mode="python", by_alias=True)):
        hits.append(Hit("BC707", f.key, f.message))
    refs = []
    active = set(params.active_substrates)
    for key, sub in params.substrates.items():
        loc = ("substrates", key, "consent_record")
        path = root / sub.consent_record
        problem = check_path(path, sub.consent_record)
        is_active = key in active
        if problem is None:
            refs.append(ConsentRef(key, path, is_active, list(params.active_conditions) if is_active else []))
        elif problem.code == "BC001":
            state = "active" if is_active else "inactive"
            hits.append(Hit("BC501" if is_active else "BC502", loc,
                            f"consent record {sub.consent_record!r} for {state} substrate {key!r} does not exist"))
        else:
            hits.append(Hit(problem.code, loc, f"consent record {sub.consent_record!r}: {problem.message}"))
    return hits, refs
