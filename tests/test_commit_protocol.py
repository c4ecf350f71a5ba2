"""Issue 15: the commit protocol of :mod:`babyctl.fsutil` -- one unit, serialised, recoverable.

Real processes, real kills (``os._exit`` at a chosen rename, which no ``finally`` survives), real
files. Nothing is mocked except the point of death.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from babyctl import fsutil

REPO = Path(__file__).resolve().parent.parent


def child(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def state(final: Path, metrics: Path) -> tuple[str | None, str | None]:
    a = (final / "adapter").read_text() if (final / "adapter").exists() else None
    m = metrics.read_text() if metrics.exists() else None
    return a, m


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_many_processes_on_one_target_all_succeed_and_leave_one_whole_output(tmp_path):
    """``atomic_dir`` failed 2 times in 600 with 'Directory not empty' before it took a lock."""
    final = tmp_path / "out" / "target"
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys
        from pathlib import Path
        from babyctl.fsutil import atomic_dir
        final, me = Path(sys.argv[1]), sys.argv[2]
        for i in range(75):
            with atomic_dir(final) as tmp:
                (tmp / "a").write_text(f"{me}-{i}")
                (tmp / "b").write_text(f"{me}-{i}")
        """), str(final), str(n)], cwd=REPO, stderr=subprocess.PIPE, text=True) for n in range(8)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert (final / "a").read_text() == (final / "b").read_text()  # one writer's whole output
    assert hidden(final.parent) == []  # no lock, staging or old folder left


COMMIT = """
import os, sys
from pathlib import Path
from babyctl import fsutil
final, metrics, die_at = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
real, count = os.replace, [0]
def replace(a, b):
    if count[0] == die_at:
        os._exit(9)
    count[0] += 1
    return real(a, b)
os.replace = replace
with fsutil.commit_unit(final, files=[metrics]) as stage:
    (stage.dir / "adapter").write_text("new")
    stage.write_text(metrics, "new")
    if die_at < 0:
        os._exit(9)  # killed while staging
"""


@pytest.mark.parametrize("die_at", [-1, 0, 1, 2])
def test_a_kill_at_any_point_leaves_the_old_unit_or_the_new_one_after_the_next_writer(tmp_path, die_at):
    final = tmp_path / "models" / "seed-1"
    metrics = tmp_path / "metrics" / "seed-1.json"
    with fsutil.commit_unit(final, files=[metrics]) as stage:
        (stage.dir / "adapter").write_text("old")
        stage.write_text(metrics, "old")
    assert state(final, metrics) == ("old", "old")
    proc = child(COMMIT, str(final), str(metrics), str(die_at))
    assert proc.returncode == 9, proc.stderr
    assert fsutil.stale_paths(final)  # the kill left something behind
    expected = ("old", "old") if die_at < 0 else ("new", "new")
    with fsutil.commit_unit(final, files=[metrics]) as stage:  # the next writer finds a whole unit
        assert state(final, metrics) == expected  # never a new adapter beside old metrics
        assert hidden(metrics.parent) == []
        (stage.dir / "adapter").write_text("third")
        stage.write_text(metrics, "third")
    assert state(final, metrics) == ("third", "third")
    assert hidden(final.parent) == [] and hidden(metrics.parent) == []


def test_the_next_commit_finishes_an_interrupted_one_then_commits(tmp_path):
    final = tmp_path / "models" / "seed-1"
    metrics = tmp_path / "metrics" / "seed-1.json"
    with fsutil.commit_unit(final, files=[metrics]) as stage:
        (stage.dir / "adapter").write_text("old")
        stage.write_text(metrics, "old")
    assert child(COMMIT, str(final), str(metrics), "2").returncode == 9  # the new folder is in, metrics not
    assert state(final, metrics) == ("new", "old")  # the torn state a reader may see until the next writer
    assert (final.parent / ".seed-1.commit").is_file()  # ... which the journal marks (audit reports it)
    with fsutil.commit_unit(final, files=[metrics]) as stage:
        assert state(final, metrics) == ("new", "new")  # rolled forward before this writer starts
        (stage.dir / "adapter").write_text("third")
        stage.write_text(metrics, "third")
    assert state(final, metrics) == ("third", "third")
    assert hidden(final.parent) == [] and hidden(metrics.parent) == []


def test_leftovers_of_older_versions_are_swept(tmp_path):
    final = tmp_path / "seed-1"
    (final.parent / ".seed-1.old-4242" / "adapter").mkdir(parents=True)
    (final.parent / ".seed-1.ab12cd34.partial").mkdir()
    (final.parent / ".seed-10.ab12cd34.partial").mkdir()  # another target's: kept
    with fsutil.atomic_dir(final) as tmp:
        (tmp / "x").write_text("1")
    assert hidden(final.parent) == [".seed-10.ab12cd34.partial"]


def test_an_exception_commits_nothing(tmp_path):
    final = tmp_path / "seed-1"
    metrics = tmp_path / "m" / "seed-1.json"
    with pytest.raises(RuntimeError):
        with fsutil.commit_unit(final, files=[metrics]) as stage:
            (stage.dir / "adapter").write_text("new")
            stage.write_text(metrics, "new")
            raise RuntimeError("the run failed")
    assert not final.exists() and not metrics.exists()
    assert hidden(tmp_path) == [] and hidden(metrics.parent) == []


def test_temp_folders_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    code = """
    import os, sys, tempfile, time
    tempfile.tempdir = sys.argv[1]
    from babyctl.fsutil import temp_dir
    with temp_dir("babyctl-train-") as d:
        print(d, flush=True)
        if sys.argv[2] == "die":
            os._exit(9)
        sys.stdin.readline()  # hold it until the test says
    """
    dead = child(code, str(tmp_path), "die")
    dead_dir = Path(dead.stdout.strip())
    assert dead.returncode == 9 and dead_dir.is_dir()
    live = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(tmp_path), "live"], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    live_dir = Path(live.stdout.readline().strip())
    old = os.stat(dead_dir).st_mtime - 120
    os.utime(dead_dir / fsutil.OWNER, (old, old))
    try:
        import tempfile

        saved, tempfile.tempdir = tempfile.tempdir, str(tmp_path)
        try:
            with fsutil.temp_dir("babyctl-train-") as mine:
                assert mine.is_dir()
        finally:
            tempfile.tempdir = saved
        assert not dead_dir.exists()  # the dead run's folder went
        assert live_dir.is_dir()  # the live one stays
    finally:
        live.communicate("\n", timeout=60)
    assert not live_dir.exists()
