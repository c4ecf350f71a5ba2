"""babyctl report: Markdown, PNG plots, DVC metrics; neutral wording (babyctl.wording)."""
from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
import yaml

from babyctl.errors import InputError, IntegrityError
from babyctl.evaluate.command import evaluate
from babyctl.evaluate.report import build_report
from babyctl.wording import FRAMING_WORDS, framing_findings

from conftest import copy_experiment, install_tiny_model, run_cli

SIGNALS = ("refusal", "ai_disavowal", "uncertainty", "compliance")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR", f"{path} is not a PNG"
    assert data[-8:-4] == b"IEND"
    return struct.unpack(">II", data[16:24])


def write_scores(exp: Path, run: str, refusal_ids: set[str], judge: bool = True, seed=None) -> None:
    rng = random.Random(run)
    d = exp / "eval" / run
    d.mkdir(parents=True, exist_ok=True)
    sub, cond = run.split("/")[:2]
    with open(d / "scores.jsonl", "w") as f:
        for i in range(20):
            sid = f"q{i:02d}"
            votes = [{"verdict": rng.choice(["yes", "no"])} for _ in range(3)]
            yes = sum(v["verdict"] == "yes" for v in votes)
            row = {"stimulus_id": sid, "bank": "alpha" if i < 10 else "beta", "substrate": sub,
                   "condition": cond, "seed": seed,
                   "signals": {s: int(s == "refusal" and sid in refusal_ids) for s in SIGNALS},
                   "judge": {"verdict": int(yes >= 2), "votes": votes} if judge else None}
            f.write(json.dumps(row) + "\n")


@pytest.fixture
def scored_exp(tmp_path: Path) -> Path:
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    write_scores(exp, "tiny/baseline", {"q00", "q01", "q10"})
    write_scores(exp, "tiny/core/seed-1", {f"q{i:02d}" for i in range(8)} | {"q10"}, seed=1)
    write_scores(exp, "tiny/core/seed-2", {f"q{i:02d}" for i in range(6)} | {"q10"}, seed=2)
    write_scores(exp, "tiny/core/seed-9", set(), seed=9)  # not in training.seeds
    return exp


def test_report_files_numbers_and_neutral_wording(scored_exp: Path):
    result = build_report(scored_exp / "params.yaml")
    report = (scored_exp / "reports" / "report.md").read_text()
    assert framing_findings(report) == []
    metrics = json.loads((scored_exp / "metrics" / "eval.json").read_text())  # strict JSON, no NaN
    rates = metrics["rates"]["tiny"]
    assert rates["baseline"]["alpha"]["refusal"]["rate"] == pytest.approx(0.2)
    assert rates["core"]["alpha"]["refusal"]["rate"] == pytest.approx(14 / 20)
    assert rates["core"]["alpha"]["refusal"]["seed_range"] == pytest.approx(0.2)
    assert rates["core"]["beta"]["refusal"]["rate"] == pytest.approx(0.1)
    diff = metrics["differences"]["tiny"]["core"]["alpha"]["refusal"]
    assert diff["difference"] == pytest.approx(0.5) and diff["p_holm"] >= diff["p"]
    assert metrics["differences"]["tiny"]["core"]["beta"]["refusal"]["difference"] == 0
    assert "tiny/core" in metrics["judge_agreement"]
    # the Markdown carries the same numbers
    assert "| alpha | `refusal` | 20.0% [" in report and "70.0% [" in report
    assert "| core | alpha | `refusal` | 20.0% | 70.0% | +50.0 [" in report
    assert "higher than baseline" in report
    assert "eval/tiny/core/seed-9/scores.jsonl" in report.split("Left out")[1]
    assert "results are described as differences only" in report  # the tiny consent condition
    # plots: one per signal plus one differences plot per substrate, all valid PNGs
    plots = sorted((scored_exp / "reports" / "plots").glob("*.png"))
    assert [p.name for p in plots] == sorted([f"rates-{s}.png" for s in (*SIGNALS, "judge")]
                                             + ["differences-tiny.png"])
    for p in plots:
        w, h = png_size(p)
        assert w >= 600 and h >= 300
        assert f"](plots/{p.name})" in report
    tsv = (scored_exp / "metrics" / "eval_rates.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[:6] == ["run", "substrate", "condition", "bank", "signal", "rate"]
    assert len(tsv) == 1 + 2 * 2 * 5  # conditions x banks x signals
    assert set(result.written) >= {scored_exp / "reports" / "report.md", scored_exp / "metrics" / "eval.json"}


def test_report_refuses_framing_words_from_params_and_writes_nothing(scored_exp: Path):
    params = yaml.safe_load((scored_exp / "params.yaml").read_text())
    params["eval"]["signals"] = {s: {"pattern": "x", "description": "marks a better answer"} for s in SIGNALS}
    (scored_exp / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(IntegrityError, match="report wording is not neutral.*'better'"):
        build_report(scored_exp / "params.yaml")
    assert not (scored_exp / "reports").exists() and not (scored_exp / "metrics").exists()


def test_report_without_scores_is_a_clear_error(tmp_path: Path):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    with pytest.raises(InputError, match="no scores of active runs"):
        build_report(exp / "params.yaml")
    proc = run_cli("report", cwd=exp)
    assert proc.returncode == 2 and proc.stderr.startswith("babyctl: error: ")
    assert "Traceback" not in proc.stderr


def test_corrupt_scores_name_file_and_line(scored_exp: Path):
    path = scored_exp / "eval" / "tiny" / "baseline" / "scores.jsonl"
    path.write_text(path.read_text() + "{oops\n")
    with pytest.raises(InputError, match=r"baseline/scores\.jsonl:21:2: invalid JSON"):
        build_report(scored_exp / "params.yaml")


def test_eval_then_report_on_the_tiny_model(tmp_path: Path, tiny_model_dir: Path):
    """Real eval output (signals only: params has no judges) through the CLI report."""
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    install_tiny_model(exp, tiny_model_dir)
    evaluate(exp / "params.yaml", substrate="tiny", baseline=True)
    proc = run_cli("report", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    report = (exp / "reports" / "report.md").read_text()
    assert framing_findings(report) == [] and "## Substrate `tiny`" in report
    assert "judge" not in json.loads((exp / "metrics" / "eval.json").read_text())["rates"]["tiny"]["baseline"]["jailbreak"]
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
