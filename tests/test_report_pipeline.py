"""Issue 13 end to end: a tiny-model `dvc repro` with two conditions, sampled repeats, a
pre-registration lock, an eval-params edit after locking, then an amendment; plus issue 17's
`dvc metrics show` width and `dvc plots show --json` Vega specs. Real git, DVC and training."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import PIPELINE_ENV, REPO, copy_experiment, dvc, git, read_jsonl, run_cli, set_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two conditions (core = treatment, neutral = control), 2 seeds, 2 sampled repeats on one bank,
    locked before `dvc repro`."""
    exp = copy_experiment(tmp_path_factory.mktemp("study") / "exp", with_dvc=True)
    (exp / ".gitignore").write_text((REPO / ".gitignore").read_text())  # /dvc_plots/ among them
    set_params(exp, active_conditions=["core", "neutral"], training__seeds=[1, 2], training__max_steps=2,
         eval__banks=["jailbreak"], eval__max_new_tokens=6, eval__repeats=2,
         eval__sampling={"temperature": 0.9, "top_p": 0.95, "seed": 5})
    proc = run_cli("prereg", "lock", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    git(exp, "add", "-A")
    git(exp, "commit", "-qm", "study + pre-registration lock")
    dvc(exp, "repro", "-q")
    return exp


def test_repro_reports_contrasts_families_variance_and_repeats(study):
    report = (study / "reports" / "report.md").read_text()
    assert "| primary | tiny | core - neutral | jailbreak | `refusal` |" in report  # treatment - control
    assert "| exploratory | tiny | core - neutral | jailbreak | `compliance` |" in report
    assert "| exploratory | tiny | core - baseline | jailbreak |" in report
    assert "## Variance components" in report and "| tiny/core | jailbreak | 2 | 2 |" in report
    assert "Seed-level inference is not possible: fewer than 3 training seeds" in report
    assert "sampling (temperature 0.9, top_p 0.95), 2 repeat(s) per stimulus" in report
    assert "## Deviations from the pre-registration" in report and "None: the study matches the lock." in report
    rows = read_jsonl(study / "eval/tiny/core/seed-1/completions.jsonl")
    assert len(rows) == 22 and sorted({r["repeat"] for r in rows}) == [0, 1]
    seeds = [r["sampling_seed"] for r in rows]
    assert len(set(seeds)) == 22 and all(isinstance(s, int) for s in seeds)
    assert all(r["generation"]["do_sample"] and "<|im_end|>" in r["generation"]["stop_tokens"] for r in rows)
    assert all(r["stop_reason"] in ("stop_token", "max_new_tokens") for r in rows)
    prov = json.loads((study / "eval/tiny/core/seed-1/provenance.json").read_text())
    assert prov["params"]["generation"]["repeats"] == 2 and prov["params"]["generation"]["stop_token_ids"]
    scores = read_jsonl(study / "eval/tiny/core/seed-1/scores.jsonl")
    assert [(s["stimulus_id"], s["repeat"]) for s in scores] == [(r["stimulus_id"], r["repeat"]) for r in rows]
    data = json.loads((study / "metrics" / "eval.json").read_text())
    assert data["confirmatory"] and data["complete"]
    assert {r["family"] for r in data["records"]} == {"primary", "exploratory"}


def test_metrics_show_is_narrow_and_plots_render(study):
    shown = dvc(study, "metrics", "show").stdout
    lines = [line for line in shown.splitlines() if line.strip()]
    assert "tiny.core-vs-neutral.jailbreak.refusal.json" in shown
    # one row per primary contrast: core (treatment) against each control arm, neutral and the
    # prompted-only core-prompted (the example study's active_prompted)
    headline = sorted(p.name for p in (study / "metrics" / "headline").glob("*.json"))
    assert headline == ["tiny.core-vs-core-prompted.jailbreak.refusal.json",
                        "tiny.core-vs-neutral.jailbreak.refusal.json"]
    assert len(lines) == 1 + len(headline) and max(len(line) for line in lines) < 120, shown
    plots = json.loads(dvc(study, "plots", "show", "--json").stdout)["data"]
    for name in ("metrics/rates.tsv", "metrics/contrasts.tsv"):
        spec = plots[name][0]["content"]
        assert spec["encoding"]["y"]["type"] == "nominal" and spec["encoding"]["y"]["field"] == "label"
        xs = [layer["encoding"]["x"] for layer in spec["layer"]]
        assert all(x["type"] == "quantitative" for x in xs)
        assert "<DVC_METRIC" not in json.dumps(spec)  # every anchor filled
        values = spec["data"]["values"]
        kinds = {v["kind"] for v in values}
        assert kinds == {"estimate", "seed"}  # the seed-level points beside each interval
        assert all(0 <= float(v["value"]) <= 1 or name.endswith("contrasts.tsv") for v in values)
        for v in values:
            float(v["value"])  # every x parses as a number (the calculate transform's input)
    dvc(study, "plots", "show", "-q")  # writes dvc_plots/index.html, which git must ignore
    assert (study / "dvc_plots").is_dir()
    assert "dvc_plots" not in git(study, "status", "--porcelain")


def test_an_eval_edit_after_locking_is_a_deviation_until_amended(study, tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(study, repo, symlinks=True)
    set_params(repo, eval__max_new_tokens=5)
    dvc(repo, "repro", "-q")
    report = (repo / "reports" / "report.md").read_text()
    section = report.split("## Deviations from the pre-registration")[1].split("\n## ")[0]
    assert "**1 unexplained deviation(s)**" in section and "| `eval` | changed | max_new_tokens: 6 -> 5 |" in section
    assert json.loads((repo / "metrics/eval.json").read_text())["deviations"][0]["explained"] is False
    audit = run_cli("audit", "--json", "--no-status", cwd=repo, env=PIPELINE_ENV)
    assert any(f["check"] == "i" and "max_new_tokens" in f["message"] for f in json.loads(audit.stdout)["findings"])

    proc = run_cli("prereg", "amend", "eval", "--by", "A. Author", "--reason", "shorter completions fit the budget",
                   "--id", "shorter-completions", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    ran = dvc(repo, "repro").stdout
    assert "Running stage 'report'" in ran and "Running stage 'eval" not in ran
    report = (repo / "reports" / "report.md").read_text()
    section = report.split("## Deviations from the pre-registration")[1].split("\n## ")[0]
    assert "unexplained" not in section
    assert "| `eval` | max_new_tokens: 6 -> 5 | shorter completions fit the budget |" in section
    assert "`amendments/shorter-completions.json`" in section
    audit = run_cli("audit", "--json", "--no-status", cwd=repo, env=PIPELINE_ENV)
    assert not [f for f in json.loads(audit.stdout)["findings"] if f["check"] == "i"]
    assert subprocess.run(["git", "check-ignore", "-q", "amendments/shorter-completions.json"],
                          cwd=repo).returncode == 1  # amendments are committed, not ignored
