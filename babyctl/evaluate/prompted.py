"""Prompted-only arms: a condition of ``kind: prompted`` trains nothing.

Its eval run (``eval/<S>/<C>/``) is the base model with the condition's system prompt (the text
of ``system_prompt_file``, relative to the experiment root) put before every stimulus. It is an
arm like any other in the report's contrasts: the same content given as a system prompt to the
untrained model, against the same content trained in. Consent: nothing is fine-tuned, so the
substrate's record must cover *evaluation* (as for the baseline); its list of consented
curricula is about fine-tuning and is not asked.
"""
from __future__ import annotations

from pathlib import Path

from ..documents import read_text
from ..errors import InputError
from ..schemas.params import Params
from .runs import RunSpec


def system_prompt(params: Params, run: RunSpec, root: Path) -> tuple[str | None, Path | None]:
    """(text, file) of a prompted run's system prompt; (None, None) for any other run."""
    if not run.is_prompted:
        return None, None
    rel = params.conditions[str(run.condition)].system_prompt_file
    path = Path(root) / str(rel)
    text = read_text(path, f"system prompt of condition {run.condition!r}").strip()
    if not text:
        raise InputError(f"system prompt of condition {run.condition!r} is empty", path=path)
    return text, path


def consent_condition(run: RunSpec) -> str | None:
    """The condition to ask the consent record about for an eval run (None: evaluation alone)."""
    return None if run.is_prompted else run.condition
