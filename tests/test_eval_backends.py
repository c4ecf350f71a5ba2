"""babyctl eval, issue 16: the vLLM backend's request and batching logic, template parity and the
base a QLoRA adapter is evaluated on.

vLLM needs a GPU, so it is MOCKED here: a fake ``vllm`` module whose ``LLM.generate`` runs the real
tiny transformers model (+ the real peft adapter named by each ``LoRARequest``), one prompt at a
time from the token ids it is handed. What is tested for real: the prompts babyctl sends (token
ids from the substrate's own template), one engine for all adapters of a substrate, one LoRA id
per adapter, greedy SamplingParams, and that the completion rows equal the hf backend's.
"""
from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pytest
import yaml

from babyctl.errors import EnvironmentProblem, IntegrityError
from babyctl.evaluate.backends import VllmGenerator
from babyctl.evaluate.command import evaluate, evaluate_substrate
from conftest import copy_experiment, install_tiny_model, read_jsonl

pytestmark = pytest.mark.slow


class FakeLLM:
    """Stands in for ``vllm.LLM`` (GPU only): greedy decoding with transformers on CPU."""

    instances: list["FakeLLM"] = []

    def __init__(self, model, enable_lora=False, **kwargs):
        from transformers import AutoModelForCausalLM

        self.kwargs = {"model": model, "enable_lora": enable_lora, **kwargs}
        self.base = AutoModelForCausalLM.from_pretrained(model)
        self.calls: list[tuple] = []
        self._adapted: dict[int, object] = {}
        FakeLLM.instances.append(self)

    def _model(self, lora):
        if lora is None:
            return self.base
        if lora.lora_int_id not in self._adapted:
            from peft import PeftModel
            from transformers import AutoModelForCausalLM

            self._adapted[lora.lora_int_id] = PeftModel.from_pretrained(
                AutoModelForCausalLM.from_pretrained(self.kwargs["model"]), lora.lora_path)
        return self._adapted[lora.lora_int_id]

    def generate(self, prompts, sampling_params, lora_request=None, use_tqdm=True):
        import torch

        self.calls.append((prompts, sampling_params, lora_request))
        model = self._model(lora_request).eval()
        outs = []
        for p in prompts:
            ids = torch.tensor([p["prompt_token_ids"]])
            with torch.no_grad():
                g = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                   max_new_tokens=sampling_params.max_tokens, temperature=None, top_p=None,
                                   top_k=None, pad_token_id=0)
            new = g[0, ids.shape[1]:].tolist()
            outs.append(types.SimpleNamespace(prompt_token_ids=p["prompt_token_ids"],
                                              outputs=[types.SimpleNamespace(token_ids=new, text="")]))
        return outs


class FakeSamplingParams:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class FakeLoRARequest:
    def __init__(self, lora_name, lora_int_id, lora_path):
        self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path


