"""babyctl's Python API: each command of the CLI as one typed function (docs/api.md).

The CLI (:mod:`babyctl.cli`) parses arguments and calls these; a script or notebook calls them
directly. Every function that works on a study takes ``study``: a loaded :class:`Study`, the
path of its ``params.yaml``, or a :class:`~babyctl.schemas.Params` object together with
``root=`` (the folder its relative paths are under). Paths are resolved once, at the start, so
nothing depends on the current working directory afterwards.

Errors are :class:`~babyctl.errors.BabyctlError` subclasses (``InputError``, ``UsageError``,
``GateRefused``, ...): catch the base class to handle them all.

Heavy libraries (torch, transformers, peft, dvc, huggingface_hub) are imported inside the
functions that need them; importing this module imports none of them.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Union

from .config import load_params
from .schemas.params import Params
from .study import Study

if TYPE_CHECKING:
    from .audit import AuditResult
    from .build import BuildResult
    from .capability import CapabilityResult
    from .evaluate.generate import EvalResult
    from .evaluate.report import ReportResult
    from .evaluate.score import ScoreResult
    from .init import InitResult
    from .ledger import Problem
    from .migrate import MigrationReport
    from .prereg import State
    from .publish.flow import PublishOutcome
    from .publish.release import Release
    from .publish.verify import VerifyResult
    from .revoke import Revoked
    from .train.run import TrainResult
    from .validate import Outcome

#: what every study-taking function accepts
StudyLike = Union[Study, Params, str, Path]

__all__ = [
    "StudyLike", "Study", "load_params", "load_study", "validate_study", "validate_files", "build_condition",
    "train_adapter", "evaluate_run", "build_report", "audit_repository", "render_card", "publish_adapter",
    "write_ledger", "check_ledger", "migrate_study", "export_schemas", "build_tiny_model",
    "init_study", "apply_profile", "export_merged", "run_capability", "lock_preregistration",
    "preregistration_status", "amend_preregistration", "verify_release", "revoke_releases",
]


def load_study(study: StudyLike, root: str | Path | None = None) -> Study:
    """A :class:`Study` from a study, a params path, or a ``Params`` with ``root``."""
    return Study.of(study, root)


def _params_path(study: StudyLike, root: str | Path | None) -> Path:
    """The study's params.yaml (a folder means the params.yaml in it), without loading it."""
    if isinstance(study, (str, Path)):
        path = Path(study).resolve()
        return path / "params.yaml" if path.is_dir() else path
    s = Study.of(study, root)
    return s.params_path or s.root / "params.yaml"


def _root(study: StudyLike, root: str | Path | None) -> Path:
    """The experiment root: a Study's or Params' root, or the folder itself when given a folder."""
    if isinstance(study, (Study, Params)):
        return Study.of(study, root).root
    path = Path(study).resolve()
    return path if path.is_dir() else path.parent


def validate_study(study: StudyLike, root: str | Path | None = None) -> "Outcome":
    """Check everything the study's params.yaml declares (``babyctl validate`` with no paths).

    ``study`` may be the params file or the experiment folder: validate reads params.yaml itself
    and reports its problems as findings (it does not raise on a broken params file). A loaded
    ``Study`` or ``Params`` is checked through its params file.
    """
    from .validate import run_experiment

    params_path = _params_path(study, root)
    return run_experiment(params_path.parent, params_path)


def validate_files(paths: Iterable[str | Path], study: StudyLike | None = None,
                   root: str | Path | None = None) -> "Outcome":
    """Check just ``paths`` (what the pre-commit hook passes), with the study's settings when given."""
    from .validate import run_paths

    if study is None:
        return run_paths(list(paths), root=Path(root).resolve() if root else None)
    s = Study.of(study, root)
    return run_paths(list(paths), s.params, root=s.root)


def build_condition(study: StudyLike, condition: str, root: str | Path | None = None) -> "BuildResult":
    """Build the condition's build folder (``study.build_dir``: train.jsonl, valid.jsonl, dataset card)
    deterministically."""
    from .build import build

    s = Study.of(study, root)
    return build(condition, s.params, s.root, params_path=s.shown_params_path)


def train_adapter(study: StudyLike, *, substrate: str, condition: str, seed: int, backend: str = "auto",
                  progress: bool = False, root: str | Path | None = None) -> "TrainResult":
    """Train one LoRA adapter (consent gate first) into its run folder (``study.run_dir``)."""
    from .train.run import train

    return train(Study.of(study, root), substrate=substrate, condition=condition, seed=seed, backend=backend,
                 progress=progress)


