"""Settings profiles (issue 16): `babyctl profile 8b|tiny` writes profiles/*.yaml into params.yaml,
`dvc params diff` shows the switch in a real git + DVC repo, and the 8B check flags tiny settings."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from babyctl.config import load_params
from babyctl.profiles import apply_profile, tiny_settings_on_8b
from conftest import REPO, copy_experiment, git, run_cli


@pytest.fixture
def exp(tmp_path):
    e = copy_experiment(tmp_path / "exp", with_git=False)
    shutil.copytree(REPO / "profiles", e / "profiles")
    return e


def test_8b_profile_sets_the_study_settings_and_tiny_restores_bytes(exp):
    before = (exp / "params.yaml").read_text()
    changed = apply_profile(exp / "params.yaml", "8b")
    p = load_params(exp / "params.yaml")
    t = p.training
    assert p.profile == "8b" and p.active_substrates == ["hermes", "dolphin", "llama3"]
    assert (t.lora.r, t.lora.alpha, t.lora.dropout, t.lora.load_in_4bit) == (16, 32, 0.05, True)
    assert sorted(t.lora.target_modules) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    assert (t.learning_rate, t.warmup_ratio, t.weight_decay, t.optim, t.bf16) == (2e-4, 0.03, 0.01, "adamw_8bit", True)
    assert 8 <= t.batch_size * t.grad_accum <= 16 and t.max_seq_length == 2048 and t.max_steps == -1
    assert len(t.seeds) >= 3 and p.eval.max_new_tokens >= 512 and p.eval.base_quantization == "as_trained"
    assert {"training.lora.r", "training.optim", "eval.max_new_tokens", "active_substrates"} <= set(changed)
    after = (exp / "params.yaml").read_text()
    assert "# The experiment's configuration." in after and "# a commit of the Hub repo" in after  # comments kept
    assert tiny_settings_on_8b(yaml.safe_load(after)) == []  # the 8B profile passes its own check
    apply_profile(exp / "params.yaml", "tiny")
    assert (exp / "params.yaml").read_text() == before  # the shipped params.yaml IS the tiny profile


def test_unknown_profile_and_invalid_result_change_nothing(exp):
    before = (exp / "params.yaml").read_text()
    proc = run_cli("profile", "70b", cwd=exp)
    assert proc.returncode == 2 and "no profile '70b'" in proc.stderr and "8b, tiny" in proc.stderr
    (exp / "profiles" / "bad.yaml").write_text("training:\n  lora:\n    r: -3\n")
    proc = run_cli("profile", "bad", cwd=exp)
    assert proc.returncode != 0 and "training.lora.r" in proc.stderr
    assert (exp / "params.yaml").read_text() == before


@pytest.mark.slow
def test_dvc_params_diff_shows_the_switch(tmp_path):
    exp = copy_experiment(tmp_path / "exp", with_dvc=True)
    shutil.copytree(REPO / "profiles", exp / "profiles")
    proc = run_cli("profile", "8b", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    assert "params.yaml: training.lora.r" in proc.stdout
    out = subprocess.run([sys.executable, "-m", "dvc", "params", "diff", "--json"], cwd=exp,
                         capture_output=True, text=True, check=True).stdout
    diff = {k: {"old": v["old"], "new": v["new"]} for k, v in json.loads(out)["params.yaml"].items()}
    assert diff["training.lora.r"] == {"old": 8, "new": 16}
    assert diff["training.lora.alpha"] == {"old": 16, "new": 32}
    assert diff["training.learning_rate"] == {"old": 0.001, "new": 0.0002}
    assert diff["training.optim"] == {"old": "adamw_torch", "new": "adamw_8bit"}
    assert diff["training.weight_decay"] == {"old": 0.0, "new": 0.01}
    assert diff["training.lora.load_in_4bit"] == {"old": False, "new": True}
    assert diff["eval.max_new_tokens"] == {"old": 24, "new": 512}
    assert diff["training.max_seq_length"] == {"old": 512, "new": 2048}
    git(exp, "commit", "-qam", "8b profile")
    run_cli("profile", "tiny", cwd=exp)
    back = json.loads(subprocess.run([sys.executable, "-m", "dvc", "params", "diff", "--json"], cwd=exp,
                                     capture_output=True, text=True, check=True).stdout)["params.yaml"]
    assert (back["training.lora.r"]["old"], back["training.lora.r"]["new"]) == (16, 8)


def test_tiny_settings_on_8b_substrates_are_named(repo_root):
    data = yaml.safe_load((repo_root / "params.yaml").read_text())
    assert tiny_settings_on_8b(data) == []  # tiny settings on the tiny model are fine
    data["active_substrates"] = ["hermes"]
    found = {f.dotted: f.message for f in tiny_settings_on_8b(data)}
    # 12 steps x batch 2 cover core's 24 examples once: not flagged; the rest is
    assert set(found) == {"eval.max_new_tokens", "training.max_seq_length", "training.seeds"}
    data["training"]["max_steps"] = 11
    found = {f.dotted: f.message for f in tiny_settings_on_8b(data)}
    assert "cover 22 of the 24 examples of condition 'core', less than one epoch (12 steps)" in found["training.max_steps"]
    data["training"].update(max_steps=-1, max_seq_length=2048, seeds=[1, 2, 3])
    data["eval"]["max_new_tokens"] = 512
    assert tiny_settings_on_8b(data) == []


def test_validate_refuses_tiny_settings_on_8b_naming_key_and_line(exp):
    p = exp / "params.yaml"
    p.write_text(p.read_text().replace("active_substrates: [tiny]", "active_substrates: [hermes]"))
    lines = p.read_text().splitlines()
    proc = run_cli("validate", cwd=exp)
    assert proc.returncode == 1
    bc707 = [line for line in proc.stdout.splitlines() if " BC707 " in line]
    at = {line.split(" BC707 ")[1].split(":")[0]: int(line.split(":")[1]) for line in bc707}
    assert set(at) == {"training.max_seq_length", "training.seeds", "eval.max_new_tokens"}
    assert lines[at["eval.max_new_tokens"] - 1].strip() == "max_new_tokens: 24"
    assert lines[at["training.seeds"] - 1].strip() == "seeds: [1, 2]"
    apply_profile(p, "8b")
    proc = run_cli("validate", cwd=exp)
    assert " BC707 " not in proc.stdout, proc.stdout
