"""schemas/*.schema.json: in sync with the pydantic models, and agreeing with them.

The agreement test feeds jsonschema and pydantic the same documents: known-good ones (from
the example experiment) and hypothesis-made mutations of them (a key deleted, a value of
another type, an unknown key). Both must accept or reject each, except for the documented
cross-field rules that JSON Schema cannot express (pydantic ``model_validator``s: a coded
consent decision needs a coder; params' active keys must exist; a substrate needs hub_id or
local_path) -- there pydantic may reject what the schema accepts, never the other way round.
Models are compared in strict mode: ``Params`` and provenance are lax when loading (YAML
``"3"`` would coerce to 3), which no JSON Schema type can say.
"""
from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import ValidationError

from babyctl.schemas import MODELS
from babyctl.schemas.export import drift, export, render
from conftest import REPO, key_paths

#: pydantic error types raised by model validators (cross-field rules), the allowed difference
CROSS_FIELD = {"value_error", "assertion_error"}


def test_committed_schemas_match_the_models():
    assert drift(REPO / "schemas") == [], "run: babyctl schema export"
    assert sorted(p.name for p in (REPO / "schemas").glob("*.schema.json")) == sorted(f"{n}.schema.json" for n in MODELS)


def test_drift_detects_an_edited_schema(tmp_path):
    export(tmp_path)
    assert drift(tmp_path) == []
    p = tmp_path / "stimulus.schema.json"
    p.write_text(p.read_text().replace('"difficulty"', '"dificulty"'), encoding="utf-8")
    assert drift(tmp_path) == ["stimulus"]
    (tmp_path / "params.schema.json").unlink()
    assert sorted(drift(tmp_path)) == ["params", "stimulus"]


def test_schema_export_check_cli(tmp_path):
    from conftest import run_cli

    export(tmp_path)
    assert run_cli("schema", "export", "--check", "--out", str(tmp_path)).returncode == 0
    (tmp_path / "stimulus.schema.json").write_text("{}\n", encoding="utf-8")
    proc = run_cli("schema", "export", "--check", "--out", str(tmp_path))
    assert proc.returncode == 1 and "stimulus.schema.json" in proc.stdout


def _format_checker() -> FormatChecker:
    fc = Draft202012Validator.FORMAT_CHECKER

    @fc.checks("date-time", raises=ValueError)
    def date_time(value):  # jsonschema ships no date-time checker without extra packages
        if not isinstance(value, str):
            return True
        if "T" not in value.upper():
            raise ValueError("not a date-time")
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("date-time needs an offset")
        return True

    return fc


FORMATS = _format_checker()


