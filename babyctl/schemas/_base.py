"""Shared pydantic building blocks."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
GitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]


class Strict(BaseModel):
    """Unknown keys are errors; types are not coerced (``"3"`` is not an int)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Open(BaseModel):
    """Unknown keys are kept (metadata may carry more than the model names)."""

    model_config = ConfigDict(extra="allow", strict=True)
