"""Pydantic models: the single source of truth for babyctl's data.

``schemas/*.schema.json`` at the repository root are exported from these by
``babyctl schema export`` (see :mod:`babyctl.schemas.export`).
"""
from __future__ import annotations

import importlib

#: public name -> the submodule defining it; submodules are imported on first use (validating a
#: curriculum file needs no consent, params or provenance models built)
_WHERE = {
    "ConsentCondition": "consent", "ConsentRecord": "consent", "Decision": "consent",
    "PROVENANCE_FIELDS": "curriculum", "CurriculumExample": "curriculum", "ExampleMetadata": "curriculum",
    "Message": "curriculum",
    "Params": "params", "Substrate": "params", "StudyCondition": "params",
    "AdapterProvenance": "provenance", "Provenance": "provenance",
    "ReviewRecord": "review",
    "Amendment": "prereg", "PreregLock": "prereg",
    "Stimulus": "stimuli",
}


def __getattr__(name: str):
    if name == "MODELS":
        #: schema name -> model; ``schemas/<name>.schema.json`` is exported for each
        models = {
            "curriculum-example": __getattr__("CurriculumExample"),
            "consent-record": __getattr__("ConsentRecord"),
            "stimulus": __getattr__("Stimulus"),
            "params": __getattr__("Params"),
            "adapter-provenance": __getattr__("AdapterProvenance"),
            "review-record": __getattr__("ReviewRecord"),
            "amendment": __getattr__("Amendment"),
            "prereg-lock": __getattr__("PreregLock"),
        }
        globals()["MODELS"] = models
        return models
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{where}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "MODELS",
    "AdapterProvenance",
    "ConsentCondition",
    "ConsentRecord",
    "CurriculumExample",
    "Decision",
    "ExampleMetadata",
    "Message",
    "PROVENANCE_FIELDS",
    "Params",
    "Provenance",
    "ReviewRecord",
    "Stimulus",
    "StudyCondition",
    "Substrate",
]