def good_documents() -> dict[str, list]:
    docs = {name: [] for name in MODELS}
    for p in sorted((REPO / "curriculum").glob("*.jsonl"))[:2]:
        docs["curriculum-example"] += [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()[:3]]
    for p in sorted((REPO / "consent_records").glob("*.json"))[:3]:
        docs["consent-record"].append(json.loads(p.read_text(encoding="utf-8")))
    for p in sorted((REPO / "stimuli").glob("*.jsonl"))[:2]:
        docs["stimulus"] += [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()[:3]]
    docs["params"].append(yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8")))
    sha = "0" * 64
    docs["adapter-provenance"].append({
        "tool": "babyctl", "tool_version": "0.1.0", "command": "train", "created_at": "2026-01-01T00:00:00Z",
        "git": {"commit": None, "dirty": None}, "libraries": {"torch": "2.13.0"},
        "inputs": [{"path": "a", "sha256": sha}], "params": {"r": 8}, "seed": 1, "kind": "adapter",
        "substrate": "tiny", "condition": "core",
        "base_model": {"substrate": "tiny", "local_path": "models/base/tiny", "weights_sha256": sha},
        "dataset": {"path": "data/build/core/train.jsonl", "sha256": sha, "size": 10},
        "consent": {"id": "c", "path": "consent_records/c.json", "sha256": sha, "decision": "yes"},
        "backend": "hf", "device": "cpu", "started_at": "2026-01-01T00:00:00Z",
        "ended_at": "2026-01-01T00:01:00+00:00", "adapter_files": [],
    })
    docs["review-record"] += [
        {"schema_version": 1, "id": "hermes-3-8b-review-1", "consent_record": "hermes-3-8b",
         "condition": "review-characterization", "reviewer": "participant", "reviewed_at": "2026-07-01T10:00:00Z",
         "outcome": "approved", "artifact_sha256": sha, "notes": "ok"},
        {"id": "r2", "consent_record": "c", "condition": "k", "reviewer": "x", "reviewed_at": "2026-07-01T10:00:00+02:00",
         "outcome": "changes_requested"},
    ]
    docs["amendment"].append({"schema_version": 1, "id": "a1", "item": "eval", "sha256": sha, "changed": "x",
                              "reason": "y", "decided_at": "2026-07-01T10:00:00Z", "decided_by": "A. Author"})
    docs["prereg-lock"].append({"schema_version": 1, "locked_at": "2026-07-01T10:00:00Z", "git_commit": None,
                                "babyctl_version": "0.1.0", "items": {"eval": {"sha256": sha, "value": {"a": 1}},
                                                                      "hypotheses": {"sha256": sha}},
                                "digest": sha})
    assert all(docs.values()), {k: len(v) for k, v in docs.items()}
    return docs


GOOD = good_documents()
VALIDATORS = {name: Draft202012Validator(json.loads(render(name)), format_checker=FORMATS) for name in MODELS}


def verdicts(name: str, doc) -> tuple[bool, list | None]:
    """(jsonschema accepts, pydantic error types or None when it accepts)."""
    js_ok = VALIDATORS[name].is_valid(doc)
    try:
        MODELS[name].model_validate_json(json.dumps(doc), strict=True)
        return js_ok, None
    except ValidationError as e:
        return js_ok, [err["type"] for err in e.errors()]


@pytest.mark.parametrize("name", list(MODELS))
def test_known_good_documents_pass_both(name):
    for doc in GOOD[name]:
        js_ok, py_errors = verdicts(name, doc)
        assert js_ok and py_errors is None, (name, py_errors, list(VALIDATORS[name].iter_errors(doc))[:2])


REPLACEMENTS = [None, 0, -1, 1.5, "", "x", "Not A Slug!", True, [], {}, ["x"], "2026-13-40", "a" * 200]


@st.composite
def mutated(draw, name):
    doc = copy.deepcopy(draw(st.sampled_from(GOOD[name])))
    paths = [p for p in key_paths(doc) if p]
    n = draw(st.integers(min_value=1, max_value=2))
    for _ in range(n):
        paths = [p for p in key_paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["delete", "replace", "add-key"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(REPLACEMENTS)))
        else:
            target = parent[path[-1]]
            if isinstance(target, dict):
                target["unexpected_key"] = 1
            else:
                parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(REPLACEMENTS)))
    return doc


@pytest.mark.parametrize("name", list(MODELS))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_jsonschema_and_pydantic_agree(name, data):
    doc = data.draw(mutated(name))
    js_ok, py_errors = verdicts(name, doc)
    if py_errors is None:
        assert js_ok, f"schema rejects what the model accepts: {list(VALIDATORS[name].iter_errors(doc))[:2]}"
    elif js_ok:
        assert set(py_errors) <= CROSS_FIELD, f"model rejects ({py_errors}) what the schema accepts"


@pytest.mark.parametrize("name", ["consent-record", "review-record"])
def test_schema_version_true_is_not_1(name):
    """True == 1 in Python, so a bare Literal[1] accepts JSON ``true`` even in strict mode; the
    JSON Schema (const 1, type integer) does not. Both must refuse it (found by hypothesis)."""
    doc = copy.deepcopy(GOOD[name][0])
    doc["schema_version"] = True
    js_ok, py_errors = verdicts(name, doc)
    assert not js_ok and py_errors is not None
    doc["schema_version"] = 1
    assert verdicts(name, doc) == (True, None)


def test_cross_field_rule_is_the_documented_difference():
    doc = copy.deepcopy(GOOD["consent-record"][0])
    doc["coding"] = {"decision": "yes"}  # coded, but no coder: only the model can see it
    js_ok, py_errors = verdicts("consent-record", doc)
    assert js_ok and py_errors == ["value_error"]
