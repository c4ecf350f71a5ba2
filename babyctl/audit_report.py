"""Render an :class:`~babyctl.audit.AuditResult` as a rich table or as JSON."""
from __future__ import annotations

import json
import sys

from .audit import CHECKS, AuditResult


def to_json(result: AuditResult) -> str:
    """Stable JSON (sorted keys, 2-space indent)."""
    return json.dumps(result.as_dict(), indent=2, sort_keys=True)


def _short(h: str | None) -> str:
    return "" if h is None else h


def print_table(result: AuditResult, file=None) -> None:
    """A summary per check, then one row per finding (file, expected, actual)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout, width=200 if not (file or sys.stdout).isatty() else None)
    summary = Table(title=f"babyctl audit: {result.root}", show_lines=False)
    summary.add_column("check")
    summary.add_column("what")
    summary.add_column("items", justify="right")
    summary.add_column("findings", justify="right")
    summary.add_column("result")
    for key, what in CHECKS.items():
        n_find = sum(1 for f in result.findings if f.check == key)
        if key in result.skipped:
            summary.add_row(key, what, "-", "-", f"skipped ({result.skipped[key]})")
            continue
        summary.add_row(key, what, str(result.checked.get(key, 0)), str(n_find),
                        "[green]ok[/green]" if n_find == 0 else "[red]FAIL[/red]")
    console.print(summary)
    if result.findings:
        table = Table(title="findings")
        table.add_column("check")
        table.add_column("file", overflow="fold")
        table.add_column("problem", overflow="fold")
        table.add_column("expected", overflow="fold")
        table.add_column("actual", overflow="fold")
        for f in result.findings:
            table.add_row(f.check, f.path, f.message, _short(f.expected), _short(f.actual))
        console.print(table)
    verdict = "[green]audit passed[/green]" if result.ok else f"[red]audit failed: {len(result.findings)} finding(s)[/red]"
    console.print(f"{verdict} ({result.bytes_hashed / 1e6:.1f} MB hashed in {result.seconds:.2f} s)")
