"""The README's ten-minute tour works, command by command, in a fresh clone (issue 12).

The commands are read from README.md (every ```bash block of the "A ten-minute tour" section, in
order), so an edit to the tour is tested as written. They run in one bash session (``set -e``: the
first failing command fails the test) in a ``git clone`` of this repository's committed HEAD, with
the running interpreter's environment standing in for the ``.venv`` that ``make repro`` creates
(``.venv`` in the clone is a symlink to it). HOME is a temp folder, so the tour's remote, card and
audit copy land there. Nothing is mocked: real git, pre-commit, DVC, training on the tiny model.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TOUR_HEADING = "## A ten-minute tour"


def tour_blocks(text: str) -> list[str]:
    """The ```bash blocks between the tour heading and the next ``## `` heading."""
    start = text.index(TOUR_HEADING)
    end = text.find("\n## ", start + len(TOUR_HEADING))
    section = text[start:end if end != -1 else len(text)]
    return re.findall(r"^```bash\n(.*?)^```", section, re.S | re.M)


def test_the_tour_has_every_step_and_its_commands():
    text = README.read_text(encoding="utf-8")
    assert text.startswith("# babyctl")
    head = text[: text.index(TOUR_HEADING)]
    assert "make repro" in head and "make test" in head  # the README opens with the two commands
    steps = re.findall(r"^### \d+\. (.+)$", text[text.index(TOUR_HEADING):], re.M)
    assert steps == ["Validate", "Install the hook", "Run the pipeline", "Read the report", "Audit",
                     "Publish (dry run)", "Start your own study", "Set up a remote"]
    script = "\n".join(tour_blocks(text))
    for command in ("babyctl validate", "pre-commit install", "dvc repro", "reports/report.md", "babyctl audit",
                    "babyctl publish tiny --dry-run", "babyctl init", "dvc remote add", "dvc push", "dvc pull"):
        assert command in script, command


def test_readme_links_resolve():
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)", text):
        assert (ROOT / target).is_file(), target
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^):#]+\.md)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).resolve().is_file(), f"{page.name} -> {target}"


@pytest.mark.slow
def test_the_tour_runs_in_a_fresh_clone(tmp_path):
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("not a git checkout: nothing to clone")  # the tour starts from `git clone`
    clone = tmp_path / "babyctl"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    with open(clone / ".git" / "info" / "exclude", "a") as f:  # .gitignore's `.venv/` matches folders only
        f.write("/.venv\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1",
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
           "GIT_AUTHOR_NAME": "tour", "GIT_AUTHOR_EMAIL": "tour@babyctl.invalid",
           "GIT_COMMITTER_NAME": "tour", "GIT_COMMITTER_EMAIL": "tour@babyctl.invalid"}
    env.pop("VIRTUAL_ENV", None)
    blocks = tour_blocks(README.read_text(encoding="utf-8"))
    script = "set -euo pipefail\nset -x\n" + "\n".join(blocks)
    proc = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"the tour failed:\n{proc.stderr[-6000:]}\n{proc.stdout[-3000:]}"
    assert (clone / "reports" / "report.md").is_file()
    assert (clone / "releases" / "tiny" / "core" / "seed-1" / "SHA256SUMS").is_file()
    assert (clone / ".git" / "hooks" / "pre-commit").is_file()
    assert (home / "audit-copy" / "models" / "tiny" / "core" / "seed-1" / "adapter").is_dir()
    assert "up to date" in proc.stdout
