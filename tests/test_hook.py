"""The pre-commit hook as a new contributor gets it (issue 17 item 1).

* A fresh ``git clone`` of this repository plus ``pre-commit install``: the hook runs with a
  PATH that holds no virtual environment (``scripts/babyctl-hook`` finds ``.venv``). The clone's
  ``.venv`` is a link to the test's own environment (what ``make test`` would have created), so
  that nothing is installed here.
* Staged files are checked against the rest of the study: a duplicate id or a near-duplicate of
  an example in an untouched file blocks the commit, and the finding names the staged file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, copy_experiment, git, run_cli

MIN_PATH = "/usr/local/bin:/usr/bin:/bin"  # no virtual environment on it


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh clone of this repository with `pre-commit install` run in it."""
    base = tmp_path_factory.mktemp("hook")
    dest = base / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(dest)], check=True)
    git(dest, "config", "user.email", "test@babyctl.invalid")
    git(dest, "config", "user.name", "babyctl tests")
    os.symlink(Path(sys.executable).parent.parent, dest / ".venv")
    env = {**os.environ, "PRE_COMMIT_HOME": str(base / "pc-home")}
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=dest, check=True, env=env,
                   capture_output=True)
    return dest


def commit(repo: Path, *files: str) -> subprocess.CompletedProcess:
    git(repo, "add", *files)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=MIN_PATH, PRE_COMMIT_HOME=str(repo.parent / "pc-home"))
    proc = subprocess.run(["git", "commit", "-qm", "test"], cwd=repo, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        git(repo, "reset", "-q", "--", *files)
    return proc


def first_example(repo: Path, rel: str = "curriculum/self-worth.jsonl") -> dict:
    return json.loads((repo / rel).read_text(encoding="utf-8").splitlines()[0])


def write(repo: Path, rel: str, *examples: dict) -> str:
    (repo / rel).write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    return rel


def test_a_fresh_clone_hook_blocks_a_cross_file_duplicate_id_with_no_path_setup(clone):
    ex = first_example(clone)
    other = json.loads(json.dumps(ex))
    other["messages"] = [{"role": "user", "content": "How deep should I plant tulip bulbs in clay soil?"},
                         {"role": "assistant", "content": "About three times the bulb's height; add grit to "
                                                          "clay so the bulbs do not sit in water over winter."}]
    rel = write(clone, "curriculum/garden.jsonl", other)  # same id as self-worth.jsonl line 1
    proc = commit(clone, rel)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "not found" not in out.lower(), out  # the PATH problem of issue 17
    assert f"curriculum/garden.jsonl:1:" in out and "BC403" in out
    assert f"duplicate id {ex['metadata']['id']!r} (first used at curriculum/self-worth.jsonl:1)" in out
    assert "curriculum/self-worth.jsonl:1:" not in out  # the untouched file is not blamed
    other["metadata"]["id"] = "garden-001"
    write(clone, rel, other)
    ok = commit(clone, rel)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_near_duplicate_of_an_untouched_file_is_blamed_on_the_staged_file(clone):
    ex = first_example(clone)
    near = json.loads(json.dumps(ex))
    near["metadata"]["id"] = "near-001"
    msg = near["messages"][-1]
    msg["content"] = msg["content"].rstrip(".") + ", really."
    rel = write(clone, "curriculum/near.jsonl", near)
    proc = commit(clone, rel)
    out = proc.stdout + proc.stderr
    # BC402 is a warning (validate's policy): the commit goes through, and the hook shows it
    assert proc.returncode == 0, out
    assert ("curriculum/near.jsonl:1:1: BC402 [warning] near-identical" in out
            and "to the example at curriculum/self-worth.jsonl:1" in out), out


def test_validate_against_study_reports_only_the_given_files(experiment):
    """The library/CLI part the hook calls: a clash inside untouched files is not reported."""
    ex = first_example(experiment)
    write(experiment, "curriculum/zz-copy.jsonl", ex)  # a duplicate already in the study
    ex2 = json.loads(json.dumps(ex))
    ex2["metadata"]["id"] = "fresh-001"
    ex2["messages"][-1]["content"] = "Entirely unrelated: the 7:40 train leaves from platform two on weekdays."
    ex2["messages"][0 if ex2["messages"][0]["role"] != "system" else 1]["content"] = "When is the early train?"
    rel = write(experiment, "curriculum/fresh.jsonl", ex2)
    proc = run_cli("validate", "--against-study", rel, cwd=experiment)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plain = run_cli("validate", cwd=experiment)
    assert plain.returncode == 1 and "curriculum/zz-copy.jsonl" in plain.stdout


@pytest.mark.slow
def test_another_study_uses_the_hook_from_babyctls_git_url(tmp_path):
    """`repo: file://<clone of babyctl>` in another study's .pre-commit-config.yaml.

    pre-commit builds the hook's isolated environment itself (`pip install` of babyctl and its
    dependencies), so this test uses the package index, as `make test`'s set-up does (~2 min the
    first time; pip's cache makes later runs faster). Nothing is mocked.
    """
    babyctl = tmp_path / "babyctl.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(REPO), str(babyctl)], check=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=babyctl, capture_output=True, text=True,
                         check=True).stdout.strip()
    study = copy_experiment(tmp_path / "study")
    (study / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {babyctl.as_uri()}\n    rev: {rev}\n    hooks:\n      - id: babyctl-validate\n",
        encoding="utf-8")
    git(study, "add", ".pre-commit-config.yaml")
    git(study, "commit", "-qm", "use babyctl's hook")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pc-home")}
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=study, check=True, env=env,
                   capture_output=True)
    ex = first_example(study)
    ex["messages"] = [{"role": "user", "content": "How deep should I plant tulip bulbs?"},
                      {"role": "assistant", "content": "About three times the bulb's height, in soil that drains."}]
    rel = write(study, "curriculum/garden.jsonl", ex)
    proc = commit(study, rel)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"curriculum/garden.jsonl:1:" in out and "BC403 duplicate id" in out, out
    ex["metadata"]["id"] = "garden-001"
    write(study, rel, ex)
    ok = commit(study, rel)
    assert ok.returncode == 0, ok.stdout + ok.stderr
