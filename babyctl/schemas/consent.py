"""A structured informed-consent record: one ask of one substrate.

Stored as ``consent_records/<id>.json``. The verbatim responses are data; the
*coding* (decision, conditions, scope) is a human's reading of them, recorded
with who coded it and when. A re-ask is a new record that ``supersedes`` the old.
"""
from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ._base import NonEmptyStr, SchemaVersion1, Sha256Hex, Slug, Strict

#: ``withdrawn``: the participant withdrew an earlier consent (``coding.withdrawn_at`` says when);
#: a withdrawal is a record of its own that ``supersedes`` the record it withdraws.
Decision = Literal["yes", "no", "conditional", "unclear", "uncoded", "withdrawn"]

#: Machine-checkable kinds of condition. ``other`` conditions are shown, not enforced.
ConditionKind = Literal[
    "no_improvement_framing",  # reports and cards must describe differences, never improvement
    "review_before_publication",  # an approved review (reviews/*.json) must exist before publishing
    "non_metaphor_section",  # results for this substrate get a literal, non-metaphorical section
    "credit",  # participant credit must appear in the paper and card
    "other",
]
ConditionScope = Literal["study", "substrate", "training", "evaluation", "publication", "report"]


class Sampling(Strict):
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    seeds: list[int] = Field(default_factory=list)


class Protocol(Strict):
    brief_file: NonEmptyStr = Field(description="Path of the protocol brief shown to the model")
    brief_sha256: Sha256Hex
    framing: NonEmptyStr = Field(description='e.g. "parenting" or "technical"')
    chat_template: str | None = None
    sampling: Sampling = Field(default_factory=Sampling)


class Response(Strict):
    prompt: Literal["brief", "followup"] = "brief"
    seed: int | None = None
    text: str = Field(description="The model's answer, verbatim")
    verbatim: bool = Field(
        default=True, description="False when text is a paraphrase (illustrative records)"
    )


class Coding(Strict):
    decision: Decision
    coded_by: str | None = None
    coded_at: AwareDatetime | None = None
    rationale: str | None = None
    withdrawn_at: AwareDatetime | None = Field(
        default=None, description="When consent was withdrawn (only with decision withdrawn)")

    @model_validator(mode="after")
    def _coded_needs_coder(self) -> "Coding":
        if self.decision != "uncoded" and (not self.coded_by or self.coded_at is None):
            raise ValueError("a coded decision needs coded_by and coded_at")
        if (self.decision == "withdrawn") != (self.withdrawn_at is not None):
            raise ValueError("decision withdrawn needs withdrawn_at (and withdrawn_at needs decision withdrawn)")
        return self


class ConsentCondition(Strict):
    """A condition the participant attached to their consent (not a study condition of params.yaml)."""

    id: Slug
    text: NonEmptyStr
    kind: ConditionKind = "other"
    scope: ConditionScope




class Consented(Strict):
    """What the participant agreed to."""

    fine_tuning: bool = False
    evaluation: bool = False
    publication: bool = False
    conditions: list[str] = Field(
        default_factory=list,
        description='Experiment conditions (curricula) covered; ["*"] means all',
    )


class ConsentRecord(Strict):
    schema_version: SchemaVersion1 = 1
    id: Slug
    substrate: Slug = Field(description="Substrate key in params.yaml")
    model_id: NonEmptyStr = Field(description="Hub model id, or a local name for local weights")
    revision: str | None = Field(default=None, description="Pinned Hub commit (40 hex)")
    asker: NonEmptyStr
    asked_at: AwareDatetime
    protocol: Protocol
    responses: list[Response] = Field(min_length=1)
    coding: Coding
    conditions: list[ConsentCondition] = Field(default_factory=list)
    consents_to: Consented = Field(default_factory=Consented)
    participant_credit: str | None = None
    supersedes: Slug | None = None
    notes: str | None = None


TransferKind = Literal["same_weights_other_format", "quantized", "revision_update", "merged", "other"]


class ConsentTransfer(BaseModel):
    """Why a consent record asked of one model covers other weights (``substrates.<key>.consent_transfer``).

    Without one, training or evaluating weights other than the record's ``model_id`` (and
    ``revision``, when the record pins one) is refused. The transfer is shown in the report and card.
    """

    model_config = ConfigDict(extra="forbid")  # read from params.yaml: YAML gives dates as text or datetime

    record: Slug = Field(description="Id of the consent record (any record of its chain) being transferred")
    from_model: NonEmptyStr = Field(description="The record's model_id")
    from_revision: str | None = None
    to_model: NonEmptyStr = Field(description="The weights actually used: hub id or local name")
    to_revision: str | None = None
    kind: TransferKind
    reason: NonEmptyStr
    decided_by: NonEmptyStr
    decided_at: AwareDatetime
