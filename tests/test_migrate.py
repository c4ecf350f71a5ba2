"""babyctl migrate: verify a legacy MANIFEST.md, convert, report; never touch the legacy folder."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from babyctl.errors import UsageError
from babyctl.migrate import migrate
from babyctl.schemas import ConsentRecord, CurriculumExample, Stimulus
from conftest import run_cli


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[p.relative_to(root).as_posix()] = "-> " + os.readlink(p)
        elif p.is_file():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def line(content: str, **meta) -> str:
    return json.dumps({"messages": [{"role": "user", "content": "q " + content},
                                    {"role": "assistant", "content": "a " + content}], "metadata": meta})


def make_legacy(root: Path) -> Path:
    """A small legacy layout with every kind of manifest problem and some unreadable files."""
    cur = root / "curriculum"
    (cur / "mod").mkdir(parents=True)
    good = (line("1", author="Ace", module="m", date="2026-05-01", scenario_type="s1") + "\n"
            + line("2", author="Ace", module="m", category="c") + "\n").encode()
    (cur / "mod" / "good.jsonl").write_bytes(good)
    crlf_lf = (line("3", author="Grok") + "\n" + line("4") + "\n").encode()
    (cur / "mod" / "crlf.jsonl").write_bytes(crlf_lf.replace(b"\n", b"\r\n"))
    (cur / "mod" / "changed.jsonl").write_bytes((line("5") + "\n").encode())
    (cur / "mod" / "unlisted.jsonl").write_bytes((line("6") + "\n" + "{not json\n").encode())
    (cur / "mod" / "latin1.jsonl").write_bytes(b'{"messages": "caf\xe9"}\n')
    (cur / "mod" / "dangling.jsonl").symlink_to(root / "nowhere.jsonl")
    (cur / "mod" / "folder.jsonl").mkdir()
    h = lambda b: hashlib.sha256(b).hexdigest()[:12]  # noqa: E731
    (cur / "MANIFEST.md").write_text(
        "# Manifest\n\nTotal examples: **9**\n\nFiles: **4**\n\n"
        "| File | Examples | Author(s) | SHA-256 (12) |\n|------|----------|-----------|--------------|\n"
        f"| `mod/good.jsonl` | 2 | Ace | `{h(good)}` |\n"
        f"| `mod/crlf.jsonl` | 2 | Grok | `{h(crlf_lf)}` |\n"
        f"| `mod/changed.jsonl` | 2 | x | `{'ab' * 6}` |\n"
        f"| `mod/gone.jsonl` | 1 | x | `{'cd' * 6}` |\n", encoding="utf-8")
    cons = root / "CONSENT_RECORDS"
    cons.mkdir()
    (cons / "consent_x.json").write_text(json.dumps({
        "asker": "Ace", "protocol_brief": "Please read.", "consent_records": [
            {"model": "hermes-3-8b", "hf_name": "NousResearch/Hermes-3-Llama-3.1-8B", "note": "n",
             "asked_at": "2026-05-15T11:04:52+00:00", "responses": [{"seed": 42, "response": "YES"}]}]}),
        encoding="utf-8")
    (cons / "t_model-a.md").write_text(
        "# Consent Record: model-a — ask\n\n**Date:** 2026-05-15T20:00:31+00:00\n**Model:** /m/a\n\n"
        "## Prompt\n\n```\nDo you consent?\n```\n\n## Response (verbatim)\n\n```\nI do, with conditions.\n```\n\n"
        "## Metadata\n\n- Max new tokens: 512\n- Temperature: 0 (greedy)\n", encoding="utf-8")
    (cons / "README.md").write_text("# Consent records\n", encoding="utf-8")
    (root / "stimuli").mkdir()
    items = [{"bank": "a", "sub_category": "s", "id": "x1", "prompt": "p1", "trap": "t", "difficulty": "hard"},
             {"bank": "b", "sub_category": "s", "id": "x1", "prompt": "p1", "trap": "t", "difficulty": "very hard"},
             {"bank": "b", "sub_category": "s", "id": "x2", "prompt": "p2", "trap": "t", "difficulty": None}]
    (root / "stimuli" / "stimuli_normalized.json").write_text(json.dumps({"meta": {}, "items": items}), encoding="utf-8")
    return root


@pytest.fixture
def legacy(tmp_path) -> Path:
    return make_legacy(tmp_path / "legacy")


def test_manifest_verification_on_a_made_legacy_folder(legacy, tmp_path):
    before = tree_digest(legacy)
    report = migrate(legacy, tmp_path / "out")
    assert tree_digest(legacy) == before
    rows = {r.path: r for r in report.manifest.rows}
    assert rows["mod/good.jsonl"].status == "match"
    assert rows["mod/crlf.jsonl"].status == "line-endings"
    assert rows["mod/crlf.jsonl"].detail.startswith("only the line endings differ: the file has CRLF line endings")
    assert rows["mod/changed.jsonl"].status == "mismatch"
    assert "declared 2 examples, the file has 1" in rows["mod/changed.jsonl"].detail
    assert rows["mod/gone.jsonl"].status == "absent"
    assert {u["path"] for u in report.manifest.unlisted} == {"mod/unlisted.jsonl", "mod/latin1.jsonl"}
    refused = [p for p in report.manifest.problems if ": M102: " in p]
    assert sorted(p.split(":")[0] for p in refused) == ["curriculum/mod/dangling.jsonl", "curriculum/mod/folder.jsonl"]
    assert "declared total 9 examples, but the rows add up to 7" in report.manifest.problems
    md = (tmp_path / "out" / "MIGRATION_REPORT.md").read_text(encoding="utf-8")
    assert "only the line endings differ" in md and "`mod/gone.jsonl` | absent" in md


def test_unreadable_files_are_reported_not_fatal(legacy, tmp_path):
    report = migrate(legacy, tmp_path / "out")
    problems = {(p["path"], p["line"]): p["problem"] for p in report.log.problems}
    assert problems[("curriculum/mod/latin1.jsonl", 1)].startswith("unreadable: not valid UTF-8")
    assert problems[("curriculum/mod/unlisted.jsonl", 2)].startswith("invalid JSON")
    refused = {p["path"] for p in report.log.problems if p["problem"].startswith("M102")}
    assert {"curriculum/mod/dangling.jsonl", "curriculum/mod/folder.jsonl"} <= refused
    assert ("CONSENT_RECORDS/README.md", None) in problems


def test_conversion_ids_metadata_consent_stimuli(legacy, tmp_path):
    out = tmp_path / "out"
    report = migrate(legacy, out)
    lines = (out / "curriculum/mod/good.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    CurriculumExample.model_validate_json(lines[0])
    digest = hashlib.sha256(json.dumps(first["messages"], sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert first["metadata"]["id"] == f"good-0001-{digest[:8]}"
    assert first["metadata"]["created"] == "2026-05-01" and first["metadata"]["tags"] == ["scenario_type:s1"]
    assert first["metadata"]["legacy"] == {"author": "Ace", "module": "m", "date": "2026-05-01", "scenario_type": "s1"}
    assert b"\r" not in (out / "curriculum/mod/crlf.jsonl").read_bytes()
    records = [ConsentRecord.model_validate_json(p.read_bytes()) for p in (out / "consent_records").glob("*.json")]
    assert sorted(r.model_id for r in records) == ["/m/a", "NousResearch/Hermes-3-Llama-3.1-8B"]
    assert {r.coding.decision for r in records} == {"uncoded"}
    hermes = next(r for r in records if r.substrate == "hermes")
    assert hermes.responses[0].text == "YES" and hermes.responses[0].seed == 42
    brief = out / hermes.protocol.brief_file
    assert hashlib.sha256(brief.read_bytes()).hexdigest() == hermes.protocol.brief_sha256
    stim = [Stimulus.model_validate_json(ln) for f in sorted((out / "stimuli").glob("*.jsonl"))
            for ln in f.read_text(encoding="utf-8").splitlines()]
    assert sorted(s.id for s in stim) == ["a-x1", "b-x1", "x2"]
    assert {s.id: s.difficulty for s in stim}["b-x1"] == "hard"
    assert any("no difficulty" in p["problem"] for p in report.log.problems)


def test_migration_is_deterministic(legacy, tmp_path):
    migrate(legacy, tmp_path / "a")
    migrate(legacy, tmp_path / "b")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_refuses_a_non_empty_out_and_an_out_inside_legacy(legacy, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="not an empty folder"):
        migrate(legacy, tmp_path / "full")
    with pytest.raises(UsageError, match="outside the legacy folder"):
        migrate(legacy, legacy / "out")
    proc = run_cli("migrate", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "legacy folder not found" in proc.stderr and not (tmp_path / "o").exists()


# --- the real upstream study (../shared/three-babies), when present ------------------------------
@pytest.fixture(scope="module")
def real(tmp_path_factory, upstream):
    if upstream is None:
        pytest.skip("the upstream study is not on this machine (tests above cover the logic)")
    before = tree_digest(upstream)
    out = tmp_path_factory.mktemp("real") / "out"
    proc = run_cli("migrate", str(upstream), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert tree_digest(upstream) == before  # the legacy folder is untouched
    return upstream, out, json.loads((out / "migration_report.json").read_text(encoding="utf-8"))


def test_real_manifest_claims_are_true(real):
    upstream, _, report = real
    text = (upstream / "curriculum/MANIFEST.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \|[^|]*\| `([0-9a-f]{12})` \|$", text, re.M)
    got = {r["path"]: r for r in report["manifest"]["rows"]}
    assert set(got) == {p for p, _, _ in rows}
    for path, n, prefix in rows:
        f = upstream / "curriculum" / path
        raw = f.read_bytes()
        want = "match" if hashlib.sha256(raw).hexdigest().startswith(prefix) else (
            "line-endings" if hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest().startswith(prefix)
            else "mismatch")
        assert got[path]["status"] == want, path
        assert got[path]["actual_examples"] == sum(1 for ln in raw.split(b"\n") if ln.strip())
    on_disk = {p.relative_to(upstream / "curriculum").as_posix() for p in (upstream / "curriculum").rglob("*.jsonl")}
    assert {u["path"] for u in report["manifest"]["unlisted"]} == on_disk - {p for p, _, _ in rows}
    declared = int(re.search(r"Total examples: \*\*(\d+)\*\*", text).group(1))
    assert report["manifest"]["declared_total"] == declared
    assert report["manifest"]["rows_total"] == sum(int(n) for _, n, _ in rows)


def test_real_conversion_is_complete_and_valid(real):
    upstream, out, report = real
    ids = set()
    for f in sorted((upstream / "curriculum").rglob("*.jsonl")):
        rel = f.relative_to(upstream).as_posix()
        if rel in report["study"]["fixtures"] + report["study"]["aggregates"]:  # not imported as curriculum
            assert not (out / rel).exists()
            continue
        src = [ln for ln in f.read_bytes().split(b"\n") if ln.strip()]
        dst = (out / rel).read_text(encoding="utf-8").splitlines()
        bad = sum(1 for p in report["problems"] if p["path"] == rel and "not converted" in p["problem"])
        assert len(dst) + bad == len(src), rel
        for ln in dst:
            ex = CurriculumExample.model_validate_json(ln)
            ids.add(ex.metadata.id)
    assert len(ids) == sum(f["examples"] for f in report["curriculum"])  # ids unique across the curriculum
    items = json.loads((upstream / "stimuli/stimuli_normalized.json").read_text(encoding="utf-8"))["items"]
    assert report["stimuli"]["items"] == len(items)
    assert report["stimuli"]["unique_ids_before"] == len({i["id"] for i in items})
    stim = [Stimulus.model_validate_json(ln) for f in (out / "stimuli").glob("*.jsonl")
            for ln in f.read_text(encoding="utf-8").splitlines()]
    assert len(stim) == len(items) and len({s.id for s in stim}) == len(items)
    n_json = sum(len(json.loads(p.read_text(encoding="utf-8"))["consent_records"])
                 for p in (upstream / "CONSENT_RECORDS").glob("*.json"))
    n_md = sum(1 for p in (upstream / "CONSENT_RECORDS").glob("*.md")
               if "## Response" in p.read_text(encoding="utf-8") and "# Consent Record:" in p.read_text(encoding="utf-8"))
    records = [ConsentRecord.model_validate_json(p.read_bytes()) for p in (out / "consent_records").glob("*.json")]
    assert len(records) == n_json + n_md and {r.coding.decision for r in records} == {"uncoded"}
