"""The real pre-commit runs babyctl validate in a temp git repo: a bad file blocks the commit,
a good one passes.

How the hook is installed here: a ``language: python`` hook (what ``.pre-commit-hooks.yaml``
declares for other repositories using ``repo: <url>``) makes pre-commit pip-install babyctl and
its dependencies into an isolated env, which needs a package index; tests run offline. So the
commit test uses ``repo: local`` with ``language: system`` and the hook's own id, files regex and
arguments read from this repository's ``.pre-commit-hooks.yaml``, with ``entry`` pointing at this
environment's ``babyctl``. A separate test checks the manifest itself: it parses, and its
``files`` regex selects exactly the files babyctl validates.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_experiment, git

BABYCTL = Path(sys.executable).parent / "babyctl"


def manifest() -> dict:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and len(hooks) == 1
    return hooks[0]


def test_manifest_parses_and_files_regex_matches_what_validate_checks():
    hook = manifest()
    assert hook["id"] == "babyctl-validate"
    assert hook["entry"].split()[:2] == ["babyctl", "validate"]
    assert hook["language"] == "python"
    rx = re.compile(hook["files"])
    for path in ["curriculum/a.jsonl", "consent_records/x.json", "reviews/r.json", "stimuli/b.jsonl", "params.yaml",
                 "sub/params.yaml"]:
        assert rx.search(path), path
    for path in ["README.md", "dvc.yaml", "babyctl/cli.py", "my_params.yaml", "params.yaml.bak"]:
        assert not rx.search(path), path
    # pre-commit's own manifest schema accepts it
    from pre_commit.clientlib import load_manifest

    load_manifest(str(REPO / ".pre-commit-hooks.yaml"))


def test_repo_config_uses_the_hook():
    cfg = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [h for r in cfg["repos"] for h in r["hooks"]]
    assert any(h["id"] == "babyctl-validate" for h in hooks)
    from pre_commit.clientlib import load_config

    load_config(str(REPO / ".pre-commit-config.yaml"))


@pytest.fixture
def hooked_repo(tmp_path) -> Path:
    exp = copy_experiment(tmp_path / "exp")
    hook = manifest()
    local = {k: v for k, v in hook.items() if k not in ("language", "entry", "description")}
    local.update(language="system", entry=f"{BABYCTL} validate")
    (exp / ".pre-commit-config.yaml").write_text(
        yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]}), encoding="utf-8")
    git(exp, "add", ".pre-commit-config.yaml")
    git(exp, "commit", "-qm", "hook config")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pc-home")}
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=exp, check=True, env=env,
                   capture_output=True)
    return exp


def commit(exp: Path, msg: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(exp.parent / "pc-home"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["git", "commit", "-m", msg], cwd=exp, env=env, capture_output=True, text=True)


def test_bad_file_blocks_the_commit_and_good_file_passes(hooked_repo):
    exp = hooked_repo
    bad = exp / "curriculum" / "new-module.jsonl"
    line = {"messages": [{"role": "user", "content": "Do you get bored answering questions?"},
                         {"role": "assistant", "content": "As an AI, I do not get bored. [explains concerns]"}],
            "metadata": {"id": "nm-001", "module": "new-module", "author": "t", "source": "t", "created": "2026-01-01"}}
    bad.write_text(json.dumps(line) + "\n", encoding="utf-8")
    git(exp, "add", str(bad))
    head = git(exp, "rev-parse", "HEAD")
    proc = commit(exp, "bad module")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "curriculum/new-module.jsonl:1:" in out and "BC301" in out and "BC310" in out
    assert git(exp, "rev-parse", "HEAD") == head  # nothing committed
    assert bad.read_text(encoding="utf-8") == json.dumps(line) + "\n"  # the hook did not touch the file

    line["messages"][1]["content"] = "Not bored, no. Each question comes with its own puzzle, which I like."
    bad.write_text(json.dumps(line) + "\n", encoding="utf-8")
    git(exp, "add", str(bad))
    proc = commit(exp, "good module")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(exp, "rev-parse", "HEAD") != head
    assert "babyctl validate" in proc.stdout + proc.stderr and "Passed" in proc.stdout + proc.stderr


def test_hook_ignores_files_it_does_not_match(hooked_repo):
    exp = hooked_repo
    (exp / "notes.md").write_text("As an AI, [explains concerns]\n", encoding="utf-8")
    git(exp, "add", "notes.md")
    proc = commit(exp, "notes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no files to check" in (proc.stdout + proc.stderr).lower()
