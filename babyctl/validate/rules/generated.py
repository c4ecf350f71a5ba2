"""BC107: a generated curriculum example names its generator (issue 18, docs/study-design.md).

With ``metadata.source: generated``, ``metadata.generator`` must give the model id, its revision
(a pinned snapshot), the system prompt or its sha256, the sampling settings and the date; when
both the system prompt and its sha256 are given, the hash must be the prompt's (UTF-8).
"""
from __future__ import annotations

import hashlib

from ..example import Example, Hit
from ..settings import Settings

GENERATED = "generated"


def check_generated(ex: Example, settings: Settings | None = None) -> list[Hit]:
    meta = ex.metadata
    if not meta or meta.get("source") != GENERATED:
        return []
    gen = meta.get("generator")
    if hasattr(gen, "model_dump"):  # a valid line's metadata holds the parsed Generator
        gen = gen.model_dump()
    if not isinstance(gen, dict):
        return [Hit("BC107", ("metadata", "source"), "source is 'generated' but metadata.generator is missing: "
                    "name the model, revision, system prompt (or system_prompt_sha256), sampling and date")]
    missing = [k for k in ("model", "revision", "sampling", "date") if gen.get(k) in (None, "", {})]
    if gen.get("system_prompt") is None and not gen.get("system_prompt_sha256"):
        missing.append("system_prompt or system_prompt_sha256")
    hits = []
    if missing:
        hits.append(Hit("BC107", ("metadata", "generator"), "generated example: metadata.generator lacks "
                        + ", ".join(missing)))
    text, digest = gen.get("system_prompt"), gen.get("system_prompt_sha256")
    if isinstance(text, str) and isinstance(digest, str) and hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
        hits.append(Hit("BC107", ("metadata", "generator", "system_prompt_sha256"),
                        "generator.system_prompt_sha256 is not the sha256 of generator.system_prompt"))
    return hits