def evaluate_run(study: StudyLike, *, substrate: str, condition: str | None = None, seed: int | None = None,
                 env: Mapping[str, str] | None = None,
                 root: str | Path | None = None) -> "tuple[EvalResult, ScoreResult]":
    """Generate and score one eval run: the baseline (no condition) or a trained (condition, seed)."""
    from .evaluate.command import evaluate

    return evaluate(Study.of(study, root), substrate=substrate, baseline=condition is None, condition=condition,
                    seed=seed, env=env)


def build_report(study: StudyLike, root: str | Path | None = None, *,
                 allow_incomplete: bool = False) -> "ReportResult":
    """Write ``reports/report.md``, plots and ``metrics/eval.json`` from the scored eval runs
    (``allow_incomplete``: report missing or short runs as INCOMPLETE instead of refusing)."""
    from .evaluate.report import build_report as _build_report

    return _build_report(Study.of(study, root), allow_incomplete=allow_incomplete)


def audit_repository(study: StudyLike, *, pipeline_status: bool = True,
                     root: str | Path | None = None) -> "AuditResult":
    """Run every audit check on the study's repository (``study`` may also be the folder itself)."""
    from .audit import audit

    return audit(_root(study, root), pipeline_status=pipeline_status)


def render_card(study: StudyLike, substrate: str, *, condition: str | None = None, seed: int | None = None,
                repo_id: str | None = None, root: str | Path | None = None) -> "tuple[Release, str]":
    """The model card (README.md text) of one trained run, and the release it describes."""
    from .publish.flow import render_card as _render

    return _render(Study.of(study, root), substrate, condition=condition, seed=seed, repo_id=repo_id)


def publish_adapter(study: StudyLike, substrate: str, *, condition: str | None = None, seed: int | None = None,
                    repo_id: str | None = None, dry_run: bool = False, private: bool = False,
                    endpoint: str | None = None, token: str | None = None,
                    root: str | Path | None = None) -> "PublishOutcome":
    """Gate, stage and (unless ``dry_run``) push one run's adapter to the Hub.

    Raises :class:`~babyctl.errors.GateRefused` listing every refusal.
    """
    from .publish.flow import publish

    return publish(Study.of(study, root), substrate, condition=condition, seed=seed, repo_id=repo_id,
                   dry_run=dry_run, private=private, endpoint=endpoint, token=token)


def write_ledger(study: StudyLike, root: str | Path | None = None) -> tuple[Path, int]:
    """Write ``SHA256SUMS`` for every file DVC and git track; returns (its path, files listed)."""
    from . import ledger

    return ledger.write(_root(study, root))


def check_ledger(study: StudyLike, root: str | Path | None = None) -> "list[Problem]":
    """Compare every file with ``SHA256SUMS``; an empty list means all match."""
    from . import ledger

    return ledger.check(_root(study, root))


def migrate_study(legacy_dir: str | Path, out_dir: str | Path) -> "MigrationReport":
    """Convert a legacy study folder into babyctl's layout under ``out_dir`` (inputs untouched)."""
    from .migrate import migrate

    return migrate(Path(legacy_dir).resolve(), Path(out_dir).resolve())


def export_schemas(out_dir: str | Path) -> list[Path]:
    """Write ``<out_dir>/*.schema.json`` (JSON Schema 2020-12) from the pydantic models."""
    from .schemas.export import export

    return export(Path(out_dir).resolve())


def build_tiny_model(out_dir: str | Path, *, template: str = "chatml") -> Path:
    """Build the tiny offline test model (Llama architecture, ChatML template) into ``out_dir``."""
    from .tinymodel import build_tiny_model as _build

    return _build(Path(out_dir).resolve(), template=template)  # type: ignore[arg-type]


def init_study(dest: str | Path, *, study: str | None = None, git: bool = True, dvc: bool = True) -> "InitResult":
    """Lay out a runnable study in ``dest`` (``babyctl init``): params.yaml, dvc.yaml, the pre-commit
    hook, .gitignore, .dvcignore, README and the data folders; existing files are kept.

    A ``babyctl migrate`` output (holding ``migration_report.json``) is seeded from the migration;
    any other folder gets an empty study on the tiny model. ``study`` names it (default: the
    folder's name); ``git``/``dvc`` run ``git init``/``dvc init`` where there is none. The result
    lists the files written and notes (files left as they were).
    """
    from .init import init_study as _init

    return _init(Path(dest).resolve(), study=study, git=git, dvc=dvc)


