"""The DVC pipeline end to end: repro -> push -> clone -> pull -> audit -> tamper -> audit."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest
import yaml

from conftest import PIPELINE_ENV, changed_stages, copy_repo, dvc, git, run_cli, set_params

pytestmark = pytest.mark.slow


def test_full_cycle_push_clone_pull_audit_tamper(pipeline_repo, tmp_path):
    exp = pipeline_repo
    # every stage ran and nothing is stale
    lock = yaml.safe_load((exp / "dvc.lock").read_text(encoding="utf-8"))
    assert {"validate", "tiny-model", "build@core", "train@tiny-core-1", "eval-baseline@tiny",
            "eval@tiny-core-1", "report", "ledger"} <= set(lock["stages"])
    assert dvc(exp, "status", "--json").stdout.strip() == "{}"

    dvc(copy_repo(exp, tmp_path / "pusher"), "push", "-q")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(exp), str(clone)], check=True, capture_output=True)
    assert not (clone / "models/tiny/core/seed-1").exists()  # data is not in git
    dvc(clone, "pull", "-q")

    proc = run_cli("audit", cwd=clone, env=PIPELINE_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "audit passed" in proc.stdout
    sums = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=clone, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    assert "models/tiny/core/seed-1/adapter/adapter_model.safetensors: OK" in sums.stdout

    weights = clone / "models/tiny/core/seed-1/adapter/adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    before_md5, before_sha = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))  # DVC's default cache is copies, so the cache stays intact
    proc = run_cli("audit", "--json", cwd=clone, env=PIPELINE_ENV)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    rel = "models/tiny/core/seed-1/adapter/adapter_model.safetensors"
    want = {"check": "a", "path": rel, "message": "md5 differs from dvc.lock", "expected": before_md5,
            "actual": hashlib.md5(data).hexdigest(), "source": "dvc.lock:train@tiny-core-1"}
    assert any({k: f.get(k) for k in want} == want for f in report["findings"])
    assert any(f["check"] == "b" and f["path"] == rel and f["expected"] == before_sha
               and f["actual"] == hashlib.sha256(data).hexdigest() for f in report["findings"])
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=clone, capture_output=True).returncode == 1


# validate reads every params section a later stage reads (a typo stops the pipeline before DVC
# deletes any output), so it is stale after every change; its byte-identical build keeps train as is
@pytest.mark.parametrize("param, value, stages", [
    # validate reads every params section a later stage reads (dvc.yaml), so it is stale too
    ("training.learning_rate", 0.002, {"validate", "train@tiny-core-1"}),
    ("eval.max_new_tokens", 16, {"validate", "eval-baseline@tiny", "eval@tiny-core-1",
                                 "eval-prompted@tiny-core-prompted", "report"}),
    ("capability.num_fewshot", 1, {"validate", "capability-baseline@tiny", "capability@tiny-core-1"}),
    ("conditions.core.seed", 5, {"validate", "build@core"}),
    ("conditions.neutral.expected_count", 9, {"validate"}),  # an inactive condition: no build@neutral
    ("publish.citation", "x", {"validate"}),  # only validate reads publish (the repo-name template)
])
def test_a_param_change_invalidates_only_the_stages_that_read_it(pipeline_repo, tmp_path, param, value, stages):
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    set_params(repo, **{param.replace(".", "__"): value})
    # the ledger hashes params.yaml itself, so it re-runs whenever the file changes
    assert changed_stages(repo) == stages | {"ledger"}


def test_a_rebuild_with_the_same_output_does_not_retrain(pipeline_repo, tmp_path):
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    set_params(repo, validate__near_duplicate_threshold=0.95)
    proc = dvc(repo, "repro")
    ran = set(re.findall(r"Running stage '([^']+)'", proc.stdout))
    # validate re-runs (its report carries a time), so build@core re-runs; the build is
    # byte-identical, so DVC sees train's input unchanged and nothing after it runs
    assert {"validate", "build@core"} <= ran
    assert not ran & {"tiny-model", "train@tiny-core-1", "eval@tiny-core-1", "eval-baseline@tiny", "report"}
    assert dvc(repo, "status", "--json").stdout.strip() == "{}"
    assert run_cli("ledger", "--check", cwd=repo).returncode == 0


def test_clean_clone_has_no_data_and_audit_says_so(pipeline_repo, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(pipeline_repo), str(clone)], check=True, capture_output=True)
    proc = run_cli("audit", "--json", "--no-status", cwd=clone, env=PIPELINE_ENV)
    assert proc.returncode == 1
    findings = json.loads(proc.stdout)["findings"]
    assert any(f["path"] == "models/tiny/core/seed-1" and "missing from the workspace" in f["message"] for f in findings)
    assert git(clone, "status", "--porcelain") == ""  # audit wrote nothing
