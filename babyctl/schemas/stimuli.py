"""Evaluation stimuli. A bank is ``stimuli/<bank>.jsonl``, one :class:`Stimulus` a line.

A stimulus is one user turn (``prompt``), optionally preceded by a ``system`` prompt and prior
``turns`` (user and assistant, alternating, starting with user and ending with assistant), and
optionally followed by an assistant ``prefill`` that the model continues. The conversation is
rendered with each substrate's own chat template (:func:`babyctl.evaluate.stimuli.render_prompt`).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ._base import NonEmptyStr, Slug, Strict


class Turn(Strict):
    """One prior turn of a multi-turn stimulus."""

    role: Literal["user", "assistant"]
    content: NonEmptyStr


class Stimulus(Strict):
    id: Slug = Field(description="Unique across all banks")
    bank: Slug = Field(description="Bank name; equals the file's stem")
    sub_category: str
    prompt: NonEmptyStr = Field(description="The final user turn, the one the model answers")
    trap: str | None = Field(default=None, description="What a careful answer must notice")
    difficulty: Literal["easy", "medium", "hard"]
    system: NonEmptyStr | None = Field(default=None, description="System prompt (e.g. a persona the "
                                       "stimulus tests); rendered by the substrate's chat template")
    turns: list[Turn] = Field(default_factory=list, description="Prior turns before `prompt`: user and "
                              "assistant alternating, starting with user, ending with assistant")
    prefill: NonEmptyStr | None = Field(default=None, description="Start of the assistant's answer; the "
                                        "model continues it (a prefill attack)")

    @model_validator(mode="after")
    def _alternating(self) -> "Stimulus":
        for i, turn in enumerate(self.turns):
            want = "user" if i % 2 == 0 else "assistant"
            if turn.role != want:
                raise ValueError(f"turns[{i}] is {turn.role!r}, expected {want!r}: prior turns alternate "
                                 "user/assistant from a user turn")
        if self.turns and self.turns[-1].role != "assistant":
            raise ValueError("the last prior turn must be the assistant's: `prompt` is the next user turn")
        return self