def apply_profile(study: StudyLike, name: str, root: str | Path | None = None) -> list[str]:
    """Write settings profile ``name`` (``profiles/<name>.yaml`` of the study) into its params.yaml,
    comments kept (``babyctl profile``); returns the dotted keys that changed.

    The params file is rewritten on disk: a loaded :class:`Study` keeps its old settings, so load
    the study again afterwards. A profile that would make params.yaml invalid changes nothing.
    """
    from .profiles import apply_profile as _apply

    return _apply(_params_path(study, root), name)


def export_merged(study: StudyLike, *, substrate: str, condition: str, seed: int, out: str | Path | None = None,
                  dtype: str = "bfloat16", root: str | Path | None = None) -> Path:
    """Merge the trained adapter of (substrate, condition, seed) into its base model and write 16-bit
    safetensors plus provenance.json (``babyctl export --merged``); returns the folder written.

    The adapter is checked against its provenance first, as :func:`evaluate_run` does. ``out``
    defaults to :func:`babyctl.study.export_dir` of the run; ``dtype`` is bfloat16,
    float16 or float32.
    """
    from .export import export_merged as _export

    return _export(Study.of(study, root), substrate=substrate, condition=condition, seed=seed,
                   out=Path(out).resolve() if out is not None else None, dtype=dtype)


def run_capability(study: StudyLike, *, substrate: str, condition: str | None = None, seed: int | None = None,
                   root: str | Path | None = None) -> "CapabilityResult":
    """Run the capability check (lm-evaluation-harness on ``capability.tasks``) on the baseline
    (no condition) or the adapter of (condition, seed), into its folder under ``eval-capability/``
    (``babyctl capability``). Needs the ``capability`` extra unless ``capability.tasks`` is empty,
    which is recorded as "nothing ran".
    """
    from .capability import capability

    return capability(Study.of(study, root), substrate=substrate, baseline=condition is None, condition=condition,
                      seed=seed)


def lock_preregistration(study: StudyLike, *, force: bool = False, root: str | Path | None = None) -> Path:
    """Write ``preregistration/lock.json`` (``babyctl prereg lock``): SHA-256s of the hypotheses,
    analysis, training and eval settings, judges, active substrates and conditions, and stimulus
    banks. Refuses (``UsageError``) to replace an existing lock unless ``force``."""
    from . import prereg

    s = Study.of(study, root)
    return prereg.lock(s.params, s.root, force=force)


def preregistration_status(study: StudyLike, root: str | Path | None = None) -> "State":
    """The study against its lock (``babyctl prereg status``): ``locked``, the ``deviations`` (each
    with its item, kind, detail and amendment, if any) and the ``unexplained`` ones."""
    from . import prereg

    s = Study.of(study, root)
    return prereg.state(s.params, s.root)


def amend_preregistration(study: StudyLike, item: str, *, reason: str, by: str, changed: str | None = None,
                          amendment_id: str | None = None, root: str | Path | None = None) -> Path:
    """Write ``amendments/<id>.json`` explaining the current state of the deviating lock ``item``
    (``babyctl prereg amend``); ``changed`` defaults to the computed difference, ``amendment_id``
    to ``<date>-<item>``. Returns the record's path."""
    from . import prereg

    s = Study.of(study, root)
    return prereg.amend(s.params, s.root, item, reason=reason, by=by, changed=changed, amendment_id=amendment_id)


def verify_release(target: str, *, study: StudyLike | None = None, endpoint: str | None = None,
                   token: str | None = None, root: str | Path | None = None) -> "VerifyResult":
    """Download release ``ORG/NAME[@REV]`` from the Hub and check its SHA256SUMS, in-toto statement,
    license files and card metadata (``babyctl verify``); with ``study``, also against that study
    (its SHA256SUMS, the adapter's provenance and consent). ``result.ok`` is False on any mismatch,
    each listed in ``result.mismatches``; it does not raise for them."""
    from .publish.verify import verify

    return verify(target, study=_root(study, root) if study is not None else None, endpoint=endpoint,
                  token=token)


def revoke_releases(repo_ids: str | Iterable[str], *, gated: bool = False, endpoint: str | None = None,
                    token: str | None = None) -> "list[Revoked]":
    """Make published Hub repos private, or with ``gated`` gated behind manual approval (``babyctl
    revoke``), e.g. after consent is withdrawn; nothing is deleted. Every id is checked before any
    request is sent; a Hub failure raises a ``HubError`` naming the repo."""
    from .revoke import revoke

    return revoke([repo_ids] if isinstance(repo_ids, str) else list(repo_ids), gated=gated, endpoint=endpoint,
                  token=token)
