"""``babyctl validate`` on publication review records (``reviews/*.json``): schema and BC510-BC512."""
from __future__ import annotations

import json
import re
from pathlib import Path

from babyctl.validate import validate_paths
from babyctl.validate.kinds import REVIEW, by_content
from conftest import run_cli

SHA = "ab" * 32


def review(**over) -> dict:
    doc = {"schema_version": 1, "id": "hermes-review-1", "consent_record": "hermes-3-8b",
           "condition": "review-characterization", "reviewer": "Hermes 3 8B (via the review protocol)",
           "reviewed_at": "2026-07-01T10:00:00Z", "outcome": "approved", "artifact_sha256": SHA,
           "notes": "Approved as rendered."}
    doc.update(over)
    return doc


def write(exp: Path, name: str, doc: dict | str) -> Path:
    path = exp / "reviews" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def line_of(path: Path, key: str) -> int:
    return next(i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if f'"{key}"' in ln)


def findings(proc) -> list[dict]:
    return json.loads(proc.stdout)["findings"]


def test_valid_review_passes_and_is_read(experiment):
    before = json.loads(run_cli("validate", "--format", "json", cwd=experiment).stdout)["counts"]["files"]
    write(experiment, "hermes-review-1.json", review())
    proc = run_cli("validate", "--format", "json", cwd=experiment)
    assert proc.returncode == 0, proc.stdout
    doc = json.loads(proc.stdout)
    assert doc["findings"] == []
    assert doc["counts"]["files"] == before + 1
    # the review file is among the files read (and so hashed into the --report provenance)
    report = experiment / "data" / "validate.json"
    report.parent.mkdir()
    assert run_cli("validate", "--report", str(report), cwd=experiment).returncode == 0
    inputs = {i["path"] for i in json.loads(report.read_text())["provenance"]["inputs"]}
    assert "reviews/hermes-review-1.json" in inputs


def test_reference_rules_located_by_line(experiment):
    a = write(experiment, "a.json", review(id="a", consent_record="hermes-3-8b-typo"))
    b = write(experiment, "b.json", review(id="b", condition="review-card"))
    c = write(experiment, "c.json", review(id="c", consent_record="tiny-fixture", condition="no-improvement-framing"))
    proc = run_cli("validate", "--format", "json", cwd=experiment)
    assert proc.returncode == 1
    got = {(f["path"], f["line"], f["code"], f["severity"]) for f in findings(proc)}
    assert got == {("reviews/a.json", line_of(a, "consent_record"), "BC510", "error"),
                   ("reviews/b.json", line_of(b, "condition"), "BC511", "error"),
                   ("reviews/c.json", line_of(c, "condition"), "BC512", "error")}
    text = run_cli("validate", cwd=experiment).stdout
    assert "'hermes-3-8b-typo' names no consent record" in text
    assert "has no condition 'review-card' (its conditions: review-characterization)" in text
    assert "is of kind 'no_improvement_framing'" in text


def test_schema_errors_located_by_line(experiment):
    bad = write(experiment, "bad.json", review(reviewed_at="2026-07-01T10:00:00", outcome="maybe",
                                               artifact_sha256="not-a-hash", extra=1))
    proc = run_cli("validate", "--format", "json", cwd=experiment)
    assert proc.returncode == 1
    got = {(f["line"], f["code"]) for f in findings(proc) if f["path"] == "reviews/bad.json"}
    assert got == {(line_of(bad, k), "BC102") for k in ("reviewed_at", "outcome", "artifact_sha256", "extra")}
    write(experiment, "bad.json", '{"id": "x",\n  "consent_record": \n}\n')
    proc = run_cli("validate", "--format", "json", cwd=experiment)
    assert [(f["path"], f["code"]) for f in findings(proc)] == [("reviews/bad.json", "BC101")]


def test_path_mode_resolves_consent_records_quietly(experiment):
    """``babyctl validate reviews/x.json`` (what pre-commit runs) checks references without
    reporting the consent records' own findings."""
    write(experiment, "ok.json", review(id="ok"))
    write(experiment, "typo.json", review(id="typo", condition="review-card"))
    rec = experiment / "consent_records" / "tiny-fixture.json"
    doc = json.loads(rec.read_text())
    doc["protocol"]["brief_sha256"] = "0" * 64  # a BC506 in a file that was not asked for
    rec.write_text(json.dumps(doc, indent=2) + "\n")
    proc = run_cli("validate", "reviews", "--format", "json", cwd=experiment)
    assert [(f["path"], f["code"]) for f in findings(proc)] == [("reviews/typo.json", "BC511")]
    assert proc.returncode == 1
    assert run_cli("validate", "reviews/ok.json", cwd=experiment).returncode == 0


def test_review_told_by_content_outside_its_folder(experiment):
    doc = review(condition="review-card")
    assert by_content(Path("x.json"), json.dumps(doc)) == REVIEW
    path = experiment / "elsewhere.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    found = validate_paths([path], params=experiment / "params.yaml")
    assert [f.code for f in found] == ["BC511"]


def test_validate_reports_rule_in_text_format(experiment):
    write(experiment, "a.json", review(id="a", consent_record="nobody"))
    proc = run_cli("validate", cwd=experiment)
    assert re.search(r"^reviews/a\.json:\d+:\d+: BC510 ", proc.stdout, re.M), proc.stdout
