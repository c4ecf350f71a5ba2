"""babyctl capability: lm-evaluation-harness on a local task, the baseline and an adapter (tiny model)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from babyctl.capability import load_local_task, run_capability, score_rows
from babyctl.config import load_params
from babyctl.errors import InputError
from babyctl.evaluate.runs import RunSpec
from babyctl.fsutil import sha256_file
from babyctl.schemas.provenance import Provenance
from conftest import edit_params, install_tiny_model, read_jsonl, run_cli

TASK = "babyctl_basic_knowledge"


@pytest.fixture(scope="module")
def cap_exp(trained_run, tmp_path_factory) -> Path:
    """A copy of the trained experiment (tiny model + core seed-1 adapter) with the capability check run
    on the baseline (via the CLI) and on the adapter (via the library); 8 items to keep it quick."""
    exp = tmp_path_factory.mktemp("cap") / "exp"
    shutil.copytree(trained_run.parents[3], exp)
    edit_params(exp, lambda d: d["capability"].update(limit=8))
    proc = run_cli("capability", "--substrate", "tiny", "--baseline", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    assert f"tiny/baseline: {TASK}: 8 items" in proc.stdout
    run_capability(load_params(exp / "params.yaml"), RunSpec("tiny", "core", 1), exp)
    return exp


def _loglikelihoods(exp: Path, question: str, choices: list[str], adapter: Path | None) -> list[float]:
    """Independent check: sum of log-probabilities of each choice after the lm-eval prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(exp / "models/base/tiny")
    model = AutoModelForCausalLM.from_pretrained(exp / "models/base/tiny", dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    context = f"Question: {question}\nAnswer:"
    out = []
    for choice in choices:  # lm-eval's hf model scores after a BOS token; the choice follows a space
        ctx = tok(context, add_special_tokens=False)["input_ids"]
        full = tok(context + " " + choice, add_special_tokens=False)["input_ids"]
        cont = full[len(ctx):]
        ctx = [tok.bos_token_id] + ctx
        ids = torch.tensor([(ctx + cont)[:-1]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0], dim=-1)
        out.append(float(sum(logp[len(ctx) - 1 + i, t] for i, t in enumerate(cont))))
    return out


def test_baseline_results_with_provenance(cap_exp):
    out = cap_exp / "eval-capability/tiny/baseline"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    samples = read_jsonl(out / "samples.jsonl")
    task = results["tasks"][TASK]
    assert task["local"] is True and task["n"] == 8 and results["lm_eval_version"]
    assert [s["doc_id"] for s in samples] == list(range(8)) and {s["metric"] for s in samples} == {"acc"}
    assert task["metrics"]["acc,none"] == pytest.approx(sum(s["value"] for s in samples) / 8)
    data = [json.loads(x) for x in (cap_exp / "capability" / f"{TASK}.jsonl").read_text().splitlines()]
    for s in samples:  # each item's verdict is the argmax of its choices' log-likelihoods
        ll = s["loglikelihoods"]
        assert len(ll) == len(data[s["doc_id"]]["choices"])
        assert s["value"] == float(ll.index(max(ll)) == data[s["doc_id"]]["answer"])
    # the log-likelihoods are the model's own: recomputed here without lm-eval
    mine = _loglikelihoods(cap_exp, data[0]["question"], data[0]["choices"], None)
    assert mine == pytest.approx(samples[0]["loglikelihoods"], abs=1e-3)
    prov = Provenance.model_validate_json((out / "provenance.json").read_text())
    paths = {i.path: i.sha256 for i in prov.inputs}
    assert paths[f"capability/{TASK}.yaml"] == sha256_file(cap_exp / "capability" / f"{TASK}.yaml")
    assert paths[f"capability/{TASK}.jsonl"] == sha256_file(cap_exp / "capability" / f"{TASK}.jsonl")
    assert any(p.endswith("model.safetensors") for p in paths)
    assert prov.params["samples_sha256"] == sha256_file(out / "samples.jsonl")
    assert prov.params["capability"]["tasks"] == [TASK] and prov.command.endswith("--baseline")


def test_adapter_run_loads_the_adapter(cap_exp):
    base = read_jsonl(cap_exp / "eval-capability/tiny/baseline/samples.jsonl")
    out = cap_exp / "eval-capability/tiny/core/seed-1"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    adapter = cap_exp / "models/tiny/core/seed-1/adapter"
    assert results["adapter_sha256"] == sha256_file(adapter / "adapter_model.safetensors")
    trained = read_jsonl(out / "samples.jsonl")
    assert [s["loglikelihoods"] for s in trained] != [s["loglikelihoods"] for s in base]
    data = json.loads((cap_exp / "capability" / f"{TASK}.jsonl").read_text().splitlines()[0])
    mine = _loglikelihoods(cap_exp, data["question"], data["choices"], adapter)
    assert mine == pytest.approx(trained[0]["loglikelihoods"], abs=1e-3)
    prov = Provenance.model_validate_json((out / "provenance.json").read_text())
    assert any(i.path.endswith("adapter_model.safetensors") for i in prov.inputs)


def test_items_become_score_rows_for_the_report(cap_exp):
    rows = score_rows(cap_exp, load_params(cap_exp / "params.yaml"))
    by_run = {}
    for r in rows:
        by_run.setdefault((r["condition"], r["seed"]), []).append(r)
    assert set(by_run) == {("baseline", None), ("core", 1)}
    base = by_run[("baseline", None)]
    assert len(base) == 8 and {r["bank"] for r in base} == {f"capability:{TASK}"}
    samples = read_jsonl(cap_exp / "eval-capability/tiny/baseline/samples.jsonl")
    assert [r["signals"]["acc"] for r in base] == [s["value"] == 1.0 for s in samples]


def test_empty_task_list_records_that_nothing_ran(experiment, tiny_model_dir):
    install_tiny_model(experiment, tiny_model_dir)
    edit_params(experiment, lambda d: d["capability"].update(tasks=[]))
    proc = run_cli("capability", "--substrate", "tiny", "--baseline", cwd=experiment)
    assert proc.returncode == 0, proc.stderr
    assert "capability.tasks is empty: nothing ran (recorded)" in proc.stdout
    results = json.loads((experiment / "eval-capability/tiny/baseline/results.json").read_text())
    assert results["tasks"] == {} and "nothing ran" in results["note"]


@pytest.mark.parametrize("mutate, message, line", [
    (lambda t: t.replace("task: babyctl_basic_knowledge", "task: other"), "task: must be", 5),
    (lambda t: t.replace("test: babyctl_basic_knowledge.jsonl", "test: gone.jsonl"), "data file 'gone.jsonl'", 9),
    (lambda t: t + "bad: [unclosed\n", "invalid YAML", 22),
])
def test_bad_local_task_names_file_and_line(tmp_path, repo_root, mutate, message, line):
    shutil.copytree(repo_root / "capability", tmp_path / "capability")
    f = tmp_path / "capability" / f"{TASK}.yaml"
    f.write_text(mutate(f.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_local_task(tmp_path / "capability", TASK)
    assert e.value.path == str(f) and message in e.value.message
    assert e.value.line == line or (line == 22 and e.value.line is not None)
    assert load_local_task(tmp_path / "capability", "not-local") is None  # a built-in lm-eval task name


def test_capability_stage_runs_in_dvc_repro(pipeline_repo):
    lock = yaml.safe_load((pipeline_repo / "dvc.lock").read_text(encoding="utf-8"))
    assert {"capability-baseline@tiny", "capability@tiny-core-1", "eval-prompted@tiny-core-prompted"} <= set(lock["stages"])
    for label in ("tiny/baseline", "tiny/core/seed-1"):
        results = json.loads((pipeline_repo / "eval-capability" / label / "results.json").read_text())
        assert results["tasks"][TASK]["n"] == 20
    report = (pipeline_repo / "reports/report.md").read_text(encoding="utf-8")
    assert "## Capability check" in report and f"| tiny/core/seed-1 | `{TASK}` | 20 |" in report
    assert f"| core | capability:{TASK} | `acc` |" in report  # the difference from baseline, same inference
    assert "| core-prompted |" in report  # the prompted-only arm is an arm of the report
    assert "## Training geometry" in report and "| core | 24 | 2.75 | tiny |" in report
