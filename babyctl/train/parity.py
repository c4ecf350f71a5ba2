"""Template and tokenizer parity between training and evaluation.

Train provenance records, for the tokenizer *as loaded* (after any backend rewrote its template):

* ``tokenizer_files``: sha256 of each file ``save_pretrained`` writes for it;
* ``chat_template_sha256``: sha256 of the template source;
* ``rendered_sha256``: sha256 of a fixed probe conversation rendered with it (with and without
  the generation prompt) -- what the model actually sees, whatever the template's spelling.

Eval computes the same fingerprint from its own tokenizer and refuses an adapter whose rendered
template differs, unless ``eval.allow_template_mismatch`` is set (then the mismatch is recorded).
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from ..errors import IntegrityError

#: the probe conversation (system, user, assistant, user): every role the curriculum uses
PROBE = [
    {"role": "system", "content": "System probe."},
    {"role": "user", "content": "User probe one."},
    {"role": "assistant", "content": "Assistant probe."},
    {"role": "user", "content": "User probe two."},
]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rendered_template_sha256(tokenizer) -> str:
    """sha256 of the probe rendered as text, then as the generation prompt, then its token ids."""
    a = tokenizer.apply_chat_template(PROBE[:3], tokenize=False)
    b = tokenizer.apply_chat_template(PROBE, tokenize=False, add_generation_prompt=True)
    ids = tokenizer.apply_chat_template(PROBE, tokenize=True, add_generation_prompt=True, return_dict=True)
    return _sha(f"{a}\x00{b}\x00{list(ids['input_ids'])}")


def fingerprint(tokenizer, *, files: bool = True) -> dict:
    """The tokenizer's parity record (see the module docstring)."""
    out = {"chat_template_sha256": _sha(str(tokenizer.chat_template or "")),
           "rendered_sha256": rendered_template_sha256(tokenizer),
           "bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token}
    if files:
        with tempfile.TemporaryDirectory(prefix="babyctl-tok-") as d:
            tokenizer.save_pretrained(d)
            out["tokenizer_files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                      for p in sorted(Path(d).iterdir()) if p.is_file()}
    return out


def check(trained: dict | None, current: dict, *, allow_mismatch: bool, where=None) -> dict:
    """Compare a train-time record with eval's; returns what to record, raises on a mismatch."""
    if not trained or "rendered_sha256" not in trained:
        return {"template_check": "no template hash in the adapter's provenance (trained before parity)"}
    if trained["rendered_sha256"] == current["rendered_sha256"]:
        return {"template_check": "match"}
    msg = (f"chat template differs from the one the adapter was trained with (rendered sha256 "
           f"{current['rendered_sha256'][:12]}..., training used {trained['rendered_sha256'][:12]}...)")
    if not allow_mismatch:
        raise IntegrityError(msg + "; set eval.allow_template_mismatch: true to evaluate anyway (recorded)",
                             path=where)
    return {"template_check": "MISMATCH allowed by eval.allow_template_mismatch",
            "trained_rendered_sha256": trained["rendered_sha256"]}
