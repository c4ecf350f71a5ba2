"""``babyctl migrate LEGACY_DIR --out DIR``: import a legacy study layout.

Reads (never writes) a folder laid out like ``three-babies``::

    curriculum/MANIFEST.md         verified first (:mod:`.manifest`)
    curriculum/**/*.jsonl          -> DIR/curriculum/**/*.jsonl   (stable ids, normalised metadata)
    CONSENT_RECORDS/*.json, *.md   -> DIR/consent_records/*.json  (ConsentRecord, decision uncoded)
    stimuli/*.json                 -> DIR/stimuli/<bank>.jsonl    (unique ids)

and writes ``DIR/MIGRATION_REPORT.md`` + ``DIR/migration_report.json`` listing every change and
every problem. ``DIR`` is assembled in a temporary folder and renamed into place, so a failed
migration leaves nothing behind. Unreadable legacy files are reported, not fatal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..fsutil import atomic_dir, dumps_json
from . import convert, manifest, study as study_mod

REPORT_MD = "MIGRATION_REPORT.md"
REPORT_JSON = "migration_report.json"


@dataclass
class MigrationReport:
    legacy: str
    out: str
    manifest: manifest.ManifestReport
    curriculum: list[convert.CurriculumFile] = field(default_factory=list)
    consent: list[dict] = field(default_factory=list)
    stimuli: dict = field(default_factory=dict)
    log: convert.Log = field(default_factory=convert.Log)
    study: study_mod.StudyReport = field(default_factory=study_mod.StudyReport)

    def summary(self) -> str:
        m = self.manifest.as_dict()["status_counts"]
        return (f"manifest {m['match']} match, {m['line-endings']} line-endings only, {m['mismatch']} mismatch, "
                f"{m['absent']} absent, {len(self.manifest.unlisted)} unlisted; "
                f"{sum(f.examples for f in self.curriculum)} examples in {len(self.curriculum)} files; "
                f"{len(self.consent)} consent records (uncoded); {self.stimuli.get('items', 0)} stimuli; "
                f"{len(self.log.problems)} problems; {len(self.study.findings)} study-level findings, "
                f"{len(self.study.needs_coding)} consent sentences need coding")

    def as_dict(self) -> dict:
        return {
            "legacy": self.legacy,
            "summary": self.summary(),
            "manifest": self.manifest.as_dict(),
            "curriculum": [{"source": f.source, "out": f.out, "examples": f.examples, "bad_lines": f.bad_lines,
                            "authors": dict(sorted(f.authors.items()))} for f in self.curriculum],
            "consent": [{"id": r["id"], "substrate": r["substrate"], "model_id": r["model_id"],
                         "asked_at": r["asked_at"], "decision": r["coding"]["decision"]} for r in self.consent],
            "stimuli": self.stimuli,
            "changes": self.log.changes,
            "problems": self.log.problems,
            "study": self.study.as_dict(),
        }


def migrate(legacy_dir: str | Path, out_dir: str | Path) -> MigrationReport:
    """Verify and convert ``legacy_dir`` into the new folder ``out_dir``."""
    legacy = Path(legacy_dir).resolve()
    out = Path(out_dir).resolve()
    if not legacy.is_dir():
        raise UsageError("legacy folder not found", path=legacy_dir)
    if out == legacy or legacy in out.parents:
        raise UsageError("--out must be outside the legacy folder (migrate never writes into it)", path=out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError("--out exists and is not an empty folder (refusing to overwrite)", path=out_dir)
    report = MigrationReport(legacy=str(legacy_dir), out=str(out_dir), manifest=manifest.verify(legacy))
    for p in report.manifest.problems:
        report.log.problem("curriculum/MANIFEST.md", p)
    for row in report.manifest.rows:
        if row.status != "match" or row.actual_examples != row.declared_examples:
            report.log.problem(f"curriculum/{row.path}", f"manifest {row.status}: {row.detail}",
                               line=None, manifest_line=row.line)
    for u in report.manifest.unlisted:
        report.log.problem(f"curriculum/{u['path']}", f"not listed in MANIFEST.md ({u['examples']} examples)")
    st = report.study = study_mod.verify_study(legacy)
    listed = {f"curriculum/{r.path}" for r in report.manifest.rows}
    unique_listed = len(set().union(*(st.keys.get(p, set()) for p in listed))) if listed else 0
    double = study_mod.manifest_double_count(report.manifest.as_dict(), {}, st.aggregates, unique_listed)
    if double is not None:
        st.findings.insert(0, double)
    with atomic_dir(out) as tmp:
        report.curriculum = convert.convert_curriculum(legacy, tmp, report.log, modules=st.modules,
                                                       skip=set(st.fixtures), aggregates=set(st.aggregates))
        report.consent = convert.convert_consent(legacy, tmp, report.log)
        report.stimuli = convert.convert_stimuli(legacy, tmp, report.log)
        study_mod.runs(legacy, st, report.consent, lambda m: convert.KNOWN_SUBSTRATES.get(m, convert.slug(m)))
        _needs_coding_notes(tmp, report)
        _import_runs(legacy, tmp, report)
        (tmp / REPORT_JSON).write_text(dumps_json(report.as_dict()), encoding="utf-8")
        (tmp / REPORT_MD).write_text(render_md(report), encoding="utf-8")
    return report


def _needs_coding_notes(tmp: Path, report: MigrationReport) -> None:
    """Point each converted record at the sentences a human must code (they stay verbatim in responses)."""
    import json

    for rec in report.consent:
        source = rec.get("notes", "")
        hits = [n for n in report.study.needs_coding if n["path"] in source
                and (n["model"] in (rec["id"], n["path"]) or rec["id"].startswith(f"legacy-{n['model']}")
                     or n["sentence"].startswith(f"[{rec['id'].split('-20')[0][7:]}]"))]
        if not hits:
            continue
        path = tmp / "consent_records" / f"{rec['id']}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["notes"] = (data.get("notes") or "") + (
            f" NEEDS CODING: {len(hits)} sentences limit scope or set conditions (MIGRATION_REPORT.md, "
            "'Needs coding'), e.g. " + "; ".join(repr(h["sentence"][:160]) for h in hits[:3]))
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _import_runs(legacy: Path, tmp: Path, report: MigrationReport) -> None:
    """Legacy result files -> ``legacy_runs/<stem>/`` (rows as LF JSONL + a provenance with the
    collection date and substrate), so that :func:`babyctl.consent.eval_findings` checks them."""
    import hashlib
    import json

    from ..provenance import utc_now
    from . import safe

    by_sub = {}
    for rec in sorted(report.consent, key=lambda c: c["asked_at"]):
        by_sub.setdefault(rec["substrate"], []).append(rec)
    for run in report.study.runs:
        raw = safe.read_bytes(legacy, legacy / run["path"])
        if isinstance(raw, safe.Refusal):
            continue
        dest = tmp / "legacy_runs" / convert.slug(Path(run["path"]).stem)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "completions.jsonl").write_bytes(raw.replace(b"\r\n", b"\n"))
        records = by_sub.get(run["substrate"], [])
        chosen = records[0] if records else None
        if chosen is not None and run["collected_at"]:
            earlier = [r for r in records if r["asked_at"] <= run["collected_at"]]
            chosen = earlier[-1] if earlier else records[0]
        condition = "baseline" if "baseline" in run["path"] else (run["conditions"] or [None])[0]
        prov = {"tool": "babyctl", "command": "babyctl migrate", "created_at": utc_now().isoformat(),
                "legacy": True, "source": run["path"], "source_sha256": hashlib.sha256(raw).hexdigest(),
                "params": {"substrate": run["substrate"], "condition": condition, "model_id": run["model_id"],
                           "run_id": run["run_id"], "rows": run["rows"],
                           "collected": {"started_at": run["collected_at"], "date_source": run["date_source"],
                                         "consent": ({"id": chosen["id"],
                                                      "path": f"consent_records/{chosen['id']}.json"}
                                                     if chosen else None)}}}
        (dest / "provenance.json").write_text(json.dumps(prov, indent=2) + "\n", encoding="utf-8")
        report.log.change(run["path"], f"legacy run imported as {dest.relative_to(tmp).as_posix()}/ "
                          f"(substrate {run['substrate']}, collected {run['collected_at'] or 'unknown'})")


CODE_TITLES = {
    "S201": "aggregate files missing modules", "S202": "aggregate files repeating module examples",
    "S203": "examples repeated inside a file", "S210": "counts stated by the study that do not match the disk",
    "S211": "counts stated by the study that match the disk", "S220": "manifest totals that count examples twice",
    "S230": "line endings", "S240": "metadata values differing only in case or spelling",
    "S241": "several field names for one role", "S242": "rows with no metadata",
    "S250": "legacy stimulus id collisions", "S260": "module names inferred (not from folder names)",
    "S270": "test-fixture folders (not imported)", "S280": "referenced files that are absent",
    "S290": "legacy runs against consent scope and time", "S300": "consent sentences that need coding",
    "S301": "consent limited to part of the study",
    "M100": "paths leaving the legacy folder (refused)", "M101": "symlinks leaving the legacy folder (refused)",
    "M102": "not regular files (refused)", "M103": "files too large (refused)",
}


def render_study(st: study_mod.StudyReport) -> list[str]:
    out = ["## 0. Study-level findings (what an auditor checks beyond the manifest)", "",
           "Unique examples on disk (examples compared by their messages):", "",
           *[f"- {name}: {n}" for name, n in st.unique.items()], ""]
    by_code: dict[str, list] = {}
    for f in st.findings:
        by_code.setdefault(f.code, []).append(f)
    for code in sorted(by_code):
        out += [f"### {code}: {CODE_TITLES.get(code, code)} ({len(by_code[code])})", ""]
        out += [f"- `{f.path}" + (f":{f.line}" if f.line else "") + f"`: {f.message}" for f in by_code[code]]
        out.append("")
    out += ["## Needs coding", "",
            "Sentences of the consent responses that limit scope or set conditions. Each converted record is "
            "`uncoded`; the human who codes it must turn these into `consents_to` and `conditions`.", ""]
    out += [f"- `{n['path']}" + (f":{n['line']}" if n["line"] else "") + f"` ({n['model']}): {n['sentence']}"
            for n in st.needs_coding] or ["- none"]
    out += ["", "## Legacy runs", "", "| file | run | substrate | model | rows | collected | consent records |",
            "|---|---|---|---|---|---|---|"]
    out += [f"| `{r['path']}` | {r['run_id']} | {r['substrate']} | {r['model_id'] or r['model']} | {r['rows']} | "
            f"{r['collected_at'] or 'unknown'} | {', '.join(r['consent_records']) or 'none'} |" for r in st.runs]
    out.append("")
    return out


def render_md(r: MigrationReport) -> str:
    m = r.manifest.as_dict()
    sc = m["status_counts"]
    out = [
        f"# Migration report: `{r.legacy}`", "",
        r.summary(), "",
        *render_study(r.study),
        "## 1. MANIFEST.md verification", "",
        f"- declared: {m['declared_total']} examples in {m['declared_files']} files; "
        f"the table's rows add up to {m['rows_total']} examples in {len(m['rows'])} rows",
        f"- listed files as found on disk: {m['actual_total_listed']} examples",
        f"- {sc['match']} match, {sc['line-endings']} differ only in line endings, {sc['mismatch']} mismatch, "
        f"{sc['absent']} listed but absent, {sc['unreadable']} unreadable, {len(m['unlisted'])} on disk but unlisted",
        *[f"- problem: {p}" for p in m["problems"]],
        "",
        "| file | status | declared examples | actual examples | declared sha256[:12] | actual sha256 | detail |",
        "|---|---|---|---|---|---|---|",
        *[f"| `{row['path']}` | {row['status']} | {row['declared_examples']} | {row['actual_examples']} | "
          f"`{row['declared_sha']}` | `{row['actual_sha'] or ''}` | {row['detail']} |" for row in m["rows"]],
        "",
        "Unlisted files:", "",
        *([f"- `{u['path']}` ({u['examples']} examples)" for u in m["unlisted"]] or ["- none"]),
        "",
        "## 2. Curriculum", "",
        "| legacy file | examples converted | lines not converted | authors |",
        "|---|---|---|---|",
        *[f"| `{f.source}` | {f.examples} | {f.bad_lines} | "
          f"{', '.join(f'{a} ({n})' for a, n in sorted(f.authors.items()))} |" for f in r.curriculum],
        "",
        "## 3. Consent records (all `uncoded`: a human must code each before any stage relies on it)", "",
        "| id | substrate | model | asked at |", "|---|---|---|---|",
        *[f"| `{c['id']}` | {c['substrate']} | {c['model_id']} | {c['asked_at']} |" for c in r.consent],
        "",
        "## 4. Stimuli", "",
        f"- {r.stimuli.get('items', 0)} items with {r.stimuli.get('unique_ids_before', 0)} distinct ids; "
        f"{len(r.stimuli.get('duplicate_ids', {}))} ids used more than once",
        f"- banks written: {', '.join(f'{b} ({n})' for b, n in r.stimuli.get('banks', {}).items()) or 'none'}",
        *[f"- renamed `{x['old']}` -> `{x['new']}` (bank {x['bank']})" for x in r.stimuli.get("renamed", [])],
        "",
        f"## 5. Every change ({len(r.log.changes)})", "",
        *[f"- `{c['path']}`: {c['change']}" + (f" ({c['examples']})" if "examples" in c else "")
          for c in r.log.changes],
        "",
        f"## 6. Every problem ({len(r.log.problems)})", "",
        *([f"- `{p['path']}`" + (f":{p['line']}" if p.get("line") else "") + f": {p['problem']}"
           for p in r.log.problems] or ["- none"]),
        "",
        "params.yaml is not generated: declare substrates and conditions by hand (see the example "
        "experiment), then run `babyctl validate`.",
        "",
    ]
    return "\n".join(out)


__all__ = ["MigrationReport", "migrate", "REPORT_MD", "REPORT_JSON"]
