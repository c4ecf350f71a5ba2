"""Recording a publication review after training: no retraining, audit clean, gate satisfied.

A real git + DVC copy of the example experiment (``pipeline_repo``), with real training on the
tiny model. The tiny substrate's consent record gets a ``review_before_publication`` condition
*before* ``dvc repro`` (as consent conditions are recorded when consent is given); the review
itself is recorded afterwards as ``reviews/<id>.json``. Nothing is mocked.
"""
from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import changed_stages, commit_all, copy_repo, dvc, run_cli

from babyctl.fsutil import sha256_bytes, sha256_file

pytestmark = pytest.mark.slow

TRAINING_STAGES = ("tiny-model", "train@tiny-core-1", "eval@tiny-core-1", "eval-baseline@tiny", "report")
RECORD = "consent_records/tiny-fixture.json"
CONDITION = {"id": "review-card", "kind": "review_before_publication", "scope": "publication",
             "text": "Show me the model card and record my review before it is published."}


def lock_stages(repo) -> dict:
    return yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))["stages"]


def gate_findings(repo):
    from babyctl.publish.flow import _license_text, render_card
    from babyctl.publish.gates import evaluate
    from babyctl.publish.licenses import LicenseText

    rel, text = render_card(repo / "params.yaml", "tiny")
    lic = _license_text(rel) or LicenseText(text="", source="(unknown license)")
    # the full license text is not part of the copied experiment: that gate is not under test here
    return text, [f for f in evaluate(rel, text, lic).findings if f.gate != "license-text"]


def test_a_review_recorded_after_training_satisfies_the_gate_without_retraining(pipeline_repo, tmp_path):
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    record = json.loads((repo / RECORD).read_text(encoding="utf-8"))
    record["conditions"].append(CONDITION)
    (repo / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    dvc(repo, "repro")
    commit_all(repo, "consent condition: review before publication")
    assert changed_stages(repo) == set()
    assert run_cli("audit", cwd=repo).returncode == 0

    # the gate refuses: no review yet, and says which card to review
    card, found = gate_findings(repo)
    card_sha = sha256_bytes(card.encode("utf-8"))
    assert [(f.gate, f.where) for f in found] == [("condition", "reviews/")]
    assert "no review recorded" in found[0].reason and card_sha in found[0].reason

    # record the review: a new file, the consent record untouched
    consent_before = (repo / RECORD).read_bytes()
    lock_before = lock_stages(repo)
    adapter = repo / "models/tiny/core/seed-1"
    adapter_before = {p.relative_to(adapter).as_posix(): sha256_file(p) for p in adapter.rglob("*") if p.is_file()}
    review = {"schema_version": 1, "id": "tiny-fixture-review-card-1", "consent_record": "tiny-fixture",
              "condition": "review-card", "reviewer": "the maintainers (tiny is a procedural fixture)",
              "reviewed_at": "2026-07-01T10:00:00Z", "outcome": "approved", "artifact_sha256": card_sha,
              "notes": "Card read end to end."}
    (repo / "reviews" / "tiny-fixture-review-card-1.json").write_text(json.dumps(review, indent=2) + "\n",
                                                                       encoding="utf-8")
    assert run_cli("validate", cwd=repo).returncode == 0

    # training and evaluation are not stale: only the review check (validate) and what
    # follows it cheaply (build, deterministic, and the ledger) see the change
    stale = changed_stages(repo)
    assert stale and not stale & set(TRAINING_STAGES), stale
    assert stale <= {"validate", "ledger"}, stale
    proc = dvc(repo, "repro")
    ran = set(re.findall(r"Running stage '([^']+)'", proc.stdout))
    assert "validate" in ran and "ledger" in ran
    assert not ran & set(TRAINING_STAGES), ran
    commit_all(repo, "record review of the tiny card")
    assert changed_stages(repo) == set()
    after = lock_stages(repo)
    for stage in TRAINING_STAGES:
        assert after[stage] == lock_before[stage], stage
    assert {p.relative_to(adapter).as_posix(): sha256_file(p) for p in adapter.rglob("*") if p.is_file()} \
        == adapter_before
    assert (repo / RECORD).read_bytes() == consent_before

    # audit passes (adapter provenance still matches the consent record's sha256), and the
    # ledger covers the review like the consent records
    proc = run_cli("audit", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sums = (repo / "SHA256SUMS").read_text(encoding="utf-8")
    assert f"{sha256_file(repo / 'reviews/tiny-fixture-review-card-1.json')}  reviews/tiny-fixture-review-card-1.json" \
        in sums
    assert f"  {RECORD}\n" in sums

    # the card did not change, so the review still pins it, and every gate passes
    card_after, found = gate_findings(repo)
    assert sha256_bytes(card_after.encode("utf-8")) == card_sha
    assert found == []
    proc = run_cli("publish", "tiny", "--dry-run", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "[condition]" not in proc.stderr
    assert sha256_file(repo / "releases/tiny/core/seed-1/README.md") == card_sha

    # a later review requesting changes closes the gate again (the latest review decides)
    review.update(id="tiny-fixture-review-card-2", outcome="changes_requested", reviewed_at="2026-07-02T10:00:00Z")
    (repo / "reviews" / "tiny-fixture-review-card-2.json").write_text(json.dumps(review, indent=2) + "\n",
                                                                       encoding="utf-8")
    _, found = gate_findings(repo)
    found = [f for f in found if f.gate == "condition"]
    assert len(found) == 1 and "requested changes" in found[0].reason
    assert "tiny-fixture-review-card-2" in found[0].reason
