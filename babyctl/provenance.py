"""Collect provenance facts: UTC time, git state, library versions, input hashes."""
from __future__ import annotations

import datetime as dt
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Iterable

from . import __version__
from .fsutil import md5_file, sha256_file
from .schemas.provenance import FileHash, GitState

#: libraries whose versions go into every provenance record (when installed)
LIBRARIES = (
    "babyctl", "pydantic", "dvc", "huggingface-hub", "torch", "transformers", "peft", "trl",
    "datasets", "accelerate", "tokenizers", "safetensors", "unsloth", "numpy",
)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def git_state(cwd: str | Path = ".") -> GitState:
    """HEAD commit and whether the work tree has uncommitted changes (None outside git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, check=True).stdout
        return GitState(commit=commit, dirty=bool(status.strip()))
    except (OSError, subprocess.CalledProcessError):
        return GitState(commit=None, dirty=None)


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_hash(path: str | Path, root: str | Path | None = None, with_md5: bool = False) -> FileHash:
    p = Path(path)
    rel = str(p.relative_to(root)) if root else str(p)
    return FileHash(path=rel, sha256=sha256_file(p), md5=md5_file(p) if with_md5 else None,
                    size=p.stat().st_size)


def base_fields(command: str, cwd: str | Path = ".") -> dict:
    """The common :class:`~babyctl.schemas.Provenance` fields, ready to splat into a model."""
    return {
        "tool_version": __version__,
        "command": command,
        "created_at": utc_now(),
        "git": git_state(cwd),
        "libraries": library_versions(),
    }
