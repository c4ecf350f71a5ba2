"""Push a staged release to the Hugging Face Hub: one commit, then one tag.

Order: ``create_repo(exist_ok=True)`` -> is the tag there already? -> one
``create_commit`` with every file (plus deletions of anything else on ``main``,
so the tagged tree is exactly the release) -> ``create_tag`` on that commit.

* A Hub commit is atomic server-side, and the tag is created only after the
  commit succeeded: a failed upload leaves no tag and no partial release.
* Publishing the same files again makes no new commit: if the tag exists and its
  tree has the same files (SHA-256 for LFS files, git blob id for the others),
  nothing is sent; if ``main`` already has them, only the tag is added.
* A tag that exists on a *different* release is never moved: refused.

The token comes from ``HF_TOKEN`` or the huggingface login
(``huggingface_hub.get_token()``). It is passed to the client only; it is never
printed, logged or written, and every error message is scrubbed of it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentProblem, GateRefused
from ..fsutil import sha256_file

HUB_MANAGED = frozenset({".gitattributes"})  #: files the Hub itself creates in a new repo


class HubError(EnvironmentProblem):
    """The Hub could not be reached or refused the request (exit code 2)."""


class HubAuthError(HubError):
    """No token, or the Hub rejected it (401)."""


class HubPermissionError(HubError):
    """The token is valid but may not write to the repo (403)."""


class HubNetworkError(HubError):
    """The connection failed or the Hub failed (5xx) midway."""


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    commit: str
    tag: str
    new_commit: bool
    new_tag: bool
    url: str


def resolve_token(token: str | None = None) -> str:
    """The token to use: explicit, else ``HF_TOKEN``, else the saved login."""
    from ..secrets import register

    if token:
        register(token)  # scrubbed from everything babyctl writes from now on
        return token
    from huggingface_hub import get_token

    found = get_token()
    if not found:
        raise HubAuthError("no Hugging Face token: set HF_TOKEN or log in with `hf auth login`")
    register(found)
    return found


def git_blob_id(data: bytes) -> str:
    """git's object id for a blob (what the Hub reports for non-LFS files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _local_ids(files: list[Path]) -> dict[str, tuple[str, str]]:
    return {f.name: (sha256_file(f), git_blob_id(f.read_bytes())) for f in files}


def _remote_ids(api, repo_id: str, revision: str) -> tuple[str, dict[str, tuple[str | None, str | None]]]:
    """(commit sha, path -> (lfs sha256 or None, blob id)) of ``revision``."""
    info = api.model_info(repo_id, revision=revision, files_metadata=True)
    files = {s.rfilename: (s.lfs.sha256 if s.lfs else None, s.blob_id) for s in (info.siblings or [])}
    return info.sha, files


def _same(local: dict[str, tuple[str, str]], remote: dict[str, tuple[str | None, str | None]]) -> bool:
    names = set(remote) - HUB_MANAGED
    if names != set(local):
        return False
    for name, (sha, blob) in local.items():
        r_sha, r_blob = remote[name]
        if not (r_sha == sha if r_sha is not None else r_blob == blob):
            return False
    return True


def _scrub(text: str, token: str) -> str:
    from ..secrets import scrub_text

    return scrub_text(text, [token]) if token else text


def _translate(err: Exception, *, step: str, repo_id: str, token: str) -> HubError:
    """Map a client exception to a typed babyctl error with advice (never the token)."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if step.startswith("creating tag"):
        retry = ("The release commit is complete on the Hub but not tagged yet. Retry by running the same "
                 "command again: it finds the files there and only adds the tag.")
    else:
        retry = ("Nothing was tagged and no partial release exists (a Hub commit is atomic and the tag comes "
                 "only after it). Retry by running the same command again: files already on the Hub are not "
                 "re-sent.")
    if isinstance(err, OfflineModeIsEnabled):
        return HubError("HF_HUB_OFFLINE is set: unset it (or set HF_HUB_OFFLINE=0) to publish")
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        code = err.response.status_code
        server = _scrub(str(getattr(err, "server_message", "") or "").strip(), token)
        detail = f" (server said: {server})" if server else ""
        if code == 401:
            return HubAuthError(f"the Hub rejected the token while {step} (401): it is expired, revoked or "
                                f"invalid. Log in again (`hf auth login`) or set a fresh HF_TOKEN{detail}")
        if code == 403:
            return HubPermissionError(f"no permission to write to {repo_id} while {step} (403): the token needs "
                                      f"write access to the namespace {repo_id.split('/')[0]!r}{detail}")
        if code == 404:
            return HubError(f"{repo_id} was not found while {step} (404){detail}")
        if code >= 500 or code == 429:
            return HubNetworkError(f"the Hub failed while {step} (HTTP {code}){detail}. {retry}")
        return HubError(f"the Hub refused the request while {step} (HTTP {code}){detail}")
    return HubNetworkError(f"network error while {step}: {_scrub(_describe(err), token)}. {retry}")


def _describe(err: BaseException) -> str:
    parts = []
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        parts.append(f"{type(err).__name__}: {err}".strip().rstrip(":"))
        err = err.__cause__ or err.__context__
    return " <- ".join(parts[:3])


def push(folder: Path, files: list[Path], *, repo_id: str, tag: str, private: bool = False,
         commit_message: str, commit_description: str = "", tag_message: str = "",
         endpoint: str | None = None, token: str | None = None) -> PushResult:
    """Upload ``files`` (all in ``folder``) as one commit to ``repo_id`` and tag it ``tag``."""
    import httpx
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RevisionNotFoundError

    token = resolve_token(token)
    api = HfApi(endpoint=endpoint, token=token)
    local = _local_ids(files)
    step = "creating the repo"
    try:
        repo_url = api.create_repo(repo_id, exist_ok=True, private=private)
        step = "reading the repo's tags"
        refs = api.list_repo_refs(repo_id)
        existing = next((t for t in refs.tags if t.name == tag), None)
        if existing is not None:
            step = f"reading tag {tag}"
            _, remote = _remote_ids(api, repo_id, existing.target_commit)
            if _same(local, remote):
                return PushResult(repo_id, existing.target_commit, tag, False, False, str(repo_url))
            raise GateRefused(f"{repo_id}: tag {tag!r} already names a different release (commit "
                              f"{existing.target_commit}); a release tag is never moved. Publish a new run "
                              "or delete the tag on the Hub deliberately.")
        step = "reading the main branch"
        try:
            head, remote = _remote_ids(api, repo_id, "main")
        except RevisionNotFoundError:
            head, remote = None, {}
        if head is not None and _same(local, remote):
            commit, new_commit = head, False
        else:
            ops: list = [CommitOperationAdd(path_in_repo=f.name, path_or_fileobj=str(f)) for f in files]
            ops += [CommitOperationDelete(path_in_repo=name) for name in sorted(set(remote) - set(local) - HUB_MANAGED)]
            step = "uploading and committing the release"
            info = api.create_commit(repo_id, ops, commit_message=commit_message,
                                     commit_description=commit_description)
            commit, new_commit = info.oid, True
        step = f"creating tag {tag}"
        api.create_tag(repo_id, tag=tag, revision=commit, tag_message=tag_message or commit_message)
        return PushResult(repo_id, commit, tag, new_commit, True, str(repo_url))
    except GateRefused:
        raise
    except (HfHubHTTPError, OfflineModeIsEnabled, httpx.HTTPError, OSError, RuntimeError, ValueError) as err:
        raise _translate(err, step=step, repo_id=repo_id, token=token) from None
