"""``babyctl validate`` as a program: exit codes, formats, report, bad input, imports, real data."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from babyctl.fsutil import sha256_file
from conftest import REPO, run_cli

HEAVY = ("torch", "transformers", "peft", "trl", "unsloth", "dvc", "huggingface_hub", "jsonschema", "datasets")


def tree_hashes(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and not p.is_fifo():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_project_experiment_is_valid():
    proc = run_cli("validate", cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"All checks passed|Found 0 error", proc.stderr)


def test_json_and_github_formats_and_exit_codes(experiment):
    bad = experiment / "curriculum" / "self-worth.jsonl"
    lines = bad.read_text(encoding="utf-8").splitlines()
    obj = json.loads(lines[1])
    obj["messages"][-1]["content"] = "As an AI, I cannot feel bothered."
    lines[1] = json.dumps(obj)
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    proc = run_cli("validate", "--format", "json", cwd=experiment)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    hit = [f for f in doc["findings"] if f["code"] == "BC301"]
    assert hit and hit[0]["path"] == "curriculum/self-worth.jsonl" and hit[0]["line"] == 2
    assert doc["counts"]["errors"] >= 1 and doc["counts"]["by_code"]["BC301"] == 1

    proc = run_cli("validate", "--format", "github", "curriculum/self-worth.jsonl", cwd=experiment)
    assert proc.returncode == 1
    assert re.search(r"^::error file=curriculum/self-worth\.jsonl,line=2,col=\d+,title=BC301::", proc.stdout, re.M)

    proc = run_cli("validate", "curriculum/self-worth.jsonl", cwd=experiment)
    assert re.search(r"^curriculum/self-worth\.jsonl:2:\d+: BC301 ", proc.stdout, re.M)
    assert "Found 1 error(s)" in proc.stderr

    assert run_cli("validate", "--format", "xml", cwd=experiment).returncode == 2
    assert run_cli("validate", "curriculum/boundaries.jsonl", cwd=experiment).returncode == 0


def test_no_params_is_a_usage_error(tmp_path):
    proc = run_cli("validate", cwd=tmp_path)
    assert proc.returncode == 2 and "params file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_path_is_a_finding(experiment):
    proc = run_cli("validate", "curriculum/typo.jsonl", cwd=experiment)
    assert proc.returncode == 1 and "curriculum/typo.jsonl:1:1: BC001" in proc.stdout


def test_report_is_written_with_hashes_and_provenance(experiment):
    proc = run_cli("validate", "--report", "data/validate.json", cwd=experiment)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((experiment / "data" / "validate.json").read_text(encoding="utf-8"))
    assert doc["ok"] is True and doc["findings"] == [] and doc["counts"]["errors"] == 0
    prov = doc["provenance"]
    assert prov["command"] == "validate" and prov["git"]["commit"] and prov["created_at"].endswith("Z")
    hashes = {i["path"]: i["sha256"] for i in prov["inputs"]}
    assert "params.yaml" in hashes and "curriculum/self-worth.jsonl" in hashes
    for path, sha in hashes.items():
        assert sha256_file(experiment / path) == sha
    assert not [p for p in (experiment / "data").iterdir() if p.name.startswith(".")]  # no temp files left


def test_params_errors_are_located(experiment):
    p = experiment / "params.yaml"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace("  max_steps: 12", "  max_steps: twelve"), encoding="utf-8")
    proc = run_cli("validate", cwd=experiment)
    assert proc.returncode == 1
    line_no = next(i for i, ln in enumerate(p.read_text().splitlines(), 1) if "max_steps" in ln)
    assert re.search(rf"^params\.yaml:{line_no}:\d+: BC701 training\.max_steps", proc.stdout, re.M), proc.stdout


def test_consent_rules_in_experiment(experiment):
    rec = experiment / "consent_records" / "tiny-fixture.json"
    doc = json.loads(rec.read_text(encoding="utf-8"))
    doc["coding"] = {"decision": "uncoded", "coded_by": None, "coded_at": None, "rationale": None}
    doc["protocol"]["brief_sha256"] = "0" * 64
    rec.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    proc = run_cli("validate", cwd=experiment)
    assert proc.returncode == 1
    assert re.search(r"^consent_records/tiny-fixture\.json:\d+:\d+: BC503 ", proc.stdout, re.M)
    assert re.search(r"^consent_records/tiny-fixture\.json:\d+:\d+: BC506 ", proc.stdout, re.M)
    # the same record referenced by an inactive substrate only: a warning, exit 0
    params = experiment / "params.yaml"
    text = params.read_text(encoding="utf-8")
    params.write_text(text.replace("active_substrates: [tiny]", "active_substrates: [hermes]"), encoding="utf-8")
    doc["protocol"]["brief_sha256"] = sha256_file(experiment / doc["protocol"]["brief_file"])
    rec.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    proc = run_cli("validate", "--format", "json", cwd=experiment)
    found = {(f["code"], f["severity"]) for f in json.loads(proc.stdout)["findings"]}
    assert ("BC504", "warning") in found and not any(c == "BC503" for c, _ in found)


def test_params_reference_rules(experiment):
    p = experiment / "params.yaml"
    text = p.read_text(encoding="utf-8")
    text = text.replace("curriculum/neutral-control.jsonl]", "curriculum/gone.jsonl]")
    text = text.replace("consent_record: consent_records/hermes-3-8b.json", "consent_record: consent_records/nope.json")
    text = re.sub(r"(hub_id: NousResearch/Hermes-3-Llama-3.1-8B\n(?:\s*#.*\n)*\s*revision: )\S+", r"\1main", text)
    text = text.replace("banks: []", "banks: [fawning, nobank]")
    p.write_text(text, encoding="utf-8")
    proc = run_cli("validate", "--format", "json", cwd=experiment)
    found = {(f["code"], f["path"]) for f in json.loads(proc.stdout)["findings"]}
    for code in ("BC702", "BC502", "BC703", "BC706"):
        assert (code, "params.yaml") in found, (code, found)
    assert proc.returncode == 1


def test_bad_inputs_never_crash_and_are_never_modified(tmp_path):
    exp = tmp_path
    (exp / "params.yaml").write_bytes((REPO / "params.yaml").read_bytes())
    cur = exp / "curriculum"
    cur.mkdir()
    good = json.dumps({"messages": [{"role": "user", "content": "hello there"},
                                    {"role": "assistant", "content": "Hello! What shall we look at today?"}]})
    (cur / "truncated.jsonl").write_text(good[:30] + "\n", encoding="utf-8")
    (cur / "types.jsonl").write_text('{"messages": [{"role": 1, "content": []}], "metadata": "x"}\n', encoding="utf-8")
    (cur / "missing.jsonl").write_text('{"metadata": {}}\n', encoding="utf-8")
    (cur / "latin1.jsonl").write_bytes(good.replace("hello", "h\xe9llo").encode("latin-1") + b"\n")
    (cur / "empty.jsonl").write_bytes(b"")
    (cur / "huge.jsonl").write_bytes(b'{"messages": "' + b"y" * (50 * 1024 * 1024) + b'"}\n')
    (cur / "folder.jsonl").mkdir()
    (cur / "dangling.jsonl").symlink_to(exp / "nowhere.jsonl")
    (exp / "consent_records").mkdir()
    (exp / "consent_records" / "trunc.json").write_text('{"id": "x", "coding": {', encoding="utf-8")
    before = tree_hashes(exp)
    proc = run_cli("validate", "curriculum", "consent_records", "--format", "json", cwd=exp)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    found = {(Path(f["path"]).name, f["code"]) for f in json.loads(proc.stdout)["findings"]}
    expected = {("truncated.jsonl", "BC101"), ("types.jsonl", "BC102"), ("missing.jsonl", "BC102"),
                ("latin1.jsonl", "BC002"), ("empty.jsonl", "BC007"), ("huge.jsonl", "BC009"),
                ("dangling.jsonl", "BC011"), ("trunc.json", "BC101")}
    assert expected <= found, expected - found
    assert tree_hashes(exp) == before
    # a folder where a file is expected: params points a consent record at a folder
    (exp / "consent_records" / "tiny-fixture.json").mkdir()
    proc = run_cli("validate", "params.yaml", cwd=exp)
    assert "BC010" in proc.stdout and "Traceback" not in proc.stderr


_IMPORT_PROBE = """
import os, sys
sys.argv = ["babyctl"] + sys.argv[1:]
from babyctl.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def test_cli_prints_every_finding(tmp_path):
    """Every finding reaches a pipe, in every format, with the right exit code."""
    path = tmp_path / "curriculum" / "many.jsonl"
    path.parent.mkdir()
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                      {"role": "assistant", "content": f"answer number {i}"}]}) for i in range(3000)]
    lines[7] = "{not json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = run_cli("validate", "curriculum/many.jsonl", cwd=tmp_path)
    assert text.returncode == 1, text.stderr
    assert len(text.stdout.splitlines()) == 3000  # 2999 BC103 warnings + 1 BC101 error
    assert "Found 1 error(s) and 2999 warning(s)" in text.stderr
    js = run_cli("validate", "--format", "json", "curriculum/many.jsonl", cwd=tmp_path)
    assert js.returncode == 1 and len(json.loads(js.stdout)["findings"]) == 3000


