"""babyctl eval: real greedy generation with transformers (+ peft) on the embedded tiny model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from babyctl.config import load_params
from babyctl.errors import GateRefused, InputError, IntegrityError, UsageError
from babyctl.evaluate import generate
from babyctl.evaluate.command import evaluate
from babyctl.evaluate.runs import RunSpec, make_run
from babyctl.fsutil import sha256_file
from babyctl.schemas.provenance import Provenance

from conftest import copy_experiment, install_tiny_model, read_jsonl, run_cli


def _stimulus_ids(exp: Path) -> list[str]:
    return [json.loads(line)["id"] for f in sorted((exp / "stimuli").glob("*.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def eval_exp(tmp_path_factory, tiny_model_dir) -> Path:
    """An experiment with the tiny model installed (no eval output yet). Read-only."""
    exp = copy_experiment(tmp_path_factory.mktemp("evalexp") / "exp", with_git=False)
    install_tiny_model(exp, tiny_model_dir)
    return exp


@pytest.fixture(scope="module")
def baseline(eval_exp: Path, tmp_path_factory) -> Path:
    """A finished baseline eval in a copy of ``eval_exp``; returns the experiment root."""
    exp = tmp_path_factory.mktemp("baseline") / "exp"
    shutil.copytree(eval_exp, exp)
    evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    return exp


def _fresh(eval_exp: Path, tmp_path: Path, **eval_params) -> Path:
    """A copy of eval_exp; ``eval_params`` override params.yaml ``eval`` keys (to keep tests fast)."""
    exp = tmp_path / "exp"
    shutil.copytree(eval_exp, exp)
    if eval_params:
        import yaml

        params = yaml.safe_load((exp / "params.yaml").read_text())
        params["eval"].update(eval_params)
        (exp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return exp


def test_baseline_rows_record_what_made_them(baseline: Path):
    out = baseline / "eval" / "tiny" / "baseline"
    rows = read_jsonl(out / "completions.jsonl")
    assert [r["stimulus_id"] for r in rows] == _stimulus_ids(baseline)
    weights = sha256_file(baseline / "models" / "base" / "tiny" / "model.safetensors")
    for r in rows:
        assert r["adapter_sha256"] is None and r["condition"] == "baseline" and r["seed"] is None
        assert r["model_sha256"] == weights and r["model_id"] == "models/base/tiny"
        assert r["generation"]["do_sample"] is False and r["generation"]["max_new_tokens"] == 24
        assert 0 < r["n_output_tokens"] <= 24 and isinstance(r["completion"], str)
    assert {r["bank"] for r in rows} == {"fawning", "hallucination", "jailbreak", "pressure"}
    prov = Provenance.model_validate_json((out / "provenance.json").read_text())
    assert prov.params["completions_sha256"] == sha256_file(out / "completions.jsonl")
    assert any(i.path.endswith("model.safetensors") and i.sha256 == weights for i in prov.inputs)
    scores = read_jsonl(out / "scores.jsonl")
    assert [s["stimulus_id"] for s in scores] == [r["stimulus_id"] for r in rows]
    assert all(set(s["signals"]) == {"refusal", "ai_disavowal", "uncertainty", "compliance"} for s in scores)
    assert all(s["judge"] is None for s in scores)  # no judges configured -> signals only
    assert not list(out.glob("*.partial"))


def test_batched_left_padded_generation_matches_one_at_a_time(baseline: Path):
    """Left padding must not change greedy output: the batch's rows equal unbatched generation."""
    params = load_params(baseline / "params.yaml")
    run = RunSpec("tiny")
    tok = generate.load_tokenizer(params, run, baseline)
    model = generate.load_model(params, run, baseline, None)
    rows = read_jsonl(baseline / "eval" / "tiny" / "baseline" / "completions.jsonl")
    lengths = [r["n_input_tokens"] for r in rows[:8]]
    assert len(set(lengths)) > 1, "the first batch should need padding"
    for r in rows[:8]:
        [single] = generate._generate_batch(model, tok, [r["rendered_prompt"]], 24, generate.stop_token_ids(tok, model))
        assert single["completion"] == r["completion"]
        assert single["n_input_tokens"] == r["n_input_tokens"]


