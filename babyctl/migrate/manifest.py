"""Verify a legacy ``curriculum/MANIFEST.md`` (a Markdown table of 12-hex SHA-256 prefixes).

Each row ``| `path` | examples | authors | `sha12` |`` is compared with the file on disk:

* ``match`` -- the prefix equals the file's SHA-256;
* ``line-endings`` -- it does not, but it equals the SHA-256 of the file with CRLF turned
  into LF (or LF into CRLF): the content is the same, only the line endings differ;
* ``mismatch`` -- neither;
* ``absent`` -- listed but not on disk; files on disk but not listed are ``unlisted``;
* ``refused`` -- the row names a path outside the legacy folder (absolute, ``..``, a symlink
  leaving it) or something that is not a regular file or is too large: never read (:mod:`.safe`).

Declared example counts are compared with the non-blank lines of each file, and the
declared totals with the rows and with the files.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import safe

ROW_RE = re.compile(r"^\|\s*`?([^`|]+?)`?\s*\|\s*(\d+)\s*\|\s*([^|]*?)\s*\|\s*`?([0-9a-fA-F]+)`?\s*\|\s*$")
TOTAL_RE = re.compile(r"Total examples:\s*\**\s*(\d+)", re.I)
FILES_RE = re.compile(r"Files:\s*\**\s*(\d+)", re.I)


@dataclass
class Row:
    path: str
    line: int
    declared_examples: int
    authors: str
    declared_sha: str
    status: str = ""  # match | line-endings | mismatch | absent | unreadable | refused
    actual_sha: str | None = None
    actual_examples: int | None = None
    detail: str = ""


@dataclass
class ManifestReport:
    path: str
    found: bool
    rows: list[Row] = field(default_factory=list)
    unlisted: list[dict] = field(default_factory=list)
    declared_total: int | None = None
    declared_files: int | None = None
    problems: list[str] = field(default_factory=list)

    def by_status(self, status: str) -> list[Row]:
        return [r for r in self.rows if r.status == status]

    def as_dict(self) -> dict:
        counts = {s: len(self.by_status(s)) for s in ("match", "line-endings", "mismatch", "absent", "unreadable", "refused")}
        return {
            "path": self.path, "found": self.found, "declared_total": self.declared_total,
            "declared_files": self.declared_files, "rows_total": sum(r.declared_examples for r in self.rows),
            "actual_total_listed": sum(r.actual_examples or 0 for r in self.rows),
            "status_counts": counts, "rows": [asdict(r) for r in self.rows], "unlisted": self.unlisted,
            "problems": self.problems,
        }


def count_examples(raw: bytes) -> int:
    return sum(1 for ln in raw.split(b"\n") if ln.strip())


def verify(legacy: Path, manifest_rel: str = "curriculum/MANIFEST.md") -> ManifestReport:
    """Compare the manifest with the files of ``legacy/curriculum``; never raises for bad files."""
    mpath = legacy / manifest_rel
    base = mpath.parent
    report = ManifestReport(path=manifest_rel, found=mpath.is_file())
    if not report.found:
        report.problems.append(f"{manifest_rel}: no manifest found")
        return report
    try:
        text = mpath.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        report.problems.append(f"{manifest_rel}: unreadable: {e}")
        return report
    for no, line in enumerate(text.splitlines(), start=1):
        if m := TOTAL_RE.search(line):
            report.declared_total = int(m.group(1))
        elif m := FILES_RE.search(line):
            report.declared_files = int(m.group(1))
        elif m := ROW_RE.match(line.strip()):
            if set(m.group(1)) <= set("-: "):
                continue
            report.rows.append(Row(path=m.group(1).strip(), line=no, declared_examples=int(m.group(2)),
                                   authors=m.group(3), declared_sha=m.group(4).lower()))
    for row in report.rows:
        refused = safe.check_rel(row.path)
        f = base / row.path
        if refused is None and not f.exists() and not f.is_symlink():
            row.status, row.detail = "absent", "listed in the manifest but not on disk"
            continue
        raw = refused or safe.read_bytes(legacy, f)
        if isinstance(raw, safe.Refusal):
            row.status, row.detail = "refused", f"{raw.code}: {raw.message}"
            report.problems.append(f"{manifest_rel}:{row.line}: row {row.path!r} refused: {raw.message}")
            continue
        row.actual_sha = hashlib.sha256(raw).hexdigest()
        row.actual_examples = count_examples(raw)
        if row.actual_sha.startswith(row.declared_sha):
            row.status = "match"
        else:
            lf = raw.replace(b"\r\n", b"\n")
            crlf = lf.replace(b"\n", b"\r\n")
            if lf != raw and hashlib.sha256(lf).hexdigest().startswith(row.declared_sha):
                row.status = "line-endings"
                row.detail = ("only the line endings differ: the file has CRLF line endings; the manifest "
                              "hash is of the same bytes with LF line endings")
            elif crlf != raw and hashlib.sha256(crlf).hexdigest().startswith(row.declared_sha):
                row.status = "line-endings"
                row.detail = ("only the line endings differ: the file has LF line endings; the manifest "
                              "hash is of the same bytes with CRLF line endings")
            else:
                row.status, row.detail = "mismatch", "content differs from what the manifest hashed"
        if row.actual_examples != row.declared_examples:
            sep = "; " if row.detail else ""
            row.detail += f"{sep}declared {row.declared_examples} examples, the file has {row.actual_examples}"
    listed = {r.path for r in report.rows}
    files, refused_files = safe.walk(legacy, str(Path(manifest_rel).parent), (".jsonl",))
    for f in files:
        rel = f.relative_to(base).as_posix()
        if rel not in listed:
            raw = safe.read_bytes(legacy, f)
            n = None if isinstance(raw, safe.Refusal) else count_examples(raw)
            report.unlisted.append({"path": rel, "examples": n})
    for rel, why in refused_files:
        report.problems.append(f"{rel}: {why.code}: {why.message}")
    rows_total = sum(r.declared_examples for r in report.rows)
    if report.declared_total is not None and report.declared_total != rows_total:
        report.problems.append(f"declared total {report.declared_total} examples, but the rows add up to {rows_total}")
    if report.declared_files is not None and report.declared_files != len(report.rows):
        report.problems.append(f"declared {report.declared_files} files, but the table has {len(report.rows)} rows")
    return report
