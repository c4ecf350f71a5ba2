"""Shared pytest fixtures.

Fixtures here are used by several test modules; area-specific ones live in the
area's own test files. Append new shared fixtures at the end, in a section
named for the area.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "three-babies"

#: what a copy of the example experiment contains (relative to the repo root)
EXPERIMENT_FILES = ("params.yaml", "dvc.yaml", "curriculum", "consent_records", "stimuli", "schemas",
                    ".dvcignore")

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def upstream() -> Path | None:
    """The real upstream study (../shared/three-babies) when present, else None."""
    return SHARED if SHARED.is_dir() else None


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def init_git(path: Path) -> None:
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@babyctl.invalid")
    git(path, "config", "user.name", "babyctl tests")
    git(path, "config", "commit.gpgsign", "false")


def copy_experiment(dest: Path, *, with_git: bool = True, with_dvc: bool = False) -> Path:
    """Copy the example experiment into ``dest`` (a fresh folder); optionally git/dvc init + commit."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in EXPERIMENT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy2(src, dest / name)
    if with_git:
        init_git(dest)
        if with_dvc:
            subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=dest, check=True)
            subprocess.run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=dest,
                           check=True)
        git(dest, "add", "-A")
        git(dest, "commit", "-qm", "example experiment")
    return dest


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    """A committed git copy of the example experiment in a temp dir (no DVC)."""
    return copy_experiment(tmp_path / "exp")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None):
    """Run ``python -m babyctl ARGS`` as a user would; returns CompletedProcess (text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "babyctl", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, input=input)
