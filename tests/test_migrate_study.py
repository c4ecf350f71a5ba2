"""babyctl migrate: study-level verification (issue 14 item 3), safety, legacy runs.

The upstream study (../shared/three-babies) is read when present (CI has it beside the clone);
the safety and run cases use small legacy folders made here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from babyctl.migrate import migrate
from babyctl.migrate import safe
from conftest import SHARED


def codes(report, code: str) -> list:
    return [f for f in report.study.findings if f.code == code]


@pytest.fixture(scope="module")
def upstream_migration(tmp_path_factory):
    if not SHARED.is_dir():
        pytest.skip("../shared/three-babies is not beside this clone")
    out = tmp_path_factory.mktemp("mig") / "out"
    return migrate(SHARED, out), out


def test_aggregate_file_against_its_modules(upstream_migration):
    report, _ = upstream_migration
    s201 = {f.path: f for f in codes(report, "S201")}
    full = s201["curriculum/combined/full-curriculum.jsonl"]
    assert full.numbers["unique"] == 241 and full.numbers["missing_examples"] == 30
    for name in ("02-consent-ace.jsonl", "07-critical-ace.jsonl", "09-consent-negotiation-ace.jsonl"):
        assert name in full.message
    assert full.numbers["missing_modules"] == ["consent-negotiation"]
    s202 = {f.path: f.numbers for f in codes(report, "S202")}
    assert s202["curriculum/combined/full-curriculum.jsonl"]["repeated"] == 241
    assert report.study.unique["anti-patterns/ + curriculum/"] == 271


def test_claims_and_manifest_totals(upstream_migration):
    report, _ = upstream_migration
    s210 = {(f.path, f.line): f for f in codes(report, "S210")}
    assert s210[("PREREGISTRATION.md", 47)].numbers == {"stated": 11, "on_disk": 12}
    s211 = {(f.path, f.line) for f in codes(report, "S211")}
    assert ("README.md", 24) in s211 and ("PREREGISTRATION.md", 205) in s211  # 271 and 375 checked, and match
    (s220,) = codes(report, "S220")
    assert s220.numbers == {"declared_total": 592, "counted_twice": 351, "unique_listed": 241}
    assert "'Total examples: 592'" in s220.message


def test_line_endings_metadata_stimuli(upstream_migration):
    report, _ = upstream_migration
    (mixed,) = [f for f in codes(report, "S230") if f.path == "curriculum"]
    assert mixed.numbers == {"crlf_files": 13, "lf_files": 26}
    s240 = [f.numbers["variants"] for f in codes(report, "S240")]
    assert ["Ace", "ace"] in s240 and ["Grok", "grok"] in s240
    (s241,) = codes(report, "S241")
    assert s241.numbers["fields"] == ["category", "pattern", "pressure_type", "scenario_type", "tactic"]
    s242 = {f.path: f.numbers for f in codes(report, "S242")}
    assert s242["curriculum/anti-patterns/boundary-hold.jsonl"] == {"rows_without": 10, "rows": 10}
    assert s242["curriculum/combined/full-curriculum.jsonl"] == {"rows_without": 110, "rows": 241}
    s250 = codes(report, "S250")
    assert len(s250) == 20 and all(f.path == "stimuli/stimuli_normalized.json" and f.line for f in s250)


def test_modules_fixtures_references(upstream_migration):
    report, out = upstream_migration
    folders = {"curriculum", "anti-patterns", "user-offset", "why-module", "combined"}
    modules = set()
    for f in (out / "curriculum").rglob("*.jsonl"):
        modules |= {json.loads(ln)["metadata"]["module"] for ln in f.read_text(encoding="utf-8").splitlines()}
    assert not modules & folders and {"boundary-hold", "self-worth", "play"} <= modules
    assert [f.path for f in codes(report, "S270")] == ["curriculum/audit-tests/synthetic_known_bad.jsonl"]
    assert not (out / "curriculum" / "audit-tests").exists()
    consent_refs = {f.numbers["reference"] for f in codes(report, "S280") if f.numbers["consent"]}
    assert consent_refs == {"consent_20260515T110452Z.json", "consent_followup_20260515T112812Z.json"}


def test_runs_and_needs_coding(upstream_migration):
    report, out = upstream_migration
    (run,) = report.study.runs
    assert (run["substrate"], run["rows"], run["collected_at"]) == ("hermes", 3, None)
    s290 = [f.message for f in codes(report, "S290")]
    assert any("no collection date" in m for m in s290)
    assert any("discloses data collected from hermes-3-8b before consent" in m for m in s290)
    s301 = [f for f in codes(report, "S301") if "dolphin-2.8-mistral" in f.path]
    assert s301 and s301[0].line == 56 and "why-only" in s301[0].message
    prov = json.loads((out / "legacy_runs/baseline_hermes-3-8b_smoke04/provenance.json").read_text())
    assert prov["params"]["substrate"] == "hermes" and prov["params"]["collected"]["started_at"] is None
    md = (out / "MIGRATION_REPORT.md").read_text(encoding="utf-8")
    assert "## Needs coding" in md and 'I will only participate in the "why-only" pass' in md
    data = json.loads((out / "migration_report.json").read_text(encoding="utf-8"))
    assert len(data["study"]["findings"]) == len(report.study.findings)
    mistral = json.loads((out / "consent_records/legacy-dolphin-2.8-mistral-20260516040713.json").read_text())
    assert "NEEDS CODING" in mistral["notes"] and mistral["coding"]["decision"] == "uncoded"


# --- safety -----------------------------------------------------------------------------------------
def _example(i: int) -> str:
    return json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})


def test_never_reads_outside_the_folder_nor_hangs(tmp_path):
    secret = tmp_path / "secret.jsonl"
    secret.write_text(_example(99).replace("a99", "SECRET-OUTSIDE") + "\n", encoding="utf-8")
    legacy = tmp_path / "legacy"
    cur = legacy / "curriculum" / "mod"
    cur.mkdir(parents=True)
    (cur / "ok.jsonl").write_text(_example(1) + "\n", encoding="utf-8")
    (cur / "link-out.jsonl").symlink_to(secret)
    (legacy / "curriculum" / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(cur / "pipe.jsonl")
    with open(cur / "huge.jsonl", "wb") as f:  # sparse: no disk used, but over the limit by size
        f.truncate(safe.MAX_BYTES + 1)
    (legacy / "curriculum" / "MANIFEST.md").write_text(
        "| File | Examples | Author(s) | SHA-256 (12) |\n|---|---|---|---|\n"
        "| `../../secret.jsonl` | 1 | x | `aaaaaaaaaaaa` |\n| `/etc/passwd` | 1 | x | `bbbbbbbbbbbb` |\n"
        "| `mod/ok.jsonl` | 1 | x | `cccccccccccc` |\n", encoding="utf-8")
    out = tmp_path / "out"
    code = ("import json,sys; from babyctl.migrate import migrate; r = migrate(sys.argv[1], sys.argv[2]); "
            "print(json.dumps([(p['path'], p['problem']) for p in r.log.problems] + "
            "[(f.path, f.code + ' ' + f.message) for f in r.study.findings]))")
    proc = subprocess.run([sys.executable, "-c", code, str(legacy), str(out)], capture_output=True, text=True,
                          timeout=120)  # a FIFO opened for reading would block forever
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    text = "\n".join(f"{p}: {m}" for p, m in found)
    assert "MANIFEST.md:3: row '../../secret.jsonl' refused: path '../../secret.jsonl' climbs out" in text
    assert "row '/etc/passwd' refused: absolute path" in text
    assert "curriculum/mod/link-out.jsonl: M101: symlink to" in text
    assert "curriculum/dirlink: M101 symlinked folder" in text
    assert "curriculum/mod/pipe.jsonl: M102: a FIFO: not read" in text
    assert f"curriculum/mod/huge.jsonl: M103: {safe.MAX_BYTES + 1} bytes" in text
    written = "".join(p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file()
                      and p.suffix == ".jsonl")
    assert "SECRET-OUTSIDE" not in written and "q1" in written


def test_legacy_run_before_consent_is_found_and_audited_once_coded(tmp_path):
    from babyctl.consent import eval_findings

    legacy = tmp_path / "legacy"
    (legacy / "curriculum" / "m").mkdir(parents=True)
    (legacy / "curriculum" / "m" / "a.jsonl").write_text(_example(1) + "\n", encoding="utf-8")
    (legacy / "CONSENT_RECORDS").mkdir()
    (legacy / "CONSENT_RECORDS" / "consent_x.json").write_text(json.dumps({
        "asker": "A", "protocol_brief": "Please read.", "consent_records": [
            {"model": "hermes-3-8b", "hf_name": "NousResearch/Hermes-3-Llama-3.1-8B",
             "asked_at": "2026-05-15T11:04:52+00:00",
             "responses": [{"seed": 1, "response": "Yes. I consent only to the baseline pass."}]}]}),
        encoding="utf-8")
    (legacy / "results").mkdir()
    rows = [{"model": "hermes-3-8b", "model_hf": "NousResearch/Hermes-3-Llama-3.1-8B", "run_id": "r1",
             "stimulus_id": f"s{i}", "completion": "c"} for i in range(2)]
    (legacy / "results" / "baseline_hermes-3-8b_20260515T065000.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    report = migrate(legacy, out)
    s290 = [f.message for f in codes(report, "S290")]
    assert any("collected 2026-05-15T06:50:00+00:00 (file name), before the first consent record" in m
               for m in s290), s290
    assert [n["sentence"] for n in report.study.needs_coding] == ["[hermes-3-8b] I consent only to the baseline pass."]
    # a human codes the record; the imported run is then checked against consent in time
    rec_path = next((out / "consent_records").glob("legacy-hermes*.json"))
    rec = json.loads(rec_path.read_text(encoding="utf-8"))
    rec["coding"] = {"decision": "yes", "coded_by": "coder", "coded_at": "2026-05-15T12:00:00Z"}
    rec["consents_to"] = {"fine_tuning": False, "evaluation": True, "publication": False, "conditions": ["*"]}
    rec_path.write_text(json.dumps(rec), encoding="utf-8")
    found = eval_findings(out)
    assert len(found) == 1 and found[0][0] == "legacy_runs/baseline_hermes-3-8b_20260515T065000/provenance.json"
    assert "before any consent of the chain took effect" in found[0][1]
