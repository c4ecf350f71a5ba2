"""``babyctl validate``: check curriculum, consent records, review records, stimuli and params.

Library API::

    from babyctl.validate import validate_paths, validate_experiment
    findings = validate_experiment("path/to/study")              # everything params.yaml declares
    findings = validate_paths(["curriculum/a.jsonl"], root=".")  # just these (what pre-commit passes)

Findings carry stable rule codes (:data:`~babyctl.validate.finding.RULES`; docs/validate.md).
Nothing here reads the current folder's params.yaml unless told to, and this package
imports no torch/transformers/peft/trl/unsloth/dvc: it runs on every commit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .engine import EXPERIMENT_CHECKS, FOLDERS, Outcome, Run, display_path
from .finding import RULES, Finding, Rule
from .loader import read_source

__all__ = ["Finding", "Outcome", "RULES", "Rule", "run_experiment", "run_paths", "run_staged", "validate_experiment",
           "validate_paths"]


def _load_params(params_path: Path):
    """``(Params or None, Source, findings)`` for a params file (findings, not exceptions)."""
    from .rules.params import parse_params

    src = read_source(params_path, display_path(params_path))
    params, found = parse_params(src)
    return params, src, src.findings + found


def run_experiment(root: str | Path = ".", params: str | Path | None = None) -> Outcome:
    """Check everything the experiment declares: params.yaml, the curriculum, consent, stimuli
    and review folders, condition inputs and referenced consent records.

    ``params``: the params file (default ``root/params.yaml``); the experiment root is its folder.
    """
    from . import kinds

    params_path = Path(params) if params is not None else Path(root) / "params.yaml"
    root = params_path.parent
    p, src, found = _load_params(params_path)
    run = Run(root, p)
    run.findings.extend(found)
    run.seen.add(params_path.absolute())
    if src.ok:
        run.files[src.display] = params_path
    for key, (_, kind) in FOLDERS.items():
        rel = run.folder(key)
        if (root / rel).is_dir():
            for f in kinds.walk(root / rel):
                run.check_path(f, kind)
        elif p is not None and key != "reviews_dir":  # the reviews folder is optional
            from ..locate import locate, node_tree

            line, col = locate(node_tree(src.text()), (key,))
            run.add(src.display, line, col, "BC001", f"{key} {rel!r} is not a folder")
    if p is not None:
        for cond in p.conditions.values():
            for rel in cond.inputs:
                if (root / rel).exists():
                    run.check_path(root / rel, kinds.CURRICULUM)
        run.check_params_references(src, p, root, run.bad_phrases)
        for check in EXPERIMENT_CHECKS:
            check(run)
    return run.finish()


def run_paths(paths: Iterable[str | Path], params=None, *, root: str | Path | None = None) -> Outcome:
    """Check just ``paths`` (files or folders), picking each file's schema from its place and content.

    ``params``: a params file or a loaded :class:`~babyctl.schemas.Params` that supplies the
    ``validate:`` settings and folder names (a params file among ``paths`` is fully checked).
    ``root``: the experiment root (brief files and the consent folder resolve from it); default
    the params file's folder. With ``root`` and no ``params``, ``root/params.yaml`` is used if it
    exists. Without either, the defaults apply and relative paths resolve as given.
    """
    p = None
    if params is None and root is not None and (Path(root) / "params.yaml").is_file():
        params = Path(root) / "params.yaml"
    if isinstance(params, (str, Path)):
        if Path(params).is_file():
            p = _load_params(Path(params))[0]
            root = root if root is not None else Path(params).resolve().parent
    else:
        p = params
    run = Run(Path(root) if root is not None else Path("."), p)
    for path in map(Path, paths):
        if not run.exists(path):
            continue
        before = len(run.files) + len(run.findings)
        run.check_path(path)
        if path.is_dir() and len(run.files) + len(run.findings) == before:  # a hook given no files says so
            if path.suffix in (".jsonl", ".json", ".yaml", ".yml"):
                run.add(display_path(path), 1, 1, "BC010", "a folder named like a file, with no files to check")
            else:
                run.add(display_path(path), 1, 1, "BC007", "empty folder: no files to check")
    return run.finish()


def validate_paths(paths: Iterable[str | Path], params=None, *, root: str | Path | None = None) -> list[Finding]:
    """Findings for just ``paths`` (see :func:`run_paths`)."""
    return run_paths(paths, params, root=root).findings


def validate_experiment(root: str | Path = ".", params: str | Path | None = None) -> list[Finding]:
    """Findings for the whole experiment at ``root`` (see :func:`run_experiment`)."""
    return run_experiment(root, params).findings


def run_staged(paths: Iterable[str | Path], root: str | Path = ".") -> Outcome:
    """Check ``paths`` (what pre-commit stages) against the rest of the study at ``root``.

    Every other file the study's folders hold (consent, curriculum, stimuli, reviews) is read
    first, silently, into the cross-file indexes (duplicate ids, near-duplicates, consent ids);
    then ``paths``. Only findings in ``paths`` are reported, so a clash with an untouched file
    is blamed on the staged one. Without ``root/params.yaml`` this is :func:`run_paths`.
    """
    import os

    from . import kinds

    root = Path(root)
    paths = [Path(x) for x in paths]
    if not (root / "params.yaml").is_file():
        return run_paths(paths, root=root)
    run = Run(root, _load_params(root / "params.yaml")[0])
    staged = {x.resolve() for x in paths}
    for key in FOLDERS:
        if (root / run.folder(key)).is_dir():
            for f in kinds.walk(root / run.folder(key)):
                if f.resolve() not in staged:
                    run.check_path(f)
    run.findings.clear()  # the rest of the study is context here, not what is being committed
    run.files.clear()
    run.examples = run.stimuli = 0
    for path in paths:
        if run.exists(path):
            run.seen.discard(Path(os.path.abspath(path)))
            run.check_path(path)
    return run.finish()
