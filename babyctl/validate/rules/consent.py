"""BC5xx: consent records referenced by params exist, are coded and cover what is active; the
references of publication reviews (BC510-BC512).

Coverage is decided by :func:`babyctl.consent.refusals` (the one place that
decides it), so validate warns early about what the train gate would refuse.
"""
from __future__ import annotations

from pathlib import Path

from ...consent import refusals
from ...fsutil import sha256_file
from ...schemas.consent import ConsentRecord
from ...schemas.review import ReviewRecord
from ..example import Hit

REVIEW_KIND = "review_before_publication"


def check_brief(record: ConsentRecord, root: Path) -> list[Hit]:
    """BC506/BC507 for one record; ``brief_file`` is relative to the experiment root."""
    brief = Path(record.protocol.brief_file)
    path = brief if brief.is_absolute() else root / brief
    if not path.is_file():
        return [Hit("BC507", ("protocol", "brief_file"),
                 f"brief file {record.protocol.brief_file!r} not found (relative to {root}); its hash cannot be checked")]
    actual = sha256_file(path)
    if actual != record.protocol.brief_sha256:
        return [Hit("BC506", ("protocol", "brief_sha256"),
                 f"brief_sha256 does not match {record.protocol.brief_file} (file has {actual[:12]}..., record says "
                 f"{record.protocol.brief_sha256[:12]}...)")]
    return []


def check_reference(key: str, record: ConsentRecord, *, active: bool, conditions: list[str]) -> list[Hit]:
    """Hits for the record that params' substrate ``key`` references (located in the record)."""
    hits = []
    if record.substrate != key:
        hits.append(Hit("BC505", ("substrate",),
                     f"record is for substrate {record.substrate!r} but params substrate {key!r} references it"))
    if record.coding.decision == "uncoded":
        code = "BC503" if active else "BC504"
        state = "active" if active else "inactive"
        hits.append(Hit(code, ("coding", "decision"),
                     f"consent for {state} substrate {key!r} is uncoded: a human must code the responses first"))
    if active:
        reasons = set()
        for cond in conditions or [None]:
            for r in refusals(record, substrate=record.substrate, purpose="fine_tuning", condition=cond):
                if "uncoded" not in r:
                    reasons.add(r)
        for r in sorted(reasons):
            hits.append(Hit("BC508", ("consents_to",), f"active substrate {key!r}: {r}"))
    return hits


def check_supersedes(record: ConsentRecord, ids: set[str]) -> list[Hit]:
    """BC509 when ``record.supersedes`` names no record id in ``ids`` (the records checked)."""
    if record.supersedes and record.supersedes not in ids:
        return [Hit("BC509", ("supersedes",), f"supersedes {record.supersedes!r}, which no record here has as id")]
    return []


def check_chain_head(key: str, record: ConsentRecord, index: dict[str, ConsentRecord], *, active: bool,
                     conditions: list[str]) -> list[Hit]:
    """BC508 when a newer record supersedes the one params names and refuses what is active.

    The head of the chain governs (:mod:`babyctl.consent`): a withdrawal or a ``no`` recorded as a
    new record stops every gate, so validate says so at the record params names.
    """
    if not active:
        return []
    successors: dict[str, list[ConsentRecord]] = {}
    for rec in index.values():
        if rec.supersedes:
            successors.setdefault(rec.supersedes, []).append(rec)
    head, seen = record, {record.id}
    while len(successors.get(head.id, [])) == 1 and successors[head.id][0].id not in seen:
        head = successors[head.id][0]
        seen.add(head.id)
    if head.id == record.id:
        return []
    reasons = set()
    for cond in conditions or [None]:
        reasons.update(refusals(head, substrate=key, purpose="fine_tuning", condition=cond))
    return [Hit("BC508", ("id",), f"active substrate {key!r}: params names {record.id!r}, but {head.id!r} "
                f"supersedes it and governs: {r}") for r in sorted(reasons)]


def check_review(review: ReviewRecord, records: dict[str, ConsentRecord]) -> list[Hit]:
    """Hits (located in the review) for the consent record and condition ``review`` names, given
    consent records by id; the condition must be of kind ``review_before_publication`` (the only
    kind a review satisfies)."""
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
