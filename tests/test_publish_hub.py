"""`babyctl publish` against a loopback Hub, with the real huggingface_hub client.

The Hub is mocked (tests/hubserver.py: it speaks the Hub's HTTP protocol on 127.0.0.1)
because the public Hub cannot be reached here. The client takes the LFS path
(HF_HUB_DISABLE_XET=1); the Xet CAS protocol is not implemented by the loopback server.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import commit_all, copy_repo, run_cli
from hubserver import LoopbackHub
from publish_support import hub_env, make_publish_experiment

from babyctl.publish.stage import ALLOWLIST

TOKEN = "hf_loopbackSECRETtoken_0123456789"
REPO = "babyctl-study/Tiny-Llama-ChatML-core-seed1"
STAGED = Path("releases/tiny/core/seed-1")


@pytest.fixture(scope="module")
def base_exp(tmp_path_factory) -> Path:
    return make_publish_experiment(tmp_path_factory.mktemp("hub") / "exp")


@pytest.fixture
def exp(base_exp, tmp_path) -> Path:
    return copy_repo(base_exp, tmp_path / "exp")


@pytest.fixture
def hub():
    with LoopbackHub() as h:
        h.state.tokens[TOKEN] = "write"
        yield h


@pytest.fixture
def outputs():
    """Every stdout/stderr a test's CLI runs produced (scanned for the token)."""
    return []


def publish(exp: Path, hub: LoopbackHub, outputs: list, *args: str, token: str | None = TOKEN):
    env = hub_env(hub.url, exp, token or "")
    proc = run_cli("publish", "tiny", *args, cwd=exp, env=env)
    outputs.append(proc.stdout + proc.stderr)
    return proc


def tag_name(hub: LoopbackHub) -> list[str]:
    return list(hub.state.repos[REPO].tags)


def assert_token_absent(exp: Path, hub: LoopbackHub, outputs: list) -> None:
    secret = TOKEN.encode()
    for text in outputs:
        assert TOKEN not in text
    for f in exp.parent.rglob("*"):
        if f.is_file():
            assert secret not in f.read_bytes(), f
    for req in hub.state.log:
        assert secret not in req.body and all(TOKEN not in v for v in req.headers.values()), req.path
    for body in hub.state.responses:
        assert secret not in body


def test_publish_uploads_identical_files_and_tags_the_commit(exp, hub, outputs, tmp_path, monkeypatch):
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 0, proc.stderr
    repo = hub.state.repos[REPO]
    staged = {p.name: p.read_bytes() for p in (exp / STAGED).iterdir()}
    assert set(staged) == ALLOWLIST
    remote = hub.state.files(REPO, "main")
    assert {k: v for k, v in remote.items() if k != ".gitattributes"} == staged
    # exactly one commit on top of the Hub's initial one, tagged
    [tag] = repo.tags
    assert tag.startswith("core-seed1-ds") and repo.tags[tag] == repo.branches["main"]
    assert repo.commits[repo.branches["main"]].parent is not None
    assert f"commit {repo.tags[tag]}" in proc.stdout
    commits = [r for r in hub.state.log if "/commit/" in r.path]
    assert len(commits) == 1
    # the safetensors went through LFS, and the real client downloads the same bytes
    assert any(r.method == "PUT" and r.path.startswith("/_lfs/upload/") for r in hub.state.log)
    from huggingface_hub import constants, hf_hub_download

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name, data in staged.items():
        path = hf_hub_download(REPO, name, revision=tag, endpoint=hub.url, token=TOKEN, cache_dir=tmp_path / "dl")
        assert Path(path).read_bytes() == data, name
    assert_token_absent(exp, hub, outputs)


def test_second_publish_changes_nothing(exp, hub, outputs):
    assert publish(exp, hub, outputs).returncode == 0
    repo = hub.state.repos[REPO]
    state = (dict(repo.branches), dict(repo.tags), len(repo.commits))
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 0, proc.stderr
    assert "no new commit" in proc.stdout and "tag already there" in proc.stdout
    assert (dict(repo.branches), dict(repo.tags), len(repo.commits)) == state
    assert sum("/commit/" in r.path for r in hub.state.log) == 1


