"""BC510-BC512 for publication reviews (``reviews/*.json``): the consent record and condition a
review names exist, and the condition is of kind ``review_before_publication`` (the only kind a
review satisfies)."""
from __future__ import annotations

from ...schemas.consent import ConsentRecord
from ...schemas.review import ReviewRecord
from ..example import Hit

REVIEW_KIND = "review_before_publication"


def check_reference(review: ReviewRecord, records: dict[str, ConsentRecord]) -> list[Hit]:
    """Hits (located in the review) for what ``review`` references, given consent records by id."""
    record = records.get(review.consent_record)
    if record is None:
        known = ", ".join(sorted(records)) or "none"
        return [Hit("BC510", ("consent_record",),
                 f"consent_record {review.consent_record!r} names no consent record (known ids: {known})")]
    cond = next((c for c in record.conditions if c.id == review.condition), None)
    if cond is None:
        ids = ", ".join(c.id for c in record.conditions) or "none"
        return [Hit("BC511", ("condition",),
                 f"consent record {record.id!r} has no condition {review.condition!r} (its conditions: {ids})")]
    if cond.kind != REVIEW_KIND:
        return [Hit("BC512", ("condition",),
                 f"condition {cond.id!r} of {record.id!r} is of kind {cond.kind!r}; a review can only satisfy a "
                 f"{REVIEW_KIND!r} condition")]
    return []
