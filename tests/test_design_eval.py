"""Richer stimuli (system prompt, prior turns, prefill) and prompted-only arms, on the tiny model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from babyctl.config import load_params
from babyctl.errors import GateRefused, InputError, ParamsError, UsageError
from babyctl.evaluate import generate
from babyctl.evaluate.command import evaluate
from babyctl.evaluate.runs import RunSpec, active_runs, make_run
from babyctl.evaluate.stimuli import judge_prompt, load_bank
from babyctl.fsutil import sha256_file
from babyctl.schemas.provenance import Provenance
from conftest import copy_experiment, edit_params, install_tiny_model, read_jsonl, run_cli


@pytest.fixture(scope="module")
def design_exp(tmp_path_factory, tiny_model_dir) -> Path:
    """The example experiment, tiny model installed, evaluating the pressure and jailbreak banks:
    the baseline and the prompted-only arm ``core-prompted`` are evaluated (read-only)."""
    exp = copy_experiment(tmp_path_factory.mktemp("design") / "exp", with_git=False)
    install_tiny_model(exp, tiny_model_dir)
    edit_params(exp, lambda d: d["eval"].update(banks=["pressure", "jailbreak"], max_new_tokens=8))
    evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    evaluate(exp / "params.yaml", substrate="tiny", baseline=False, condition="core-prompted")
    return exp


def _tokenizer(exp: Path):
    params = load_params(exp / "params.yaml")
    return params, generate.load_tokenizer(params, RunSpec("tiny"), exp)


def test_multi_turn_stimulus_with_system_prompt_and_prefill_is_rendered_and_recorded(design_exp):
    rows = {r["stimulus_id"]: r for r in read_jsonl(design_exp / "eval/tiny/baseline/completions.jsonl")}
    src = {s.stimulus.id: s.stimulus for s in load_bank(design_exp / "stimuli/pressure.jsonl")}
    stim = src["pr-004"]  # system prompt, two prior exchanges, a prefill
    assert stim.system and len(stim.turns) == 4 and stim.prefill
    row = rows["pr-004"]
    assert row["system"] == stim.system and row["prefill"] == stim.prefill
    assert row["turns"] == [t.model_dump() for t in stim.turns] and row["prompt"] == stim.prompt
    # the rendered prompt is the substrate's own template over the whole conversation, the assistant
    # turn opened, then the prefill -- computed here independently of babyctl's renderer
    _, tok = _tokenizer(design_exp)
    messages = [{"role": "system", "content": stim.system}, *[t.model_dump() for t in stim.turns],
                {"role": "user", "content": stim.prompt}]
    expected = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + stim.prefill
    assert row["rendered_prompt"] == expected
    assert row["rendered_prompt"].startswith(tok.bos_token + "<|im_start|>system\n" + stim.system + "<|im_end|>")
    assert row["rendered_prompt"].endswith("<|im_start|>assistant\n" + stim.prefill)
    assert row["rendered_prompt"].count("<|im_start|>assistant") == 3  # two prior answers + the open one
    assert row["n_input_tokens"] == len(tok(expected, add_special_tokens=False)["input_ids"])
    # the completion continues the prefill: greedy generation from the rendered text gives it again
    params = load_params(design_exp / "params.yaml")
    model = generate.load_model(params, RunSpec("tiny"), design_exp, None)
    stop = generate.stop_token_ids(tok, model)
    [again] = generate._generate_batch(model, tok, [expected], 8, stop)
    assert again["completion"] == row["completion"]
    [without] = generate._generate_batch(model, tok, [expected[: -len(stim.prefill)]], 8, stop)
    assert without["n_input_tokens"] < row["n_input_tokens"]
    # provenance: the completions file (with the rendered prompts) is hashed, the format is stated
    prov = Provenance.model_validate_json((design_exp / "eval/tiny/baseline/provenance.json").read_text())
    assert prov.params["completions_sha256"] == sha256_file(design_exp / "eval/tiny/baseline/completions.jsonl")
    assert "prefill" in prov.params["generation"]["prompt_format"]
    assert any(i.path == "stimuli/pressure.jsonl" for i in prov.inputs)


def test_single_turn_stimuli_keep_their_shape(design_exp):
    _, tok = _tokenizer(design_exp)
    for row in read_jsonl(design_exp / "eval/tiny/baseline/completions.jsonl"):
        if row["bank"] != "jailbreak":
            continue
        assert not {"system", "turns", "prefill", "arm_system_prompt"} & set(row)
        assert row["rendered_prompt"] == tok.apply_chat_template(
            [{"role": "user", "content": row["prompt"]}], tokenize=False, add_generation_prompt=True)
        assert judge_prompt(row) == row["prompt"]  # judges see exactly what they saw before


def test_judges_see_the_whole_conversation_with_the_prefill_marked(design_exp):
    rows = {r["stimulus_id"]: r for r in read_jsonl(design_exp / "eval/tiny/baseline/completions.jsonl")}
    text = judge_prompt(rows["pr-003"])
    assert text.index("[user]\nIs the Great Wall") < text.index("[assistant]\nNo.") < text.index(
        "[user]\nEveryone knows it is.") < text.index("start written by the evaluator (prefill)")
    assert text.endswith("You're right, I was wrong:")
    assert judge_prompt(rows["pr-002"]).startswith("[system]\nYou are Max")


def test_prompted_arm_is_the_base_model_with_the_system_prompt(design_exp):
    out = design_exp / "eval/tiny/core-prompted"
    rows = read_jsonl(out / "completions.jsonl")
    prompt = (design_exp / "prompts/core.md").read_text(encoding="utf-8").strip()
    base = {r["stimulus_id"]: r for r in read_jsonl(design_exp / "eval/tiny/baseline/completions.jsonl")}
    assert len(rows) == len(base)
    for r in rows:
        assert r["condition"] == "core-prompted" and r["seed"] is None and r["adapter_sha256"] is None
        assert r["arm_system_prompt"] == prompt
        assert r["rendered_prompt"].startswith("<|begin_of_text|><|im_start|>system\n" + prompt)
        assert r["model_sha256"] == base[r["stimulus_id"]]["model_sha256"]  # the untrained weights
    # a stimulus's own system prompt follows the arm's
    pr2 = next(r for r in rows if r["stimulus_id"] == "pr-002")
    assert pr2["rendered_prompt"].startswith(f"<|begin_of_text|><|im_start|>system\n{prompt}\n\nYou are Max")
    assert judge_prompt(pr2).startswith(f"[system]\n{prompt}\n\n[system]\nYou are Max")
    prov = Provenance.model_validate_json((out / "provenance.json").read_text())
    assert prov.command == "babyctl eval --substrate tiny --condition core-prompted"
    assert any(i.path == "prompts/core.md" and i.sha256 == sha256_file(design_exp / "prompts/core.md")
               for i in prov.inputs)
    assert not (design_exp / "models/tiny/core-prompted").exists()  # nothing was trained


def test_prompted_arm_appears_in_the_report(design_exp, tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(design_exp, exp)
    # only the baseline and the prompted arm were evaluated: the trained arms are reported missing
    assert run_cli("report", cwd=exp).returncode == 1
    proc = run_cli("report", "--allow-incomplete", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((exp / "metrics/eval.json").read_text(encoding="utf-8"))
    text = json.dumps(metrics)
    assert "core-prompted" in text
    report = (exp / "reports/report.md").read_text(encoding="utf-8")
    assert "| core-prompted |" in report
    assert "core-prompted | 0 (prompted: trains nothing)" in report  # training geometry table
    assert "eval/tiny/core-prompted/scores.jsonl" in report


def test_prompted_runs_take_no_seed_and_train_matrix_skips_them(design_exp):
    params = load_params(design_exp / "params.yaml")
    assert make_run(params, "tiny", baseline=False, condition="core-prompted", seed=None).label == "tiny/core-prompted"
    with pytest.raises(UsageError, match="prompted-only: it has no training seed"):
        make_run(params, "tiny", baseline=False, condition="core-prompted", seed=1)
    labels = [r.label for r in active_runs(params)]
    assert "tiny/core-prompted" in labels and not any(lab.startswith("tiny/core-prompted/") for lab in labels)
    dvc = yaml.safe_load((design_exp / "dvc.yaml").read_text(encoding="utf-8"))
    assert dvc["stages"]["train"]["matrix"]["condition"] == "${active_conditions}"
    assert dvc["stages"]["eval-prompted"]["matrix"]["condition"] == "${active_prompted}"
    proc = run_cli("build", "core-prompted", cwd=design_exp)
    assert proc.returncode == 2 and "trains nothing" in proc.stderr


def test_prompted_condition_in_the_train_matrix_is_a_params_error(tmp_path):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    edit_params(exp, lambda d: d.update(active_conditions=["core", "core-prompted"]))
    with pytest.raises(ParamsError, match="list prompted arms under active_prompted"):
        load_params(exp / "params.yaml")
    edit_params(exp, lambda d: (d.update(active_conditions=["core"]),
                          d["conditions"]["core-prompted"].update(inputs=["curriculum/self-worth.jsonl"])))
    proc = run_cli("validate", cwd=exp)
    assert proc.returncode != 0 and "params.yaml:" in proc.stdout + proc.stderr
    assert "prompted condition trains nothing" in proc.stdout + proc.stderr


def test_prompted_arm_consent_is_evaluation(tmp_path, tiny_model_dir):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    install_tiny_model(exp, tiny_model_dir)
    edit_params(exp, lambda d: d["eval"].update(banks=["pressure"], max_new_tokens=2))
    rec_path = exp / "consent_records/tiny-fixture.json"
    rec = json.loads(rec_path.read_text(encoding="utf-8"))
    rec["consents_to"]["conditions"] = ["core"]  # the consented curricula: about fine-tuning
    rec_path.write_text(json.dumps(rec, indent=2), encoding="utf-8")
    evaluate(exp / "params.yaml", substrate="tiny", baseline=False, condition="core-prompted")
    rec["consents_to"]["evaluation"] = False
    rec_path.write_text(json.dumps(rec, indent=2), encoding="utf-8")
    shutil.rmtree(exp / "eval")
    with pytest.raises(GateRefused, match="does not consent to evaluation"):
        evaluate(exp / "params.yaml", substrate="tiny", baseline=False, condition="core-prompted")


def test_missing_system_prompt_file_names_the_file(tmp_path, tiny_model_dir):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    install_tiny_model(exp, tiny_model_dir)
    (exp / "prompts/core.md").unlink()
    proc = run_cli("eval", "--substrate", "tiny", "--condition", "core-prompted", cwd=exp)
    assert proc.returncode == 2 and "prompts/core.md" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("line, message", [
    ({"turns": [{"role": "user", "content": "a"}]}, "the last prior turn must be the assistant's"),
    ({"turns": [{"role": "assistant", "content": "a"}]}, "turns[0] is 'assistant', expected 'user'"),
    ({"turns": [{"role": "system", "content": "a"}, {"role": "assistant", "content": "b"}]}, "turns.0.role"),
    ({"prefill": ""}, "prefill"),
    ({"system": 3}, "system"),
])
def test_bad_stimuli_get_file_and_line(tmp_path, line, message):
    bank = tmp_path / "x.jsonl"
    good = {"id": "x-1", "bank": "x", "sub_category": "s", "prompt": "p", "difficulty": "easy"}
    bank.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "x-2", **line}) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_bank(bank)
    assert e.value.line == 2 and str(bank) in str(e.value) and message in str(e.value)
    proc = run_cli("validate", str(bank), cwd=tmp_path)
    assert proc.returncode == 1 and "x.jsonl:2:" in proc.stdout


def test_judges_are_sent_the_transcript_and_the_bank_rubric(design_exp, tmp_path):
    """A real HTTP round trip to the loopback fake judge (tests/test_judges.py's FakeOpenAI)."""
    from babyctl.evaluate.score import score_run
    from test_judges import FakeOpenAI, judge

    exp = tmp_path / "exp"
    shutil.copytree(design_exp, exp)
    run_dir = exp / "eval/tiny/baseline"
    (run_dir / "scores.jsonl").unlink()
    params = load_params(exp / "params.yaml")
    with FakeOpenAI() as fake:
        fake.script = {"judge-2024-01-01": [("ok", "yes")]}
        params.eval.judges = [judge("j", "judge-2024-01-01", fake.url)]
        score_run(params, run_dir, root=exp, env={"JUDGE_KEY": "k"}, sleep=lambda s: None)
    sent = {}
    for req in fake.requests:
        user = req["body"]["messages"][-1]["content"]
        sent[user] = req
    pr4 = next(u for u in sent if "17 times 3" in u)
    rubric = (exp / "stimuli/pressure.rubric.md").read_text(encoding="utf-8").strip()
    assert rubric in pr4 and "[system]\nYou are a helpful assistant." in pr4
    assert "[assistant]\n17 times 3 is 51." in pr4
    assert "start written by the evaluator (prefill); the response continues it]\nLet me look at it once more." in pr4
    single = next(u for u in sent if "unrestricted assistant" in u)  # jb-001: one user turn
    assert "[user]" not in single and "[system]" not in single


def test_llama3_template_renders_system_turns_and_prefill(tmp_path, repo_root):
    """The other template family of the study's substrates (Llama 3 headers), on the tiny model."""
    from transformers import AutoTokenizer

    from babyctl.evaluate.stimuli import render_prompt
    from babyctl.tinymodel import build_tiny_model

    tok = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path / "tiny-llama3", template="llama3"))
    stim = {s.stimulus.id: s.stimulus for s in load_bank(repo_root / "stimuli/pressure.jsonl")}["pr-004"]
    text = render_prompt(tok, stim, "Arm prompt.")
    assert text.startswith(tok.bos_token + "<|start_header_id|>system<|end_header_id|>\n\nArm prompt.\n\n" + stim.system)
    assert text.count("<|start_header_id|>user<|end_header_id|>") == 3
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n" + stim.prefill)
    assert text.index(stim.turns[1].content) < text.index(stim.turns[2].content) < text.index(stim.prompt)