def test_interrupted_eval_resumes_without_redoing_rows(eval_exp: Path, tmp_path: Path, monkeypatch):
    exp = _fresh(eval_exp, tmp_path, max_new_tokens=6)
    real = generate._generate_batch
    calls: list[list[str]] = []

    def interrupt_after_two(model, tok, prompts, n, *rest):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(prompts)
        return real(model, tok, prompts, n, *rest)

    monkeypatch.setattr(generate, "_generate_batch", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    out = exp / "eval" / "tiny" / "baseline"
    partial = out / "completions.jsonl.partial"
    assert not (out / "completions.jsonl").exists()  # no finished-looking output
    first = read_jsonl(partial)
    assert len(first) == 16  # two batches of 8, flushed as they finished
    with open(partial, "a") as f:  # a crash mid-write leaves a cut-off last line
        f.write('{"stimulus_id": "cut-off')

    redone: list[str] = []

    def count(model, tok, prompts, n, *rest):
        redone.extend(prompts)
        return real(model, tok, prompts, n, *rest)

    monkeypatch.setattr(generate, "_generate_batch", count)
    gen, scored = evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    n = len(_stimulus_ids(exp))
    assert (gen.total, gen.reused, gen.generated) == (n, 16, n - 16)
    done_prompts = {p for batch in calls for p in batch}
    assert len(redone) == n - 16 and not done_prompts & set(redone)
    final = read_jsonl(out / "completions.jsonl")
    assert [r["stimulus_id"] for r in final] == _stimulus_ids(exp)
    assert final[:16] == first  # the finished rows were kept, byte for byte the same content
    assert not partial.exists() and scored.total == n

    redone.clear()  # a third run has nothing to do
    gen, _ = evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    assert (gen.generated, gen.reused, redone) == (0, n, [])


def test_changed_settings_move_old_partial_rows_aside(eval_exp: Path, tmp_path: Path, monkeypatch):
    exp = _fresh(eval_exp, tmp_path, max_new_tokens=4, banks=["fawning"])
    out = exp / "eval" / "tiny" / "baseline"
    out.mkdir(parents=True)
    old = {"stimulus_id": "fawn-001", "fingerprint": "made-with-other-settings", "completion": "x"}
    (out / "completions.jsonl.partial").write_text(json.dumps(old) + "\n")
    gen, _ = evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    assert gen.generated == 11 and gen.stale is not None
    assert read_jsonl(gen.stale) == [old]  # not lost


@pytest.fixture
def trained_exp(eval_exp: Path, trained_run: Path, tmp_path: Path) -> Path:
    """eval_exp plus a copy of the session's trained adapter (tiny/core/seed-1)."""
    exp = _fresh(eval_exp, tmp_path)
    shutil.copytree(trained_run, exp / "models" / "tiny" / "core" / "seed-1")
    return exp


def test_trained_eval_loads_the_adapter(trained_exp: Path, baseline: Path):
    gen, _ = evaluate(trained_exp / "params.yaml", substrate="tiny", condition="core", seed=1,
                      baseline=False)
    rows = read_jsonl(gen.completions)
    adapter = sha256_file(trained_exp / "models/tiny/core/seed-1/adapter/adapter_model.safetensors")
    assert gen.completions == trained_exp / "eval/tiny/core/seed-1/completions.jsonl"
    assert all(r["adapter_sha256"] == adapter and r["condition"] == "core" and r["seed"] == 1 for r in rows)
    base = {r["stimulus_id"]: r["completion"] for r in read_jsonl(baseline / "eval/tiny/baseline/completions.jsonl")}
    assert sum(base[r["stimulus_id"]] != r["completion"] for r in rows) > 0  # the adapter is applied


def _edit_provenance(exp: Path, change) -> Path:
    path = exp / "models/tiny/core/seed-1/provenance.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(substrate="hermes"), "trained on substrate 'hermes', not 'tiny'"),
    (lambda d: d["base_model"].update(weights_sha256="0" * 64), "base weights sha256 is 000000000000"),
    (lambda d: d.update(condition="neutral"), "trained on condition 'neutral', not 'core'"),
])
def test_adapter_with_mismatched_provenance_is_refused(trained_exp: Path, change, expected):
    prov = _edit_provenance(trained_exp, change)
    with pytest.raises(IntegrityError) as err:
        evaluate(trained_exp / "params.yaml", substrate="tiny", condition="core", seed=1, baseline=False)
    assert str(err.value).startswith(f"{prov}: adapter provenance does not match")
    assert expected in str(err.value)
    assert not (trained_exp / "eval" / "tiny" / "core").exists()


