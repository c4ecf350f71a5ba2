"""The Python API (babyctl/__init__.py, babyctl/api.py) and docs/api.md, whose examples run here."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import babyctl
from babyctl import api
from conftest import copy_experiment

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```(python[^\n]*)\n(.*?)^```", re.S | re.M)


def doc_blocks() -> list[tuple[str, str]]:
    """(info string, code) of every python block of docs/api.md, in order."""
    return [(m.group(1).strip(), m.group(2)) for m in BLOCK.finditer(API_MD.read_text(encoding="utf-8"))]


def test_every_exported_name_resolves_and_import_stays_light():
    for name in babyctl.__all__:
        assert getattr(babyctl, name) is not None, name
    code = ("import sys, babyctl; from babyctl import load_study, train_adapter, publish_adapter, audit_repository; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'dvc', 'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert (ROOT / "babyctl" / "py.typed").is_file()


def test_api_md_documents_every_function_and_every_block_is_run_or_marked():
    text = API_MD.read_text(encoding="utf-8")
    functions = [n for n in api.__all__ if callable(getattr(api, n)) and n[0].islower()]
    missing = [n for n in functions if f"{n}(" not in text]
    assert missing == []
    infos = {info for info, _ in doc_blocks()}
    assert infos <= {"python", "python no-run"}, infos
    for info, code in doc_blocks():
        if info == "python no-run":
            assert code.lstrip().startswith("# not run by the docs test:"), code  # says why


def test_study_inputs_and_cwd_independence(experiment, tmp_path, monkeypatch):
    params = babyctl.load_params(experiment / "params.yaml")
    with pytest.raises(babyctl.UsageError, match="needs root="):
        babyctl.load_study(params)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    study = babyctl.load_study(os.path.relpath(experiment / "params.yaml"))
    monkeypatch.chdir(elsewhere)  # after loading, the working directory no longer matters
    built = babyctl.build_condition(study, "core")
    assert built.train_path == experiment / "data/build/core/train.jsonl" and built.n_train == 24
    params.conditions["core"].expected_count = 25  # a Params changed in memory is what runs
    with pytest.raises(babyctl.IntegrityError, match="expected_count is 25"):
        babyctl.build_condition(params, "core", root=experiment)
    outcome = babyctl.validate_study(experiment)  # a folder works for validate and audit
    assert outcome.errors == 0 and outcome.examples > 0
    assert not list(elsewhere.iterdir())


@pytest.mark.slow
def test_api_md_examples_run_as_written(tmp_path, monkeypatch, capsys):
    """Every `python` block of docs/api.md, in order, in one namespace, in a temp copy of the study
    (git + dvc init, so audit runs); trains and evaluates the tiny model on the CPU."""
    work = tmp_path / "work"
    work.mkdir()
    exp = copy_experiment(work / "my-study", with_dvc=True)
    shutil.copytree(ROOT / "profiles", exp / "profiles")  # the example study's settings profiles
    shutil.copytree(ROOT / "curriculum", work / "legacy-study" / "curriculum")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ns: dict = {"__name__": "api_md"}
    for info, code in doc_blocks():
        if info == "python":
            exec(compile(code, f"{API_MD}:block", "exec"), ns)
    out = capsys.readouterr().out
    assert ns["built"].n_train == 24 and ns["built"].train_path.is_file()
    assert ns["trained"].run_dir == exp / "models/tiny/core/seed-1" and ns["trained"].steps == 4
    assert (exp / "eval/tiny/baseline/scores.jsonl").is_file() and (exp / "eval/tiny/core/seed-1/scores.jsonl").is_file()
    assert (exp / "reports/report.md").is_file()
    assert ns["merged"] == exp / "exports/tiny/core/seed-1-merged" and (ns["merged"] / "provenance.json").is_file()
    assert ns["checked"].ran and ns["checked"].label == "tiny/baseline"
    assert ns["checked"].out_dir == exp / "eval-capability/tiny/baseline"
    assert [t["n"] for t in ns["checked"].tasks.values()] == [8]
    assert [d.item for d in ns["status"].deviations] == ["training"] and not ns["status"].deviations[0].explained
    assert ns["lock_path"] == exp / "preregistration/lock.json" and ns["amendment"].is_file()
    assert babyctl.preregistration_status(ns["short"]).unexplained == []
    assert (work / "new-study" / "params.yaml") in ns["created"].written and ns["changed"]
    assert ns["study"].params.profile == "tiny" and babyctl.load_study(exp / "params.yaml").params.profile == "8b"
    assert "training.lora.load_in_4bit" in ns["changed"]
    assert "## " in ns["card"] and ns["release"].tag.startswith("core-seed1-ds")
    assert not ns["result"].ok  # nothing was run through dvc: the outputs are untracked
    assert (work / "migrated-study" / "curriculum").is_dir()
    assert len(ns["written"]) == 8  # schemas, amendment and prereg-lock included
    assert "ParamsError params file not found" in out


def test_publish_verify_and_revoke_through_the_api(tmp_path, monkeypatch):
    """publish_adapter, verify_release and revoke_releases in-process against the loopback Hub
    (tests/hubserver.py) with the real huggingface_hub client, on a real git + DVC study
    (tests/publish_support.py), from a working folder outside the study."""
    from huggingface_hub import constants

    from hubserver import LoopbackHub
    from publish_support import commit_all, make_publish_experiment

    token, repo = "hf_loopbackAPItoken_0123456789", "babyctl-study/Tiny-Llama-ChatML-core-seed1"
    exp = make_publish_experiment(tmp_path / "exp")
    ledger_path, listed = babyctl.write_ledger(exp)
    assert ledger_path == exp / "SHA256SUMS" and listed > 0 and babyctl.check_ledger(exp) == []
    commit_all(exp, "ledger")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.chdir(tmp_path)
    with LoopbackHub() as hub:
        hub.state.tokens[token] = "write"
        out = babyctl.publish_adapter(exp / "params.yaml", "tiny", endpoint=hub.url, token=token)
        assert out.pushed is not None and out.pushed.repo_id == repo and hub.state.repos[repo].private is False
        target = f"{repo}@{out.pushed.tag}"
        result = babyctl.verify_release(target, study=exp / "params.yaml", endpoint=hub.url, token=token)
        assert result.ok, [str(m) for m in result.mismatches]
        assert result.study == str(exp) and result.commit == out.pushed.commit
        assert {"README.md", "SHA256SUMS", "adapter_model.safetensors", "provenance.json"} <= set(result.files)
        # the study's workspace copy of the run's provenance changes: verify against the study names it
        prov = exp / "models/tiny/core/seed-1/provenance.json"
        text = prov.read_text(encoding="utf-8")
        prov.unlink()
        prov.write_text(text + "\n", encoding="utf-8")
        alone = babyctl.verify_release(target, endpoint=hub.url, token=token)
        against = babyctl.verify_release(target, study=exp, endpoint=hub.url, token=token)
        assert alone.ok and alone.study is None
        assert not against.ok
        assert ("study", "provenance.json") in {(m.check, m.what) for m in against.mismatches}
        # revoke: private, then gated; one name or several
        revoked = babyctl.revoke_releases(repo, endpoint=hub.url, token=token)
        assert [(r.repo_id, r.private, r.gated) for r in revoked] == [(repo, True, False)]
        assert hub.state.repos[repo].private is True
        revoked = babyctl.revoke_releases([repo], gated=True, endpoint=hub.url, token=token)
        assert [r.gated for r in revoked] == ["manual"] and hub.state.repos[repo].gated == "manual"
        sent = len(hub.state.log)
        with pytest.raises(babyctl.UsageError, match="invalid repo id"):
            babyctl.revoke_releases([repo, "not a repo id"], endpoint=hub.url, token=token)
        assert len(hub.state.log) == sent  # every id is checked before any request
