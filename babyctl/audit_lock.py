"""Audit precision for ``dvc.lock``: name the lock (and its line) when the lock is what changed.

A data file and its ``dvc.lock`` entry can disagree because either side changed. Audit has a
second, independent witness for every tracked file: ``SHA256SUMS`` (and git, for files git
tracks). When the file still matches ``SHA256SUMS`` and git, the lock entry is the odd one out,
and the finding says so, on ``dvc.lock:<line>``, instead of blaming the file.

* :func:`lock_lines` -- the line of every key in ``dvc.lock`` (PyYAML node positions).
* :func:`check_metadata` -- ``size`` and ``nfiles`` recorded in the lock against the workspace:
  DVC's own status ignores both, so a metadata-only edit would otherwise pass.
* :func:`attribute` -- rewrites (a) and (c) findings whose file side is vouched for by
  ``SHA256SUMS`` (and git) into findings on ``dvc.lock`` with the line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .tracked import LOCK, DvcIgnore, HashCache, Tracked, walk_dir

Key = tuple  # a key path: ("stages", "build@core", "deps", 0, "md5")


def lock_lines(root: Path) -> dict[Key, int]:
    """Every key path of ``dvc.lock`` -> 1-based line (empty when it cannot be composed)."""
    try:
        node = yaml.compose((root / LOCK).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader",
                                                                                       yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    out: dict[Key, int] = {}

    def walk(n: Any, key: Key) -> None:
        out[key] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                sub = key + (k.value,)
                walk(v, sub)
                out[sub] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, key + (i,))

    if node is not None:
        walk(node, ())
    return out


def entry_key(tracked: Tracked, stage: str, path: str) -> tuple[Key, dict] | None:
    """The key path of the dep/out of ``stage`` whose path is ``path`` (or holds it), and the raw item."""
    st = tracked.stages.get(stage)
    if not isinstance(st, dict):
        return None
    best = None
    for kind in ("outs", "deps"):
        for i, item in enumerate(st.get(kind) or []):
            p = item.get("path") if isinstance(item, dict) else None
            if p == path or (isinstance(p, str) and path.startswith(p + "/")):
                if best is None or len(p) > len(best[1]["path"]):
                    best = (("stages", stage, kind, i), item)
    return best


def _workspace_stats(root: Path, rel: str, ignore: DvcIgnore) -> tuple[int, int | None]:
    p = root / rel
    if p.is_dir():
        files = walk_dir(root, rel, ignore)
        return sum((p / f).stat().st_size for f in files), len(files)
    return p.stat().st_size, None


def check_metadata(tracked: Tracked, hashes: HashCache, ignore: DvcIgnore) -> tuple[list, int]:
    """``size``/``nfiles`` of each lock entry whose content matches, against the workspace."""
    from .audit import Finding

    root = tracked.root
    lines = lock_lines(root)
    findings, n = [], 0
    from .tracked import dir_md5

    for stage, st in tracked.stages.items():
        if not isinstance(st, dict):
            continue
        for kind in ("deps", "outs"):
            for i, item in enumerate(st.get(kind) or []):
                if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                    continue
                rel, md5 = item["path"], item.get("md5")
                p = root / rel
                if not isinstance(md5, str) or not p.exists():
                    continue
                n += 1
                try:
                    if p.is_dir():
                        files = walk_dir(root, rel, ignore)
                        if dir_md5((f, hashes.get(f"{rel}/{f}").md5) for f in files) != md5:
                            continue  # content differs: check (a) reports it
                    elif hashes.get(rel).md5 != md5:
                        continue
                    size, nfiles = _workspace_stats(root, rel, ignore)
                except Exception:  # an unreadable or outside symlink: the other checks report it
                    continue
                for field_name, actual in (("size", size), ("nfiles", nfiles)):
                    if field_name not in item or actual is None:
                        continue
                    if item[field_name] != actual:
                        key = ("stages", stage, kind, i, field_name)
                        findings.append(Finding(
                            "a", LOCK, f"entry for {rel} (stage {stage}): `{field_name}` recorded here is not the "
                            f"workspace's, while the content (md5) matches: the lock was edited by hand",
                            expected=str(item[field_name]), actual=str(actual), source=f"{LOCK}:{stage}",
                            line=lines.get(key)))
    return findings, n


def _first_diff(recorded: Any, actual: Any, key: Key) -> tuple[Key, Any, Any] | None:
    if isinstance(recorded, dict) and isinstance(actual, dict):
        for k in recorded:
            if k not in actual:
                return key + (k,), recorded[k], None
            d = _first_diff(recorded[k], actual[k], key + (k,))
            if d:
                return d
        for k in actual:
            if k not in recorded:
                return key + (k,), None, actual[k]
        return None
    if isinstance(recorded, list) and isinstance(actual, list):
        for i, (a, b) in enumerate(zip(recorded, actual)):
            d = _first_diff(a, b, key + (i,))
            if d:
                return d
        if len(recorded) != len(actual):
            return key + (min(len(recorded), len(actual)),), len(recorded), len(actual)
        return None
    return None if recorded == actual else (key, recorded, actual)


def _params_value(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def attribute(findings: list, tracked: Tracked, *, witnessed: set[str], git_changed: set[str]) -> list:
    """Rewrite findings whose file side is vouched for (``witnessed``: paths SHA256SUMS lists and
    confirms, minus anything git sees changed) into findings on ``dvc.lock`` with its line."""
    from .audit import Finding

    root = tracked.root
    lines = lock_lines(root)
    blamed: dict[tuple[str, str], int | None] = {}

    def vouched(path: str) -> bool:
        if path in git_changed or any(c.startswith(path + "/") for c in git_changed):
            return False
        if path in witnessed:
            return True
        under = [w for w in witnessed if w.startswith(path + "/")]
        if not under:
            return False
        p = root / path
        if not p.is_dir():
            return False
        try:
            now = {f"{path}/{f}" for f in walk_dir(root, path)}
        except Exception:
            return False
        return now == set(under)

    out = []
    for f in findings:
        stage = f.source.split(":", 1)[1] if f.source and f.source.startswith(f"{LOCK}:") else None
        if f.check == "a" and stage and f.path != LOCK and vouched(f.path) and f.expected:
            hit = entry_key(tracked, stage, f.path)
            if hit is not None:
                key, item = hit
                line = lines.get(key + ("md5",)) or lines.get(key)
                blamed[(stage, item["path"])] = line
                out.append(Finding("a", LOCK, f"entry for {f.path} (stage {stage}): the md5 recorded here does "
                                   f"not match {f.path}, whose bytes match SHA256SUMS (and git shows no change): the lock entry is "
                                   "what changed", expected=f.expected, actual=f.actual, source=f.source, line=line))
                continue
        out.append(f)
    # (c): `dvc status` reports what the lock disagrees with; say which side changed
    final = []
    params_cache: dict[str, Any] = {}
    for f in out:
        if f.check != "c" or not (f.source or "").startswith("dvc status:"):
            final.append(f)
            continue
        stage = f.source.split(":", 1)[1]
        hit = next(((s, p) for (s, p) in blamed if s == stage and (f.path == p or f.path.startswith(p + "/"))), None)
        if hit is not None:
            final.append(Finding("c", LOCK, f"{f.message}: the dvc.lock entry changed, not {f.path}",
                                 source=f.source, line=blamed[hit]))
            continue
        st = tracked.stages.get(stage) or {}
        recorded = (st.get("params") or {}).get(f.path) if isinstance(st, dict) else None
        if isinstance(recorded, dict) and vouched(f.path):
            if f.path not in params_cache:
                try:
                    params_cache[f.path] = yaml.safe_load((root / f.path).read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, yaml.YAMLError):
                    params_cache[f.path] = None
            actual_params = params_cache[f.path]
            diff = None
            for dotted, value in recorded.items():
                d = _first_diff(value, _params_value(actual_params, dotted), ("stages", stage, "params", f.path, dotted))
                if d:
                    diff = d
                    break
            if diff is not None:
                key, rec, act = diff
                shown = ".".join(str(k) for k in key[4:])
                final.append(Finding("c", LOCK, f"stage {stage}: dvc.lock records params {shown} = {rec!r}, "
                                     f"{f.path} has {act!r}; {f.path} matches SHA256SUMS (and git shows no change), so the lock "
                                     "entry is what changed", expected=repr(act), actual=repr(rec),
                                     source=f.source, line=lines.get(key)))
                continue
        final.append(f)
    return final
