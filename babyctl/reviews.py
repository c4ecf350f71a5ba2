"""Read publication reviews (``reviews/*.json``, one :class:`ReviewRecord` per file).

Reviews live outside the consent records on purpose: the consent record is an input
of training (a DVC dependency, its SHA-256 pinned in adapter provenance), and a review
is recorded after training -- keeping it separate means recording one does not make
training stale. ``publish`` asks :func:`reviews_for` which reviews satisfy a
``review_before_publication`` condition; ``validate`` checks each file (BC102, BC510-BC512).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .documents import parse_json_model, read_bytes
from .fsutil import sha256_bytes
from .schemas.review import ReviewRecord


@dataclass(frozen=True)
class LoadedReview:
    record: ReviewRecord
    path: Path
    sha256: str


def load_review(path: str | Path) -> LoadedReview:
    """Parse and validate one review file; errors name the file and line."""
    path = Path(path)
    raw = read_bytes(path, "review record")
    record = parse_json_model(raw, ReviewRecord, path, "review record",
                              hint=f" (run: babyctl validate {path})")
    return LoadedReview(record=record, path=path, sha256=sha256_bytes(raw))


def load_reviews(folder: str | Path) -> list[LoadedReview]:
    """Every ``*.json`` review directly under ``folder`` (sorted by name); none if the folder is absent."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [load_review(p) for p in sorted(folder.glob("*.json")) if p.is_file()]


def reviews_for(reviews: list[LoadedReview], consent_id: str, condition: str) -> list[LoadedReview]:
    """The reviews recorded for ``condition`` of consent record ``consent_id``."""
    return [r for r in reviews if r.record.consent_record == consent_id and r.record.condition == condition]
