"""Shared pydantic building blocks."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
GitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]


def _no_bool(value):
    if isinstance(value, bool):  # True == 1 in Python: a Literal[1] alone accepts it, even in strict mode
        raise ValueError("must be the integer 1, not a boolean")
    return value


#: a document format's version: the integer 1 (JSON Schema: const 1), never ``true``
SchemaVersion1 = Annotated[Literal[1], BeforeValidator(_no_bool)]


class Strict(BaseModel):
    """Unknown keys are errors; types are not coerced (``"3"`` is not an int)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Open(BaseModel):
    """Unknown keys are kept (metadata may carry more than the model names)."""

    model_config = ConfigDict(extra="allow", strict=True)