@pytest.fixture
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = FakeLLM, FakeSamplingParams
    lora = types.ModuleType("vllm.lora")
    req = types.ModuleType("vllm.lora.request")
    req.LoRARequest = FakeLoRARequest
    for name, mod in {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": req}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(VllmGenerator, "_engines", {})
    monkeypatch.setattr(VllmGenerator, "_lora_ids", {})
    FakeLLM.instances = []
    return FakeLLM


@pytest.fixture
def exp(tmp_path, tiny_model_dir, trained_run):
    e = copy_experiment(tmp_path / "exp", with_git=False)
    install_tiny_model(e, tiny_model_dir)
    p = yaml.safe_load((e / "params.yaml").read_text())
    p["eval"].update(banks=["fawning"], max_new_tokens=8)
    p["training"]["seeds"] = [1, 2]
    p["active_conditions"] = ["core"]  # the example study also has neutral; only core adapters here
    p["active_prompted"] = []  # and a prompted-only arm (tests/test_design_eval.py)
    (e / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    for seed in (1, 2):  # the session's adapter, also filed as seed 2 (provenance says so)
        dest = e / "models" / "tiny" / "core" / f"seed-{seed}"
        shutil.copytree(trained_run, dest)
        prov = json.loads((dest / "provenance.json").read_text())
        prov["seed"] = seed
        (dest / "provenance.json").write_text(json.dumps(prov))
    return e


def test_vllm_backend_one_engine_lora_requests_same_rows_as_hf(exp, tmp_path, fake_vllm):
    hf_exp = tmp_path / "hf"
    shutil.copytree(exp, hf_exp)
    hf = evaluate_substrate(hf_exp / "params.yaml", substrate="tiny", backend="hf")
    vl = evaluate_substrate(exp / "params.yaml", substrate="tiny", backend="vllm")
    assert len(hf) == len(vl) == 3  # baseline + core x seeds 1, 2
    assert len(fake_vllm.instances) == 1  # one engine for the baseline and both adapters
    engine = fake_vllm.instances[0]
    assert engine.kwargs["enable_lora"] is True and engine.kwargs["quantization"] is None
    loras = [c[2] for c in engine.calls]
    n_base = sum(1 for r in loras if r is None)
    assert n_base == 2 and loras[:2] == [None, None]  # the baseline (11 prompts, batches of 8): no adapter
    ids = {(r.lora_name, r.lora_int_id, Path(r.lora_path).parent.name) for r in loras[2:]}
    assert ids == {("tiny/core/seed-1", 1, "seed-1"), ("tiny/core/seed-2", 2, "seed-2")}
    assert all(c[1].temperature == 0.0 and c[1].max_tokens == 8 for c in engine.calls)
    for (h, _), (v, _) in zip(hf, vl):
        rh, rv = read_jsonl(h.completions), read_jsonl(v.completions)
        assert [r["generation"]["backend"] for r in rh + rv] == ["hf"] * len(rh) + ["vllm"] * len(rv)
        strip = lambda r: {k: v for k, v in r.items() if k not in ("generation", "fingerprint")}  # noqa: E731
        assert [strip(r) for r in rh] == [strip(r) for r in rv]  # same format, same greedy completions
        prov = json.loads(v.provenance.read_text())
        assert prov["params"]["generation"]["backend"] == "vllm"


def test_vllm_missing_is_an_environment_error(exp):
    sys.modules.pop("vllm", None)
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(EnvironmentProblem, match="eval-vllm"):
        evaluate_substrate(exp / "params.yaml", substrate="tiny", backend="vllm")


def test_changed_template_is_caught_at_eval_unless_allowed(exp):
    cfg_path = exp / "models/base/tiny/tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    tmpl_file = exp / "models/base/tiny/chat_template.jinja"
    if tmpl_file.is_file():
        tmpl_file.write_text(tmpl_file.read_text().replace("<|im_start|>assistant\n", "<|im_start|>assistant:\n"))
    else:
        cfg["chat_template"] = cfg["chat_template"].replace("<|im_start|>assistant\n", "<|im_start|>assistant:\n")
        cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(IntegrityError, match="chat template differs from the one the adapter was trained with"):
        evaluate(exp / "params.yaml", substrate="tiny", condition="core", seed=1, baseline=False)
    p = yaml.safe_load((exp / "params.yaml").read_text())
    p["eval"]["allow_template_mismatch"] = True
    (exp / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    gen, _ = evaluate(exp / "params.yaml", substrate="tiny", condition="core", seed=1, baseline=False)
    row = read_jsonl(gen.completions)[0]
    assert row["generation"]["template_check"].startswith("MISMATCH allowed")
    prov = json.loads(gen.provenance.read_text())
    assert prov["params"]["generation"]["template_check"].startswith("MISMATCH allowed")


def test_matching_template_is_recorded(exp):
    gen, _ = evaluate(exp / "params.yaml", substrate="tiny", condition="core", seed=1, baseline=False)
    row = read_jsonl(gen.completions)[0]
    assert row["generation"]["template_check"] == "match" and row["generation"]["base_quantization"] == "none"


def test_qlora_adapter_needs_its_4bit_base(exp):
    prov_path = exp / "models/tiny/core/seed-1/provenance.json"
    prov = json.loads(prov_path.read_text())
    prov["params"]["training"]["lora"]["load_in_4bit"] = True
    prov_path.write_text(json.dumps(prov))
    with pytest.raises(EnvironmentProblem, match="trained on a 4-bit base"):
        evaluate(exp / "params.yaml", substrate="tiny", condition="core", seed=1, baseline=False)


def test_baseline_of_a_qlora_study_runs_on_the_4bit_base(exp):
    """The baseline is compared with QLoRA adapters: it must use the same 4-bit base (GPU only)."""
    p = yaml.safe_load((exp / "params.yaml").read_text())
    p["training"]["lora"]["load_in_4bit"] = True
    (exp / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    with pytest.raises(EnvironmentProblem, match="the study trains on a 4-bit base"):
        evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    p["eval"]["base_quantization"] = "none"  # explicit: the 16-bit base, recorded
    (exp / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    gen, _ = evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    assert read_jsonl(gen.completions)[0]["generation"]["base_quantization"] == "none"
