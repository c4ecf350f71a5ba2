"""One line of a curriculum JSONL file: a TRL *conversational* example.

    {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...],
     "metadata": {"id": "...", "module": "...", "author": "...", "source": "...",
                  "created": "YYYY-MM-DD", "tags": [...], "lint_ignore": ["BC201"]}}

Shape only: turn order, phrasing and provenance completeness are rules in
:mod:`babyctl.validate`, so that they can be reported (and silenced) one by one.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from ._base import NonEmptyStr, Open, Sha256Hex, Slug, Strict

Role = Literal["system", "user", "assistant"]

#: metadata fields whose absence is a provenance warning (params can make it an error)
PROVENANCE_FIELDS = ("id", "module", "author", "source", "created")


class Message(Strict):
    role: Role
    content: str


class GeneratorSampling(Open):
    """Sampling settings of a generated example (other keys the generator used are kept)."""

    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    seed: int | None = None


class Generator(Strict):
    """Who generated an example: the model (id + pinned revision), its system prompt (or the prompt's
    sha256 when the text is not to be published), sampling settings and the date. With
    ``metadata.source: generated``, validate requires model, revision, a system prompt or its hash,
    sampling and date (rule BC107)."""

    model: NonEmptyStr = Field(description="Model id, e.g. an API model snapshot or a Hub id")
    revision: NonEmptyStr | None = Field(default=None, description="Pinned revision / dated snapshot")
    system_prompt: str | None = Field(default=None, description="The system prompt used")
    system_prompt_sha256: Sha256Hex | None = Field(default=None, description="sha256 of the system prompt "
                                                   "(UTF-8), when the text itself is not recorded")
    sampling: GeneratorSampling | None = None
    date: dt.date | None = Field(default=None, description="When it was generated (ISO 8601)")


class ExampleMetadata(Open):
    id: Slug | None = Field(default=None, description="Stable id, unique across the curriculum")
    module: str | None = Field(default=None, description="Curriculum module, e.g. 'self-worth'")
    author: str | None = None
    source: str | None = Field(default=None, description="Where the example came from")
    created: dt.date | None = Field(default=None, description="Creation date (ISO 8601)")
    tags: list[str] = Field(default_factory=list)
    lint_ignore: list[str] = Field(
        default_factory=list, description="Rule codes deliberately silenced for this example"
    )
    generator: Generator | None = Field(default=None, description="For source: generated -- what made it")


class CurriculumExample(Strict):
    messages: list[Message] = Field(min_length=1)
    metadata: ExampleMetadata | None = None
