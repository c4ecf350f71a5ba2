"""babyctl init (empty and seeded from a migration) and babyctl migrate --init.

Real git, real DVC. ``dvc repro --dry`` needs ``--force`` on a pipeline that has never run:
DVC's dry run hashes the dependencies of each stage, and the outputs of earlier stages that a
dry run does not make are missing (treeverse/dvc#9021); ``--force`` plans every stage without
hashing them.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SHARED, dvc, run_cli

FILES = ("params.yaml", "dvc.yaml", ".pre-commit-config.yaml", ".gitignore", ".dvcignore", "README.md")


def test_empty_init_validates_and_dry_runs(tmp_path):
    dest = tmp_path / "study"
    proc = run_cli("init", str(dest))
    assert proc.returncode == 0, proc.stderr
    for name in FILES:
        assert (dest / name).is_file(), name
    assert (dest / ".git").is_dir() and (dest / ".dvc").is_dir()
    assert "babyctl validate" in (dest / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    val = run_cli("validate", cwd=dest)
    assert val.returncode == 0, val.stdout + val.stderr
    dry = dvc(dest, "repro", "--dry", "--force")
    for cmd in ("babyctl validate", "babyctl build example", "babyctl train --substrate tiny --condition example",
                "babyctl eval --substrate tiny --baseline", "babyctl report", "babyctl ledger"):
        assert cmd in dry.stdout, cmd
    # a second init keeps what is there
    (dest / "README.md").write_text("mine\n", encoding="utf-8")
    again = run_cli("init", str(dest))
    assert again.returncode == 0 and "README.md exists: left as it is" in again.stderr
    assert (dest / "README.md").read_text(encoding="utf-8") == "mine\n"


def _code(path: Path) -> None:
    rec = json.loads(path.read_text(encoding="utf-8"))
    rec["coding"] = {"decision": "yes", "coded_by": "test coder", "coded_at": "2026-05-16T00:00:00Z",
                     "rationale": "coded for the test"}
    rec["consents_to"] = {"fine_tuning": True, "evaluation": True, "publication": False, "conditions": ["*"]}
    path.write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")


def test_migrate_init_validates_once_consent_is_coded_and_dry_runs(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("../shared/three-babies is not beside this clone")
    out = tmp_path / "three-babies"
    proc = run_cli("migrate", str(SHARED), "--out", str(out), "--init")
    assert proc.returncode == 0, proc.stderr
    for name in FILES:
        assert (out / name).is_file(), name
    params = (out / "params.yaml").read_text(encoding="utf-8")
    assert "BC310: warning  # 20 finding(s)" in params  # the legacy curriculum's rule breaks, stated
    before = run_cli("validate", cwd=out)
    assert before.returncode == 1 and before.stdout.count("BC503") == 3  # three active substrates, uncoded
    import yaml

    p = yaml.safe_load(params)
    assert sorted(p["active_substrates"]) == ["dolphin", "hermes", "llama3"]
    assert p["training"]["max_seq_length"] == 2048 and p.get("profile") == "8b"  # the 8B settings, not tiny's
    assert "combined" not in p["conditions"] and "audit-tests" not in p["conditions"]
    assert p["conditions"]["curriculum"]["expected_count"] + p["conditions"]["anti-patterns"]["expected_count"] == 271
    for key in p["active_substrates"]:
        _code(out / p["substrates"][key]["consent_record"])
    after = run_cli("validate", cwd=out)
    assert after.returncode == 0, after.stdout[-3000:]
    dry = dvc(out, "repro", "--dry", "--force")
    seed = p["training"]["seeds"][0]
    for cmd in (f"babyctl train --substrate hermes --condition curriculum --seed {seed}",
                "babyctl eval --substrate llama3 --baseline", "babyctl build why-module"):
        assert cmd in dry.stdout, cmd
