"""Read consent records and decide what they cover.

One place decides consent coverage, so that ``train`` (gate before a run),
``audit`` (check after the fact) and ``publish`` (gate before a release) agree.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .documents import parse_json_model, read_bytes
from .errors import GateRefused
from .fsutil import sha256_bytes
from .schemas.consent import ConsentRecord

Purpose = Literal["fine_tuning", "evaluation", "publication"]


@dataclass(frozen=True)
class LoadedConsent:
    record: ConsentRecord
    path: Path
    sha256: str


def load_consent(path: str | Path) -> LoadedConsent:
    """Parse and validate a consent record file; errors name the file and line."""
    path = Path(path)
    raw = read_bytes(path, "consent record")
    record = parse_json_model(raw, ConsentRecord, path, "consent record")
    return LoadedConsent(record=record, path=path, sha256=sha256_bytes(raw))


def refusals(
    record: ConsentRecord,
    *,
    substrate: str,
    purpose: Purpose,
    condition: str | None = None,
    at: dt.datetime | None = None,
) -> list[str]:
    """Every reason the record does not cover ``purpose`` (empty list: covered).

    ``at`` is when the action happens (a training run's start); consent must
    predate it.
    """
    reasons: list[str] = []
    decision = record.coding.decision
    if record.substrate != substrate:
        reasons.append(f"record is for substrate {record.substrate!r}, not {substrate!r}")
    if decision == "uncoded":
        reasons.append("consent is uncoded: a human must code the responses first")
    elif decision in ("no", "unclear"):
        reasons.append(f"consent decision is {decision!r}")
    if not getattr(record.consents_to, purpose):
        reasons.append(f"record does not consent to {purpose.replace('_', ' ')}")
    if condition is not None:
        covered = record.consents_to.conditions
        if "*" not in covered and condition not in covered:
            reasons.append(f"condition {condition!r} is not among the consented conditions {covered}")
    if at is not None and record.asked_at >= at:
        reasons.append(f"consent (asked {record.asked_at.isoformat()}) does not predate {at.isoformat()}")
    if at is not None and record.coding.coded_at is not None and record.coding.coded_at >= at:
        reasons.append(f"consent was coded ({record.coding.coded_at.isoformat()}) after {at.isoformat()}")
    return reasons


def require(loaded: LoadedConsent, **kwargs) -> None:
    """Raise :class:`GateRefused` naming the record and every reason, if not covered."""
    reasons = refusals(loaded.record, **kwargs)
    if reasons:
        raise GateRefused(
            f"consent record {loaded.record.id!r} refuses {kwargs.get('purpose')}: " + "; ".join(reasons),
            path=loaded.path,
        )
