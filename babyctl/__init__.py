"""babyctl keeps the data and provenance of LLM fine-tuning studies honest.

The Python API (docs/api.md) is importable from here; each name is loaded on first use, so
``import babyctl`` stays light (the pre-commit hook imports no torch, transformers or dvc)::

    from babyctl import load_study, validate_study, build_condition, train_adapter

    study = load_study("params.yaml")
    outcome = validate_study(study)
    build_condition(study, "core")
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> module that defines it
_WHERE = {
    # the study
    "Study": "study", "StudyLike": "api", "load_params": "config", "load_study": "api",
    "Params": "schemas.params",
    # one function per command
    "validate_study": "api", "validate_files": "api", "build_condition": "api", "train_adapter": "api",
    "evaluate_run": "api", "build_report": "api", "audit_repository": "api", "render_card": "api",
    "publish_adapter": "api", "write_ledger": "api", "check_ledger": "api", "migrate_study": "api",
    "export_schemas": "api", "build_tiny_model": "api", "init_study": "api", "apply_profile": "api",
    "export_merged": "api", "run_capability": "api", "lock_preregistration": "api",
    "preregistration_status": "api", "amend_preregistration": "api", "verify_release": "api",
    "revoke_releases": "api",
    # what they return
    "ValidationFinding": "validate", "ValidationOutcome": "validate",
    "BuildResult": "build", "TrainResult": "train.run", "EvalResult": "evaluate.generate",
    "ScoreResult": "evaluate.score", "ReportResult": "evaluate.report", "AuditResult": "audit",
    "AuditFinding": "audit", "PublishOutcome": "publish.flow", "GateFinding": "publish.gates",
    "Release": "publish.release", "LedgerProblem": "ledger", "MigrationReport": "migrate",
    "InitResult": "init", "CapabilityResult": "capability", "PreregState": "prereg",
    "VerifyResult": "publish.verify", "VerifyMismatch": "publish.verify", "Revoked": "revoke",
    # errors
    "BabyctlError": "errors", "UsageError": "errors", "InputError": "errors", "ParamsError": "errors",
    "EnvironmentProblem": "errors", "GateRefused": "errors", "IntegrityError": "errors",
}
#: exported names that differ from the defining module's own
_RENAMED = {"ValidationFinding": "Finding", "ValidationOutcome": "Outcome", "LedgerProblem": "Problem",
            "AuditFinding": "Finding", "PreregState": "State", "VerifyMismatch": "Mismatch"}

__all__ = ["__version__", *_WHERE]


def __getattr__(name: str):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{where}", __name__), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what static type checkers see: the same names, imported eagerly
    from .api import (StudyLike, amend_preregistration, apply_profile, audit_repository, build_condition,
                      build_report, build_tiny_model, check_ledger, evaluate_run, export_merged, export_schemas,
                      init_study, load_study, lock_preregistration, migrate_study, preregistration_status,
                      publish_adapter, render_card, revoke_releases, run_capability, train_adapter, validate_files,
                      validate_study, verify_release, write_ledger)
    from .audit import AuditResult
    from .audit import Finding as AuditFinding
    from .build import BuildResult
    from .capability import CapabilityResult
    from .config import load_params
    from .errors import (BabyctlError, EnvironmentProblem, GateRefused, InputError, IntegrityError, ParamsError,
                         UsageError)
    from .evaluate.generate import EvalResult
    from .evaluate.report import ReportResult
    from .evaluate.score import ScoreResult
    from .init import InitResult
    from .ledger import Problem as LedgerProblem
    from .migrate import MigrationReport
    from .prereg import State as PreregState
    from .publish.flow import PublishOutcome
    from .publish.gates import GateFinding
    from .publish.release import Release
    from .publish.verify import Mismatch as VerifyMismatch
    from .publish.verify import VerifyResult
    from .revoke import Revoked
    from .schemas.params import Params
    from .study import Study
    from .train.run import TrainResult
    from .validate import Finding as ValidationFinding
    from .validate import Outcome as ValidationOutcome
