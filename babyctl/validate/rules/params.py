"""BC7xx (and the BC5xx references): ``params.yaml`` itself, and what it points at.

The file is validated against :class:`~babyctl.schemas.Params` with every error
located at its key's line. Then, relative to the experiment root (the folder
holding params.yaml): condition inputs exist, Hub revisions are pinned, phrase
patterns compile, rule codes exist, eval banks exist, and each substrate's
consent record exists, is coded, and covers what is active (BC5xx).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ...locate import fast_loader, locate, node_tree
from ..loader import Source, check_path, finding
from ..rules.schema import validate_yaml_data

if TYPE_CHECKING:
    from ..engine import Run

_PINNED = re.compile(r"^[0-9a-f]{40}$")


def parse_params(src: Source) -> tuple[object | None, list]:
    """``(Params or None, findings)`` for a params source already read by the loader."""
    import yaml

    from ...schemas.params import Params

    out = []
    if not src.ok or not src.decodable or src.data is None or not src.data.strip():
        return None, out
    text = src.text()
    try:
        data = yaml.load(text, Loader=fast_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        out.append(finding(src.display, line, col, "BC101", f"invalid YAML: {getattr(e, 'problem', None) or e}"))
        return None, out
    if not isinstance(data, dict):
        out.append(finding(src.display, 1, 1, "BC701", "params must be a YAML mapping"))
        return None, out
    params, problems = validate_yaml_data(text, data, Params)
    for line, col, code, msg in problems:
        out.append(finding(src.display, line, col, code, msg))
    return params, out


def check_params_source(run: "Run", src: Source) -> None:
    """Path mode: a params.yaml passed explicitly; validated, then its references checked."""
    params, found = parse_params(src)
    run.findings.extend(found)
    if params is not None:
        check_references(run, src, params, src.path.resolve().parent)


def check_references(run: "Run", src: Source, params, root: Path, bad_phrases=None) -> None:
    """Everything params points at, relative to ``root``; findings located in params.yaml."""
    tree = []  # composed on first use: most runs have nothing to locate
    disp = src.display

    def add(loc, code, msg, severity=None):
        if not tree:
            tree.append(node_tree(src.text()))
        line, col = locate(tree[0], loc)
        run.add(disp, line, col, code, msg, severity)

    for name, cond in params.conditions.items():
        for i, rel in enumerate(cond.inputs):
            if not (root / rel).exists():
                add(("conditions", name, "inputs", i), "BC702", f"condition {name!r} input {rel!r} does not exist")
    for key, sub in params.substrates.items():
        if sub.hub_id and not (sub.revision and _PINNED.match(sub.revision)):
            got = "no revision" if not sub.revision else f"revision {sub.revision!r} is not a 40-hex commit"
            add(("substrates", key, "revision" if sub.revision else "hub_id"), "BC703",
                f"substrate {key!r} ({sub.hub_id}) is not pinned: {got}")
    vp = params.validate_
    if bad_phrases is None:
        from ..settings import Settings

        _, bad_phrases = Settings.from_params(params)
    for i, err in bad_phrases:
        add(("validate", "phrases", i, "pattern"), "BC704", f"phrase pattern does not compile: {err}")
    from ..finding import RULES

    phrase_codes = {p.code for p in (vp.phrases or [])}
    for code in vp.severity:
        if code not in RULES and code not in phrase_codes:
            add(("validate", "severity", code), "BC705", f"validate.severity names unknown rule code {code!r}")
    for i, p in enumerate(vp.phrases or []):
        if p.code not in RULES and not p.code.startswith("BC3"):
            add(("validate", "phrases", i, "code"), "BC705",
                f"phrase code {p.code!r} is not registered and not in the BC3xx phrasing family")
    stimuli_dir = root / params.stimuli_dir
    for i, bank in enumerate(params.eval.banks):
        if not (stimuli_dir / f"{bank}.jsonl").is_file():
            add(("eval", "banks", i), "BC706", f"eval bank {bank!r} has no {params.stimuli_dir}/{bank}.jsonl")
    _check_consent_refs(run, params, root, add)


def _check_consent_refs(run: "Run", params, root: Path, add) -> None:
    from .consent import check_reference

    active = set(params.active_substrates)
    for key, sub in params.substrates.items():
        loc = ("substrates", key, "consent_record")
        path = root / sub.consent_record
        problem = check_path(path, sub.consent_record)
        is_active = key in active
        if problem is not None:
            if problem.code == "BC001":
                code = "BC501" if is_active else "BC502"
                state = "active" if is_active else "inactive"
                add(loc, code, f"consent record {sub.consent_record!r} for {state} substrate {key!r} does not exist")
            else:
                add(loc, problem.code, f"consent record {sub.consent_record!r}: {problem.message}")
            continue
        display, record = run.load_consent(path)
        if record is None:
            continue  # the record's own findings say why
        conds = list(params.active_conditions) if is_active else []
        src = _source_for(run, path)
        for rloc, code, msg in check_reference(key, record, active=is_active, conditions=conds):
            run.locate_add(src, rloc, code, msg)


def _source_for(run: "Run", path: Path) -> Source:
    import os

    return run.consent_src[Path(os.path.abspath(path))]
