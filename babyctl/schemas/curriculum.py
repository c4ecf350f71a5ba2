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

from ._base import Open, Slug, Strict

Role = Literal["system", "user", "assistant"]

#: metadata fields whose absence is a provenance warning (params can make it an error)
PROVENANCE_FIELDS = ("id", "module", "author", "source", "created")


class Message(Strict):
    role: Role
    content: str


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


class CurriculumExample(Strict):
    messages: list[Message] = Field(min_length=1)
    metadata: ExampleMetadata | None = None
