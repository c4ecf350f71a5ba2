"""Issue 16 on the tiny model (real transformers + peft + trl training on CPU, no mocks):
per-seed permutations of a shuffled condition, staged curricula with a checkpoint per stage,
validation loss during training, the template fingerprint and the settings read back."""
from __future__ import annotations

import json

import pytest

from babyctl.schemas.params import Condition, Training
from babyctl.schemas.provenance import AdapterProvenance
from babyctl.train.plan import make_plan
from conftest import copy_experiment, edit_params, install_tiny_model, write_core_build

pytestmark = pytest.mark.slow


@pytest.fixture
def exp(tmp_path, tiny_model_dir):
    e = copy_experiment(tmp_path / "exp")
    install_tiny_model(e, tiny_model_dir)
    return e


def _train(exp, condition, seed):
    from babyctl.train.run import train

    r = train(exp / "params.yaml", substrate="tiny", condition=condition, seed=seed, progress=False)
    return AdapterProvenance.model_validate_json(r.provenance_path.read_text()), r


# --- seeds -------------------------------------------------------------------------------------
def test_plan_permutation_per_seed_and_fixed():
    ids = [f"ex-{i}" for i in range(24)]
    shuffled = Condition(inputs=["x"], order="shuffled", seed=7, expected_count=24)
    t = Training()
    a1, a2 = make_plan(ids, [None] * 24, shuffled, t, 1), make_plan(ids, [None] * 24, shuffled, t, 1)
    b = make_plan(ids, [None] * 24, shuffled, t, 2)
    assert a1.order == a2.order and a1.order != b.order and sorted(b.order) == sorted(ids)
    fixed = shuffled.model_copy(update={"permutation": "fixed"})
    assert make_plan(ids, [None] * 24, fixed, t, 1).order == ids == make_plan(ids, [None] * 24, fixed, t, 2).order
    seq = Condition(inputs=["x"], expected_count=24)
    assert make_plan(ids, [None] * 24, seq, t, 2).order == ids


def test_core_shuffled_two_seeds_see_different_orders(exp):
    write_core_build(exp, "core-shuffled")
    p1, r1 = _train(exp, "core-shuffled", 1)
    p1_again = p1.params["plan"]["order"]
    p2, _ = _train(exp, "core-shuffled", 2)
    build = [json.loads(line)["metadata"]["id"]
             for line in (exp / "data/build/core-shuffled/train.jsonl").read_text().splitlines()]
    o1, o2 = p1.params["plan"]["order"], p2.params["plan"]["order"]
    assert sorted(o1) == sorted(o2) == sorted(build) and o1 != o2 and o1 != build
    assert p1.params["plan"]["permutation"] == "per_seed:1"
    metrics = json.loads(r1.metrics_path.read_text())
    assert metrics["permutation"] == "per_seed:1" and metrics["order_sha256"] == p1.params["plan"]["order_sha256"]
    p1b, _ = _train(exp, "core-shuffled", 1)  # the same seed: the same order (and the same weights)
    assert p1b.params["plan"]["order"] == p1_again
    assert [f.sha256 for f in p1b.adapter_files] == [f.sha256 for f in p1.adapter_files]


# --- staged -----------------------------------------------------------------------------------
def test_staged_order_writes_one_checkpoint_per_stage(exp):
    def staged(d):
        d["conditions"]["core-staged"] = {
            "description": "modules in sequence, each its own budget", "order": "staged",
            "inputs": d["conditions"]["core"]["inputs"], "expected_count": 24,
            "stage_steps": {"self-worth": 2, "boundaries": 3, "uncertainty": 4}}
        d["active_conditions"] = ["core", "core-staged"]
    edit_params(exp, staged)
    write_core_build(exp, "core-staged")
    prov, r = _train(exp, "core-staged", 1)
    stages = prov.params["plan"]["stages"]
    assert [(s["name"], s["first_example"], s["end_example"], s["max_steps"], s["steps"]) for s in stages] == [
        ("self-worth", 0, 8, 2, 2), ("boundaries", 8, 16, 3, 3), ("uncertainty", 16, 24, 4, 4)]
    ckpts = sorted(p.name for p in (r.run_dir / "checkpoints").iterdir())
    assert ckpts == ["stage-1-self-worth", "stage-2-boundaries", "stage-3-uncertainty"]
    for s, name in zip(stages, ckpts):
        files = {f["path"]: f["sha256"] for f in s["checkpoint"]}
        assert f"checkpoints/{name}/adapter_model.safetensors" in files
    last = (r.run_dir / "checkpoints" / ckpts[-1] / "adapter_model.safetensors").read_bytes()
    first = (r.run_dir / "checkpoints" / ckpts[0] / "adapter_model.safetensors").read_bytes()
    assert last == (r.run_dir / "adapter" / "adapter_model.safetensors").read_bytes() and first != last
    rows = r.loss_path.read_text().splitlines()[1:]
    assert [int(x.split("\t")[0]) for x in rows] == list(range(1, 10))  # steps continue across stages


def test_staged_errors_name_the_module(exp):
    def bad(d):
        d["conditions"]["core"]["order"] = "staged"
        d["conditions"]["core"]["stage_steps"] = {"no-such-module": 2}
    edit_params(exp, bad)
    write_core_build(exp)
    from babyctl.errors import InputError

    with pytest.raises(InputError, match="stage_steps names module\\(s\\) not in the build: no-such-module"):
        _train(exp, "core", 1)


# --- validation, fingerprint, settings read back -------------------------------------------
def test_validation_loss_fingerprint_and_settings_read_back(exp):
    def valid(d):
        d["conditions"]["core"]["validation_fraction"] = 0.25
        d["training"].update(eval_steps=3, lora={**d["training"]["lora"], "dropout": 0.1}, weight_decay=0.01,
                             optim="adamw_8bit")
    edit_params(exp, valid)
    write_core_build(exp)
    prov, r = _train(exp, "core", 1)
    metrics = json.loads(r.metrics_path.read_text())
    assert metrics["valid_examples"] == 6 and metrics["examples"] == 18
    rows = r.metrics_path.with_name("seed-1.valid.tsv").read_text().splitlines()
    assert rows[0] == "step\tvalid_loss" and [int(x.split("\t")[0]) for x in rows[1:]] == [3, 6, 9, 12]
    assert metrics["valid_loss"] == float(rows[-1].split("\t")[1])
    assert any(i.path == "data/build/core/valid.jsonl" for i in prov.inputs)
    tmpl = prov.params["template"]
    assert len(tmpl["rendered_sha256"]) == 64 and "tokenizer.json" in tmpl["tokenizer_files"]
    used = prov.params["settings_used"]
    # on CPU 8-bit AdamW falls back to AdamW, and provenance says so (params still say adamw_8bit)
    assert prov.params["training"]["optim"] == "adamw_8bit" and used["optim"] == "adamw_torch"
    assert used["optimizer"] == "AdamW" and used["weight_decay"] == 0.01 and used["lora_dropout"] == [0.1]
    assert (used["bf16"], used["load_in_4bit"], used["gradient_checkpointing"], used["padding_free"]) == (
        False, False, False, False)
    assert used["weight_dtypes"] == ["float32"]
