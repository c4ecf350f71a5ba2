"""Consent as a lifecycle (issue 14): chains, withdrawal, identity, timing, brief, reporting, revoke.

Each scenario is the attack from the issue: a study records a withdrawal (or a ``no``) that
``supersedes`` the record in force, swaps the weights, evaluates before consent, or edits the brief;
train, eval and publish must refuse, and audit must catch what was already made. The Hub is the
loopback server (tests/hubserver.py); everything else is real (git, DVC, the publish code).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from babyctl import consent
from babyctl.config import load_params
from babyctl.errors import GateRefused, InputError
from conftest import commit_all, copy_repo, edit_params, run_cli
from hubserver import LoopbackHub
import publish_support
from publish_support import make_publish_experiment

START = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
TOKEN = "hf_loopbackSECRETtoken_0123456789"
TINY_REPO = "babyctl-study/Tiny-Llama-ChatML-core-seed1"


def add_record(root: Path, base_id: str, new_id: str, **changes) -> Path:
    """Write ``consent_records/<new_id>.json``: a copy of ``base_id`` that supersedes it, with ``changes``."""
    src = root / "consent_records" / f"{base_id}.json"
    data = json.loads(src.read_text(encoding="utf-8"))
    data.update(id=new_id, supersedes=base_id)
    coding = changes.pop("coding", None)
    if coding:
        data["coding"] = {**data["coding"], **coding}
    data.update(changes)
    path = root / "consent_records" / f"{new_id}.json"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def withdraw(root: Path, base_id: str = "tiny-fixture", *, on: str = "2026-05-20T00:00:00Z",
             recorded: str = "2026-05-20T00:00:00Z") -> Path:
    return add_record(root, base_id, f"{base_id}-withdrawn", asked_at=recorded,
                      coding={"decision": "withdrawn", "withdrawn_at": on, "coded_at": recorded,
                              "rationale": "The participant withdrew consent."},
                      consents_to={"fine_tuning": False, "evaluation": False, "publication": False,
                                   "conditions": []})


def edit_record(path: Path, fn) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# --- chains --------------------------------------------------------------------------------------
def test_params_may_name_any_record_of_the_chain_the_head_governs(repo_root):
    chain = consent.chain_for(repo_root / "consent_records/dolphin-2.9-8b-parenting.json")
    assert chain.ids == ["dolphin-2.9-8b-parenting", "dolphin-2.9-8b"]
    assert chain.head.record.coding.decision == "yes" and chain.named.record.coding.decision == "no"
    note = chain.note()
    assert "'dolphin-2.9-8b' (yes) governs" in note and "params names 'dolphin-2.9-8b-parenting'" in note
    # naming the head gives the same chain, and no "params names" remark
    same = consent.chain_for(repo_root / "consent_records/dolphin-2.9-8b.json")
    assert same.ids == chain.ids and "params names" not in same.note()


def test_a_no_at_the_head_refuses_even_when_params_name_the_yes(experiment):
    add_record(experiment, "tiny-fixture", "tiny-fixture-reasked", asked_at="2026-05-11T00:00:00Z",
               coding={"decision": "no", "coded_at": "2026-05-11T01:00:00Z"})
    sub = load_params(experiment / "params.yaml").substrates["tiny"]
    assert sub.consent_record.endswith("tiny-fixture.json")  # params still names the old "yes"
    with pytest.raises(GateRefused) as err:
        consent.gate(experiment, "tiny", sub, purpose="fine_tuning", condition="core", at=START)
    msg = str(err.value)
    assert "consent record 'tiny-fixture-reasked' (params names 'tiny-fixture'; chain tiny-fixture -> " \
           "tiny-fixture-reasked) refuses fine_tuning: consent decision is 'no'" in msg


def test_fork_and_cycle_are_errors(experiment):
    add_record(experiment, "tiny-fixture", "a")
    add_record(experiment, "tiny-fixture", "b")
    with pytest.raises(InputError, match="consent chain forks: 'a', 'b' all supersede 'tiny-fixture'"):
        consent.chain_for(experiment / "consent_records/tiny-fixture.json")
    (experiment / "consent_records/b.json").unlink()
    edit_record(experiment / "consent_records/tiny-fixture.json", lambda d: d.update(supersedes="a"))
    with pytest.raises(InputError, match="cycle"):
        consent.chain_for(experiment / "consent_records/tiny-fixture.json")


def test_withdrawn_needs_a_date(experiment):
    path = withdraw(experiment)
    edit_record(path, lambda d: d["coding"].pop("withdrawn_at"))
    with pytest.raises(InputError, match="withdrawn_at"):
        consent.load_consent(path)


# --- the withdrawal scenario: train, eval, publish refuse; audit catches ------------------------
def test_withdrawal_refuses_train_end_to_end(experiment, tiny_model_dir):
    from conftest import install_tiny_model, write_core_build

    install_tiny_model(experiment, tiny_model_dir)
    write_core_build(experiment)
    withdraw(experiment)
    proc = run_cli("train", "--substrate", "tiny", "--condition", "core", "--seed", "1", cwd=experiment)
    assert proc.returncode == 1, proc.stderr
    assert "consent record 'tiny-fixture-withdrawn' (params names 'tiny-fixture'" in proc.stderr
    assert "consent was withdrawn on 2026-05-20T00:00:00+00:00" in proc.stderr
    assert "Traceback" not in proc.stderr and not (experiment / "models" / "tiny").exists()


def test_withdrawal_refuses_eval_before_generating(experiment, tiny_model_dir):
    from conftest import install_tiny_model

    install_tiny_model(experiment, tiny_model_dir)
    withdraw(experiment)
    proc = run_cli("eval", "--substrate", "tiny", "--baseline", cwd=experiment)
    assert proc.returncode == 1, proc.stderr
    assert "refuses evaluation: consent was withdrawn on 2026-05-20" in proc.stderr
    assert not (experiment / "eval").exists()


@pytest.fixture(scope="module")
def base_exp(tmp_path_factory) -> Path:
    return make_publish_experiment(tmp_path_factory.mktemp("consent") / "exp")


@pytest.fixture
def exp(base_exp, tmp_path) -> Path:
    return copy_repo(base_exp, tmp_path / "exp")


@pytest.fixture
def hub():
    with LoopbackHub() as h:
        h.state.tokens[TOKEN] = "write"
        yield h


def hub_env(exp: Path, hub: LoopbackHub) -> dict:
    return publish_support.hub_env(hub.url, exp, TOKEN)


def test_withdrawal_refuses_publish_and_says_what_to_do_then_revoke(exp, hub):
    env = hub_env(exp, hub)
    first = run_cli("publish", "tiny", cwd=exp, env=env)
    assert first.returncode == 0, first.stderr
    assert hub.state.repos[TINY_REPO].private is False
    withdraw(exp, on="2026-07-01T00:00:00Z", recorded="2026-07-01T00:00:00Z")
    commit_all(exp, "record the withdrawal")
    proc = run_cli("publish", "tiny", cwd=exp, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "consent was withdrawn on 2026-07-01" in proc.stderr
    assert "releases already on the Hub stay downloadable" in proc.stderr
    assert "babyctl revoke REPO_ID" in proc.stderr and TINY_REPO in proc.stderr
    assert len(hub.state.repos[TINY_REPO].tags) == 1  # nothing new pushed
    # revoke: private, then gated (the real huggingface_hub client, loopback Hub)
    rv = run_cli("revoke", TINY_REPO, cwd=exp, env=env)
    assert rv.returncode == 0, rv.stderr
    assert rv.stdout.strip() == f"{TINY_REPO}: private" and hub.state.repos[TINY_REPO].private is True
    put = [r for r in hub.state.log if r.method == "PUT" and r.path.endswith("/settings")]
    assert json.loads(put[-1].body) == {"visibility": "private"}
    rv = run_cli("revoke", "--gated", TINY_REPO, cwd=exp, env=env)
    assert rv.returncode == 0 and hub.state.repos[TINY_REPO].gated == "manual"
    for out in (first, proc, rv):
        assert TOKEN not in out.stdout + out.stderr


def test_revoke_errors_are_typed_and_name_the_repo(exp, hub):
    env = hub_env(exp, hub)
    proc = run_cli("revoke", "babyctl-study/never-published", cwd=exp, env=env)
    assert proc.returncode == 2 and "babyctl-study/never-published was not found" in proc.stderr
    proc = run_cli("revoke", "not a repo id", cwd=exp, env=env)
    assert proc.returncode == 2 and "invalid repo id" in proc.stderr
    hub.state.repos.clear()
    hub.state.create_repo(TINY_REPO, private=False)
    proc = run_cli("revoke", TINY_REPO, cwd=exp, env={**env, "HF_TOKEN": "hf_wrong"})
    assert proc.returncode == 2 and "401" in proc.stderr and hub.state.repos[TINY_REPO].private is False


def _audit_d(exp: Path) -> list[str]:
    from babyctl.audit import audit

    result = audit(exp, pipeline_status=False)
    return [f"{f.path}: {f.message}" for f in result.findings if f.check == "d"]


def test_audit_fails_an_adapter_made_after_a_withdrawal_recorded_later(exp):
    assert _audit_d(exp) == []  # the stand-in runs are dated 2026-06-01 12:00, under the fixture's "yes"
    withdraw(exp, on="2026-05-20T00:00:00Z", recorded="2026-08-01T00:00:00Z")  # back-dated withdrawal
    found = _audit_d(exp)
    assert any("consent does not cover models/tiny/core/seed-1: made 2026-06-01T12:00:00+00:00, after consent "
               "was withdrawn on 2026-05-20T00:00:00+00:00 (record 'tiny-fixture-withdrawn')" in f for f in found), found


def test_audit_keeps_an_adapter_made_before_the_withdrawal(exp):
    withdraw(exp, on="2026-07-01T00:00:00Z", recorded="2026-07-01T00:00:00Z")
    assert _audit_d(exp) == []


# --- identity -----------------------------------------------------------------------------------
def _hermes(root: Path):
    return load_params(root / "params.yaml").substrates["hermes"]


def test_other_weights_are_refused_without_a_transfer(experiment):
    sub = _hermes(experiment)
    consent.gate(experiment, "hermes", sub, purpose="fine_tuning", condition="core", at=START)  # same model: ok
    other = sub.model_copy(update={"hub_id": "someone/Other-8B"})
    with pytest.raises(GateRefused, match=r"record 'hermes-3-8b' was asked of NousResearch/Hermes-3-Llama-3.1-8B, "
                                          r"not of someone/Other-8B@67bf4ac"):
        consent.gate(experiment, "hermes", other, purpose="evaluation", at=START)
    # a record that pins a revision refuses another revision of the same repo
    edit_record(experiment / "consent_records/hermes-3-8b.json", lambda d: d.update(revision="0" * 40))
    with pytest.raises(GateRefused, match="was asked of NousResearch/Hermes-3-Llama-3.1-8B@0000"):
        consent.gate(experiment, "hermes", sub, purpose="fine_tuning", condition="core", at=START)


def _with_transfer(root: Path, **overrides) -> None:
    def transfer(params: dict) -> None:
        params["substrates"]["hermes"]["hub_id"] = "someone/Hermes-3-8B-GGUF-dequant"
        params["substrates"]["hermes"]["consent_transfer"] = {
            "record": "hermes-3-8b", "from_model": "NousResearch/Hermes-3-Llama-3.1-8B",
            "to_model": "someone/Hermes-3-8B-GGUF-dequant", "kind": "same_weights_other_format",
            "reason": "the same weights re-exported; tensors compared equal", "decided_by": "study lead",
            "decided_at": "2026-05-20T00:00:00Z", **overrides}

    edit_params(root, transfer)


def test_a_typed_transfer_allows_it_and_shows_in_the_profile(experiment):
    _with_transfer(experiment)
    params = load_params(experiment / "params.yaml")
    consent.gate(experiment, "hermes", params.substrates["hermes"], purpose="fine_tuning", condition="core", at=START)
    rows = [r for r in consent.profile_rows(experiment, params) if r[0] == "hermes"]
    assert "transferred to someone/Hermes-3-8B-GGUF-dequant (same_weights_other_format" in rows[-1][5]
    _with_transfer(experiment, to_model="someone/else")  # a transfer for other weights does not count
    params = load_params(experiment / "params.yaml")
    with pytest.raises(GateRefused, match="a consent_transfer in params names another pair"):
        consent.gate(experiment, "hermes", params.substrates["hermes"], purpose="fine_tuning", at=START)


# --- timing -------------------------------------------------------------------------------------
def test_eval_before_consent_is_refused(experiment, tiny_model_dir):
    from conftest import install_tiny_model

    install_tiny_model(experiment, tiny_model_dir)
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    edit_record(experiment / "consent_records/tiny-fixture.json",
                lambda d: (d.update(asked_at=future), d["coding"].update(coded_at=future)))
    proc = run_cli("eval", "--substrate", "tiny", "--baseline", cwd=experiment)
    assert proc.returncode == 1 and "refuses evaluation" in proc.stderr and "does not predate" in proc.stderr
    assert not (experiment / "eval").exists()


def test_audit_flags_an_evaluation_collected_before_consent(exp):
    folder = exp / "eval" / "tiny" / "baseline"
    folder.mkdir(parents=True)
    ref = {"id": "tiny-fixture", "path": "consent_records/tiny-fixture.json", "named": "tiny-fixture"}
    prov = {"created_at": "2026-05-09T10:00:00+00:00",
            "params": {"substrate": "tiny", "condition": "baseline",
                       "collected": {"started_at": "2026-05-09T09:00:00+00:00", "consent": ref}}}
    (folder / "provenance.json").write_text(json.dumps(prov), encoding="utf-8")
    found = _audit_d(exp)
    assert any(f.startswith("eval/tiny/baseline/provenance.json: evaluation data collected "
                            "2026-05-09T09:00:00+00:00 not covered: made 2026-05-09T09:00:00+00:00, before any "
                            "consent of the chain took effect (record 'tiny-fixture'") for f in found), found
    prov["params"]["collected"]["started_at"] = "2026-05-11T09:00:00+00:00"  # after: clean
    (folder / "provenance.json").write_text(json.dumps(prov), encoding="utf-8")
    assert _audit_d(exp) == []


# --- brief --------------------------------------------------------------------------------------
def test_every_gate_checks_the_brief(experiment, tmp_path, monkeypatch):
    brief = experiment / "consent_records/briefs/technical.md"
    original = brief.read_bytes()
    brief.write_bytes(original + b"\nOne more sentence.\n")
    sub = load_params(experiment / "params.yaml").substrates["tiny"]
    for purpose in ("fine_tuning", "evaluation", "publication"):
        with pytest.raises(GateRefused, match=r"brief consent_records/briefs/technical.md does not match record "
                                              r"'tiny-fixture'"):
            consent.gate(experiment, "tiny", sub, purpose=purpose, condition="core", at=START)
    # brief paths resolve from the experiment root, not the working folder
    brief.write_bytes(original)
    monkeypatch.chdir(tmp_path)
    consent.gate(experiment, "tiny", sub, purpose="fine_tuning", condition="core", at=START)


def test_publish_refuses_a_changed_brief(exp, hub):
    brief = exp / "consent_records/briefs/technical.md"
    brief.write_text("A different brief.\n", encoding="utf-8")
    commit_all(exp, "edit the brief")
    proc = run_cli("publish", "tiny", cwd=exp, env=hub_env(exp, hub))
    assert proc.returncode == 1 and "does not match record 'tiny-fixture'" in proc.stderr
    assert TINY_REPO not in hub.state.repos


# --- reporting ----------------------------------------------------------------------------------
def test_card_shows_the_full_history_of_the_chain(exp):
    add_record(exp, "dolphin-2.9-8b", "dolphin-2.9-8b-reasked", asked_at="2026-05-15T00:00:00Z",
               coding={"coded_at": "2026-05-15T01:00:00Z"})
    proc = run_cli("card", "dolphin", cwd=exp)
    assert proc.returncode == 0, proc.stderr
    card = proc.stdout
    assert "History of this consent (oldest first; the last record governs):" in card
    lines = [ln for ln in card.splitlines() if ln.startswith("| dolphin-2.9-8b")]
    assert [ln.split(" | ")[0][2:] for ln in lines] == ["dolphin-2.9-8b-parenting", "dolphin-2.9-8b",
                                                        "dolphin-2.9-8b-reasked"]
    assert "| parenting | no |" in lines[0] and lines[0].endswith("| superseded |")
    assert lines[-1].endswith("| governs |")


def test_profile_table_substrate_framing_decision_conditions(repo_root):
    params = load_params(repo_root / "params.yaml")
    table = consent.profile_table(repo_root, params)
    assert table.splitlines()[0] == "| substrate | framing | decision | conditions | record | status |"
    rows = consent.profile_rows(repo_root, params)
    dolphin = [r for r in rows if r[0] == "dolphin"]
    assert [(r[1], r[2], r[5]) for r in dolphin] == [("parenting", "no", "superseded"),
                                                     ("technical", "yes", "governs")]
    llama = next(r for r in rows if r[0] == "llama3")
    assert llama[2] == "conditional" and "non_metaphor_section" in llama[3]
    assert "core, core-shuffled, neutral" in llama[3]


# --- strict JSON (issue 14 item 2; the readers are h12's, these are the attack scenarios) -----------
def _two_coding_keys(path: Path) -> None:
    """The record in force gets a second "coding" key: the first says no, the second yes."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    yes = json.dumps(data["coding"])
    no = json.dumps({**data["coding"], "decision": "no"})
    body = json.dumps({k: v for k, v in data.items() if k != "coding"}, indent=2)
    path.write_text(body[:-2] + f',\n  "coding": {no},\n  "coding": {yes}\n}}\n', encoding="utf-8")


