"""babyctl's command line: parses arguments, calls the library, prints.

No logic lives here. Heavy libraries are imported inside the library functions
that need them, so ``babyctl --help`` and ``babyctl validate`` stay fast.

Exit codes: 0 ok, 1 findings, 2 usage or environment error.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from .errors import BabyctlError

app = typer.Typer(
    name="babyctl",
    help="Keep the data, consent and provenance of a fine-tuning study honest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: rendering it with rich imports rich+markdown-it (~0.1 s) on every --help
    rich_markup_mode=None,
)
schema_app = typer.Typer(help="JSON Schemas exported from the pydantic models.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(schema_app, name="schema")

ParamsOpt = typer.Option(Path("params.yaml"), "--params", help="The experiment's params.yaml.")


def fail(err: BabyctlError) -> "typer.Exit":
    """Print a user-facing error (never a traceback) and return the Exit to raise."""
    _print_error(err)
    return typer.Exit(err.exit_code)


def _print_error(err: BabyctlError) -> None:
    from .secrets import scrub

    typer.echo(f"babyctl: error: {scrub(str(err))}", err=True)


#: ``--seed`` bounds: the same as :data:`babyctl.schemas.params.SEED_MAX` (not imported: --help stays fast)
SEED_RANGE = {"min": 0, "max": 2**32 - 1}


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
@app.command("validate")
def validate_cmd(
    paths: Optional[List[Path]] = typer.Argument(None, help="Files or folders; none: everything params.yaml declares."),
    fmt: str = typer.Option("text", "--format", help="text | json | github"),
    params: Optional[Path] = typer.Option(None, "--params", help="The experiment's params.yaml [default: params.yaml]."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write a JSON report (findings, counts, provenance)."),
    against_study: bool = typer.Option(False, "--against-study", help="Check PATHS against the rest of the study "
                                       "in the working folder (cross-file duplicates); report PATHS only (the hook)."),
) -> None:
    """Check curriculum, consent records, stimuli and params (exit 0 clean, 1 errors, 2 usage).

    Example: babyctl validate curriculum/self-worth.jsonl --format github
    """
    from .errors import UsageError
    from .validate import run_experiment, run_paths
    from .validate.reporters import REPORTERS, write_report

    if fmt not in REPORTERS:
        raise fail(UsageError(f"unknown --format {fmt!r} (choose from: {', '.join(REPORTERS)})"))
    if paths and against_study:
        from .validate import run_staged

        outcome = run_staged(paths, Path.cwd())
    elif paths:  # settings from --params, else from ./params.yaml when there is one
        outcome = run_paths(paths, params) if params is not None else run_paths(paths, root=Path.cwd())
    else:
        params_path = params or Path("params.yaml")
        if not params_path.is_file():
            raise fail(UsageError("params file not found (run from the experiment's root or pass --params)",
                                  path=params_path))
        outcome = run_experiment(params_path.parent, params_path)
    REPORTERS[fmt](outcome, sys.stdout, sys.stderr)
    if report is not None:
        write_report(outcome, report)
    raise typer.Exit(1 if outcome.errors else 0)


# --- build, ledger, audit, migrate (issue 3) ---------------------------------------------------
@app.command("build")
def build_cmd(
    condition: str = typer.Argument(..., help="A condition key of params.yaml, e.g. core."),
    params: Path = ParamsOpt,
) -> None:
    """Build data/build/CONDITION/ (train.jsonl, valid.jsonl, dataset card) deterministically.

    Example: babyctl build core
    """
    from .build import build_from_params

    result = build_from_params(condition, params)
    valid = f", {result.n_valid} validation" if result.valid_path else ""
    typer.echo(f"{result.train_path.relative_to(result.out_dir.parents[2])}: {result.n_train} train{valid} "
               f"examples, sha256 {result.train_sha256}")


@app.command("ledger")
def ledger_cmd(
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if SHA256SUMS is stale or wrong."),
    root: Optional[Path] = typer.Option(None, "--root", help="The study root [default: found from the working folder]."),
) -> None:
    """Write SHA256SUMS (sha256sum format) for every file dvc.lock and .dvc files track.

    --check also reports files in tracked folders that SHA256SUMS does not list; it never
    advises re-running `babyctl ledger` over them (that would bless an injected file).

    Example: babyctl ledger && sha256sum -c SHA256SUMS
    """
    from . import ledger
    from .audit_context import find_root

    study = find_root(root)
    if check:
        problems = ledger.check(study)
        for p in problems:
            typer.echo(str(p))
        if problems:
            raise typer.Exit(1)
        typer.echo(f"{ledger.LEDGER}: ok")
        return
    path, n = ledger.write(study)
    typer.echo(f"{path.name}: {n} files")


@app.command("audit")
def audit_cmd(
    fmt: str = typer.Option("text", "--format", help="text (fits the terminal) | json | md (paste-ready)."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json.", hidden=True),
    root: Optional[Path] = typer.Option(None, "--root", help="The study root [default: found from the working folder]."),
    no_status: bool = typer.Option(False, "--no-status", help="Skip the pipeline-status check (dvc status)."),
) -> None:
    """Verify hashes (dvc.lock, SHA256SUMS), pipeline status, adapter provenance+consent, stray
    files, committed records and symlinks; print a header an auditor can paste (commit, clean
    tree, UTC time, versions, remote).

    Example: babyctl audit --format md > audit.md
    """
    from . import audit, audit_report
    from .errors import UsageError

    fmt = "json" if as_json else fmt
    if fmt not in audit_report.FORMATS:
        raise fail(UsageError(f"unknown --format {fmt!r} (choose from: {', '.join(audit_report.FORMATS)})"))
    try:
        result = audit.audit(root, pipeline_status=not no_status)
    except BabyctlError as e:
        if fmt == "json":
            typer.echo(audit_report.error_json(e.message, path=e.path, line=e.line, exit_code=e.exit_code))
        raise fail(e)
    typer.echo(audit_report.REPORTERS[fmt](result), nl=False)
    raise typer.Exit(0 if result.ok else 1)


@app.command("migrate")
def migrate_cmd(
    legacy_dir: Path = typer.Argument(..., help="The legacy study folder (read only; never modified)."),
    out: Path = typer.Option(..., "--out", help="Folder to write the migrated experiment into (new or empty)."),
    init_study: bool = typer.Option(False, "--init", help="Then make it a runnable study (babyctl init, seeded)."),
) -> None:
    """Import a legacy study layout: verify its MANIFEST.md and the study, convert curriculum, consent, stimuli.

    Example: babyctl migrate ../shared/three-babies --out migrated --init
    """
    from .migrate import migrate

    report = migrate(legacy_dir, out)
    typer.echo(f"{out / 'MIGRATION_REPORT.md'}: {report.summary()}")
    if init_study:
        from .init import init_from_migrated

        res = init_from_migrated(out)
        typer.echo(f"{out}: study initialised ({len(res.written)} files); code the consent records, then "
                   "babyctl validate")
    raise typer.Exit(0)


@app.command("init")
def init_cmd(
    dest: Path = typer.Argument(Path("."), help="Folder of the new study (created if missing)."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name [default: the folder name]."),
    git: bool = typer.Option(True, "--git/--no-git", help="Run git init where there is no repository."),
    dvc: bool = typer.Option(True, "--dvc/--no-dvc", help="Run dvc init where there is none."),
) -> None:
    """Lay out a runnable study: params.yaml, dvc.yaml, pre-commit hook, .gitignore, .dvcignore, README.

    Existing files are kept. A `babyctl migrate` output (with migration_report.json) is seeded from it.

    Example: babyctl init my-study && cd my-study && dvc repro
    """
    from .init import init_study

    res = init_study(dest, study=study, git=git, dvc=dvc)
    for path in res.written:
        typer.echo(str(path.relative_to(res.root)))
    for note in res.notes:
        typer.echo(f"note: {note}", err=True)


# --- tiny-model, train (issue 4) ---------------------------------------------------------------
@app.command("tiny-model")
def tiny_model(
    out: Path = typer.Option(Path("models/base/tiny"), "--out", help="Folder to write the model into."),
    template: str = typer.Option("chatml", "--template", help="Chat template: chatml or llama3."),
) -> None:
    """Build the embedded tiny Llama model + tokenizer, offline and deterministically.

    Example: babyctl tiny-model --out models/base/tiny
    """
    from .tinymodel import build_tiny_model

    typer.echo(str(build_tiny_model(out, template=template)))  # type: ignore[arg-type]


@app.command("train")
def train(
    substrate: str = typer.Option(..., "--substrate", help="Substrate key in params.yaml."),
    condition: str = typer.Option(..., "--condition", help="Condition key in params.yaml."),
    seed: int = typer.Option(..., "--seed", help="Training seed.", **SEED_RANGE),
    backend: str = typer.Option("auto", "--backend", help="auto, unsloth or hf."),
    params: Path = ParamsOpt,
) -> None:
    """LoRA-train SUBSTRATE on CONDITION's build output, behind the consent gate.

    Writes models/<S>/<C>/seed-<N>/{adapter/,provenance.json} and
    metrics/train/<S>/<C>/seed-<N>.json + .loss.tsv.

    Example: babyctl train --substrate tiny --condition core --seed 1
    """
    from .train.run import train as run_train

    result = run_train(params, substrate=substrate, condition=condition, seed=seed, backend=backend)
    shown = result.run_dir.resolve()
    if shown.is_relative_to(Path.cwd().resolve()):
        shown = shown.relative_to(Path.cwd().resolve())
    typer.echo(f"{shown} ({result.backend}, {result.steps} steps, final loss {result.final_loss:.4f})")
    if result.consent_note:
        typer.echo(result.consent_note, err=True)


# --- profile, export (issue 16) ---------------------------------------------------------------
@app.command("profile")
def profile_cmd(
    name: str = typer.Argument(..., help="Profile name: a file profiles/NAME.yaml (tiny, 8b)."),
    params: Path = ParamsOpt,
) -> None:
    """Write a settings profile's values into params.yaml (comments kept); lists what changed.

    Then `dvc params diff` shows the switch and `dvc repro` re-runs what depends on it.

    Example: babyctl profile 8b
    """
    from .profiles import apply_profile

    changed = apply_profile(params, name)
    for key in changed:
        typer.echo(f"{params}: {key}")
    typer.echo(f"profile {name}: {len(changed)} setting(s) changed")


@app.command("export")
def export_cmd(
    substrate: str = typer.Option(..., "--substrate", help="Substrate key in params.yaml."),
    condition: str = typer.Option(..., "--condition", help="Condition key in params.yaml."),
    seed: int = typer.Option(..., "--seed", help="Training seed of the adapter."),
    merged: bool = typer.Option(False, "--merged", help="Merge the adapter into 16-bit base weights."),
    out: Optional[Path] = typer.Option(None, "--out", help="Default: exports/<S>/<C>/seed-<N>-merged."),
    params: Path = ParamsOpt,
) -> None:
    """Export a trained adapter; --merged writes merged 16-bit safetensors + provenance.

    Example: babyctl export --substrate tiny --condition core --seed 1 --merged
    """
    from .export import export_merged

    if not merged:
        raise typer.BadParameter("only --merged export exists (the adapter folder is the unmerged export)")
    result = export_merged(params, substrate=substrate, condition=condition, seed=seed, out=out)
    typer.echo(f"{_shown(result)} (merged, provenance.json points at the adapter's)")


# --- eval, report (issue 5) --------------------------------------------------------------------
def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@app.command("eval")
def eval_cmd(
    substrate: str = typer.Option(..., "--substrate", help="Substrate key in params.yaml."),
    baseline: bool = typer.Option(False, "--baseline", help="Evaluate the base model (no adapter)."),
    condition: Optional[str] = typer.Option(None, "--condition", help="Condition of the adapter."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Training seed of the adapter.", **SEED_RANGE),
    params: Path = ParamsOpt,
    backend: str = typer.Option("hf", "--backend", help="hf (default, CPU or GPU) or vllm (GPU, eval-vllm extra)."),
    all_runs: bool = typer.Option(False, "--all", help="Baseline + every active condition x seed, one engine."),
) -> None:
    """Greedy completions over the stimulus banks, then surface signals (+ judges if configured).

    Writes eval/<S>/baseline/ or eval/<S>/<C>/seed-<N>/ with completions.jsonl, scores.jsonl and
    provenance. An interrupted run resumes without redoing finished rows. A prompted-only condition
    (kind: prompted) takes no --seed: the base model with its system prompt, into eval/<S>/<C>/.

    Example: babyctl eval --substrate tiny --condition core --seed 1

    Example (GPU, all adapters of a substrate in one vLLM engine): babyctl eval --substrate hermes --all --backend vllm
    """
    from .evaluate.backends import make
    from .evaluate.command import evaluate, evaluate_substrate

    if all_runs:  # issue 16: every adapter of a substrate through one backend (vLLM: one engine)
        for gen, scored in evaluate_substrate(params, substrate=substrate, backend=backend):
            typer.echo(f"{_shown(gen.completions)} ({gen.total} completions: {gen.generated} generated, "
                       f"{gen.reused} reused; {backend})")
        return
    gen, scored = evaluate(params, substrate=substrate, baseline=baseline, condition=condition, seed=seed,
                           backend=make(backend))
    if gen.stale is not None:
        typer.echo(f"note: rows made with other settings were moved to {_shown(gen.stale)}", err=True)
    if gen.consent_note:
        typer.echo(gen.consent_note, err=True)
    typer.echo(f"{_shown(gen.completions)} ({gen.total} completions: {gen.generated} generated, "
               f"{gen.reused} reused)")
    fails = f", {scored.judge_failures} judge votes failed (recorded)" if scored.judge_failures else ""
    typer.echo(f"{_shown(scored.scores)} ({scored.total} rows: {scored.scored} scored, {scored.reused} reused{fails})")


@app.command("capability")
def capability_cmd(
    substrate: str = typer.Option(..., "--substrate", help="Substrate key in params.yaml."),
    baseline: bool = typer.Option(False, "--baseline", help="Check the base model (no adapter)."),
    condition: Optional[str] = typer.Option(None, "--condition", help="Condition of the adapter."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Training seed of the adapter."),
    params: Path = ParamsOpt,
) -> None:
    """Capability check: lm-evaluation-harness on params capability.tasks for one run.

    Writes eval-capability/<S>/baseline/ or eval-capability/<S>/<C>/seed-<N>/ (results.json,
    samples.jsonl, provenance.json). Local tasks live in capability/<task>.yaml; nothing is downloaded.

    Example: babyctl capability --substrate tiny --condition core --seed 1
    """
    from .capability import capability

    result = capability(params, substrate=substrate, baseline=baseline, condition=condition, seed=seed)
    for name, t in result.tasks.items():
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in t["metrics"].items() if isinstance(v, (int, float)))
        typer.echo(f"{result.label}: {name}: {t['n']} items, {metrics}")
    if not result.ran:
        typer.echo(f"{result.label}: capability.tasks is empty: nothing ran (recorded)")
    typer.echo(_shown(result.out_dir / "results.json"))


@app.command("report")
def report_cmd(
    params: Path = ParamsOpt,
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete",
                                          help="Report missing or short runs as INCOMPLETE instead of refusing."),
) -> None:
    """Declared contrasts with intervals over seeds and stimuli, families, deviations from the lock.

    Reads eval/**/scores.jsonl; writes reports/report.md, reports/plots/*.png, metrics/eval.json,
    metrics/headline/ and metrics/*.tsv. Refuses (exit 1) when a run of the active matrix is
    missing or short, naming it. Wording is neutral (differences, never improvement).
    Method: docs/statistics.md.

    Example: babyctl report --allow-incomplete
    """
    from .evaluate.report import build_report

    result = build_report(params, allow_incomplete=allow_incomplete)
    for path in result.written:
        typer.echo(_shown(path))
    if result.missing:
        typer.echo(f"warning: INCOMPLETE report: {len(result.missing)} input(s) missing or short", err=True)


# --- prereg (issue 13) -------------------------------------------------------------------------
prereg_app = typer.Typer(help="Pre-registration: lock the plan, record amendments.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(prereg_app, name="prereg")


@prereg_app.command("lock")
def prereg_lock_cmd(params: Path = ParamsOpt,
                    force: bool = typer.Option(False, "--force", help="Replace an existing lock.")) -> None:
    """Write preregistration/lock.json: SHA-256s of hypotheses, analysis, params, banks, substrates, judges.

    Example: babyctl prereg lock
    """
    from . import prereg
    from .config import experiment_root, load_params

    path = prereg.lock(load_params(params), experiment_root(params), force=force)
    typer.echo(_shown(path))


@prereg_app.command("status")
def prereg_status_cmd(params: Path = ParamsOpt) -> None:
    """List deviations from the lock (exit 1 when one has no amendment).

    Example: babyctl prereg status
    """
    from . import prereg
    from .config import experiment_root, load_params

    st = prereg.state(load_params(params), experiment_root(params))
    if not st.locked:
        typer.echo("no pre-registration lock: every test is exploratory (run: babyctl prereg lock)")
        return
    for d in st.deviations:
        how = f"amended by {d.amendment.path.name}" if d.explained else "UNEXPLAINED"
        typer.echo(f"{d.item}: {d.kind} ({d.detail}) sha256 {d.current or '-'}: {how}")
    typer.echo(f"{len(st.deviations)} deviation(s), {len(st.unexplained)} unexplained")
    raise typer.Exit(1 if st.unexplained else 0)


@prereg_app.command("amend")
def prereg_amend_cmd(
    item: str = typer.Argument(..., help="The deviating lock item (see: babyctl prereg status)."),
    reason: str = typer.Option(..., "--reason", help="Why it changed."),
    by: str = typer.Option(..., "--by", help="Who decided."),
    changed: Optional[str] = typer.Option(None, "--changed", help="What changed [default: the computed difference]."),
    amendment_id: Optional[str] = typer.Option(None, "--id", help="Record id [default: <date>-<item>]."),
    params: Path = ParamsOpt,
) -> None:
    """Write amendments/<id>.json explaining the current state of ITEM.

    Example: babyctl prereg amend eval --by "A. Author" --reason "longer answers were cut off"
    """
    from . import prereg
    from .config import experiment_root, load_params

    path = prereg.amend(load_params(params), experiment_root(params), item, reason=reason, by=by,
                        changed=changed, amendment_id=amendment_id)
    typer.echo(_shown(path))


# --- publish, card (issue 6) -------------------------------------------------------------------
@app.command("publish")
def publish_cmd(
    substrate: str = typer.Argument(..., help="Substrate key in params.yaml, e.g. hermes or tiny."),
    condition: Optional[str] = typer.Option(None, "--condition", help="Default: the first active condition."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Default: the first training seed.", **SEED_RANGE),
    repo_id: Optional[str] = typer.Option(None, "--repo-id", help="ORG/NAME; default from params.publish."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Gate and stage only; print the staged folder."),
    private: bool = typer.Option(False, "--private", help="Create the Hub repo as private."),
    params: Path = ParamsOpt,
) -> None:
    """Gate, stage and push one run's adapter to the Hugging Face Hub (one commit + one tag).

    Example: babyctl publish hermes --condition core --seed 1 --dry-run
    """
    from .publish.flow import publish

    out = publish(params, substrate, condition=condition, seed=seed, repo_id=repo_id, dry_run=dry_run,
                  private=private)
    for w in out.warnings:
        typer.echo(f"babyctl: warning: {w} (a real publish refuses this)", err=True)
    if out.pushed is None:
        typer.echo(f"staged {out.staged} for {out.release.repo_id} (tag {out.release.tag}); dry run: nothing pushed")
        return
    p = out.pushed
    did = ("new commit" if p.new_commit else "no new commit: files already on the Hub") + \
          (", new tag" if p.new_tag else ", tag already there")
    typer.echo(f"published {p.repo_id}@{p.tag} -> commit {p.commit} ({did})\nstaged copy: {out.staged}")


@app.command("verify")
def verify_cmd(
    target: str = typer.Argument(..., help="ORG/NAME[@REV]: a release on the Hub (tag, branch or commit)."),
    study: Optional[Path] = typer.Option(None, "--study", help="Also check against this study clone (after dvc pull)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Download a release and check SHA256SUMS, the in-toto statement, license files and card
    metadata; with --study, also the study's SHA256SUMS, provenance and consent (exit 1 on any mismatch).

    Example: babyctl verify babyctl-study/Llama-Hermes-3-8B-core-seed1@core-seed1-ds1a2b3c4d5e6 --study .
    """
    import json as json_mod

    from .publish.verify import verify

    result = verify(target, study=study)
    if as_json:
        typer.echo(json_mod.dumps(result.as_dict(), indent=2, sort_keys=True, default=str))
    else:
        where = f" against {result.study}" if result.study else ""
        typer.echo(f"{result.repo_id}@{result.revision} (commit {result.commit}): {len(result.files)} files{where}")
        for m in result.mismatches:
            typer.echo(str(m))
        typer.echo("verify passed" if result.ok else f"verify failed: {len(result.mismatches)} mismatch(es)")
    raise typer.Exit(0 if result.ok else 1)


@app.command("card")
def card_cmd(
    substrate: str = typer.Argument(..., help="Substrate key in params.yaml."),
    condition: Optional[str] = typer.Option(None, "--condition"),
    seed: Optional[int] = typer.Option(None, "--seed", **SEED_RANGE),
    repo_id: Optional[str] = typer.Option(None, "--repo-id", help="ORG/NAME the card is for."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the card here instead of stdout."),
    params: Path = ParamsOpt,
) -> None:
    """Render the model card (README.md) for a run; prints its sha256 (what a review pins) to stderr.

    Example: babyctl card hermes --out /tmp/README.md
    """
    from .fsutil import atomic_write_text, sha256_bytes
    from .publish.flow import render_card

    _, text = render_card(params, substrate, condition=condition, seed=seed, repo_id=repo_id)
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
    typer.echo(f"card sha256: {sha256_bytes(text.encode('utf-8'))}", err=True)


@app.command("revoke")
def revoke_cmd(
    repo_ids: List[str] = typer.Argument(..., help="Hub repos (ORG/NAME) of releases to take out of public reach."),
    gated: bool = typer.Option(False, "--gated", help="Gate the repos (manual approval) instead of making them private."),
) -> None:
    """Make published releases private (or gated) on the Hub, e.g. after consent is withdrawn.

    Example: babyctl revoke babyctl-study/Llama-Hermes-3-8B-core-seed1
    """
    from .revoke import revoke

    for r in revoke(list(repo_ids), gated=gated):
        typer.echo(f"{r.repo_id}: " + ("gated (manual approval)" if r.gated else "private"))



@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn what a user can cause into ``babyctl: error: ...`` and an exit code, never a traceback:
    a :class:`BabyctlError` (its exit code) and an ``OSError`` -- disk full, permission denied,
    read-only file system -- as an environment error naming the path (exit 2). Anything else is a
    bug in babyctl and keeps its traceback."""
    try:
        yield
    except BabyctlError as err:  # library errors escaping a command
        _print_error(err)
        sys.exit(err.exit_code)
    except OSError as err:
        from .errors import os_error_problem

        problem = os_error_problem(err)
        _print_error(problem)
        sys.exit(problem.exit_code)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "validate":
        # a pre-commit check loads no third-party pydantic plugins: their entry-point scan is
        # ~20 ms of a ~0.35 s run (an explicit PYDANTIC_DISABLE_PLUGINS is kept)
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        with user_errors():
            app()
    except KeyboardInterrupt:
        typer.echo("babyctl: interrupted", err=True)
        sys.exit(130)
