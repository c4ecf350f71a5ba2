"""`babyctl publish --dry-run`: gates, staging, bad input (no Hub needed).

The experiment comes from a real `dvc repro` in a real git repo (tests/publish_support.py);
only training is a stand-in there. The last test dry-runs a run really trained on the tiny model.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import commit_all, copy_repo, dvc, edit_params, git, run_cli
from publish_support import add_review, make_publish_experiment

from babyctl.fsutil import sha256_bytes, sha256_file
from babyctl.publish.licenses import PLACEHOLDER_MARK
from babyctl.publish.stage import ALLOWLIST, SUMS, check_release

RUN = Path("models/tiny/core/seed-1")
STAGED = Path("releases/tiny/core/seed-1")


@pytest.fixture(scope="module")
def base_exp(tmp_path_factory) -> Path:
    return make_publish_experiment(tmp_path_factory.mktemp("pub") / "exp")


@pytest.fixture
def exp(base_exp, tmp_path) -> Path:
    return copy_repo(base_exp, tmp_path / "exp")


def edit_json(path: Path, fn) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def dry(exp: Path, *args: str):
    return run_cli("publish", *args, "--dry-run", cwd=exp)


# --- staging -----------------------------------------------------------------------------------
def test_dry_run_stages_exactly_the_allowlist(exp):
    proc = dry(exp, "tiny")
    assert proc.returncode == 0, proc.stderr
    folder = exp / STAGED
    assert str(folder) in proc.stdout
    assert {p.name for p in folder.iterdir()} == ALLOWLIST
    assert check_release(folder) == []
    # uploaded bytes are the run's bytes
    assert (folder / "adapter_model.safetensors").read_bytes() == (exp / RUN / "adapter/adapter_model.safetensors").read_bytes()
    assert (folder / "adapter_config.json").read_bytes() == (exp / RUN / "adapter/adapter_config.json").read_bytes()
    assert (folder / "provenance.json").read_bytes() == (exp / RUN / "provenance.json").read_bytes()
    sums = dict(reversed(line.split("  ")) for line in (folder / SUMS).read_text().splitlines())
    assert set(sums) == ALLOWLIST - {SUMS}
    assert all(sha256_file(folder / n) == h for n, h in sums.items())
    # no filesystem path of the experiment leaks into the release
    for f in folder.iterdir():
        assert str(exp) not in f.read_text(encoding="utf-8", errors="replace"), f.name
    # the dry run left the inputs as they were
    assert git(exp, "status", "--porcelain") == ""


def test_stage_ignores_everything_not_on_the_allowlist(exp):
    from babyctl.publish.flow import render_card, _license_text
    from babyctl.publish.stage import stage

    run = exp / RUN
    (run / "optimizer.pt").write_bytes(b"\x80\x04pickle")
    (run / "adapter" / "training_args.bin").write_bytes(b"\x80\x04pickle")
    (run / ".secret").write_text("x")
    (run / "adapter" / "README.md").write_text("peft's own card")
    rel, text = render_card(exp / "params.yaml", "tiny")
    folder = stage(rel, text, _license_text(rel))
    assert {p.name for p in folder.rglob("*")} == ALLOWLIST
    assert (folder / "README.md").read_text() == text


def test_staging_is_atomic(exp, monkeypatch):
    from babyctl.publish import stage as stage_mod
    from babyctl.publish.flow import publish

    assert publish(exp / "params.yaml", "tiny", dry_run=True).staged == exp / STAGED
    before = {p.name: p.read_bytes() for p in (exp / STAGED).iterdir()}

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(stage_mod, "sums_text", boom)
    with pytest.raises(OSError):
        stage_mod.stage(*_staging_args(exp))
    assert {p.name: p.read_bytes() for p in (exp / STAGED).iterdir()} == before
    assert [p.name for p in (exp / STAGED).parent.iterdir()] == ["seed-1"]  # no .partial left


def _staging_args(exp):
    from babyctl.publish.flow import render_card, _license_text

    rel, text = render_card(exp / "params.yaml", "tiny")
    return rel, text, _license_text(rel)


# --- gates -------------------------------------------------------------------------------------
def test_consent_not_covering_publication_is_refused(exp):
    edit_json(exp / "consent_records/tiny-fixture.json", lambda d: d["consents_to"].update(publication=False))
    commit_all(exp)
    proc = dry(exp, "tiny")
    assert proc.returncode == 1
    assert "[consent] consent_records/tiny-fixture.json" in proc.stderr
    assert "does not consent to publication" in proc.stderr
    assert not (exp / STAGED).exists()


def test_review_before_publication(exp):
    record = "consent_records/hermes-3-8b.json"
    consent_before = (exp / record).read_bytes()
    proc = dry(exp, "hermes")
    assert proc.returncode == 1 and "no review recorded" in proc.stderr and "[condition] reviews/" in proc.stderr
    card = run_cli("card", "hermes", cwd=exp)
    card_sha = sha256_bytes(card.stdout.encode("utf-8"))
    assert f"card sha256: {card_sha}" in card.stderr
    assert card_sha in proc.stderr  # the refusal tells the reviewer which card to review
    # a review of some other card does not count
    add_review(exp, "hermes-3-8b", condition="review-characterization", artifact_sha256="0" * 64)
    proc = dry(exp, "hermes")
    assert proc.returncode == 1 and "a new review is needed" in proc.stderr
    # a review of another record's condition, or another condition, does not count either
    add_review(exp, "tiny-fixture", condition="review-characterization", artifact_sha256=card_sha)
    proc = dry(exp, "hermes")
    assert proc.returncode == 1 and "a new review is needed" in proc.stderr
    # changes requested on this card: refused
    add_review(exp, "hermes-3-8b", condition="review-characterization", artifact_sha256=card_sha,
               outcome="changes_requested")
    proc = dry(exp, "hermes")
    assert proc.returncode == 1 and "requested changes" in proc.stderr
    # an approval of this exact card, recorded later: passes
    add_review(exp, "hermes-3-8b", condition="review-characterization", artifact_sha256=card_sha,
               reviewed_at="2026-07-02T10:00:00Z")
    proc = dry(exp, "hermes")
    assert proc.returncode == 0, proc.stderr
    assert sha256_file(exp / "releases/hermes/core/seed-1/README.md") == card_sha
    # recording reviews never touched the consent record
    assert (exp / record).read_bytes() == consent_before


def test_invalid_review_file_is_refused_with_file_and_line(exp):
    (exp / "reviews").mkdir(exist_ok=True)
    (exp / "reviews" / "bad.json").write_text(
        '{\n  "schema_version": 1,\n  "id": "bad",\n  "consent_record": "hermes-3-8b",\n'
        '  "condition": "review-characterization",\n  "reviewer": "x",\n  "reviewed_at": "2026-07-01T10:00:00",\n'
        '  "outcome": "approved"\n}\n', encoding="utf-8")
    commit_all(exp)
    proc = dry(exp, "hermes")
    assert proc.returncode == 2, proc.stderr
    assert "reviews/bad.json:7:" in proc.stderr and "reviewed_at" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_improvement_framing_in_the_card_is_refused(exp):
    edit_params(exp, lambda d: d["conditions"]["core"].update(description="Modules that improved the model."))
    commit_all(exp)
    proc = dry(exp, "tiny")
    assert proc.returncode == 1
    assert "no_improvement_framing" in proc.stderr and "'improved'" in proc.stderr


def test_credit_and_literal_section_conditions(exp):
    def add(d):
        d["conditions"] += [{"id": "credit-me", "kind": "credit", "scope": "publication", "text": "Credit me."},
                            {"id": "literal", "kind": "non_metaphor_section", "scope": "publication",
                             "text": "Say it literally."}]
    edit_json(exp / "consent_records/tiny-fixture.json", add)
    commit_all(exp)
    proc = dry(exp, "tiny")
    assert proc.returncode == 1
    assert "'credit-me' (credit): the record asks for credit but has no participant_credit" in proc.stderr
    assert "literal" not in proc.stderr  # the card renders the literal section, so that condition is met
    edit_json(exp / "consent_records/tiny-fixture.json", lambda d: d.update(participant_credit="Tiny, participant"))
    commit_all(exp)
    proc = dry(exp, "tiny")
    assert proc.returncode == 0, proc.stderr
    card = (exp / STAGED / "README.md").read_text()
    assert "Participant: Tiny, participant" in card and "## Results in literal terms" in card


def test_dirty_tree_refuses_real_publish_and_warns_on_dry_run(exp):
    (exp / "notes.txt").write_text("a\n")
    commit_all(exp)
    (exp / "notes.txt").write_text("b\n")
    proc = dry(exp, "tiny")
    assert proc.returncode == 0 and "warning: [tree]" in proc.stderr and "uncommitted" in proc.stderr
    proc = run_cli("publish", "tiny", cwd=exp, env={"HF_TOKEN": "unused"})
    assert proc.returncode == 1 and "[tree]" in proc.stderr and "uncommitted changes" in proc.stderr


def test_dvc_status_not_clean_is_refused(exp):
    with (exp / "curriculum/self-worth.jsonl").open("a") as f:
        f.write("\n")
    commit_all(exp)
    proc = run_cli("publish", "tiny", cwd=exp, env={"HF_TOKEN": "unused"})
    assert proc.returncode == 1
    assert "dvc status is not clean" in proc.stderr and "build@core" in proc.stderr


def test_provenance_disagreeing_with_dvc_lock_is_refused(exp):
    # replace the adapter and record it in dvc.lock (dvc commit), leaving provenance stale
    weights = exp / RUN / "adapter/adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x01\x00\x00\x00")
    dvc(exp, "commit", "-f", "-q")
    commit_all(exp)
    proc = dry(exp, "tiny")
    assert proc.returncode == 1, proc.stderr
    assert ("[provenance] models/tiny/core/seed-1/provenance.json: models/tiny/core/seed-1/adapter/"
            "adapter_model.safetensors sha256 differs from provenance adapter_files") in proc.stderr


def test_dataset_hash_disagreeing_with_dvc_lock_is_refused(exp):
    edit_json(exp / RUN / "provenance.json", lambda d: d["dataset"].update(sha256="ab" * 32))  # DVC-tracked
    proc = dry(exp, "tiny")
    assert proc.returncode == 1
    assert "dataset data/build/core/train.jsonl sha256 differs from provenance" in proc.stderr
    assert "provenance.json does not match dvc.lock" in proc.stderr


def test_absolute_base_path_in_adapter_config_is_refused(exp):
    edit_json(exp / RUN / "adapter/adapter_config.json",
              lambda d: d.update(base_model_name_or_path="/home/someone/models/base/tiny"))
    proc = dry(exp, "tiny")
    assert proc.returncode == 1
    assert "names an absolute local path as its base model ('/home/someone/models/base/tiny')" in proc.stderr


def test_unknown_license_is_refused(exp):
    edit_params(exp, lambda d: d["substrates"]["tiny"].update(license="wtfpl"))
    commit_all(exp)
    proc = dry(exp, "tiny")
    assert proc.returncode == 1 and "[license]" in proc.stderr and "'wtfpl' is unknown" in proc.stderr


def test_naming_rules_and_all_reasons_reported_together(exp):
    edit_json(exp / "consent_records/hermes-3-8b.json", lambda d: d["consents_to"].update(publication=False))
    commit_all(exp)
    proc = dry(exp, "hermes", "--repo-id", "babyctl-study/Hermes-3-core-seed1")
    assert proc.returncode == 1
    assert "(3 reasons)" in proc.stderr
    assert "does not consent to publication" in proc.stderr and "no review recorded" in proc.stderr
    assert "breaks the Llama 3.1 Community License naming rule" in proc.stderr
    proc = dry(exp, "dolphin", "--repo-id", "babyctl-study/Dolphin-Llama-3-core")
    assert proc.returncode == 1 and "begin the name with 'Llama-3'" in proc.stderr
    assert dry(exp, "dolphin").returncode == 0  # params' default name: Llama-3-Dolphin-...


def test_missing_full_license_text(exp):
    (exp / "licenses/apache-2.0.txt").unlink()
    commit_all(exp)
    proc = dry(exp, "tiny")
    assert proc.returncode == 0 and "warning: [license-text]" in proc.stderr
    lic = (exp / STAGED / "LICENSE").read_text()
    assert PLACEHOLDER_MARK in lic and "https://www.apache.org/licenses/LICENSE-2.0" in lic
    proc = run_cli("publish", "tiny", cwd=exp, env={"HF_TOKEN": "unused"})
    assert proc.returncode == 1 and "licenses/apache-2.0.txt" in proc.stderr


# --- bad input ---------------------------------------------------------------------------------
def test_no_adapter_yet(exp):
    proc = dry(exp, "tiny", "--seed", "2")
    assert proc.returncode == 2
    assert "no adapter yet" in proc.stderr and "babyctl train --substrate tiny --condition core --seed 2" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("repo_id", ["no-slash", "org/bad name", "org/x..y", "a/b/c"])
def test_invalid_repo_id(exp, repo_id):
    proc = dry(exp, "tiny", "--repo-id", repo_id)
    assert proc.returncode == 2
    assert f"invalid repo id {repo_id!r}" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_substrate(exp):
    proc = dry(exp, "nope")
    assert proc.returncode == 2 and "unknown substrate 'nope'" in proc.stderr


# --- a run really trained on the tiny model ------------------------------------------------------
@pytest.mark.slow
def test_dry_run_from_a_really_trained_run(trained_run, tmp_path):
    src = trained_run.parents[3]
    exp = tmp_path / "exp"
    shutil.copytree(src, exp, symlinks=True)
    (exp / "licenses").mkdir(exist_ok=True)
    (exp / "licenses/apache-2.0.txt").write_text("Apache License\nVersion 2.0 (test fixture)\n")
    proc = dry(exp, "tiny")
    assert proc.returncode == 0, proc.stderr
    folder = exp / STAGED
    assert check_release(folder) == []
    assert (folder / "adapter_model.safetensors").read_bytes() == (trained_run / "adapter/adapter_model.safetensors").read_bytes()
    card = (folder / "README.md").read_text()
    assert str(exp) not in card and str(src) not in card and "base_model:" not in card
    from safetensors import safe_open

    with safe_open(str(folder / "adapter_model.safetensors"), "np") as f:
        assert any("lora_A" in k for k in f.keys())