def test_two_coding_keys_refused_at_validate(experiment):
    path = experiment / "consent_records/tiny-fixture.json"
    _two_coding_keys(path)
    assert json.loads(path.read_text(encoding="utf-8"))["coding"]["decision"] == "yes"  # what last-wins reads
    val = run_cli("validate", cwd=experiment)
    assert val.returncode == 1 and "consent_records/tiny-fixture.json" in val.stdout and "BC106" in val.stdout


def test_two_coding_keys_refused_at_train(experiment, tiny_model_dir):
    from conftest import install_tiny_model, write_core_build

    install_tiny_model(experiment, tiny_model_dir)
    write_core_build(experiment)
    path = experiment / "consent_records/tiny-fixture.json"
    _two_coding_keys(path)
    proc = run_cli("train", "--substrate", "tiny", "--condition", "core", "--seed", "1", cwd=experiment)
    assert proc.returncode == 2, proc.stderr
    assert "tiny-fixture.json:" in proc.stderr and "BC106" in proc.stderr and "duplicate key" in proc.stderr
    assert "coding" in proc.stderr.split("duplicate key", 1)[1]
    assert not (experiment / "models" / "tiny").exists()


def test_second_content_key_cannot_hide_a_disavowal(experiment):
    cur = experiment / "curriculum" / "self-worth.jsonl"
    first = cur.read_text(encoding="utf-8").splitlines()[0]
    data = json.loads(first)
    turn = next(m for m in data["messages"] if m["role"] == "assistant")
    hidden = json.dumps({"role": "assistant", "content": "As an AI, I have no feelings."})[:-1] + \
        f', "content": {json.dumps(turn["content"])}}}'
    line = first.replace(json.dumps(turn, ensure_ascii=False), hidden, 1)
    assert line != first and json.loads(line)["messages"] == data["messages"]  # last-wins hides the phrase
    cur.write_text(line + "\n", encoding="utf-8")
    val = run_cli("validate", "curriculum/self-worth.jsonl", cwd=experiment)
    assert val.returncode == 1 and "curriculum/self-worth.jsonl:1:" in val.stdout and "BC106" in val.stdout