def test_failed_upload_leaves_no_tag_and_no_partial_release(exp, hub, outputs):
    hub.state.fail("POST", r"/commit/", "drop")  # the connection drops while the commit is sent
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 2
    assert "network error while uploading and committing the release" in proc.stderr
    assert "Nothing was tagged" in proc.stderr and "running the same command again" in proc.stderr
    assert "Traceback" not in proc.stderr
    repo = hub.state.repos[REPO]
    assert repo.tags == {}
    assert set(hub.state.files(REPO, "main")) == {".gitattributes"}  # nothing partial on main
    # retry: succeeds, and the LFS bytes already uploaded are not sent again
    puts = sum(r.method == "PUT" for r in hub.state.log)
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 0, proc.stderr
    assert sum(r.method == "PUT" for r in hub.state.log) == puts
    assert len(repo.tags) == 1
    assert_token_absent(exp, hub, outputs)


def test_server_error_midway(exp, hub, outputs):
    hub.state.fail("POST", r"/commit/", 500)
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 2
    assert "the Hub failed while uploading and committing the release (HTTP 500)" in proc.stderr
    assert "Retry" in proc.stderr
    assert hub.state.repos[REPO].tags == {}


def test_expired_token(exp, hub, outputs):
    hub.state.tokens[TOKEN] = "expired"
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 2
    assert "rejected the token" in proc.stderr and "(401)" in proc.stderr and "expired" in proc.stderr
    assert REPO not in hub.state.repos
    assert_token_absent(exp, hub, outputs)


def test_no_permission(exp, hub, outputs):
    hub.state.tokens[TOKEN] = "read"
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 2
    assert f"no permission to write to {REPO}" in proc.stderr and "(403)" in proc.stderr
    assert REPO not in hub.state.repos


def test_no_token_at_all(exp, hub, outputs):
    proc = publish(exp, hub, outputs, token=None)
    assert proc.returncode == 2 and "no Hugging Face token" in proc.stderr
    assert hub.state.log == []


def test_private_repo(exp, hub, outputs):
    assert publish(exp, hub, outputs, "--private").returncode == 0
    assert hub.state.repos[REPO].private is True


def test_tag_of_a_different_release_is_never_moved(exp, hub, outputs):
    assert publish(exp, hub, outputs).returncode == 0
    repo = hub.state.repos[REPO]
    before = (dict(repo.tags), len(repo.commits))
    # same run, same dataset -> same tag name, but the card now differs
    params = (exp / "params.yaml").read_text()
    (exp / "params.yaml").write_text(params.replace("curriculum design", "curriculum design and analysis"))
    commit_all(exp)
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 1
    assert "already names a different release" in proc.stderr and "never moved" in proc.stderr
    assert (dict(repo.tags), len(repo.commits)) == before


def test_extra_files_on_main_are_removed_from_the_release_commit(exp, hub, outputs, monkeypatch):
    from huggingface_hub import HfApi, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo(REPO)
    api.upload_file(path_or_fileobj=b"stale", path_in_repo="optimizer.pt", repo_id=REPO)
    assert publish(exp, hub, outputs).returncode == 0
    [tag] = hub.state.repos[REPO].tags
    assert set(hub.state.files(REPO, tag)) == ALLOWLIST | {".gitattributes"}


def test_tag_failure_after_the_commit_is_finished_by_a_rerun(exp, hub, outputs):
    hub.state.fail("POST", r"/tag/", 500)
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 2 and "complete on the Hub but not tagged yet" in proc.stderr
    repo = hub.state.repos[REPO]
    assert repo.tags == {}
    head = repo.branches["main"]
    proc = publish(exp, hub, outputs)
    assert proc.returncode == 0, proc.stderr
    assert "no new commit" in proc.stdout and repo.branches["main"] == head and list(repo.tags.values()) == [head]
