"""The consent gate a training run passes before it loads any weights.

Coverage itself is decided in :mod:`babyctl.consent` (shared with audit and publish); this
module only asks it the training question. There is deliberately no way to skip the gate.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..consent import Chain, gate
from ..schemas.params import Substrate


def check_training_consent(root: Path, substrate_key: str, substrate: Substrate, condition: str,
                           at: dt.datetime) -> Chain:
    """Require the head of the substrate's consent chain to cover fine-tuning on ``condition``.

    ``at`` is the run's start time: consent (asking and coding) must predate it. The weights
    (hub id + revision) must be those the record was asked of, or a consent_transfer says why;
    the brief must still match its hash. Raises :class:`~babyctl.errors.GateRefused` naming the
    record's id and every reason. Returns the chain (``.head`` governs).
    """
    return gate(root, substrate_key, substrate, purpose="fine_tuning", condition=condition, at=at)
