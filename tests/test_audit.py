"""babyctl audit: every kind of tracked file, one byte changed, is caught and named."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from babyctl.audit import audit, check_adapters
from babyctl.errors import InputError
from babyctl.tracked import HashCache, cache_object, dir_md5, load_tracked, walk_dir
from conftest import PIPELINE_ENV, copy_repo, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(pipeline_repo, tmp_path) -> Path:
    return copy_repo(pipeline_repo, tmp_path / "repo")


def tree_digest(root: Path) -> dict[str, str]:
    """Every file (outside .git and .dvc/tmp) -> sha256, to show that audit changes nothing."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not p.is_symlink() and not rel.startswith((".git/", ".dvc/tmp/")):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def flip_one_byte(path: Path) -> tuple[bytes, bytes]:
    before = path.read_bytes()
    data = bytearray(before)
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return before, bytes(data)


def test_the_pipeline_output_passes_and_audit_changes_nothing(pipeline_repo):
    before = tree_digest(pipeline_repo)
    result = audit(pipeline_repo)
    assert result.ok, result.findings
    assert result.checked["a"] > 10 and result.checked["b"] > 30 and result.checked["d"] == 1
    assert tree_digest(pipeline_repo) == before


def test_directory_hashes_follow_dvcs_rule(pipeline_repo):
    """Recompute each folder hash with hashlib and compare with what `dvc repro` wrote to dvc.lock."""
    tracked = load_tracked(pipeline_repo)
    dirs = {(e.path, e.md5) for e in tracked.entries if e.is_dir}
    assert {"data/build/core", "models/tiny/core/seed-1", "curriculum", "models/base/tiny"} <= {p for p, _ in dirs}
    for path, md5 in dirs:
        pairs = [(f, hashlib.md5((pipeline_repo / path / f).read_bytes()).hexdigest())
                 for f in walk_dir(pipeline_repo, path)]
        assert dir_md5(pairs) == md5, path


KINDS = [
    # (kind, file, checks that must name it)
    ("curriculum jsonl", "curriculum/self-worth.jsonl", {"b"}),
    ("consent record", "consent_records/tiny-fixture.json", {"b", "d"}),
    ("stimulus bank", "stimuli/fawning.jsonl", {"b"}),
    ("build output", "data/build/core/train.jsonl", {"a", "b", "d"}),
    ("dataset card", "data/build/core/dataset_card.json", {"a", "b"}),
    ("validate report", "data/validate.json", {"a", "b"}),
    ("base model weights", "models/base/tiny/model.safetensors", {"a", "b"}),
    ("adapter weights", "models/tiny/core/seed-1/adapter/adapter_model.safetensors", {"a", "b"}),
    ("adapter provenance", "models/tiny/core/seed-1/provenance.json", {"a", "b"}),
    ("train metrics", "metrics/train/tiny/core/seed-1.json", {"a", "b"}),
    ("loss curve", "metrics/train/tiny/core/seed-1.loss.tsv", {"a", "b"}),
    ("eval scores", "eval/tiny/core/seed-1/scores.jsonl", {"a", "b"}),
    ("eval metrics", "metrics/eval.json", {"a", "b"}),
    ("report", "reports/report.md", {"a", "b"}),
    ("params", "params.yaml", {"b"}),
]


@pytest.mark.parametrize("kind, rel, checks", KINDS, ids=[k[0] for k in KINDS])
def test_a_one_byte_change_is_caught_and_named(repo, kind, rel, checks):
    before, after = flip_one_byte(repo / rel)
    result = audit(repo, pipeline_status=False)
    assert not result.ok
    named = {f.check for f in result.findings if f.path == rel}
    assert checks <= named, (kind, result.findings)
    if "a" in checks:
        assert any(f.check == "a" and f.path == rel and f.expected == hashlib.md5(before).hexdigest()
                   and f.actual == hashlib.md5(after).hexdigest() for f in result.findings)
    assert any(f.check == "b" and f.path == rel and f.expected == hashlib.sha256(before).hexdigest()
               and f.actual == hashlib.sha256(after).hexdigest() for f in result.findings)


def test_a_changed_dependency_folder_is_named_and_the_pipeline_is_stale(repo):
    flip_one_byte(repo / "stimuli/jailbreak.jsonl")
    result = audit(repo)
    a = [f for f in result.findings if f.check == "a"]
    assert {f.path for f in a} == {"stimuli"} and all(f.expected.endswith(".dir") and f.actual for f in a)
    assert any(f.check == "c" and f.path == "stimuli" and "modified" in f.message for f in result.findings)


def test_cli_table_and_exit_code(repo):
    ok = run_cli("audit", cwd=repo, env=PIPELINE_ENV)
    assert ok.returncode == 0 and "audit passed" in ok.stdout, ok.stdout + ok.stderr
    flip_one_byte(repo / "metrics/train/tiny/core/seed-1.json")
    bad = run_cli("audit", cwd=repo, env=PIPELINE_ENV)
    assert bad.returncode == 1
    assert "metrics/train/tiny/core/seed-1.json" in bad.stdout and "md5 differs from dvc.lock" in bad.stdout


