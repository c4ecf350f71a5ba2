"""Pydantic models: the single source of truth for babyctl's data.

``schemas/*.schema.json`` at the repository root are exported from these by
``babyctl schema export`` (see :mod:`babyctl.schemas.export`).
"""
from .consent import Condition, ConsentRecord, Decision
from .curriculum import PROVENANCE_FIELDS, CurriculumExample, ExampleMetadata, Message
from .params import Params, Substrate
from .provenance import AdapterProvenance, Provenance
from .review import ReviewRecord
from .stimuli import Stimulus

#: schema name -> model; ``schemas/<name>.schema.json`` is exported for each
MODELS = {
    "curriculum-example": CurriculumExample,
    "consent-record": ConsentRecord,
    "stimulus": Stimulus,
    "params": Params,
    "adapter-provenance": AdapterProvenance,
    "review-record": ReviewRecord,
}

__all__ = [
    "MODELS",
    "AdapterProvenance",
    "Condition",
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
    "Substrate",
]
