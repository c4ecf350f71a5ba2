"""babyctl's command line: parses arguments, calls the library, prints.

No logic lives here. Heavy libraries are imported inside the library functions
that need them, so ``babyctl --help`` and ``babyctl validate`` stay fast.

Exit codes: 0 ok, 1 findings, 2 usage or environment error.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import EXIT_USAGE, BabyctlError

app = typer.Typer(
    name="babyctl",
    help="Keep the data, consent and provenance of a fine-tuning study honest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="JSON Schemas exported from the pydantic models.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")

ParamsOpt = typer.Option(Path("params.yaml"), "--params", help="The experiment's params.yaml.")


def fail(err: BabyctlError) -> "typer.Exit":
    """Print a user-facing error (never a traceback) and return the Exit to raise."""
    typer.echo(f"babyctl: error: {err}", err=True)
    return typer.Exit(err.exit_code)


# --- schema (issue 2) -------------------------------------------------------------------------
@schema_app.command("export")
def schema_export(
    out: Path = typer.Option(Path("schemas"), "--out", help="Folder to write *.schema.json into."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if the files drift."),
) -> None:
    """Write schemas/*.schema.json (JSON Schema 2020-12) from the models.

    Example: babyctl schema export --check
    """
    from .schemas import export

    if check:
        bad = export.drift(out)
        for name in bad:
            typer.echo(f"{out / (name + '.schema.json')}: out of date (run: babyctl schema export)")
        raise typer.Exit(1 if bad else 0)
    for path in export.export(out):
        typer.echo(str(path))


# --- validate (issue 2) -----------------------------------------------------------------------
# --- build, ledger, audit, migrate (issue 3) ---------------------------------------------------
# --- tiny-model, train (issue 4) ---------------------------------------------------------------
# --- eval, report (issue 5) --------------------------------------------------------------------
# --- publish, card (issue 6) -------------------------------------------------------------------


def main() -> None:
    try:
        app()
    except BabyctlError as err:  # library errors escaping a command
        typer.echo(f"babyctl: error: {err}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        typer.echo("babyctl: interrupted", err=True)
        sys.exit(130)
