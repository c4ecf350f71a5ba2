"""Matched controls: training geometry in the dataset card, the match check in babyctl build."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from babyctl.geometry import ks_permutation_test, ks_statistic, report_section
from babyctl.config import load_params
from conftest import edit_params, install_tiny_model, run_cli


@pytest.fixture
def exp(experiment, tiny_model_dir):
    install_tiny_model(experiment, tiny_model_dir)
    return experiment


def short_control(exp: Path, n: int = 8, **match) -> None:
    """Make ``neutral`` a control with only its first ``n`` examples (fewer tokens than core)."""
    src = exp / "curriculum" / "neutral-control.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines()[:n]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def fn(d):
        d["conditions"]["neutral"]["expected_count"] = n
        d["conditions"]["neutral"]["match"] = {"examples": None, **match}
    edit_params(exp, fn)


def test_example_study_neutral_control_matches_core(exp):
    proc = run_cli("build", "neutral", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    card = json.loads((exp / "data/build/neutral/dataset_card.json").read_text(encoding="utf-8"))
    m = card["match"]
    assert m["target"] == "core" and m["ok"] is True and m["deviation"] is None
    measures = {r["measure"].split(" (")[0]: r for r in m["rows"]}
    assert set(measures) == {"examples", "mean turns per example", "total tokens", "assistant-turn length"}
    assert measures["examples"]["control"] == measures["examples"]["target"] == 24
    tok = measures["total tokens"]
    assert tok["substrate"] == "tiny" and abs(tok["control"] - tok["target"]) / tok["target"] <= 0.05
    assert 0.05 <= measures["assistant-turn length"]["p_value"] <= 1
    assert card["geometry"]["substrates"]["tiny"]["tokens"] == tok["control"]
    md = (exp / "data/build/neutral/dataset_card.md").read_text(encoding="utf-8")
    assert "## Training geometry" in md and "against `core` -- matches" in md and "| total tokens | tiny |" in md


def test_control_with_fewer_tokens_fails_the_build_with_the_table(exp):
    short_control(exp)
    proc = run_cli("build", "neutral", cwd=exp)
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "Traceback" not in err
    text = (exp / "params.yaml").read_text().splitlines()
    start = text.index("  neutral:")
    line = next(i for i, t in enumerate(text, 1) if i > start and "matches: core" in t)
    assert f"params.yaml:{line}: condition 'neutral' does not match 'core'" in err
    row = next(r for r in err.splitlines() if r.startswith("| total tokens | tiny |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    control, target = int(cells[2]), int(cells[3])
    assert control < target and cells[4].startswith(f"{control - target:+d}") and cells[-1] == "**NO**"
    assert "| measure | substrate | neutral | core | difference | tolerance | ok |" in err
    assert "declare why not in conditions.neutral.match.deviation" in err
    assert not (exp / "data/build/neutral").exists()  # nothing written


def test_a_declared_deviation_builds_and_the_card_says_so(exp):
    short_control(exp, deviation="only 8 neutral examples were written")
    proc = run_cli("build", "neutral", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    card = json.loads((exp / "data/build/neutral/dataset_card.json").read_text(encoding="utf-8"))
    assert card["match"]["ok"] is False and card["match"]["deviation"] == "only 8 neutral examples were written"
    assert any(r["measure"] == "total tokens" and not r["ok"] for r in card["match"]["rows"])
    md = (exp / "data/build/neutral/dataset_card.md").read_text(encoding="utf-8")
    assert "declared deviation: only 8 neutral examples were written" in md
    # the report's geometry section reads the cards
    run_cli("build", "core", cwd=exp)
    params = load_params(exp / "params.yaml")
    params.active_conditions = ["core", "neutral"]
    text = "\n".join(report_section(exp, params))
    assert "| core | 24 |" in text and "| neutral | 8 |" in text
    assert "`neutral` against `core`: declared deviation: only 8 neutral examples were written" in text


def test_length_tolerance_and_alpha_are_enforced(exp):
    edit_params(exp, lambda d: d["conditions"]["neutral"].update(match={"lengths": 0.0}))
    proc = run_cli("build", "neutral", cwd=exp)
    assert proc.returncode == 1 and "| assistant-turn length (mean tokens; KS D) | tiny |" in proc.stderr
    assert "D <= 0, p >= 0.05 | **NO** |" in proc.stderr


def test_missing_tokenizer_is_an_environment_error(experiment):
    proc = run_cli("build", "neutral", cwd=experiment)  # no models/base/tiny
    assert proc.returncode == 2 and "cannot check the match on substrate 'tiny'" in proc.stderr
    assert "babyctl tiny-model" in proc.stderr


@pytest.mark.parametrize("fields, message", [
    ({"matches": "nope"}, "'nope' is not another trained condition"),
    ({"matches": "neutral"}, "'neutral' is not another trained condition"),
    ({"match": {"tokens": -1}}, "greater than or equal to 0"),
    ({"match": {"speed": 1}}, "speed"),
])
def test_bad_match_declarations_name_the_file_and_line(exp, fields, message):
    edit_params(exp, lambda d: d["conditions"]["neutral"].update(fields))
    proc = run_cli("build", "neutral", cwd=exp)
    assert proc.returncode == 2 and "params.yaml:" in proc.stderr and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_ks_statistic_and_permutation_p_value():
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert ks_statistic([1, 2], [3, 4]) == 1.0
    d, p = ks_permutation_test([1, 2, 3, 4], [1, 2, 3, 4])
    assert d == 0.0 and p == 1.0
    rng = np.random.default_rng(3)
    a, b = rng.normal(100, 10, 40), rng.normal(130, 10, 40)
    d, p = ks_permutation_test(a, b)
    assert d > 0.7 and p == pytest.approx(1 / 10000)  # no permutation reaches a shift of 3 SD
    assert ks_permutation_test(a, b) == (d, p)  # seeded: builds stay byte-identical


def test_permutation_test_holds_its_size_under_the_null():
    # integer lengths with many ties, unequal sizes: the p-value must stay valid (about 5% below 0.05)
    rng = np.random.default_rng(11)
    ps = [ks_permutation_test(rng.integers(0, 8, 15), rng.integers(0, 8, 22), permutations=199, seed=i)[1]
          for i in range(300)]
    rate = float(np.mean(np.array(ps) < 0.05))
    assert rate <= 0.05 + 3 * (0.05 * 0.95 / 300) ** 0.5  # at most the nominal size (+3 standard errors)
