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
from . import convert, manifest

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

    def summary(self) -> str:
        m = self.manifest.as_dict()["status_counts"]
        return (f"manifest {m['match']} match, {m['line-endings']} line-endings only, {m['mismatch']} mismatch, "
                f"{m['absent']} absent, {len(self.manifest.unlisted)} unlisted; "
                f"{sum(f.examples for f in self.curriculum)} examples in {len(self.curriculum)} files; "
                f"{len(self.consent)} consent records (uncoded); {self.stimuli.get('items', 0)} stimuli; "
                f"{len(self.log.problems)} problems")

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
    with atomic_dir(out) as tmp:
        report.curriculum = convert.convert_curriculum(legacy, tmp, report.log)
        report.consent = convert.convert_consent(legacy, tmp, report.log)
        report.stimuli = convert.convert_stimuli(legacy, tmp, report.log)
        (tmp / REPORT_JSON).write_text(dumps_json(report.as_dict()), encoding="utf-8")
        (tmp / REPORT_MD).write_text(render_md(report), encoding="utf-8")
    return report


def render_md(r: MigrationReport) -> str:
    m = r.manifest.as_dict()
    sc = m["status_counts"]
    out = [
        f"# Migration report: `{r.legacy}`", "",
        r.summary(), "",
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
