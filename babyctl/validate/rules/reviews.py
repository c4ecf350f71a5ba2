"""BC5xx for publication reviews (``reviews/*.json``): schema, and what the review points at.

A review names a consent record by id and one of its conditions; that condition must
be of kind ``review_before_publication`` (the only kind a review satisfies):

* BC510 -- ``consent_record`` names no record in the consent folder;
* BC511 -- the record has no condition with that id;
* BC512 -- the condition exists but is of another kind.

Consent records are looked up by id among those this run already checked and, for the
rest, by parsing the consent folder quietly (their own findings belong to their own files).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ...schemas.consent import ConsentRecord
from ...schemas.review import ReviewRecord

if TYPE_CHECKING:
    from ..engine import Run
    from ..loader import Source

REVIEW_KIND = "review_before_publication"


def check_reference(review: ReviewRecord, records: dict[str, ConsentRecord]) -> list[tuple[tuple, str, str]]:
    """``(loc, code, message)`` for what ``review`` references, given consent records by id."""
    record = records.get(review.consent_record)
    if record is None:
        known = ", ".join(sorted(records)) or "none"
        return [(("consent_record",), "BC510",
                 f"consent_record {review.consent_record!r} names no consent record (known ids: {known})")]
    cond = next((c for c in record.conditions if c.id == review.condition), None)
    if cond is None:
        ids = ", ".join(c.id for c in record.conditions) or "none"
        return [(("condition",), "BC511",
                 f"consent record {record.id!r} has no condition {review.condition!r} (its conditions: {ids})")]
    if cond.kind != REVIEW_KIND:
        return [(("condition",), "BC512",
                 f"condition {cond.id!r} of {record.id!r} is of kind {cond.kind!r}; a review can only satisfy a "
                 f"{REVIEW_KIND!r} condition")]
    return []


def consent_index(run: "Run") -> dict[str, ConsentRecord]:
    """Consent records by id: those ``run`` checked, plus the consent folder's (parsed once, quietly)."""
    index: dict[str, ConsentRecord] | None = getattr(run, "_consent_by_id", None)
    if index is not None:
        return index
    index = {}
    for _, rec in run.consents.values():
        if rec is not None:
            index.setdefault(rec.id, rec)
    folder = run.root / (run.params.consent_dir if run.params is not None else "consent_records")
    if folder.is_dir():
        from ..kinds import walk

        for path in walk(folder):
            if path.suffix != ".json" or Path(os.path.abspath(path)) in run.consents:
                continue
            try:
                rec = ConsentRecord.model_validate_json(path.read_bytes())
            except (ValueError, OSError):  # pydantic's ValidationError is a ValueError
                continue
            index.setdefault(rec.id, rec)
    run._consent_by_id = index
    return index


def check_review_source(run: "Run", src: "Source") -> ReviewRecord | None:
    """Validate one review file (BC102 located by line) and its references (BC510-BC512)."""
    from .schema import validate_json_text

    if not (src.decodable and src.data is not None and src.data.strip()):
        return None
    review, problems = validate_json_text(src.text(), ReviewRecord)
    for line, col, code, msg in problems:
        run.add(src.display, line, col, code, msg)
    if review is None:
        return None
    for loc, code, msg in check_reference(review, consent_index(run)):
        run.locate_add(src, loc, code, msg)
    return review
