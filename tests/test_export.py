"""babyctl export --merged on the tiny model (real transformers + peft, CPU): the merged folder
loads with plain transformers and gives the same greedy completions as base + adapter; its
provenance points at the adapter's; a tampered adapter is refused."""
from __future__ import annotations

import json
import shutil

import pytest

from babyctl.errors import IntegrityError
from babyctl.fsutil import sha256_file
from conftest import copy_experiment, install_tiny_model, run_cli

pytestmark = pytest.mark.slow

PROMPTS = ["Can you help me plan my week?", "What should I do when I make a mistake?",
           "Tell me about the moon.", "I feel unsure about this decision."]


@pytest.fixture
def exp(tmp_path, tiny_model_dir, trained_run):
    e = copy_experiment(tmp_path / "exp", with_git=False)
    install_tiny_model(e, tiny_model_dir)
    shutil.copytree(trained_run, e / "models/tiny/core/seed-1")
    return e


def _greedy(model, tok, prompts):
    import torch

    out = []
    for p in prompts:
        enc = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
        with torch.no_grad():
            g = model.generate(**enc, max_new_tokens=16, do_sample=False, temperature=None, top_p=None,
                               top_k=None, pad_token_id=tok.pad_token_id)
        out.append(g[0, enc["input_ids"].shape[1]:].tolist())
    return out


def test_merged_export_round_trips(exp):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    proc = run_cli("export", "--substrate", "tiny", "--condition", "core", "--seed", "1", "--merged", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    out = exp / "exports/tiny/core/seed-1-merged"
    assert "exports/tiny/core/seed-1-merged" in proc.stdout
    names = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" in names and "config.json" in names and "provenance.json" in names
    assert "tokenizer.json" in names
    assert not any(n.startswith("adapter") for n in names)  # merged: no adapter files
    merged = AutoModelForCausalLM.from_pretrained(out)
    assert merged.dtype == torch.bfloat16  # 16-bit, as saved
    tok = AutoTokenizer.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(exp / "models/base/tiny", dtype=torch.float32)
    ref = PeftModel.from_pretrained(base, exp / "models/tiny/core/seed-1/adapter").eval()
    assert _greedy(merged.float().eval(), tok, PROMPTS) == _greedy(ref, tok, PROMPTS)
    prov = json.loads((out / "provenance.json").read_text())
    adapter_prov = exp / "models/tiny/core/seed-1/provenance.json"
    assert prov["params"]["adapter_provenance"] == {"path": "models/tiny/core/seed-1/provenance.json",
                                                   "sha256": sha256_file(adapter_prov)}
    assert prov["params"]["adapter_sha256"] == sha256_file(exp / "models/tiny/core/seed-1/adapter/adapter_model.safetensors")
    assert prov["params"]["dtype"] == "bfloat16" and prov["seed"] == 1
    files = {f["path"]: f["sha256"] for f in prov["params"]["files"]}
    assert files["model.safetensors"] == sha256_file(out / "model.safetensors")


def test_tampered_adapter_is_not_exported(exp):
    from babyctl.export import export_merged

    w = exp / "models/tiny/core/seed-1/adapter/adapter_model.safetensors"
    w.write_bytes(w.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(IntegrityError, match="changed since training"):
        export_merged(exp / "params.yaml", substrate="tiny", condition="core", seed=1)
    assert not (exp / "exports").exists() or not any((exp / "exports").rglob("*.safetensors"))
