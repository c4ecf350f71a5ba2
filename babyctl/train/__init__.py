"""LoRA training (``babyctl train``): data, consent gate, backends, orchestration.

Modules, in the order a run uses them: :mod:`.run` (orchestrates), :mod:`.gate` (consent),
:mod:`.select` (backend choice), :mod:`.data` (chat-template rendering, assistant-only labels),
:mod:`.backends` (``hf``: transformers + peft + trl; ``unsloth``: GPU), :mod:`.progress`.
Importing this package imports nothing heavy.
"""
from __future__ import annotations

__all__ = ["train"]


def train(*args, **kwargs):
    """See :func:`babyctl.train.run.train`."""
    from .run import train as _train

    return _train(*args, **kwargs)
