"""Shared pytest fixtures.

Fixtures here are used by several test modules; area-specific ones live in the
area's own test files. Append new shared fixtures at the end, in a section
named for the area.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "three-babies"

#: what a copy of the example experiment contains (relative to the repo root)
EXPERIMENT_FILES = ("params.yaml", "dvc.yaml", "curriculum", "consent_records", "reviews", "stimuli", "schemas",
                    ".dvcignore", "preregistration", "amendments", "plots")
EXPERIMENT_FILES += ("prompts", "capability")  # prompted arms' system prompts, capability tasks (issue 18)

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
    """Run ``git ARGS`` in ``cwd`` (it must succeed); returns its stdout."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def init_git(path: Path) -> None:
    """``git init`` a ``main`` branch in ``path`` with a test identity and unsigned commits."""
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@babyctl.invalid")
    git(path, "config", "user.name", "babyctl tests")
    git(path, "config", "commit.gpgsign", "false")


def commit_all(repo: Path, message: str = "update") -> None:
    """Stage everything in the git work tree ``repo`` and commit it with ``message``."""
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


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
        commit_all(dest, "example experiment")
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


# --- training fixtures (issue 4) ---------------------------------------------------------------
def write_core_build(exp: Path, condition: str = "core") -> Path:
    """Make ``data/build/<condition>/train.jsonl`` in experiment ``exp`` with ``babyctl build``."""
    out = exp / "data" / "build" / condition / "train.jsonl"
    proc = run_cli("build", condition, cwd=exp)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file(), f"babyctl build wrote no {out}"
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The embedded tiny ChatML model (``babyctl.tinymodel``), built once per session. Read-only."""
    from babyctl.tinymodel import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny")


def install_tiny_model(exp: Path, tiny_model_dir: Path) -> Path:
    """Copy the session's tiny model to where params.yaml expects it (models/base/tiny)."""
    dest = exp / "models" / "base" / "tiny"
    shutil.copytree(tiny_model_dir, dest)
    return dest


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_model_dir) -> Path:
    """A finished ``babyctl train --substrate tiny --condition core --seed 1`` run folder.

    Returns ``<exp>/models/tiny/core/seed-1`` (adapter/, provenance.json); the experiment root
    is ``trained_run.parents[3]`` and the train metrics are under ``<exp>/metrics/train/tiny/core/``.
    Shared by the train, eval and publish tests: treat it as read-only (copy it to modify it).
    """
    from babyctl.train.run import train

    exp = copy_experiment(tmp_path_factory.mktemp("trained") / "exp")
    install_tiny_model(exp, tiny_model_dir)
    write_core_build(exp)
    result = train(exp / "params.yaml", substrate="tiny", condition="core", seed=1)
    return result.run_dir


# --- pipeline fixtures (issue 3) ---------------------------------------------------------------
#: environment for `dvc` subprocesses: babyctl (the stage commands) on PATH, offline, no analytics
PIPELINE_ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1",
                "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``dvc ARGS`` in ``cwd`` (text output); with ``check`` assert it succeeded."""
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=PIPELINE_ENV,
                          capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory) -> Path:
    """The example experiment after a full ``dvc repro``, committed to git, with a local DVC remote.

    One training seed (``training.seeds: [1]``) to keep it quick; every stage of dvc.yaml runs.
    Read-only: copy it (``copy_repo``) before changing anything.
    """
    base = tmp_path_factory.mktemp("pipeline")
    exp = copy_experiment(base / "exp", with_dvc=True)
    # one condition: the two-condition study is tests/test_report_pipeline.py
    set_params(exp, training__seeds=[1], active_conditions=["core"])
    dvc(exp, "remote", "add", "-d", "store", str(base / "remote"))
    dvc(exp, "repro")
    commit_all(exp, "dvc repro")
    return exp


def copy_repo(src: Path, dest: Path) -> Path:
    """A full copy of a git + DVC repo (cache included), symlinks kept as symlinks."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def changed_stages(repo: Path) -> set[str]:
    """The stages ``dvc status`` reports as changed in ``repo`` (empty when all are up to date)."""
    return set(json.loads(dvc(repo, "status", "--json").stdout or "{}"))


# --- file helpers shared by the test modules ---------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    """The rows of the JSONL file ``path`` (blank lines skipped), read independently of babyctl."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def edit_params(exp: Path, fn: Callable[[dict], None]) -> None:
    """Rewrite ``exp/params.yaml`` after ``fn`` has changed its loaded mapping in place (key order kept)."""
    path = exp / "params.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def set_params(exp: Path, **changes: Any) -> None:
    """Set values in ``exp/params.yaml``; a key's ``__`` separates nested keys.

    ``set_params(exp, training__seeds=[1, 2], active_prompted=[])`` sets ``training.seeds`` and
    ``active_prompted``; the parent mappings must exist.
    """
    def apply(data: dict) -> None:
        for dotted, value in changes.items():
            node = data
            *parents, last = dotted.split("__")
            for key in parents:
                node = node[key]
            node[last] = value

    edit_params(exp, apply)


def key_paths(obj: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path (a tuple of keys and list indexes) into the nested dicts and lists ``obj``, ``()`` first."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from key_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from key_paths(v, prefix + (i,))
