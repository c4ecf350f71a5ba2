"""Provenance records: what made an artifact.

Every artifact babyctl writes carries (or sits beside) one of these. The
adapter provenance is the contract between ``train`` (writer), ``audit`` and
``publish`` (readers).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ._base import Sha256Hex


class P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GitState(P):
    commit: str | None = Field(description="HEAD commit, None outside a git repo")
    dirty: bool | None


class FileHash(P):
    path: str
    sha256: Sha256Hex
    md5: str | None = None
    size: int | None = None


class Provenance(P):
    """Common part: tool, time, git, library versions, inputs."""

    tool: Literal["babyctl"] = "babyctl"
    tool_version: str
    command: str = Field(description="The babyctl command that wrote the artifact")
    created_at: AwareDatetime = Field(description="UTC")
    git: GitState
    libraries: dict[str, str] = Field(default_factory=dict)
    inputs: list[FileHash] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict, description="The params actually used")
    seed: int | None = None


class BaseModelRef(P):
    substrate: str
    hub_id: str | None = None
    revision: str | None = None
    local_path: str | None = None
    weights_sha256: Sha256Hex | None = Field(default=None, description="For local weights")


class ConsentRef(P):
    id: str
    path: str
    sha256: Sha256Hex
    decision: str
    named: str | None = Field(default=None, description="The record params names (any record of the chain)")
    chain: list[str] = Field(default_factory=list, description="The consent chain, oldest first; the last governs")


class AdapterProvenance(Provenance):
    kind: Literal["adapter"] = "adapter"
    substrate: str
    condition: str
    base_model: BaseModelRef
    dataset: FileHash = Field(description="The build output trained on")
    consent: ConsentRef
    backend: Literal["hf", "unsloth"]
    device: str
    started_at: AwareDatetime
    ended_at: AwareDatetime
    adapter_files: list[FileHash] = Field(default_factory=list)