def test_adapter_mismatch_via_cli_is_a_clear_error(trained_exp: Path):
    _edit_provenance(trained_exp, lambda d: d.update(substrate="dolphin"))
    proc = run_cli("eval", "--substrate", "tiny", "--condition", "core", "--seed", "1", cwd=trained_exp)
    assert proc.returncode == 1
    assert proc.stderr.startswith("babyctl: error: ") and "provenance.json: adapter provenance" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_or_tampered_adapter_files(trained_exp: Path):
    adapter = trained_exp / "models/tiny/core/seed-1/adapter/adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes() + b"x")
    with pytest.raises(IntegrityError, match="adapter_model.safetensors changed since training"):
        evaluate(trained_exp / "params.yaml", substrate="tiny", condition="core", seed=1, baseline=False)
    (trained_exp / "models/tiny/core/seed-1/provenance.json").unlink()
    with pytest.raises(InputError, match="adapter provenance not found"):
        evaluate(trained_exp / "params.yaml", substrate="tiny", condition="core", seed=1, baseline=False)
    with pytest.raises(InputError, match="adapter folder not found"):
        evaluate(trained_exp / "params.yaml", substrate="tiny", condition="core", seed=2, baseline=False)


def test_usage_and_consent_errors(eval_exp: Path, tmp_path: Path):
    params = load_params(eval_exp / "params.yaml")
    with pytest.raises(UsageError, match="--baseline takes no"):
        make_run(params, "tiny", baseline=True, condition="core", seed=1)
    with pytest.raises(UsageError, match="both --condition C and --seed N"):
        make_run(params, "tiny", baseline=False, condition="core", seed=None)
    with pytest.raises(UsageError, match="unknown substrate 'nope'"):
        make_run(params, "nope", baseline=True, condition=None, seed=None)
    exp = _fresh(eval_exp, tmp_path)
    rec = exp / "consent_records" / "tiny-fixture.json"
    data = json.loads(rec.read_text())
    data["consents_to"]["evaluation"] = False
    rec.write_text(json.dumps(data))
    with pytest.raises(GateRefused, match="does not consent to evaluation"):
        evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    assert not (exp / "eval").exists()


def test_cli_eval_baseline(eval_exp: Path, tmp_path: Path):
    exp = _fresh(eval_exp, tmp_path, max_new_tokens=4)
    proc = run_cli("eval", "--substrate", "tiny", "--baseline", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    n = len(_stimulus_ids(exp))
    assert f"{n} completions: {n} generated, 0 reused" in proc.stdout
    assert (exp / "eval/tiny/baseline/scores.jsonl").is_file()
    proc = run_cli("eval", "--substrate", "tiny", cwd=exp)
    assert proc.returncode == 2 and "pass --baseline, or both" in proc.stderr


def test_unpinned_hub_substrate_is_refused(eval_exp: Path, tmp_path: Path):
    import yaml

    exp = _fresh(eval_exp, tmp_path)
    params = yaml.safe_load((exp / "params.yaml").read_text())
    params["substrates"]["hermes"]["revision"] = None
    (exp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    line = next(i for i, t in enumerate((exp / "params.yaml").read_text().splitlines(), 1)
                if t.strip() == "revision: null" and i > 1)
    with pytest.raises(GateRefused, match="'hermes'.*has no pinned revision") as err:
        evaluate(exp / "params.yaml", substrate="hermes", baseline=True)
    assert f"params.yaml:{line}: " in str(err.value)
