"""The pre-registration lock (``preregistration/lock.json``) and its amendments (``amendments/*.json``).

The lock pins SHA-256s of what the study committed to before seeing results: the hypotheses
text, ``analysis``, the training and eval params, the judge panel, the active substrates with
their pinned revisions, the active conditions and the stimulus banks. An amendment records one
deviation from it: which lock item changed, to which state (its SHA-256 now), what changed, why,
when and who decided. An amendment explains a deviation only while the item is still in the state
it names, so a later edit is a new, unexplained deviation.
"""
from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from ._base import NonEmptyStr, SchemaVersion1, Sha256Hex, Slug, Strict


class LockItem(Strict):
    sha256: Sha256Hex
    value: Any = Field(default=None, description="The locked params (JSON) for params items; None for files")


class PreregLock(Strict):
    schema_version: SchemaVersion1 = 1
    locked_at: AwareDatetime
    git_commit: str | None = None
    babyctl_version: str
    items: dict[str, LockItem] = Field(description="item name (e.g. eval, stimuli/fawning.jsonl) -> state")
    digest: Sha256Hex = Field(description="SHA-256 of the canonical JSON of items (detects hand edits)")


class Amendment(Strict):
    schema_version: SchemaVersion1 = 1
    id: Slug = Field(description="Unique amendment id, by convention the file's stem")
    item: NonEmptyStr = Field(description="The lock item that deviates (see `babyctl prereg status`)")
    sha256: Sha256Hex | None = Field(description="The item's state this amendment explains (None: removed)")
    changed: NonEmptyStr = Field(description="What changed")
    reason: NonEmptyStr = Field(description="Why")
    decided_at: AwareDatetime
    decided_by: NonEmptyStr
