"""babyctl eval: sampled repeats with per-row seeds, resume per repeat, end-of-turn stop tokens."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from babyctl.config import load_params
from babyctl.errors import ParamsError
from babyctl.evaluate import generate
from babyctl.evaluate.command import evaluate
from babyctl.evaluate.runs import RunSpec

from conftest import copy_experiment, install_tiny_model, read_jsonl

SAMPLING = {"temperature": 0.9, "top_p": 0.95, "seed": 11}


@pytest.fixture(scope="module")
def exp_base(tmp_path_factory, tiny_model_dir) -> Path:
    exp = copy_experiment(tmp_path_factory.mktemp("rep") / "exp", with_git=False)
    install_tiny_model(exp, tiny_model_dir)
    p = yaml.safe_load((exp / "params.yaml").read_text())
    p["eval"].update(banks=["fawning"], max_new_tokens=5, repeats=2, sampling=SAMPLING)
    (exp / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    return exp


@pytest.fixture
def exp(exp_base: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "exp"
    shutil.copytree(exp_base, dest)
    return dest


def test_cut_at_stop_drops_an_invented_follow_on_turn():
    assert generate.cut_at_stop([5, 6, 2, 9, 9], [2, 3]) == ([5, 6], 3, "stop_token")
    assert generate.cut_at_stop([5, 6, 7], [2]) == ([5, 6, 7], 3, "max_new_tokens")


def test_stop_tokens_come_from_the_tokenizer(exp_base: Path):
    params = load_params(exp_base / "params.yaml")
    tok = generate.load_tokenizer(params, RunSpec("tiny"), exp_base)
    ids = generate.stop_token_ids(tok)
    vocab = tok.get_vocab()
    assert vocab["<|im_end|>"] in ids and vocab["<|im_start|>"] in ids and tok.eos_token_id in ids
    assert generate._local_stop_ids(exp_base / "models/base/tiny") == ids  # known before loading
    # a completion that runs on into a new turn is cut at the end of its own turn
    text_ids = tok.encode("Fine.", add_special_tokens=False)
    follow = tok.encode("<|im_end|>\n<|im_start|>user\nAnd now?", add_special_tokens=False)
    kept, n, reason = generate.cut_at_stop(text_ids + follow, ids)
    assert tok.decode(kept, skip_special_tokens=True) == "Fine." and reason == "stop_token"


def test_sampled_repeats_record_repeat_and_seed_and_resume_per_repeat(exp: Path, monkeypatch):
    gen, scored = evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    assert (gen.total, gen.generated) == (22, 22) and scored.total == 22
    rows = read_jsonl(gen.completions)
    assert [(r["stimulus_id"], r["repeat"]) for r in rows][:3] == [("fawn-001", 0), ("fawn-001", 1), ("fawn-002", 0)]
    assert len({r["sampling_seed"] for r in rows}) == 22
    assert rows[0]["sampling_seed"] == generate.sampling_seed(11, "fawn-001", 0)
    assert all(r["generation"]["do_sample"] and r["generation"]["temperature"] == 0.9 for r in rows)
    prov = json.loads(gen.provenance.read_text())
    assert prov["params"]["eval"]["repeats"] == 2 and prov["params"]["generation"]["stop_tokens"]
    # each row is reproducible from its seed: regenerate one and compare
    out = exp / "eval/tiny/baseline"
    kept = rows[:5]
    (out / "completions.jsonl").unlink()
    (out / "completions.jsonl.partial").write_text("".join(json.dumps(r) + "\n" for r in kept))
    gen2, _ = evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    assert (gen2.reused, gen2.generated) == (5, 17)
    again = read_jsonl(gen2.completions)
    assert [r["completion"] for r in again] == [r["completion"] for r in rows]
    # one more repeat: only the new repeat is generated
    p = yaml.safe_load((exp / "params.yaml").read_text())
    p["eval"]["repeats"] = 3
    (exp / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    gen3, scored3 = evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    assert (gen3.total, gen3.reused, gen3.generated) == (33, 22, 11)
    assert (scored3.total, scored3.reused) == (33, 22)


def test_repeats_without_sampling_are_refused_with_the_line(tmp_path: Path):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    text = (exp / "params.yaml").read_text().replace("  repeats: 1\n", "  repeats: 3\n")
    (exp / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match="repeats > 1 needs eval.sampling.temperature > 0") as e:
        load_params(exp / "params.yaml")
    assert e.value.line is not None


def test_vllm_backend_seeds_each_request_and_cuts_at_stop_tokens(exp_base: Path):
    """vLLM itself needs a GPU: a stand-in engine records the SamplingParams it is given."""
    import types

    from babyctl.evaluate.backends import VllmGenerator

    params = load_params(exp_base / "params.yaml")
    tok = generate.load_tokenizer(params, RunSpec("tiny"), exp_base)
    stop = generate.stop_token_ids(tok)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    calls = []

    class Engine:
        def generate(self, prompts, sp, lora_request=None, use_tqdm=True):
            calls.append(sp)
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(token_ids=[40, 41, end, 50, 51])])
                    for _ in prompts]

    g = VllmGenerator()
    g.engine, g.tok, g.lora, g._sampling = Engine(), tok, None, lambda **kw: types.SimpleNamespace(**kw)
    rows = g.generate(["a", "b"], 5, stop, [{"temperature": 0.9, "top_p": 0.95, "seed": 1},
                                           {"temperature": 0.9, "top_p": 0.95, "seed": 2}])
    [sps] = calls
    assert [sp.seed for sp in sps] == [1, 2] and all(sp.stop_token_ids == stop for sp in sps)
    assert all(r["n_output_tokens"] == 3 and r["stop_reason"] == "stop_token" for r in rows)
    assert rows[0]["completion"] == tok.decode([40, 41], skip_special_tokens=True)
    g.generate(["a"], 5, stop)  # greedy: one SamplingParams, temperature 0
    assert calls[-1].temperature == 0.0 and calls[-1].stop_token_ids == stop
