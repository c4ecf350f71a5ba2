"""A real SSH remote (issue 17 item 2-3): the auditor's push -> fresh clone -> dvc pull -> audit cycle,
and two hosts sharing one study through the remote and DVC's run-cache.

The server is Debian's OpenSSH (tests/sshserver.py: /usr/sbin/sshd on 127.0.0.1, per-test host
and client keys, strict host-key checking); the client is dvc-ssh. Nothing is mocked. The
local-folder remote keeps its own tests (tests/test_pipeline.py, the README tour).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import sshserver
from conftest import copy_experiment, copy_repo, git

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sshserver.available() is not None, reason=str(sshserver.available()))]


@pytest.fixture
def ssh(tmp_path):
    with sshserver.SshServer(tmp_path / "sshd") as server:
        yield server


def runner(ssh: sshserver.SshServer):
    env = {**ssh.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "HF_HUB_OFFLINE": "1"}

    def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "dvc", *args[1:]] if args[0] == "dvc" else list(args)
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        if check:
            assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
        return run(cwd, "dvc", *args)

    return run, dvc


def clone(src: Path, dest: Path, ssh: sshserver.SshServer, dvc) -> Path:
    """What a second person does: git clone, then their own key for the remote (config.local)."""
    git(src.parent, "clone", "-q", str(src), str(dest))
    git(dest, "config", "user.email", "host@babyctl.invalid")
    git(dest, "config", "user.name", "another host")
    remote = yaml.safe_load(subprocess.run([sys.executable, "-m", "dvc", "config", "core.remote"], cwd=dest,
                                           capture_output=True, text=True).stdout or "null")
    dvc(dest, "remote", "modify", "--local", remote, "user", ssh.user)
    dvc(dest, "remote", "modify", "--local", remote, "keyfile", str(ssh.keyfile))
    return dest


def test_push_fresh_clone_pull_audit_over_ssh(pipeline_repo, tmp_path, ssh):
    run, dvc = runner(ssh)
    repo = copy_repo(pipeline_repo, tmp_path / "study")
    (tmp_path / "store").mkdir()
    ssh.configure_remote(repo, "shared", tmp_path / "store", dvc)
    git(repo, "commit", "-qam", "DVC remote over SSH")
    assert "pushed" in dvc(repo, "push").stdout
    assert any((tmp_path / "store" / "files" / "md5").iterdir())

    auditor = clone(repo, tmp_path / "auditor", ssh, dvc)
    before = run(auditor, "babyctl", "audit", "--format", "json", check=False)
    assert before.returncode == 1 and any("missing" in f["message"] for f in json.loads(before.stdout)["findings"])
    dvc(auditor, "pull")
    proc = run(auditor, "babyctl", "audit", "--format", "json", check=False)
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["ok"], data["findings"]
    assert data["header"]["remotes"]["shared"] == ssh.url(tmp_path / "store")  # (+ the fixture's folder remote)
    assert data["header"]["default_remote"] == "shared" and data["header"]["tree_clean"] is True
    # the key path stayed on this machine: it is in config.local, not in the committed config
    assert str(ssh.keyfile) not in (auditor / ".dvc" / "config").read_text()
    md = run(auditor, "babyctl", "audit", "--format", "md")
    assert f"| DVC remote | `shared (default): {ssh.url(tmp_path / 'store')}; store: " in md.stdout


def ran(output: str, stage: str) -> bool:
    return f"Running stage '{stage}'" in output


def restored(output: str, stage: str) -> bool:
    return f"Stage '{stage}' is cached - skipping run, checking out outputs" in output


def test_two_hosts_share_stages_through_the_run_cache(tmp_path, ssh):
    """Host A trains seed 1, host B seed 2; each pushes with --run-cache. After `dvc fetch --run-cache`
    either host runs the report, and no stage another host pushed runs again."""
    run, dvc = runner(ssh)
    origin = copy_experiment(tmp_path / "origin", with_dvc=True)
    params = yaml.safe_load((origin / "params.yaml").read_text(encoding="utf-8"))
    params["training"]["seeds"] = [1, 2]
    (origin / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    # docs/remotes.md: for the run-cache to carry a stage between hosts, every output of it must be
    # in DVC's cache -- `dvc push --run-cache` does not upload `cache: false` outputs (DVC 3.67).
    # The shipped dvc.yaml caches every train output for that reason.
    dvc_yaml = (origin / "dvc.yaml").read_text(encoding="utf-8")
    train_section = dvc_yaml[dvc_yaml.index("  train:"):dvc_yaml.index("\n  eval-baseline:")]
    assert "cache: false" not in train_section and train_section.count("cache: true") >= 3
    (tmp_path / "store").mkdir()
    ssh.configure_remote(origin, "shared", tmp_path / "store", dvc)
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "study with an SSH remote")
    a = clone(origin, tmp_path / "host-a", ssh, dvc)
    b = clone(origin, tmp_path / "host-b", ssh, dvc)

    def repro(host: Path, *targets: str) -> str:
        proc = dvc(host, "repro", *targets)
        return proc.stdout + proc.stderr

    out_a = repro(a, "train@tiny-core-1", "eval@tiny-core-1")
    assert ran(out_a, "train@tiny-core-1") and ran(out_a, "eval@tiny-core-1")
    dvc(a, "push", "--run-cache")

    # `fetch`: the run-cache and its objects, no checkout (B's dvc.lock does not name A's stages yet,
    # so `dvc pull --run-cache` would also try, and fail, to check out every stage's outputs)
    dvc(b, "fetch", "--run-cache")
    out_b = repro(b, "train@tiny-core-2", "eval@tiny-core-2")
    assert ran(out_b, "train@tiny-core-2") and ran(out_b, "eval@tiny-core-2")
    dvc(b, "push", "--run-cache")

    # validate (its report is not a cached output), tiny-model (no deps) and build are cheap and
    # deterministic: DVC's run-cache does not cover the first two, so each host runs them itself;
    # training and evaluation pushed by one host are never run again by the other
    for host, mine, theirs in ((a, "1", "2"), (b, "2", "1")):
        dvc(host, "fetch", "--run-cache")
        out = repro(host, "--pull")  # --pull: the objects of the run-cache entries it restores
        for stage in (f"train@tiny-core-{theirs}", f"eval@tiny-core-{theirs}"):
            assert restored(out, stage) and not ran(out, stage), (stage, out)
        for stage in (f"train@tiny-core-{mine}", f"eval@tiny-core-{mine}"):
            assert not ran(out, stage), (stage, out)
        assert ran(out, "report") and (host / "reports" / "report.md").is_file()
        assert dvc(host, "status", "--json").stdout.strip() == "{}"
        dvc(host, "push", "--run-cache")
    # the two hosts hold the same adapters, byte for byte
    for seed in (1, 2):
        rel = f"models/tiny/core/seed-{seed}/adapter/adapter_model.safetensors"
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def test_queued_seeds_run_two_at_a_time(tmp_path, ssh):
    """`dvc exp run --queue` per seed + `dvc queue start -j 2` on the tiny model; the results are
    pushed to the shared SSH remote."""
    run, dvc = runner(ssh)
    study = copy_experiment(tmp_path / "study", with_dvc=True)
    (tmp_path / "store").mkdir()
    ssh.configure_remote(study, "shared", tmp_path / "store", dvc)
    git(study, "add", "-A")
    git(study, "commit", "-qm", "study")
    for seed in (1, 2):
        dvc(study, "exp", "run", "--queue", "-n", f"seed-{seed}", "-S", f"training.seeds=[{seed}]")
    assert dvc(study, "queue", "start", "-j", "2").returncode == 0
    for name in ("seed-1", "seed-2"):  # `dvc queue logs --follow` returns when that experiment has ended
        dvc(study, "queue", "logs", "--follow", name)
    status = run(study, "dvc", "queue", "status").stdout
    assert status.count("Success") == 2, status
    assert "Failed" not in status, run(study, "dvc", "queue", "logs", "seed-1", check=False).stdout
    shown = json.loads(run(study, "dvc", "exp", "show", "--json").stdout)
    exps = {e["name"]: e for row in shown for e in (row.get("experiments") or [])}
    assert {"seed-1", "seed-2"} <= set(exps), shown
    for seed in (1, 2):
        revs = exps[f"seed-{seed}"]["revs"][0]["data"]
        assert revs["params"]["params.yaml"]["data"]["training"]["seeds"] == [seed]
        metrics = revs["metrics"]  # the headline metrics of the experiment's own report
        assert any(k.startswith("metrics/headline/") for k in metrics), metrics.keys()
    dvc(study, "exp", "apply", "seed-2")
    assert (study / "models/tiny/core/seed-2/adapter/adapter_model.safetensors").is_file()
    dvc(study, "push")
