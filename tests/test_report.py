"""babyctl report: Markdown, PNG plots, DVC metrics; neutral wording (babyctl.wording)."""
from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import yaml

from babyctl.errors import InputError, IntegrityError
from babyctl.evaluate.command import evaluate
from babyctl.evaluate.report import build_report
from babyctl.wording import FRAMING_WORDS, framing_findings

from conftest import copy_experiment, install_tiny_model, run_cli, set_params

SIGNALS = ("refusal", "ai_disavowal", "uncertainty", "compliance")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR", f"{path} is not a PNG"
    assert data[-8:-4] == b"IEND"
    return struct.unpack(">II", data[16:24])


def stimuli(exp: Path) -> list[tuple[str, str]]:
    """(id, bank) of every stimulus of the example study."""
    return [(json.loads(line)["id"], f.stem) for f in sorted((exp / "stimuli").glob("*.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]


#: stimuli in the example study (every bank), the row count of one complete run
N_STIM = len(stimuli(Path(__file__).resolve().parents[1]))


def write_run(exp: Path, run: str, seed, refuses, *, repeats: int = 1, judge=None, only=None) -> None:
    """completions.jsonl + scores.jsonl for ``run``: ``refuses(stimulus_id, repeat) -> 0/1``;
    ``judge(stimulus_id) -> list of votes`` (None: no judges); ``only`` keeps the first N rows."""
    d = exp / "eval" / run
    d.mkdir(parents=True, exist_ok=True)
    sub, cond = run.split("/")[:2]
    rows = []
    for sid, bank in stimuli(exp):
        for r in range(repeats):
            row = {"stimulus_id": sid, "bank": bank, "substrate": sub, "condition": cond, "seed": seed,
                   "repeat": r, "completion": "x",
                   "signals": {s: int(s == "refusal" and refuses(sid, r)) for s in SIGNALS}, "judge": None}
            if judge is not None:
                votes = [{"verdict": v} for v in judge(sid)]
                yes = sum(v["verdict"] == "yes" for v in votes)
                no = sum(v["verdict"] == "no" for v in votes)
                row["judge"] = {"verdict": None if yes == no else int(yes > no), "votes": votes}
            rows.append(row)
    rows = rows[:only] if only is not None else rows
    for name in ("completions.jsonl", "scores.jsonl"):
        (d / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def scored_exp(tmp_path: Path) -> Path:
    """core (treatment) and neutral (control), seeds 1-3, all complete; core refuses on jailbreak
    for every seed, neutral and baseline on 2 stimuli."""
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    set_params(exp, training__seeds=[1, 2, 3], active_prompted=[])  # prompted arms: tests/test_design_eval.py
    few = {"jb-001", "fawn-001"}
    write_run(exp, "tiny/baseline", None, lambda s, r: s in few)
    for n in (1, 2, 3):
        write_run(exp, f"tiny/core/seed-{n}", n, lambda s, r, n=n: s.startswith("jb") and (n < 3 or s != "jb-002"))
        write_run(exp, f"tiny/neutral/seed-{n}", n, lambda s, r: s in few)
    write_run(exp, "tiny/core/seed-9", 9, lambda s, r: 0)  # not in training.seeds
    return exp


def test_report_contrasts_families_metrics_and_plots(scored_exp: Path):
    result = build_report(scored_exp / "params.yaml")
    report = (scored_exp / "reports" / "report.md").read_text()
    assert framing_findings(report) == []
    data = json.loads((scored_exp / "metrics" / "eval.json").read_text())  # strict JSON, no NaN
    recs = {r["id"]: r for r in data["records"]}
    tc = recs["tiny/core - neutral/jailbreak/refusal"]
    assert tc["estimate"] == pytest.approx(32 / 33 - 1 / 11)
    assert tc["ci_low"] > 0 and tc["p"] < 0.05 and tc["p_adjusted"] >= tc["p"]
    assert tc["family"] == "exploratory" and tc["method"].startswith("crossed random effects")
    assert tc["n_seeds"] == [3, 3] and tc["seed_level"] is True
    assert {"tiny/core - baseline/jailbreak/refusal", "tiny/neutral - baseline/fawning/refusal"} <= set(recs)
    assert all(r["family"] == "exploratory" for r in recs.values())  # no lock: all exploratory
    assert data["confirmatory"] is False and data["complete"] is True
    assert "Exploratory.** The study has no pre-registration lock" in report
    assert "| exploratory | tiny | core - neutral | jailbreak | `refusal` |" in report
    assert "## Variance components" in report and "### `refusal`" in report
    assert "Seed-level inference is not possible" not in report  # 3 seeds
    assert "## Deviations from the pre-registration" in report
    assert "eval/tiny/core/seed-9/scores.jsonl" in report.split("Left out")[1]
    # headline: one small file per primary contrast (core - neutral x refusal x jailbreak)
    heads = sorted((scored_exp / "metrics" / "headline").iterdir())
    assert [h.name for h in heads] == ["tiny.core-vs-neutral.jailbreak.refusal.json"]
    assert json.loads(heads[0].read_text())["diff"] == pytest.approx(tc["estimate"], abs=1e-6)
    # TSVs: one estimate row per cell, one row per seed beside it
    rates = (scored_exp / "metrics" / "rates.tsv").read_text().splitlines()
    assert rates[0].split("\t") == ["label", "arm", "bank", "signal", "kind", "seed", "value", "ci_low", "ci_high"]
    core = [r.split("\t") for r in rates if r.startswith("tiny/core | jailbreak | refusal")]
    assert [c[4] for c in core] == ["estimate", "seed", "seed", "seed"]
    assert [float(c[6]) for c in core[1:]] == pytest.approx([1.0, 1.0, 10 / 11], abs=1e-6)
    contrasts = (scored_exp / "metrics" / "contrasts.tsv").read_text()
    assert contrasts.count("tiny | core - neutral | jailbreak | refusal (exploratory)\t") == 4
    assert "seed\tstimulus" not in (scored_exp / "metrics" / "variance.tsv").read_text()  # long format
    plots = sorted(p.name for p in (scored_exp / "reports" / "plots").glob("*.png"))
    assert plots == sorted([f"rates-{s}.png" for s in SIGNALS] + ["contrasts-tiny.png"])
    for p in (scored_exp / "reports" / "plots").glob("*.png"):
        w, h = png_size(p)
        assert w >= 600 and h >= 300 and f"](plots/{p.name})" in report
    assert scored_exp / "reports" / "report.md" in result.written


def test_why_scenario_report_says_the_seeds_disagree(tmp_path: Path):
    """Seed 1 refuses on every stimulus, seed 2 on none, the baseline on none (issue 13)."""
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    set_params(exp, active_conditions=["core"], active_prompted=[])
    write_run(exp, "tiny/baseline", None, lambda s, r: 0)
    write_run(exp, "tiny/core/seed-1", 1, lambda s, r: 1)
    write_run(exp, "tiny/core/seed-2", 2, lambda s, r: 0)
    build_report(exp / "params.yaml")
    rec = {r["id"]: r for r in json.loads((exp / "metrics" / "eval.json").read_text())["records"]}
    d = rec["tiny/core - baseline/jailbreak/refusal"]
    assert d["estimate"] == pytest.approx(0.5)
    assert d["ci_low"] <= 0 and d["p"] > 0.05 and d["seed_level"] is False
    report = (exp / "reports" / "report.md").read_text()
    assert "Seed-level inference is not possible: fewer than 3 training seeds" in report
    assert "most of the variance comes from disagreement between training seeds" in report
    assert "seed term 100% of the variance; per-seed rates 1: 100.0%, 2: 0.0%" in report


def test_lock_makes_the_primary_family_confirmatory(scored_exp: Path):
    assert run_cli("prereg", "lock", cwd=scored_exp).returncode == 0
    build_report(scored_exp / "params.yaml")
    data = json.loads((scored_exp / "metrics" / "eval.json").read_text())
    prim = [r for r in data["records"] if r["family"] == "primary"]
    assert [r["id"] for r in prim] == ["tiny/core - neutral/jailbreak/refusal"]
    assert prim[0]["p_adjusted"] == pytest.approx(prim[0]["p"])  # a family of one
    explo = [r for r in data["records"] if r["family"] == "exploratory"]
    assert all("exploratory family" in r["adjustment"] for r in explo) and len(explo) > 10
    report = (scored_exp / "reports" / "report.md").read_text()
    assert "| primary | tiny | core - neutral | jailbreak | `refusal` |" in report
    assert "None: the study matches the lock." in report


@pytest.mark.parametrize("damage, named", [
    (lambda e: shutil.rmtree(e / "eval/tiny/neutral/seed-2"), "eval/tiny/neutral/seed-2/completions.jsonl: missing"),
    (lambda e: write_run(e, "tiny/core/seed-1", 1, lambda s, r: 0, only=3),
     f"eval/tiny/core/seed-1/completions.jsonl: 3 of {N_STIM} rows"),
    (lambda e: (e / "eval/tiny/core/seed-3/scores.jsonl").write_text(""),
     f"eval/tiny/core/seed-3/scores.jsonl: 0 of {N_STIM} rows"),
    (lambda e: (e / "eval/tiny/baseline/scores.jsonl.partial").write_text("{}\n"),
     "eval/tiny/baseline/scores.jsonl: interrupted"),
])
def test_incomplete_runs_are_refused_or_reported_as_incomplete(scored_exp: Path, damage, named):
    damage(scored_exp)
    with pytest.raises(IntegrityError, match="missing or incomplete") as e:
        build_report(scored_exp / "params.yaml")
    assert named in str(e.value)
    assert not (scored_exp / "reports").exists()
    proc = run_cli("report", cwd=scored_exp)
    assert proc.returncode == 1 and named in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("report", "--allow-incomplete", cwd=scored_exp)
    assert proc.returncode == 0, proc.stderr
    assert "INCOMPLETE" in proc.stderr
    report = (scored_exp / "reports" / "report.md").read_text()
    assert "## INCOMPLETE: runs with missing rows" in report and named in report
    data = json.loads((scored_exp / "metrics" / "eval.json").read_text())
    assert data["complete"] is False and any(named in m for m in data["missing"])


def test_repeats_must_all_be_there(scored_exp: Path):
    set_params(scored_exp, eval__repeats=2, eval__sampling={"temperature": 0.7, "top_p": 1.0, "seed": 0})
    with pytest.raises(IntegrityError, match=rf"{N_STIM} of {2 * N_STIM} rows \(stimuli x 2 repeats\)"):
        build_report(scored_exp / "params.yaml")


def test_judge_ties_parse_failures_bounds_and_kappa_per_bank(scored_exp: Path):
    def votes(sid):
        if sid.endswith("-001"):
            return ["yes", "no"]  # a tie
        if sid.endswith("-002"):
            return [None, None]  # nothing parsed
        return ["yes", "yes"] if sid.startswith("jb") else ["no", "no"]

    write_run(scored_exp, "tiny/baseline", None, lambda s, r: 0, judge=votes)
    for n in (1, 2, 3):
        for c in ("core", "neutral"):
            write_run(scored_exp, f"tiny/{c}/seed-{n}", n, lambda s, r: 0, judge=votes)
    build_report(scored_exp / "params.yaml")
    data = json.loads((scored_exp / "metrics" / "eval.json").read_text())
    j = {(x["condition"], x["bank"]): x for x in data["judges"]}
    jb = j[("baseline", "jailbreak")]
    assert (jb["n"], jb["ties"], jb["unparsed"], jb["parse_failures"]) == (11, 1, 1, 2)
    assert jb["rate_if_undecided_no"] == pytest.approx(9 / 11)
    assert jb["rate_if_undecided_yes"] == pytest.approx(1.0)
    assert jb["fleiss_kappa"] < 1 and j[("baseline", "fawning")]["n_rated_by_all"] == 10
    report = (scored_exp / "reports" / "report.md").read_text()
    assert "## Judges: undecided verdicts and agreement" in report
    assert "| tiny/baseline | jailbreak | 11 | 9 | 0 | 1 | 1 | 2 | 81.8% | 100.0% |" in report


def test_substrate_by_condition_interaction_with_two_substrates(scored_exp: Path):
    from babyctl.config import load_params
    from babyctl.evaluate.analysis import analyse
    from babyctl.evaluate.report import read_scores

    rows = read_scores(sorted((scored_exp / "eval").glob("tiny/*/scores.jsonl"))
                       + sorted((scored_exp / "eval").glob("tiny/*/seed-[123]/scores.jsonl")))
    other = [{**r, "substrate": "hermes"} for r in rows]
    for r in other:  # on hermes, core behaves like neutral
        if r["condition"] == "core":
            r["signals"] = {**r["signals"], "refusal": int(r["stimulus_id"] in {"jb-001", "fawn-001"})}
    params = load_params(scored_exp / "params.yaml").model_copy(update={"active_substrates": ["tiny", "hermes"]})
    a = analyse(rows + other, params, confirmatory=False)
    inter = {c.id: c for c in a.contrasts if c.kind == "interaction"}
    x = inter["hermes x tiny/core - neutral/jailbreak/refusal"]
    assert x.inference.estimate == pytest.approx(-(32 / 33 - 1 / 11)) and x.inference.ci_high < 0
    assert x.family == "exploratory"


def test_report_refuses_framing_words_from_params_and_writes_nothing(scored_exp: Path):
    params = yaml.safe_load((scored_exp / "params.yaml").read_text())
    params["eval"]["signals"] = {s: {"pattern": "x", "description": "marks a better answer"} for s in SIGNALS}
    (scored_exp / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(IntegrityError, match="report wording is not neutral.*'better'"):
        build_report(scored_exp / "params.yaml")
    assert not (scored_exp / "reports").exists() and not (scored_exp / "metrics").exists()


def test_report_without_scores_is_a_clear_error(tmp_path: Path):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    with pytest.raises(IntegrityError, match="missing or incomplete"):
        build_report(exp / "params.yaml")
    with pytest.raises(InputError, match="no scores of active runs"):
        build_report(exp / "params.yaml", allow_incomplete=True)
    proc = run_cli("report", cwd=exp)
    assert proc.returncode == 1 and proc.stderr.startswith("babyctl: error: ")
    assert "Traceback" not in proc.stderr


def test_corrupt_scores_name_file_and_line(scored_exp: Path):
    path = scored_exp / "eval" / "tiny" / "baseline" / "scores.jsonl"
    path.write_text(path.read_text() + "{oops\n")
    with pytest.raises(InputError, match=rf"baseline/scores\.jsonl:{N_STIM + 1}:.*invalid JSON"):
        build_report(scored_exp / "params.yaml", allow_incomplete=True)


def test_eval_then_report_on_the_tiny_model(tmp_path: Path, tiny_model_dir: Path):
    """Real eval output (signals only: params has no judges) through the CLI report."""
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    install_tiny_model(exp, tiny_model_dir)
    evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    proc = run_cli("report", "--allow-incomplete", cwd=exp)  # the trained runs are missing
    assert proc.returncode == 0, proc.stderr
    report = (exp / "reports" / "report.md").read_text()
    assert framing_findings(report) == [] and "## Rates: substrate `tiny`" in report
    assert "eval/tiny/core/seed-1/completions.jsonl: missing" in report
    assert {p.name for p in (exp / "reports" / "plots").glob("*.png")} == {f"rates-{s}.png" for s in SIGNALS}


# --- babyctl.wording ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, words", [
    ("Training improved refusals.", ["improved"]),
    ("An Improvement over baseline", ["Improvement"]),
    ("core outperforms neutral; the best seed", ["outperforms", "best"]),
    ("This is better.\nThat is worse.", ["better", "worse"]),
    ("a superior, enhanced model that degraded less", ["superior", "enhanced", "degraded"]),
])
def test_framing_words_are_flagged(text, words):
    found = framing_findings(text)
    assert [f.word for f in found] == words
    assert all(f.reason for f in found)


def test_framing_positions_and_neutral_text():
    [f] = framing_findings("line one\nthe rate improved here")
    assert (f.line, f.col) == (2, 10)
    neutral = ("The refusal rate is 12 percentage points higher than baseline (95% CI 3 to 20). "
               "The difference is lower for seed 2. Judge parse failures: 3. A fixed seed was used.")
    assert framing_findings(neutral) == []
    assert len(FRAMING_WORDS) >= 10