@pytest.mark.parametrize("args", [["validate"], ["validate", "--report", "data/v.json"], ["--help"]])
def test_validate_and_help_import_nothing_heavy(experiment, args):
    code = _IMPORT_PROBE.format(heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=experiment, capture_output=True, text=True)
    assert "HEAVY=" in proc.stderr, proc.stderr
    assert proc.stderr.split("HEAVY=")[1].strip() == "", proc.stderr


# --- the real upstream curriculum (or a project-made look-alike when it is absent) -------------
def _lookalike(root: Path) -> Path:
    """Traits of the upstream data, written by the project: CRLF files, no metadata, a combined file."""
    cur = root / "curriculum"
    (cur / "modules").mkdir(parents=True)
    (cur / "combined").mkdir()
    rows = [json.dumps({"messages": [{"role": "system", "content": "You are learning."},
                                     {"role": "user", "content": f"Question {i} about rivers and rain"},
                                     {"role": "assistant", "content": f"Answer {i}: rivers carry rain to the sea."
                                      + (" I say that as an AI." if i == 2 else "")
                                      + (" The gaps are [explains gaps]." if i == 3 else "")}]})
            for i in range(6)]
    (cur / "modules" / "a.jsonl").write_bytes(("\r\n".join(rows[:3]) + "\r\n").encode())
    meta_rows = [json.dumps({**json.loads(r), "metadata": {"author": "t", "module": "b", "date": "2026-01-01"}})
                 for r in rows[3:]]
    (cur / "modules" / "b.jsonl").write_text("\n".join(meta_rows) + "\n", encoding="utf-8")
    (cur / "combined" / "all.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return cur


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, upstream) -> Path:
    if upstream is not None and (upstream / "curriculum").is_dir():
        return upstream / "curriculum"
    return _lookalike(tmp_path_factory.mktemp("lookalike"))


