"""babyctl ledger: SHA256SUMS that coreutils verifies, covering everything DVC tracks."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from babyctl import ledger
from babyctl.errors import InputError
from babyctl.tracked import dir_md5, load_tracked, walk_dir
from conftest import git, init_git, run_cli

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}
PY = sys.executable

MINI_DVC_YAML = f"""\
stages:
  copy:
    cmd: {PY} -c "import shutil; shutil.copytree('src', 'out', dirs_exist_ok=True)"
    deps: [src]
    params: [factor]
    outs: [out]
  summary:
    cmd: {PY} -c "open('summary.txt','w').write('ok\\\\n')"
    deps: [out]
    outs:
      - summary.txt:
          cache: false
  ledger:
    cmd: {PY} -m babyctl ledger
    deps: [params.yaml, src, out, summary.txt, raw]
    outs:
      - SHA256SUMS:
          cache: false
"""


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "dvc", *args], cwd=cwd, env=ENV, capture_output=True, text=True)


def make_mini_repo(path: Path) -> Path:
    """A small git + DVC repo: a dir stage, a cache:false file out, a `dvc add`ed folder, a .dvcignore."""
    path.mkdir(parents=True)
    init_git(path)
    assert dvc(path, "init", "-q").returncode == 0
    (path / "src" / "sub").mkdir(parents=True)
    (path / "src" / "a.txt").write_text("alpha\r\nwindows line ending\r\n", encoding="utf-8")
    (path / "src" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (path / "src" / "scratch.tmp").write_text("ignored by .dvcignore\n", encoding="utf-8")
    (path / ".dvcignore").write_text("*.tmp\n", encoding="utf-8")
    (path / "raw").mkdir()
    (path / "raw" / "r.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    (path / "params.yaml").write_text("factor: 2\nunrelated: 1\n", encoding="utf-8")
    (path / "dvc.yaml").write_text(MINI_DVC_YAML, encoding="utf-8")
    assert dvc(path, "add", "-q", "raw").returncode == 0
    proc = dvc(path, "repro", "-q")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    git(path, "add", "-A")
    git(path, "commit", "-qm", "mini")
    return path


@pytest.fixture(scope="module")
def mini_master(tmp_path_factory) -> Path:
    return make_mini_repo(tmp_path_factory.mktemp("ledger") / "mini")


@pytest.fixture
def mini(mini_master, tmp_path) -> Path:
    dest = tmp_path / "mini"
    shutil.copytree(mini_master, dest, symlinks=True)
    return dest


def expected_files(root: Path) -> list[str]:
    """Computed independently of babyctl: walk the tracked paths by hand."""
    files = ["params.yaml", "summary.txt", "raw/r.csv"]
    for d in ("src", "out"):
        files += [p.relative_to(root).as_posix() for p in (root / d).rglob("*")
                  if p.is_file() and not p.name.endswith(".tmp")]
    return sorted(files)


def test_ledger_stage_runs_in_the_pipeline_and_is_not_stale(mini):
    # the ledger ran as the last stage of `dvc repro`; nothing is stale afterwards (no cycle)
    proc = dvc(mini, "status", "--json")
    assert proc.returncode == 0 and proc.stdout.strip() == "{}", proc.stdout
    text = (mini / "SHA256SUMS").read_text(encoding="utf-8")
    listed = [ln.split("  ", 1)[1] for ln in text.splitlines()]
    assert listed == expected_files(mini)
    assert "SHA256SUMS" not in listed and "dvc.lock" not in listed and "src/scratch.tmp" not in listed
    for ln in text.splitlines():
        digest, rel = ln.split("  ", 1)
        assert digest == hashlib.sha256((mini / rel).read_bytes()).hexdigest()


def test_coreutils_sha256sum_verifies_it(mini):
    proc = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=mini, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": OK") == len(expected_files(mini))


def test_check_passes_then_names_a_one_byte_change(mini):
    assert ledger.check(mini) == []
    f = mini / "out" / "sub" / "b.bin"
    data = bytearray(f.read_bytes())
    before = hashlib.sha256(data).hexdigest()
    data[100] ^= 1
    f.write_bytes(bytes(data))
    proc = run_cli("ledger", "--check", cwd=mini)
    assert proc.returncode == 1
    assert f"out/sub/b.bin: sha256 differs (expected {before}, actual {hashlib.sha256(data).hexdigest()})" in proc.stdout
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=mini, capture_output=True).returncode == 1


def test_check_reports_a_stale_ledger(mini):
    """A file dvc.lock records (md5 matches) but SHA256SUMS lacks: the ledger is stale, re-run it."""
    sums = mini / "SHA256SUMS"
    sums.write_text("".join(ln for ln in sums.read_text(encoding="utf-8").splitlines(keepends=True)
                            if not ln.endswith("  src/a.txt\n")), encoding="utf-8")
    problems = ledger.check(mini)
    assert [p.path for p in problems] == ["src/a.txt"] and "stale ledger (run: babyctl ledger)" in problems[0].message
    ledger.write(mini)
    assert ledger.check(mini) == []


def test_check_never_advises_blessing_a_file_nothing_records(mini):
    """A file dropped into a tracked folder is recorded by neither dvc.lock nor SHA256SUMS (issue 17)."""
    (mini / "src" / "new.txt").write_text("new\n", encoding="utf-8")
    problems = ledger.check(mini)
    assert [p.path for p in problems] == ["src/new.txt"]
    assert "recorded by neither SHA256SUMS nor dvc.lock" in problems[0].message
    assert "run: babyctl ledger" not in problems[0].message


@pytest.mark.parametrize("line_path", ["../outside.txt", "/etc/hostname", "src/../../outside.txt"])
def test_paths_outside_the_repo_are_refused_without_being_opened(mini, line_path):
    outside = mini.parent / "outside.txt"
    outside.write_text("secret\n", encoding="utf-8")
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    with open(mini / "SHA256SUMS", "a", encoding="utf-8") as f:
        f.write(f"{digest}  {line_path}\n")
    before = (mini / "SHA256SUMS").read_bytes()
    problems = ledger.check(mini)
    assert len(problems) == 1
    assert problems[0].path == line_path and "outside the repository refused" in problems[0].message
    assert problems[0].actual is None  # it was never hashed
    assert (mini / "SHA256SUMS").read_bytes() == before


def test_symlink_out_of_the_repo_is_refused_and_nothing_is_written(mini):
    secret = mini.parent / "secret.txt"
    secret.write_text("not yours\n", encoding="utf-8")
    os.symlink(secret, mini / "src" / "link.txt")
    before = (mini / "SHA256SUMS").read_bytes()
    proc = run_cli("ledger", cwd=mini)
    assert proc.returncode == 2
    assert "src/link.txt: symlink points outside the repository" in proc.stderr and "Traceback" not in proc.stderr
    assert (mini / "SHA256SUMS").read_bytes() == before
    with pytest.raises(InputError, match="symlink points outside"):
        walk_dir(mini.resolve(), "src")


def test_directory_hash_rule_matches_what_dvc_recorded(mini_master):
    tracked = load_tracked(mini_master)
    dirs = [e for e in tracked.entries if e.is_dir]
    assert {e.path for e in dirs} == {"src", "out", "raw"}
    for e in dirs:
        pairs = [(f, hashlib.md5((mini_master / e.path / f).read_bytes()).hexdigest())
                 for f in walk_dir(mini_master, e.path)]
        assert dir_md5(pairs) == e.md5, e.path
    # .dvcignore'd files are outside DVC's hash: adding one to the hashed list changes it
    src = next(e for e in dirs if e.path == "src")
    pairs = [(f, hashlib.md5((mini_master / "src" / f).read_bytes()).hexdigest())
             for f in ["a.txt", "scratch.tmp", "sub/b.bin"]]
    assert dir_md5(pairs) != src.md5


def test_write_refuses_when_nothing_is_tracked(tmp_path):
    init_git(tmp_path)
    assert dvc(tmp_path, "init", "-q").returncode == 0
    proc = run_cli("ledger", cwd=tmp_path)
    assert proc.returncode == 2 and "nothing is tracked yet" in proc.stderr
    assert not (tmp_path / "SHA256SUMS").exists()


def test_corrupted_dvc_lock_is_a_clear_error(mini):
    lock = mini / "dvc.lock"
    lock.write_text(lock.read_text(encoding="utf-8").replace("outs:", "outs: [", 1), encoding="utf-8")
    before = (mini / "SHA256SUMS").read_bytes()
    proc = run_cli("ledger", cwd=mini)
    assert proc.returncode == 2 and "dvc.lock:" in proc.stderr and "corrupted" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (mini / "SHA256SUMS").read_bytes() == before
