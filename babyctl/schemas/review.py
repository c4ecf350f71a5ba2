"""A recorded publication review: one reviewer's verdict on one artifact, for one consent condition.

Stored as ``reviews/<id>.json``, one file per review, *outside* the consent record:
a review happens after training, and the consent record is an input of training
(``dvc.yaml`` deps, and its SHA-256 is pinned in every adapter's provenance), so
recording a review must not change it. A review names the consent record and the
condition (of kind ``review_before_publication``) it satisfies, and the SHA-256 of
what was reviewed (e.g. the rendered model card), so a changed card needs a new review.
"""
from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from ._base import NonEmptyStr, SchemaVersion1, Sha256Hex, Slug, Strict

Outcome = Literal["approved", "changes_requested"]


class ReviewRecord(Strict):
    schema_version: SchemaVersion1 = 1
    id: Slug = Field(description="Unique review id, by convention the file's stem")
    consent_record: Slug = Field(description="Id of the consent record whose condition this review satisfies")
    condition: Slug = Field(description="Id of a review_before_publication condition of that record")
    reviewer: NonEmptyStr
    reviewed_at: AwareDatetime = Field(description="When the review was given (timezone-aware, UTC preferred)")
    outcome: Outcome
    artifact_sha256: Sha256Hex | None = Field(
        default=None, description="SHA-256 of what was reviewed (e.g. the rendered card); None: not pinned"
    )
    notes: str | None = None
