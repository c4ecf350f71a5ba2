"""Evaluation stimuli. A bank is ``stimuli/<bank>.jsonl``, one :class:`Stimulus` a line."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import NonEmptyStr, Slug, Strict


class Stimulus(Strict):
    id: Slug = Field(description="Unique across all banks")
    bank: Slug = Field(description="Bank name; equals the file's stem")
    sub_category: str
    prompt: NonEmptyStr
    trap: str | None = Field(default=None, description="What a careful answer must notice")
    difficulty: Literal["easy", "medium", "hard"]
