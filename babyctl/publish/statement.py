"""A release's in-toto v1 Statement with a SLSA provenance v1 predicate.

Spec: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md and
https://slsa.dev/spec/v1.0/provenance. The statement is built from the run's own
``provenance.json`` only (no clock, no current HEAD), so staging twice gives the same bytes::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "adapter_model.safetensors", "digest": {"sha256": ...}}, ...],
     "predicateType": "https://slsa.dev/provenance/v1",
     "predicate": {
       "buildDefinition": {
         "buildType": "urn:babyctl:lora-adapter:v1",
         "externalParameters": {substrate, condition, seed, command, params},
         "internalParameters": {backend, device},
         "resolvedDependencies": [
           {"name": "base_model", "uri": "https://huggingface.co/<id>", "digest": {"gitCommit": <revision>}}
             (a local base: {"name": "base_model", "digest": {"sha256": <weights>}}),
           {"name": "dataset", "uri": <the build file of the condition (babyctl.study)>, "digest": {"sha256", "md5"}},
           {"name": "consent_record", "uri": "consent_records/<x>.json", "digest": {"sha256"},
            "annotations": {"id", "decision"}},
           {"name": "source", "digest": {"gitCommit": <commit>}, "annotations": {"dirty"}}]},
       "runDetails": {
         "builder": {"id": "urn:babyctl:train", "version": {"babyctl": ..., <libraries>}},
         "metadata": {"startedOn", "finishedOn"}}}}

:func:`parse` reads one back (for ``babyctl verify``) and names what is malformed.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from .release import Release

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:babyctl:lora-adapter:v1"
BUILDER_ID = "urn:babyctl:train"


def _iso(t) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def build(rel: Release, subjects: dict[str, str]) -> dict[str, Any]:
    """The statement for ``rel`` whose release files are ``subjects`` (name -> sha256)."""
    p = rel.provenance
    b = p.base_model
    if b.hub_id:
        base: dict[str, Any] = {"name": "base_model", "uri": f"https://huggingface.co/{b.hub_id}"}
        if b.revision or rel.sub.revision:
            base["digest"] = {"gitCommit": b.revision or rel.sub.revision}
        else:
            base["annotations"] = {"revision": None}
    else:
        base = {"name": "base_model", "digest": {"sha256": b.weights_sha256 or ""},
                "annotations": {"local": True, "substrate": b.substrate}}
    dataset = {"name": "dataset", "uri": p.dataset.path,
               "digest": {k: v for k, v in (("sha256", p.dataset.sha256), ("md5", p.dataset.md5)) if v}}
    consent = {"name": "consent_record", "uri": p.consent.path, "digest": {"sha256": p.consent.sha256},
               "annotations": {"id": p.consent.id, "decision": p.consent.decision}}
    source: dict[str, Any] = {"name": "source", "annotations": {"dirty": p.git.dirty}}
    if p.git.commit:
        source["digest"] = {"gitCommit": p.git.commit}
    versions = {"babyctl": p.tool_version, **{k: v for k, v in sorted(p.libraries.items()) if k != "babyctl"}}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": n, "digest": {"sha256": d}} for n, d in sorted(subjects.items())],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"substrate": p.substrate, "condition": p.condition, "seed": p.seed,
                                       "command": p.command, "params": p.params},
                "internalParameters": {"backend": p.backend, "device": p.device},
                "resolvedDependencies": [base, dataset, consent, source],
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": versions},
                "metadata": {"startedOn": _iso(p.started_at), "finishedOn": _iso(p.ended_at)},
            },
        },
    }


def dumps(statement: dict) -> str:
    return json.dumps(statement, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class Parsed:
    """What ``verify`` needs from a statement."""

    subjects: dict[str, str]  #: name -> sha256
    dependencies: dict[str, dict]  #: name -> resource descriptor
    parameters: dict[str, Any]
    babyctl_version: str | None

    def digest(self, dep: str, algo: str) -> str | None:
        return (self.dependencies.get(dep) or {}).get("digest", {}).get(algo)


def parse(text: str) -> tuple[Parsed | None, list[str]]:
    """Read a statement; the problems found (empty when it is well formed)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        return None, [f"not JSON: {e}"]
    problems = []
    if not isinstance(data, dict):
        return None, ["not a JSON object"]
    if data.get("_type") != STATEMENT_TYPE:
        problems.append(f"_type is {data.get('_type')!r}, not {STATEMENT_TYPE!r}")
    if data.get("predicateType") != PREDICATE_TYPE:
        problems.append(f"predicateType is {data.get('predicateType')!r}, not {PREDICATE_TYPE!r}")
    subjects: dict[str, str] = {}
    for s in data.get("subject") or []:
        if not (isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("digest"), dict)
                and isinstance(s["digest"].get("sha256"), str)):
            problems.append(f"malformed subject: {s!r}")
            continue
        subjects[s["name"]] = s["digest"]["sha256"]
    if not subjects:
        problems.append("no subjects")
    pred = data.get("predicate") if isinstance(data.get("predicate"), dict) else {}
    bd = pred.get("buildDefinition") if isinstance(pred.get("buildDefinition"), dict) else {}
    deps = {d["name"]: d for d in bd.get("resolvedDependencies") or [] if isinstance(d, dict) and "name" in d}
    for need in ("base_model", "dataset", "consent_record", "source"):
        if need not in deps:
            problems.append(f"resolvedDependencies has no {need!r}")
    rd = pred.get("runDetails") if isinstance(pred.get("runDetails"), dict) else {}
    version = ((rd.get("builder") or {}).get("version") or {}).get("babyctl") if isinstance(rd.get("builder"), dict) \
        else None
    if not version:
        problems.append("runDetails.builder.version has no babyctl version")
    params = bd.get("externalParameters") if isinstance(bd.get("externalParameters"), dict) else {}
    return Parsed(subjects, deps, params, version), problems
