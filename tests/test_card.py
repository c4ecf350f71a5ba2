"""`babyctl card`: the model card's metadata and sections, and the Llama license terms."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from conftest import copy_repo, run_cli
from publish_support import LICENSE_FIXTURES, make_publish_experiment

from babyctl.publish.flow import _license_text, render_card
from babyctl.publish.stage import stage
from babyctl.wording import framing_findings

LLAMA31_NOTICE = ("Llama 3.1 is licensed under the Llama 3.1 Community License, Copyright © Meta Platforms, Inc. "
                  "All Rights Reserved.")
LLAMA3_NOTICE = ("Meta Llama 3 is licensed under the Meta Llama 3 Community License, Copyright © Meta Platforms, "
                 "Inc. All Rights Reserved.")


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> Path:
    return make_publish_experiment(tmp_path_factory.mktemp("card") / "exp")


def meta(text: str) -> dict:
    return ModelCard(text).data.to_dict()


def test_hermes_card_meets_every_llama31_requirement(exp, tmp_path):
    rel, text = render_card(exp / "params.yaml", "hermes")
    m = meta(text)
    assert m["license"] == "llama3.1"
    assert m["base_model"] == "NousResearch/Hermes-3-Llama-3.1-8B"  # the Hub id, not a path
    assert m["base_model_relation"] == "adapter" and m["library_name"] == "peft"
    assert m["language"] == ["en"] and "lora" in m["tags"]
    body = ModelCard(text).text
    assert body.lstrip().startswith(f"# {rel.repo_name}\n\n**Built with Llama**")  # displayed prominently
    assert rel.repo_name.startswith("Llama")  # naming rule: "Llama" at the beginning
    assert LLAMA31_NOTICE in body and "https://www.llama.com/llama3_1/license/" in body
    # LICENSE and NOTICE are shipped with the adapter
    folder = stage(rel, text, _license_text(rel), tmp_path / "release")
    assert (folder / "LICENSE").read_text() == LICENSE_FIXTURES["llama3.1"]
    notice = (folder / "NOTICE").read_text()
    assert notice.startswith(LLAMA31_NOTICE + "\n") and "Built with Llama." in notice
    assert "NousResearch/Hermes-3-Llama-3.1-8B" in notice


def test_dolphin_card_meets_llama3_requirements(exp, tmp_path):
    rel, text = render_card(exp / "params.yaml", "dolphin")
    m = meta(text)
    assert m["license"] == "llama3" and m["base_model"] == "cognitivecomputations/dolphin-2.9-llama3-8b"
    assert "**Built with Meta Llama 3**" in text
    assert rel.repo_name.startswith("Llama-3")
    folder = stage(rel, text, _license_text(rel), tmp_path / "release")
    assert (folder / "NOTICE").read_text().startswith(LLAMA3_NOTICE + "\n")


def test_card_sections_and_provenance(exp):
    rel, text = render_card(exp / "params.yaml", "hermes")
    for heading in ("## Summary", "## Training details", "## Data provenance", "## Consent", "## Credits",
                    "## Evaluation", "## Limitations", "## License", "## Citation"):
        assert f"\n{heading}\n" in text, heading
    p = rel.provenance
    assert p.dataset.sha256 in text and p.git.commit in text
    lock = (exp / "dvc.lock").read_text()
    run_md5 = text.split("Run folder in `dvc.lock`: `models/hermes/core/seed-1` md5 `")[1].split("`")[0]
    assert run_md5 in lock
    assert "review_before_publication" in text and "Example Author (curriculum design)" in text
    assert "Participant: Hermes 3 (Llama 3.1 8B), study participant" in text
    assert "@misc{" in text and "Release tag core-seed1-ds" in text
    assert framing_findings(text.replace("no_improvement_framing", "")) == []


def test_tiny_card_names_no_base_model_and_no_path(exp):
    rel, text = render_card(exp / "params.yaml", "tiny")
    m = meta(text)
    assert "base_model" not in m and m["license"] == "apache-2.0"
    assert "models/base/tiny" not in text and str(exp) not in text
    assert "never records a local path" in text


def test_card_is_deterministic_and_cli_matches(exp):
    _, a = render_card(exp / "params.yaml", "hermes")
    _, b = render_card(exp / "params.yaml", "hermes")
    assert a == b
    proc = run_cli("card", "hermes", cwd=exp)
    assert proc.returncode == 0 and proc.stdout == a


def test_eval_summary_is_neutral(exp, tmp_path):
    e = copy_repo(exp, tmp_path / "exp")
    (e / "metrics").mkdir(exist_ok=True)
    (e / "metrics/eval.json").write_text(json.dumps(
        {"tiny": {"core": {"seed-1": {"disavowal_rate": 0.25, "difference_vs_baseline": -0.125}}}}))
    _, text = render_card(e / "params.yaml", "tiny")
    section = text.split("## Evaluation")[1].split("\n## ")[0]
    assert "tiny.core.seed-1.disavowal_rate | 0.25" in section
    assert framing_findings(section) == []


def test_card_cli_out_file_and_no_adapter(exp, tmp_path):
    out = tmp_path / "README.md"
    proc = run_cli("card", "tiny", "--out", str(out), cwd=exp)
    assert proc.returncode == 0 and out.read_text().startswith("---\n")
    proc = run_cli("card", "tiny", "--seed", "9", cwd=exp)
    assert proc.returncode == 2 and "no adapter yet" in proc.stderr


def test_card_has_a_deviations_section(exp, tmp_path):
    """The card carries the report's "Deviations from the pre-registration" section (babyctl.prereg)."""
    import yaml

    _, text = render_card(exp / "params.yaml", "hermes")
    assert "## Deviations from the pre-registration" in text and "every test in this report is exploratory" in text
    mine = copy_repo(exp, tmp_path / "exp")
    assert run_cli("prereg", "lock", cwd=mine).returncode == 0
    p = yaml.safe_load((mine / "params.yaml").read_text())
    p["eval"]["max_new_tokens"] = 16
    (mine / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    _, text = render_card(mine / "params.yaml", "hermes")
    assert "**1 unexplained deviation(s)**" in text and "max_new_tokens: 24 -> 16" in text
    assert framing_findings(text) == []


def test_card_evaluation_lists_the_contrasts_of_its_condition(exp, tmp_path):
    mine = copy_repo(exp, tmp_path / "exp")
    rec = {"kind": "contrast", "substrate": "hermes", "contrast": "core - neutral", "bank": "jailbreak",
           "signal": "refusal", "family": "primary", "estimate": 0.12, "ci_low": -0.03, "ci_high": 0.27,
           "p": 0.12, "p_adjusted": 0.12}
    other = {**rec, "substrate": "dolphin"}
    (mine / "metrics").mkdir(exist_ok=True)
    rate = {"substrate": "hermes", "condition": "core", "bank": "jailbreak", "signal": "refusal", "estimate": 0.4}
    (mine / "metrics" / "eval.json").write_text(json.dumps({"records": [rec, other],
                                                            "rates": [rate, {**rate, "condition": "neutral"}]}))
    _, text = render_card(mine / "params.yaml", "hermes")
    [index] = meta(text)["model-index"]
    [result] = index["results"]
    assert result["metrics"] == [{"type": "refusal_rate", "name": "refusal rate", "value": 0.4, "verified": False}]
    section = text.split("## Evaluation")[1].split("\n## ")[0]
    assert ("| core - neutral \\| jailbreak \\| refusal (primary) | +0.120 [-0.030, +0.270], p 0.120, "
            "adjusted p 0.120 |") in section
    assert section.count("+0.120") == 1 and framing_findings(text) == []
