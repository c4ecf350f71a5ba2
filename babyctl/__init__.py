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
    "export_schemas": "api", "build_tiny_model": "api",
    # what they return
    "ValidationFinding": "validate", "ValidationOutcome": "validate",
    "BuildResult": "build", "TrainResult": "train.run", "EvalResult": "evaluate.generate",
    "ScoreResult": "evaluate.score", "ReportResult": "evaluate.report", "AuditResult": "audit",
    "AuditFinding": "audit", "PublishOutcome": "publish.flow", "GateFinding": "publish.gates",
    "Release": "publish.release", "LedgerProblem": "ledger", "MigrationReport": "migrate",
    # errors
    "BabyctlError": "errors", "UsageError": "errors", "InputError": "errors", "ParamsError": "errors",
    "EnvironmentProblem": "errors", "GateRefused": "errors", "IntegrityError": "errors",
}
#: exported names that differ from the defining module's own
_RENAMED = {"ValidationFinding": "Finding", "ValidationOutcome": "Outcome", "LedgerProblem": "Problem"}

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
    from .api import (StudyLike, audit_repository, build_condition, build_report, build_tiny_model, check_ledger,
                      evaluate_run, export_schemas, load_study, migrate_study, publish_adapter, render_card,
                      train_adapter, validate_files, validate_study, write_ledger)
    from .audit import AuditFinding, AuditResult
    from .build import BuildResult
    from .config import load_params
    from .errors import (BabyctlError, EnvironmentProblem, GateRefused, InputError, IntegrityError, ParamsError,
                         UsageError)
    from .evaluate.generate import EvalResult
    from .evaluate.report import ReportResult
    from .evaluate.score import ScoreResult
    from .ledger import Problem as LedgerProblem
    from .migrate import MigrationReport
    from .publish.flow import PublishOutcome
    from .publish.gates import GateFinding
    from .publish.release import Release
    from .schemas.params import Params
    from .study import Study
    from .train.run import TrainResult
    from .validate import Finding as ValidationFinding
    from .validate import Outcome as ValidationOutcome