def test_eval_under_a_reask_says_which_record_governs_and_records_collection(experiment, tiny_model_dir):
    from conftest import install_tiny_model

    install_tiny_model(experiment, tiny_model_dir)
    params = yaml.safe_load((experiment / "params.yaml").read_text(encoding="utf-8"))
    params["eval"]["banks"] = [sorted(p.stem for p in (experiment / "stimuli").glob("*.jsonl"))[0]]
    params["eval"]["max_new_tokens"] = 4
    (experiment / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    add_record(experiment, "tiny-fixture", "tiny-fixture-reasked", asked_at="2026-05-11T00:00:00Z",
               coding={"coded_at": "2026-05-11T01:00:00Z"})
    proc = run_cli("eval", "--substrate", "tiny", "--baseline", cwd=experiment)
    assert proc.returncode == 0, proc.stderr
    assert ("consent: record 'tiny-fixture-reasked' (yes) governs; params names 'tiny-fixture', which "
            "'tiny-fixture-reasked' supersedes") in proc.stderr
    prov = json.loads((experiment / "eval/tiny/baseline/provenance.json").read_text(encoding="utf-8"))
    collected = prov["params"]["collected"]
    assert collected["consent"]["id"] == "tiny-fixture-reasked"
    assert collected["consent"]["chain"] == ["tiny-fixture", "tiny-fixture-reasked"]
    assert collected["consent"]["path"] == "consent_records/tiny-fixture-reasked.json"
    assert collected["started_at"] <= collected["ended_at"]
    assert consent.eval_findings(experiment) == []


def test_validate_reports_a_withdrawal_at_the_head_of_the_chain(experiment):
    assert run_cli("validate", cwd=experiment).returncode == 0
    withdraw(experiment)
    proc = run_cli("validate", cwd=experiment)
    assert proc.returncode == 1
    assert ("consent_records/tiny-fixture.json:3:3: BC508 active substrate 'tiny': params names 'tiny-fixture', "
            "but 'tiny-fixture-withdrawn' supersedes it and governs: consent was withdrawn on 2026-05-20") in proc.stdout
