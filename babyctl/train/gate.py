"""The consent gate a training run passes before it loads any weights.

Coverage itself is decided in :mod:`babyctl.consent` (shared with audit and publish); this
module only asks it the training question. There is deliberately no way to skip the gate.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..consent import LoadedConsent, load_consent, require
from ..schemas.params import Substrate


def check_training_consent(root: Path, substrate_key: str, substrate: Substrate, condition: str,
                           at: dt.datetime) -> LoadedConsent:
    """Load the substrate's consent record and require it to cover fine-tuning on ``condition``.

    ``at`` is the run's start time: consent (asking and coding) must predate it.
    Raises :class:`~babyctl.errors.GateRefused` naming the record's id and every reason.
    """
    loaded = load_consent(root / substrate.consent_record)
    require(loaded, substrate=substrate_key, purpose="fine_tuning", condition=condition, at=at)
    return loaded
