"""What DVC recorded: ``dvc.lock`` outputs and ``dvc status``.

``dvc.lock`` records MD5s only. A file output has its own MD5; a folder output
has a ``<md5>.dir`` hash over a manifest ``[{"md5", "relpath"}, ...]`` (sorted by
relpath, ``json.dumps(..., sort_keys=True)``). The manifest is read from the DVC
cache when it is there; otherwise it is rebuilt from the workspace and accepted
only if it hashes to the recorded ``.dir`` value.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from ..fsutil import md5_file


@dataclass(frozen=True)
class LockOut:
    stage: str
    path: str  #: relative to the experiment root, POSIX
    md5: str  #: ``<hex>`` for a file, ``<hex>.dir`` for a folder

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def read_lock(root: Path) -> list[LockOut] | None:
    """Every output in ``dvc.lock`` (None when there is no lock file)."""
    path = root / "dvc.lock"
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    outs: list[LockOut] = []
    for stage, body in (data.get("stages") or {}).items():
        for out in (body or {}).get("outs") or []:
            if isinstance(out, dict) and out.get("path") and out.get("md5"):
                outs.append(LockOut(stage=stage, path=str(PurePosixPath(out["path"])), md5=str(out["md5"])))
    return outs


def covering_out(outs: list[LockOut], relpath: str) -> LockOut | None:
    """The lock output that is ``relpath`` or a folder holding it."""
    rel = PurePosixPath(relpath)
    for out in outs:
        op = PurePosixPath(out.path)
        if rel == op or op in rel.parents:
            return out
    return None


def _dir_manifest(root: Path, out: LockOut) -> dict[str, str] | None:
    """relpath -> md5 for a folder output: from the cache, or rebuilt if it hashes right."""
    hexd = out.md5[: -len(".dir")]
    for cache in (root / ".dvc" / "cache" / "files" / "md5", root / ".dvc" / "cache"):
        cached = cache / hexd[:2] / (hexd[2:] + ".dir")
        if cached.is_file():
            try:
                entries = json.loads(cached.read_text(encoding="utf-8"))
                return {e["relpath"]: e["md5"] for e in entries}
            except (ValueError, KeyError, TypeError):
                break
    folder = root / out.path
    if not folder.is_dir():
        return None
    entries = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != ".dvc")
        for name in filenames:
            p = Path(dirpath) / name
            entries.append({"md5": md5_file(p), "relpath": p.relative_to(folder).as_posix()})
    entries.sort(key=lambda e: e["relpath"])
    digest = hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    if digest != hexd:
        return None
    return {e["relpath"]: e["md5"] for e in entries}


def recorded_md5(root: Path, outs: list[LockOut], relpath: str) -> tuple[LockOut | None, str | None]:
    """(the covering output, the MD5 dvc.lock records for ``relpath``); md5 None if unknown."""
    out = covering_out(outs, relpath)
    if out is None:
        return None, None
    if not out.is_dir:
        return out, out.md5 if PurePosixPath(out.path) == PurePosixPath(relpath) else None
    manifest = _dir_manifest(root, out)
    if manifest is None:
        return out, None
    inner = PurePosixPath(relpath).relative_to(PurePosixPath(out.path)).as_posix()
    return out, manifest.get(inner)


def dvc_status(root: Path) -> tuple[dict | None, str | None]:
    """``dvc status --json`` as (parsed, None), or (None, why it could not run)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=root,
                              capture_output=True, text=True, env=env, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"cannot run dvc status: {e}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return None, f"dvc status failed: {last}"
    try:
        return json.loads(proc.stdout or "{}"), None
    except ValueError:
        return None, "dvc status printed no JSON"