def test_untracked_file_in_a_data_folder(repo):
    (repo / "models" / "tiny" / "stray.bin").write_bytes(b"\0" * 10)
    (repo / "data" / "notes.txt").write_text("hi\n", encoding="utf-8")
    result = audit(repo, pipeline_status=False)
    assert sorted(f.path for f in result.findings if f.check == "e") == ["data/notes.txt", "models/tiny/stray.bin"]


def test_corrupted_dvc_lock_is_a_clear_error_and_nothing_changes(repo):
    lock = repo / "dvc.lock"
    lock.write_text(lock.read_text(encoding="utf-8").replace("stages:", "stages: [", 1), encoding="utf-8")
    before = tree_digest(repo)
    proc = run_cli("audit", cwd=repo, env=PIPELINE_ENV)
    assert proc.returncode == 2
    assert proc.stderr.startswith("babyctl: error: dvc.lock:") and "corrupted" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree_digest(repo) == before


def test_missing_cache_object_is_reported(repo):
    tracked = load_tracked(repo)
    out = next(e for e in tracked.entries if e.path == "data/build/core" and e.kind == "out")
    obj = cache_object(repo, out.md5)
    assert obj.is_file()
    obj.unlink()
    before = tree_digest(repo)
    result = audit(repo)
    assert any(f.check == "c" and f.path == "data/build/core" and "not in cache" in f.message for f in result.findings)
    assert tree_digest(repo) == before


def test_ledger_line_outside_the_repo_is_refused(repo):
    outside = repo.parent / "x.txt"
    outside.write_text("x\n", encoding="utf-8")
    with open(repo / "SHA256SUMS", "a", encoding="utf-8") as f:
        f.write(f"{hashlib.sha256(b'x' + bytes([10])).hexdigest()}  ../x.txt\n")
    result = audit(repo, pipeline_status=False)
    refused = [f for f in result.findings if f.path == "../x.txt"]
    assert len(refused) == 1 and "outside the repository refused" in refused[0].message


def test_symlink_out_of_the_repo_is_refused(repo):
    secret = repo.parent / "secret.txt"
    secret.write_text("secret\n", encoding="utf-8")
    os.symlink(secret, repo / "data" / "build" / "core" / "extra.jsonl")
    before = tree_digest(repo)
    result = audit(repo, pipeline_status=False)
    assert any(f.path == "data/build/core/extra.jsonl" and "symlink points outside the repository" in f.message
               for f in result.findings)
    assert tree_digest(repo) == before


def test_consent_that_does_not_cover_the_run_is_a_finding(repo):
    """Re-code the consent as 'no fine-tuning' and make provenance agree on its hash: (d) must still refuse."""
    cpath = repo / "consent_records/tiny-fixture.json"
    record = json.loads(cpath.read_text(encoding="utf-8"))
    record["consents_to"]["fine_tuning"] = False
    cpath.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    ppath = repo / "models/tiny/core/seed-1/provenance.json"
    prov = json.loads(ppath.read_text(encoding="utf-8"))
    prov["consent"]["sha256"] = hashlib.sha256(cpath.read_bytes()).hexdigest()
    ppath.write_text(json.dumps(prov, indent=2) + "\n", encoding="utf-8")
    findings, n = check_adapters(load_tracked(repo), HashCache(repo))
    assert n == 1
    assert [f.message for f in findings] == [
        "consent does not cover models/tiny/core/seed-1: record does not consent to fine tuning"]


def test_consent_after_the_run_is_a_finding(repo):
    cpath = repo / "consent_records/tiny-fixture.json"
    record = json.loads(cpath.read_text(encoding="utf-8"))
    ppath = repo / "models/tiny/core/seed-1/provenance.json"
    prov = json.loads(ppath.read_text(encoding="utf-8"))
    record["asked_at"] = "2999-01-01T00:00:00Z"
    cpath.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    prov["consent"]["sha256"] = hashlib.sha256(cpath.read_bytes()).hexdigest()
    ppath.write_text(json.dumps(prov, indent=2) + "\n", encoding="utf-8")
    findings, _ = check_adapters(load_tracked(repo), HashCache(repo))
    assert any("does not predate" in f.message for f in findings), findings


def test_provenance_naming_another_dataset_is_a_finding(repo):
    ppath = repo / "models/tiny/core/seed-1/provenance.json"
    prov = json.loads(ppath.read_text(encoding="utf-8"))
    real = prov["dataset"]["sha256"]
    prov["dataset"]["sha256"] = "0" * 64
    ppath.write_text(json.dumps(prov, indent=2) + "\n", encoding="utf-8")
    findings, _ = check_adapters(load_tracked(repo), HashCache(repo))
    assert any(f.path == "models/tiny/core/seed-1/provenance.json" and f.expected == "0" * 64 and f.actual == real
               for f in findings), findings


def test_not_a_dvc_repository(tmp_path):
    with pytest.raises(InputError, match="not a DVC repository"):
        audit(tmp_path)
    proc = run_cli("audit", cwd=tmp_path)
    assert proc.returncode == 2 and "not a DVC repository" in proc.stderr
