"""`babyctl verify` of a published release, against the loopback Hub (tests/hubserver.py).

The Hub is mocked because the public Hub cannot be reached here; the client is the real
huggingface_hub (LFS path, HF_HUB_DISABLE_XET=1). The release comes from a real `babyctl publish`
of a real git + DVC study (tests/publish_support.py); tampering is done with the real client, as
someone with write access to the Hub repo would do it after the release.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import commit_all, copy_repo, run_cli
from hubserver import LoopbackHub
from publish_support import hub_env, make_publish_experiment

from babyctl.publish.stage import ALLOWLIST, STATEMENT

TOKEN = "hf_loopbackVERIFYtoken_0123456789"
REPO = "babyctl-study/Tiny-Llama-ChatML-core-seed1"


@pytest.fixture(scope="module")
def base_exp(tmp_path_factory) -> Path:
    """The publish study plus its SHA256SUMS (a real study's pipeline writes it in its ledger stage)."""
    exp = make_publish_experiment(tmp_path_factory.mktemp("verify") / "exp")
    assert run_cli("ledger", cwd=exp).returncode == 0
    commit_all(exp, "ledger")
    return exp


@pytest.fixture
def exp(base_exp, tmp_path) -> Path:
    return copy_repo(base_exp, tmp_path / "exp")


@pytest.fixture
def hub():
    with LoopbackHub() as h:
        h.state.tokens[TOKEN] = "write"
        yield h


def env(hub: LoopbackHub, exp: Path) -> dict:
    return hub_env(hub.url, exp, TOKEN)


@pytest.fixture
def released(exp, hub) -> str:
    """Publish tiny/core/seed-1; returns the release tag."""
    proc = run_cli("publish", "tiny", cwd=exp, env=env(hub, exp))
    assert proc.returncode == 0, proc.stderr
    [tag] = hub.state.repos[REPO].tags
    return tag


def verify(exp: Path, hub: LoopbackHub, target: str, *args: str):
    proc = run_cli("verify", target, "--json", *args, cwd=exp.parent, env=env(hub, exp))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.startswith("{") else None), proc


def upload(hub: LoopbackHub, files: dict[str, bytes], monkeypatch) -> None:
    """Commit ``files`` to main with the real client (someone editing the repo after the release)."""
    from huggingface_hub import CommitOperationAdd, HfApi, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    HfApi(endpoint=hub.url, token=TOKEN).create_commit(
        REPO, [CommitOperationAdd(path_in_repo=n, path_or_fileobj=b) for n, b in files.items()],
        commit_message="edit after release")


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def resums(files: dict[str, bytes]) -> bytes:
    return "".join(f"{sha(files[n])}  {n}\n" for n in sorted(files) if n not in ("SHA256SUMS", ".gitattributes")).encode()


def test_a_clean_release_verifies_alone_and_against_its_study(exp, hub, released):
    staged = {p.name: p.read_bytes() for p in (exp / "releases/tiny/core/seed-1").iterdir()}
    statement = json.loads(staged[STATEMENT])
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == {
        n: sha(b) for n, b in staged.items() if n not in ("SHA256SUMS", STATEMENT)}
    deps = {d["name"]: d for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]}
    prov = json.loads(staged["provenance.json"])
    assert deps["dataset"]["digest"]["sha256"] == sha((exp / "data/build/core/train.jsonl").read_bytes())
    assert deps["consent_record"]["digest"]["sha256"] == sha((exp / prov["consent"]["path"]).read_bytes())
    assert deps["source"]["digest"]["gitCommit"] == prov["git"]["commit"]
    assert statement["predicate"]["runDetails"]["builder"]["version"]["babyctl"] == prov["tool_version"]
    for target in (REPO, f"{REPO}@{released}"):
        rc, data, proc = verify(exp, hub, target)
        assert rc == 0 and data["ok"], proc.stderr + proc.stdout
        assert set(data["files"]) == ALLOWLIST | {".gitattributes"}
    rc, data, _ = verify(exp, hub, f"{REPO}@{released}", "--study", str(exp))
    assert rc == 0 and data["study"] == str(exp), data["mismatches"]


