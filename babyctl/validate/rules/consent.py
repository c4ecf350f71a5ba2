"""BC5xx: consent records referenced by params exist, are coded and cover what is active.

Coverage is decided by :func:`babyctl.consent.refusals` (the one place that
decides it), so validate warns early about what the train gate would refuse.
"""
from __future__ import annotations

from pathlib import Path

from ...consent import refusals
from ...fsutil import sha256_file
from ...schemas.consent import ConsentRecord


def check_brief(record: ConsentRecord, root: Path) -> list[tuple[tuple, str, str]]:
    """BC506/BC507 for one record; ``brief_file`` is relative to the experiment root."""
    brief = Path(record.protocol.brief_file)
    path = brief if brief.is_absolute() else root / brief
    if not path.is_file():
        return [(("protocol", "brief_file"), "BC507",
                 f"brief file {record.protocol.brief_file!r} not found (relative to {root}); its hash cannot be checked")]
    actual = sha256_file(path)
    if actual != record.protocol.brief_sha256:
        return [(("protocol", "brief_sha256"), "BC506",
                 f"brief_sha256 does not match {record.protocol.brief_file} (file has {actual[:12]}..., record says "
                 f"{record.protocol.brief_sha256[:12]}...)")]
    return []


def check_reference(key: str, record: ConsentRecord, *, active: bool, conditions: list[str]) -> list[tuple[tuple, str, str]]:
    """Hits for the record that params' substrate ``key`` references (located in the record)."""
    hits = []
    if record.substrate != key:
        hits.append((("substrate",), "BC505",
                     f"record is for substrate {record.substrate!r} but params substrate {key!r} references it"))
    if record.coding.decision == "uncoded":
        code = "BC503" if active else "BC504"
        state = "active" if active else "inactive"
        hits.append((("coding", "decision"), code,
                     f"consent for {state} substrate {key!r} is uncoded: a human must code the responses first"))
    if active:
        reasons = set()
        for cond in conditions or [None]:
            for r in refusals(record, substrate=record.substrate, purpose="fine_tuning", condition=cond):
                if "uncoded" not in r:
                    reasons.add(r)
        for r in sorted(reasons):
            hits.append((("consents_to",), "BC508", f"active substrate {key!r}: {r}"))
    return hits


def check_supersedes(records: dict[str, tuple[str, ConsentRecord]]) -> list[tuple[str, tuple, str, str]]:
    """BC509 for each record whose ``supersedes`` names no record id in the set."""
    out = []
    for display, rec in records.values():
        if rec.supersedes and rec.supersedes not in records:
            out.append((display, ("supersedes",), "BC509", f"supersedes {rec.supersedes!r}, which no record here has as id"))
    return out