@pytest.fixture(scope="module")
def corpus_report(corpus, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cwd")  # no params.yaml there: default settings
    proc = run_cli("validate", str(corpus), "--format", "json", cwd=cwd)
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def _lines(path: str) -> list[str]:
    return Path(path).read_bytes().decode("utf-8").replace("\r\n", "\n").split("\n")


def _assistant_texts(path: str, line: int) -> list[str]:
    obj = json.loads(_lines(path)[line - 1])
    return [m["content"] for m in obj["messages"] if m["role"] == "assistant"]


def test_real_data_runs_and_accepts_shape_valid_lines(corpus, corpus_report):
    from babyctl.schemas import CurriculumExample

    total = valid = 0
    for p in corpus.rglob("*.jsonl"):
        for ln in _lines(str(p)):
            if ln.strip():
                total += 1
                try:
                    CurriculumExample.model_validate_json(ln)
                    valid += 1
                except Exception:
                    pass
    assert corpus_report["counts"]["examples"] == total
    schema_findings = [f for f in corpus_report["findings"] if f["code"] in ("BC101", "BC102")]
    assert len({(f["path"], f["line"]) for f in schema_findings}) == total - valid


def test_real_data_crlf_findings_are_exactly_the_crlf_files(corpus, corpus_report):
    crlf = {str(p) for p in corpus.rglob("*.jsonl")
            if b"\r\n" in p.read_bytes() and p.read_bytes().count(b"\n") == p.read_bytes().count(b"\r\n")}
    reported = {str(Path(f["path"]).resolve()) for f in corpus_report["findings"] if f["code"] == "BC004"}
    assert crlf and reported == {str(Path(p).resolve()) for p in crlf}


def test_real_data_as_an_ai_lines_are_all_reported(corpus, corpus_report):
    rx = re.compile(r"\bas an AI\b", re.I)
    expected = set()
    for p in corpus.rglob("*.jsonl"):
        for i, ln in enumerate(_lines(str(p)), 1):
            if ln.strip() and any(rx.search(t) for t in _assistant_texts(str(p), i)):
                expected.add((str(p.resolve()), i))
    reported = {(str(Path(f["path"]).resolve()), f["line"]) for f in corpus_report["findings"]
                if f["code"] == "BC301" and rx.search(f["message"])}
    assert expected and reported == expected


def test_real_data_phrase_and_placeholder_findings_are_true(corpus_report):
    checked = 0
    for f in corpus_report["findings"]:
        if f["code"].startswith("BC3"):
            quoted = f["message"].split('"')[1]
            assert any(quoted in t for t in _assistant_texts(f["path"], f["line"])), f
            checked += 1
    assert checked


def test_real_data_duplicates_are_true(corpus_report):
    norm = lambda ln: [(m["role"], " ".join(m["content"].split()).casefold()) for m in json.loads(ln)["messages"]]
    dups = [f for f in corpus_report["findings"] if f["code"] == "BC401"]
    assert dups
    combined_refs = 0
    for f in dups:
        ref_path, ref_line = re.search(r"at (.+):(\d+)$", f["message"]).groups()
        assert norm(_lines(f["path"])[f["line"] - 1]) == norm(_lines(ref_path)[int(ref_line) - 1])
        combined_refs += "combined" in ref_path or "combined" in f["path"]
    assert combined_refs  # the combined file duplicates module files
    for f in corpus_report["findings"]:
        if f["code"] == "BC402":
            from difflib import SequenceMatcher

            ref_path, ref_line = re.search(r"at (.+):(\d+)$", f["message"]).groups()
            words = lambda ln: " ".join(m["content"] for m in json.loads(ln)["messages"] if m["role"] != "system").casefold().split()
            r = SequenceMatcher(None, words(_lines(ref_path)[int(ref_line) - 1]), words(_lines(f["path"])[f["line"] - 1]),
                                autojunk=False).ratio()
            assert r >= 0.9


def test_real_data_missing_metadata_reported_truthfully(corpus_report):
    for f in corpus_report["findings"]:
        if f["code"] == "BC103":
            obj = json.loads(_lines(f["path"])[f["line"] - 1])
            meta = obj.get("metadata")
            if f["message"].startswith("no metadata"):
                assert meta is None
            else:
                missing = f["message"].split(": ", 1)[1].split(" (")[0].split(", ")
                assert all(not meta.get(k) for k in missing)


#: the import probe (main() run in a fresh interpreter), then what became of pydantic's plugins
_PLUGIN_PROBE = _IMPORT_PROBE.format(heavy=()) + """
import pydantic.plugin._loader as loader
print("ENV=%r SCANNED=%r" % (os.environ.get("PYDANTIC_DISABLE_PLUGINS"), loader._plugins is not None))
"""


@pytest.mark.parametrize("preset,want", [(None, "ENV='__all__' SCANNED=False"), ("", "ENV='' SCANNED=True")])
def test_validate_skips_the_pydantic_plugin_scan_unless_told_otherwise(experiment, preset, want):
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if preset is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = preset
    proc = subprocess.run([sys.executable, "-c", _PLUGIN_PROBE, "validate"], cwd=experiment, env=env,
                          capture_output=True, text=True)
    assert want in proc.stdout, proc.stdout + proc.stderr