def test_a_tampered_file_is_named(exp, hub, released, monkeypatch):
    cfg = json.loads((exp / "releases/tiny/core/seed-1/adapter_config.json").read_text())
    cfg["r"] = 64
    upload(hub, {"adapter_config.json": json.dumps(cfg).encode()}, monkeypatch)
    rc, data, proc = verify(exp, hub, REPO)
    assert rc == 1
    named = {(m["check"], m["what"]) for m in data["mismatches"]}
    assert {("sums", "adapter_config.json"), ("statement", "adapter_config.json")} <= named, named
    assert verify(exp, hub, f"{REPO}@{released}")[0] == 0  # the tag still points at the release
    text = run_cli("verify", REPO, cwd=exp.parent, env=env(hub, exp))
    assert text.returncode == 1 and "[sums] adapter_config.json: sha256 differs from SHA256SUMS" in text.stdout


def test_a_swapped_adapter_is_caught_even_with_sums_and_statement_rewritten(exp, hub, released, monkeypatch):
    """The careful attacker swaps the weights for another run's and rewrites SHA256SUMS and the statement."""
    files = dict(hub.state.files(REPO, "main"))
    # another adapter of the same shape (the stand-in trainer gives every substrate the same weights
    # for one seed, so change the last weight to 1.0)
    other = files["adapter_model.safetensors"][:-4] + b"\x00\x00\x80\x3f"
    assert other != files["adapter_model.safetensors"]
    files["adapter_model.safetensors"] = other
    st = json.loads(files[STATEMENT])
    for s in st["subject"]:
        s["digest"]["sha256"] = sha(files[s["name"]])
    files[STATEMENT] = json.dumps(st).encode()
    files["SHA256SUMS"] = resums(files)
    upload(hub, {k: files[k] for k in ("adapter_model.safetensors", STATEMENT, "SHA256SUMS")}, monkeypatch)
    rc, data, _ = verify(exp, hub, REPO)
    assert rc == 1
    assert [(m["check"], m["what"]) for m in data["mismatches"]] == [("statement", "adapter_model.safetensors")]
    assert "not the adapter training wrote" in data["mismatches"][0]["message"]
    rc, data, _ = verify(exp, hub, REPO, "--study", str(exp))
    assert ("study", "adapter_model.safetensors") in {(m["check"], m["what"]) for m in data["mismatches"]}


def test_a_card_edited_after_release_is_named(exp, hub, released, monkeypatch):
    card = hub.state.files(REPO, "main")["README.md"].replace(b"## Limitations", b"## Results\n\nBetter.\n\n## Limitations")
    upload(hub, {"README.md": card}, monkeypatch)
    rc, data, _ = verify(exp, hub, REPO)
    assert rc == 1
    named = {(m["check"], m["what"]) for m in data["mismatches"]}
    assert named == {("sums", "README.md"), ("statement", "README.md")}, named


def test_card_metadata_and_license_files_are_checked(exp, hub, released, monkeypatch):
    files = dict(hub.state.files(REPO, "main"))
    files["README.md"] = files["README.md"].replace(b"library_name: peft", b"library_name: transformers")
    files["NOTICE"] = b"nothing to see\n"
    st = json.loads(files[STATEMENT])
    for s in st["subject"]:
        s["digest"]["sha256"] = sha(files[s["name"]])
    files[STATEMENT] = json.dumps(st).encode()
    files["SHA256SUMS"] = resums(files)
    upload(hub, {k: files[k] for k in ("README.md", "NOTICE", STATEMENT, "SHA256SUMS")}, monkeypatch)
    rc, data, _ = verify(exp, hub, REPO)
    assert rc == 1
    assert {(m["check"], m["what"]) for m in data["mismatches"]} == {("card", "README.md:library_name"),
                                                                     ("license", "NOTICE")}


def test_against_the_study_consent_changed_since_training(exp, hub, released):
    cpath = next((exp / "consent_records").glob("tiny*.json"))
    record = json.loads(cpath.read_text())
    record["consents_to"]["publication"] = False
    cpath.write_text(json.dumps(record, indent=2) + "\n")
    commit_all(exp, "withdraw publication consent")
    rc, data, _ = verify(exp, hub, f"{REPO}@{released}", "--study", str(exp))
    assert rc == 1
    msgs = [m["message"] for m in data["mismatches"] if m["check"] == "study"]
    assert "consent record changed since training" in msgs
    assert any(m.startswith("consent does not cover publication") for m in msgs), msgs


def test_usage_errors_exit_2(exp, hub):
    rc, _, proc = verify(exp, hub, "not-a-repo-id")
    assert rc == 2 and "invalid repo id" in proc.stderr
    rc, _, proc = verify(exp, hub, f"{REPO}@nope")
    assert rc == 2 and "babyctl: error:" in proc.stderr
