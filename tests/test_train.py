"""babyctl train end to end on the tiny model: outputs, provenance, determinism, reload,
atomicity, and bad input. Real transformers + peft + trl training on CPU (no mocks except where
noted: a real out-of-memory cannot be produced here)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from babyctl.errors import EnvironmentProblem, GateRefused, InputError
from babyctl.fsutil import md5_file, sha256_file
from babyctl.schemas.provenance import AdapterProvenance
from conftest import copy_experiment, install_tiny_model, run_cli, write_core_build

pytestmark = pytest.mark.slow


def _exp_of(run_dir: Path) -> Path:
    return run_dir.parents[3]


@pytest.fixture
def ready(tmp_path, tiny_model_dir) -> Path:
    """A fresh experiment with the tiny model and the core build in place (nothing trained)."""
    exp = copy_experiment(tmp_path / "exp")
    install_tiny_model(exp, tiny_model_dir)
    write_core_build(exp)
    return exp


# --- outputs and provenance -------------------------------------------------------------------
def test_outputs_and_provenance(trained_run):
    exp = _exp_of(trained_run)
    adapter = trained_run / "adapter"
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    prov = AdapterProvenance.model_validate_json((trained_run / "provenance.json").read_text())
    params = yaml.safe_load((exp / "params.yaml").read_text())
    data = exp / "data/build/core/train.jsonl"
    assert (prov.substrate, prov.condition, prov.seed, prov.backend, prov.device) == ("tiny", "core", 1, "hf", "cpu")
    assert prov.params["training"] == params["training"]  # exactly as used, nothing dropped or added
    assert prov.dataset.path == "data/build/core/train.jsonl"
    assert (prov.dataset.sha256, prov.dataset.md5) == (sha256_file(data), md5_file(data))
    assert prov.base_model.local_path == "models/base/tiny"
    assert prov.base_model.weights_sha256 == sha256_file(exp / "models/base/tiny/model.safetensors")
    consent = exp / "consent_records/tiny-fixture.json"
    assert (prov.consent.id, prov.consent.sha256, prov.consent.decision) == ("tiny-fixture", sha256_file(consent), "yes")
    assert prov.git.commit and len(prov.git.commit) == 40
    assert {"torch", "transformers", "peft", "trl"} <= set(prov.libraries)
    assert prov.started_at <= prov.ended_at and prov.started_at.utcoffset().total_seconds() == 0
    assert {f.path: f.sha256 for f in prov.adapter_files} == {
        f"adapter/{p.name}": sha256_file(p) for p in adapter.iterdir()}
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "models/base/tiny"  # stable, not the temp path it was loaded from
    assert cfg["target_modules"] == sorted(params["training"]["lora"]["target_modules"])
    assert (cfg["r"], cfg["lora_alpha"]) == (params["training"]["lora"]["r"], params["training"]["lora"]["alpha"])


def test_metrics_and_loss_tsv(trained_run):
    exp = _exp_of(trained_run)
    metrics = json.loads((exp / "metrics/train/tiny/core/seed-1.json").read_text())
    steps = yaml.safe_load((exp / "params.yaml").read_text())["training"]["max_steps"]
    assert metrics["steps"] == steps and metrics["examples"] == 24
    assert 0 < metrics["loss_tokens"] < metrics["tokens"]  # assistant-only loss
    rows = (exp / "metrics/train/tiny/core/seed-1.loss.tsv").read_text().splitlines()
    assert rows[0] == "step\tloss" and len(rows) == steps + 1
    losses = [float(r.split("\t")[1]) for r in rows[1:]]
    assert [int(r.split("\t")[0]) for r in rows[1:]] == list(range(1, steps + 1))
    assert losses[-1] == metrics["final_loss"] and min(losses) < losses[0]  # it learned something


# --- determinism ------------------------------------------------------------------------------
def test_same_seed_is_byte_identical_other_seed_differs(trained_run, ready):
    """A second process, a second experiment copy: seed 1 again gives the same bytes."""
    from babyctl.train.run import train

    proc = run_cli("train", "--substrate", "tiny", "--condition", "core", "--seed", "1", cwd=ready)
    assert proc.returncode == 0, proc.stderr
    train(ready / "params.yaml", substrate="tiny", condition="core", seed=2, progress=False)
    first, again = trained_run / "adapter", ready / "models/tiny/core/seed-1/adapter"
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    other = ready / "models/tiny/core/seed-2/adapter/adapter_model.safetensors"
    assert other.read_bytes() != (first / "adapter_model.safetensors").read_bytes()


# --- reload -----------------------------------------------------------------------------------
def test_reloaded_adapter_reproduces_trained_logits(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from babyctl.schemas.params import Training
    from babyctl.train.backends import ModelSource, hf
    from babyctl.train.data import encode_dataset

    exp = copy_experiment(tmp_path / "exp", with_git=False)
    data = write_core_build(exp)
    training = Training(max_steps=4, learning_rate=5e-3, batch_size=2, max_seq_length=512)
    model, tok = hf.load_model(ModelSource(str(tiny_model_dir), local=True), training, seed=3)
    ds = encode_dataset(tok, data, max_seq_length=512)
    hf.fit(model, tok, ds, training, seed=3, progress=False)
    ids = torch.tensor([ds.examples[0].input_ids])
    model.eval()
    with torch.no_grad():
        trained = model(input_ids=ids).logits
    hf.save_adapter(model, tmp_path / "adapter", "models/base/tiny", None)

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    with torch.no_grad():
        again = reloaded(input_ids=ids).logits
    assert torch.allclose(trained, again, atol=1e-6, rtol=0)
    assert (trained - base_logits).abs().max() > 1e-3  # the adapter changes the model


# --- atomicity --------------------------------------------------------------------------------
def test_crash_while_saving_leaves_no_half_written_run(ready, monkeypatch):
    from babyctl.train import run
    from babyctl.train.backends import hf

    run.train(ready / "params.yaml", substrate="tiny", condition="core", seed=1, progress=False)
    seed_dir = ready / "models/tiny/core"
    before = {p.relative_to(seed_dir): p.read_bytes() for p in seed_dir.rglob("*") if p.is_file()}
    metrics_before = (ready / "metrics/train/tiny/core/seed-1.json").read_bytes()

    real_save = hf.save_adapter

    def crash(model, out_dir, *a, **kw):  # write part of the adapter, then die
        real_save(model, out_dir, *a, **kw)
        (Path(out_dir) / "adapter_model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(hf, "save_adapter", crash)
    for seed in (1, 5):
        with pytest.raises(KeyboardInterrupt):
            run.train(ready / "params.yaml", substrate="tiny", condition="core", seed=seed, progress=False)
    after = {p.relative_to(seed_dir): p.read_bytes() for p in seed_dir.rglob("*") if p.is_file()}
    assert after == before  # the finished seed-1 run is untouched; no seed-5 folder at all
    assert sorted(p.name for p in seed_dir.iterdir()) == ["seed-1"]  # no *.partial leftovers
    assert (ready / "metrics/train/tiny/core/seed-1.json").read_bytes() == metrics_before
    assert not (ready / "metrics/train/tiny/core/seed-5.json").exists()


def test_out_of_memory_becomes_a_clear_error(ready, monkeypatch):
    """A real OOM cannot be produced on this machine: the trainer is made to raise the error
    torch raises when memory runs out, and babyctl must turn it into an EnvironmentProblem."""
    import torch
    from trl import SFTTrainer

    from babyctl.train import run

    def oom(self, *a, **kw):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(SFTTrainer, "train", oom)
    with pytest.raises(EnvironmentProblem, match="out of memory on cpu while training.*batch_size"):
        run.train(ready / "params.yaml", substrate="tiny", condition="core", seed=1, progress=False)
    assert not (ready / "models/tiny").exists()


# --- bad input --------------------------------------------------------------------------------
def _cli_train(exp: Path, *extra: str, substrate="tiny", condition="core"):
    return run_cli("train", "--substrate", substrate, "--condition", condition, "--seed", "1", *extra, cwd=exp)


def _line_of(path: Path, needle: str, after: str = "") -> int:
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if after in ln) if after else 0
    return next(i for i, ln in enumerate(lines) if i >= start and needle in ln) + 1


def test_missing_base_model(tmp_path):
    exp = copy_experiment(tmp_path / "exp")
    write_core_build(exp)
    proc = _cli_train(exp)
    line = _line_of(exp / "params.yaml", "local_path:")
    assert proc.returncode == 2
    assert (f"babyctl: error: params.yaml:{line}: substrate 'tiny': no base model weights "
            "(*.safetensors or *.bin) at models/base/tiny (run: babyctl tiny-model)") in proc.stderr


def test_corrupt_tokenizer(ready):
    tok = ready / "models/base/tiny/tokenizer.json"
    from babyctl.train.run import train

    tok.write_text('{"version": "1.0", "model": {"type": "BPE", "vocab": ', encoding="utf-8")
    with pytest.raises(InputError) as err:
        train(ready / "params.yaml", substrate="tiny", condition="core", seed=1)
    assert str(err.value).startswith(f"{tok}: cannot load the tokenizer")
    assert not (ready / "models/tiny").exists()


def test_empty_and_missing_dataset(ready):
    data = ready / "data/build/core/train.jsonl"
    data.write_text("", encoding="utf-8")
    proc = _cli_train(ready)
    assert proc.returncode == 2 and f"{data}: training data is empty" in proc.stderr
    shutil.rmtree(ready / "data/build/core")
    proc = _cli_train(ready)
    assert proc.returncode == 2
    assert "no build output for condition 'core' (run: babyctl build core)" in proc.stderr


def test_unknown_substrate_and_condition(ready):
    proc = _cli_train(ready, substrate="gpt5")
    assert proc.returncode == 2 and "unknown substrate 'gpt5' (params.yaml defines: tiny, hermes, dolphin, llama3)" in proc.stderr
    proc = _cli_train(ready, condition="nope")
    assert proc.returncode == 2 and "unknown condition 'nope' (params.yaml defines: core, core-shuffled, neutral, core-prompted)" in proc.stderr


def test_hub_substrate_needs_a_pinned_revision(ready):
    from babyctl.train.run import train

    params = ready / "params.yaml"
    text = params.read_text()
    start = text.index("hub_id: NousResearch/Hermes-3-Llama-3.1-8B")
    rev = text.index("revision:", start)
    params.write_text(text[:rev] + "revision: null" + text[text.index("\n", rev):])
    (ready / "data/build/core").mkdir(parents=True, exist_ok=True)
    with pytest.raises(GateRefused) as err:
        train(params, substrate="hermes", condition="core", seed=1)
    line = _line_of(params, "revision:", after="hub_id: NousResearch")
    assert str(err.value).startswith(f"{params}:{line}: substrate 'hermes' (NousResearch/Hermes-3-Llama-3.1-8B) "
                                     "has no pinned revision")


def test_pinned_hub_substrate_offline_fails_clearly(ready):
    """HF_HUB_OFFLINE=1 (conftest): the pinned 8B download cannot happen here and must say so."""
    from babyctl.train.run import train

    with pytest.raises(EnvironmentProblem) as err:
        train(ready / "params.yaml", substrate="hermes", condition="core", seed=1)
    assert "cannot load the tokenizer NousResearch/Hermes-3-Llama-3.1-8B@67bf4aca" in str(err.value)
    assert not (ready / "models/hermes").exists()
