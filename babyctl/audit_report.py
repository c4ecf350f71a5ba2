"""Reporters for :class:`~babyctl.audit.AuditResult`: ``text`` (the terminal), ``json``, ``md``.

* ``text`` fits the terminal width (``COLUMNS`` or the terminal's size, 80 when unknown). Paths
  and hashes are never split: a finding is a block (``[check] path:line`` then indented lines),
  and only prose wraps, at spaces.
* ``json`` is stable (sorted keys); :func:`error_json` renders an error the same way, so
  ``--format json`` always prints JSON.
* ``md`` is paste-ready Markdown: a header table (commit, clean tree, time, versions, remote),
  the per-check summary, and the findings with paths and hashes in code spans.
"""
from __future__ import annotations

import json
import shutil
import sys
import textwrap
from typing import Callable, TextIO

from .audit import CHECKS, AuditResult, Finding

FORMATS = ("text", "json", "md")


def to_json(result: AuditResult) -> str:
    """Stable JSON (sorted keys, 2-space indent)."""
    return json.dumps(result.as_dict(), indent=2, sort_keys=True)


def error_json(message: str, *, path: str | None = None, line: int | None = None, exit_code: int = 2) -> str:
    """An error (exit 2) as the same kind of JSON document: ``ok: false`` and ``error``."""
    return json.dumps({"ok": False, "error": {"message": message, "path": path, "line": line,
                                              "exit_code": exit_code}, "findings": []}, indent=2, sort_keys=True)


def _summary_rows(result: AuditResult) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for key, what in CHECKS.items():
        n_find = sum(1 for f in result.findings if f.check == key)
        if key in result.skipped:
            rows.append((key, what, "-", "-", f"skipped ({result.skipped[key]})"))
        else:
            rows.append((key, what, str(result.checked.get(key, 0)), str(n_find), "ok" if n_find == 0 else "FAIL"))
    return rows


def _header_rows(result: AuditResult) -> list[tuple[str, str]]:
    h = result.header or {}
    if not h:
        return [("study", result.root)]
    commit = h.get("git_commit") or "(not a git repository)"
    if h.get("git_branch") and h.get("git_commit"):
        commit += f" ({h['git_branch']})"
    clean = {True: "yes", False: f"no ({len(h.get('changed_files') or [])} changed or untracked)",
             None: "unknown"}[h.get("tree_clean")]
    records = ", ".join(f"{k}: {v}" for k, v in sorted((h.get("records") or {}).items()))
    remotes = h.get("remotes") or {}
    default = h.get("default_remote")
    remote = "; ".join(f"{n}{' (default)' if n == default else ''}: {u}" for n, u in sorted(remotes.items())) \
        or "(none configured)"
    return [("study", h.get("root", result.root)), ("git commit", commit), ("work tree clean", clean),
            ("records", records), ("audited at (UTC)", h.get("time_utc", "")),
            ("babyctl", h.get("babyctl_version", "")), ("DVC", h.get("dvc_version") or "(not installed)"),
            ("DVC remote", remote)]


def _verdict(result: AuditResult) -> str:
    head = "audit passed" if result.ok else f"audit failed: {len(result.findings)} finding(s)"
    return f"{head} ({result.bytes_hashed / 1e6:.1f} MB hashed in {result.seconds:.2f} s)"


# --- text -------------------------------------------------------------------------------------
def width() -> int:
    """The terminal's width (``COLUMNS`` wins), at least 40; 80 when not a terminal."""
    cols = shutil.get_terminal_size((80, 24)).columns
    return max(40, cols)


def _wrap(text: str, indent: str, cols: int) -> list[str]:
    return textwrap.wrap(text, cols, initial_indent=indent, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [indent]


def _finding_lines(f: Finding, cols: int) -> list[str]:
    out = [f"[{f.check}] {f.where}"]
    out += _wrap(f.message, "    ", cols)
    for label, value in (("expected", f.expected), ("actual", f.actual)):
        if value is not None:
            out.append(f"    {label}: {value}")
    if f.source:
        out.append(f"    from: {f.source}")
    return out


def to_text(result: AuditResult, cols: int | None = None) -> str:
    """Plain text that fits ``cols`` columns; paths and hashes are kept whole."""
    cols = cols or width()
    lines = ["babyctl audit", ""]
    hdr = _header_rows(result)
    label_w = max(len(k) for k, _ in hdr)
    for k, v in hdr:
        if label_w + 2 + len(v) > cols and " " not in v:  # a long path: whole, on its own line
            lines += [k, f"  {v}"]
            continue
        wrapped = _wrap(v, " " * (label_w + 2), cols)
        wrapped[0] = f"{k.ljust(label_w)}  {wrapped[0].lstrip()}"
        lines += wrapped
    lines.append("")
    rows = _summary_rows(result)
    what_w = max(len(r[1]) for r in rows)
    lines.append(f"   {'check'.ljust(what_w)}  items  findings  result")
    for key, what, n, nf, res in rows:
        lines.append(f"{key}  {what.ljust(what_w)}  {n:>5}  {nf:>8}  {res}")
    if result.findings:
        lines += ["", "findings:"]
        for f in result.findings:
            lines += _finding_lines(f, cols)
    lines += ["", _verdict(result)]
    return "\n".join(lines) + "\n"


def print_table(result: AuditResult, file: TextIO | None = None) -> None:
    """Kept for callers of the old name: prints :func:`to_text`."""
    (file or sys.stdout).write(to_text(result))


# --- Markdown ---------------------------------------------------------------------------------
def _code(value: str | None) -> str:
    if value is None or value == "":
        return ""
    value = str(value).replace("\n", " ").replace("|", "\\|")
    fence = "``" if "`" in value else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _md_text(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def to_markdown(result: AuditResult) -> str:
    """Paste-ready Markdown (GitHub-flavoured tables)."""
    status = "**passed**" if result.ok else f"**failed: {len(result.findings)} finding(s)**"
    lines = [f"## babyctl audit: {status}", "", "| | |", "|---|---|"]
    for k, v in _header_rows(result):
        code_like = k in ("study", "git commit", "DVC remote")
        lines.append(f"| {k} | {_code(v) if code_like else _md_text(v)} |")
    lines += ["", "| check | what | items | findings | result |", "|---|---|---:|---:|---|"]
    for key, what, n, nf, res in _summary_rows(result):
        lines.append(f"| {key} | {what} | {n} | {nf} | {res} |")
    if result.findings:
        lines += ["", "### Findings", "", "| check | file | problem | expected | actual |", "|---|---|---|---|---|"]
        for f in result.findings:
            lines.append(f"| {f.check} | {_code(f.where)} | {_md_text(f.message)} | {_code(f.expected)} | "
                         f"{_code(f.actual)} |")
    lines += ["", f"_{_verdict(result)}._"]
    return "\n".join(lines) + "\n"


REPORTERS: dict[str, Callable[[AuditResult], str]] = {"text": to_text, "json": to_json, "md": to_markdown}
