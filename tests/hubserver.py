"""A loopback Hugging Face Hub for tests: the real ``huggingface_hub`` client talks to it.

Runs ``http.server`` in a thread on ``127.0.0.1`` (port 0) and keeps repos in
memory (commits, files, branches, tags). It speaks the subset of the Hub's HTTP
protocol that ``create_repo`` / ``create_commit`` / ``create_tag`` /
``model_info`` / ``list_repo_refs`` / ``hf_hub_download`` use (request and
response shapes read from huggingface_hub 1.33's ``hf_api.py``,
``_commit_api.py``, ``lfs.py`` and ``file_download.py``):

* ``POST /api/repos/create`` -> ``{"url"}``; 409 (with ``url``) when it exists; a new repo
  gets an initial commit holding ``.gitattributes``, like the Hub;
* ``POST /api/validate-yaml`` -> ``{"errors": [], "warnings": []}`` (400 if the front matter is not YAML);
* ``POST /api/models/{repo}/preupload/{rev}`` -> ``uploadMode`` (``lfs`` for ``*.safetensors`` and
  other binary patterns or files over 10 MB), ``shouldIgnore``, ``oid`` of the file already there;
* the **LFS** path (clients must set ``HF_HUB_DISABLE_XET=1``; the Xet CAS protocol is not
  implemented): ``POST /{repo}.git/info/lfs/objects/batch`` -> basic transfer with upload and
  verify hrefs, ``PUT`` of the bytes (sha256 checked), ``POST`` verify;
* ``POST /api/models/{repo}/commit/{rev}`` (ndjson: ``header``, ``file`` base64, ``lfsFile``,
  ``deletedFile``) -> ``{commitUrl, commitOid, pullRequestUrl}``; all-or-nothing;
* ``POST /api/models/{repo}/tag/{rev}`` (409 if the tag exists), ``GET /api/models/{repo}/refs``;
* ``GET /api/models/{repo}[/revision/{rev}]`` -> model info with ``sha`` and ``siblings``
  (``blobId``, ``size``, ``lfs``);
* ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` -> the bytes, ``X-Repo-Commit``, ``ETag``;
* ``GET /api/models/{repo}/tree/{rev}[/{path}]`` -> the files (``list_repo_tree``, used by
  ``snapshot_download``; one page, files only).

Auth: ``Authorization: Bearer <token>``; :attr:`HubState.tokens` maps a token to
``"write"``, ``"read"`` (403 on writes) or ``"expired"`` (401, with the Hub's
``Invalid credentials in Authorization header`` message). Faults: :meth:`HubState.fail`
makes the next matching request answer an HTTP status or drop the connection
without a response. Every request is logged (:attr:`HubState.log`) with its body and
headers, minus ``Authorization``, so tests can check what reached the "Hub".
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.gguf", "*.zip",
                "*.tar.gz", "*.pkl", "*.pickle", "*.npy", "*.parquet")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()
REGULAR_MAX = 10 * 1024 * 1024
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
REPO = r"(?P<repo>[^/]+/[^/]+)"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredFile:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def oid(self) -> str:
        """What preupload reports: sha256 for LFS files, the git blob id otherwise."""
        return self.sha256 if self.lfs else git_blob_id(self.data)


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    files: dict[str, StoredFile]


@dataclass
class Repo:
    repo_id: str
    private: bool
    gated: str | bool = False  #: False, "auto" or "manual" (PUT /api/models/{repo}/settings)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    tag_messages: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        rev = unquote(rev)
        oid = self.branches.get(rev) or self.tags.get(rev) or (rev if rev in self.commits else None)
        return self.commits.get(oid) if oid else None


@dataclass
class Fault:
    method: str
    path_regex: str
    action: str  #: "drop" or an HTTP status code as text
    times: int


@dataclass
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]  #: without Authorization
    body: bytes
    status: int | None = None


class HubState:
    """The server's memory: repos, LFS objects, tokens, faults and the request log."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.tokens: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        self.responses: list[bytes] = []
        self._n = 0

    def fail(self, method: str, path_regex: str, action: str | int, times: int = 1) -> None:
        """Make the next ``times`` requests matching ``method`` and ``path_regex`` fail."""
        with self.lock:
            self.faults.append(Fault(method.upper(), path_regex, str(action), times))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and f.method == method and re.search(f.path_regex, path):
                    f.times -= 1
                    return f
        return None

    def new_oid(self, *parts: str) -> str:
        with self.lock:
            self._n += 1
            return hashlib.sha1("\0".join((str(self._n), *parts)).encode()).hexdigest()

    def create_repo(self, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_id, private)
        first = Commit(self.new_oid(repo_id, "initial"), None, "initial commit", "",
                       {".gitattributes": StoredFile(GITATTRIBUTES, lfs=False)})
        repo.commits[first.oid] = first
        repo.branches["main"] = first.oid
        self.repos[repo_id] = repo
        return repo

    def files(self, repo_id: str, rev: str = "main") -> dict[str, bytes]:
        """path -> bytes at ``rev`` (for assertions)."""
        commit = self.repos[repo_id].resolve(rev)
        assert commit is not None, f"no revision {rev} in {repo_id}"
        return {p: f.data for p, f in commit.files.items()}


class _Handler(BaseHTTPRequestHandler):
    server_version = "loopback-hub/1"
    protocol_version = "HTTP/1.0"

    # --- plumbing --------------------------------------------------------------------------
    @property
    def state(self) -> HubState:
        return self.server.state  # type: ignore[attr-defined]

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]  # type: ignore[misc]
        return f"http://{host}:{port}"

    def log_message(self, format, *args) -> None:  # noqa: A002 - silence stderr logging
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json", head: bool = False) -> None:
        self._logged.status = status
        self.state.responses.append(body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers)

    def _auth(self, write: bool) -> bool:
        """Check the bearer token; answer 401/403 and return False when refused."""
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        kind = self.state.tokens.get(token or "")
        if kind in (None, "expired"):
            self._error(401, INVALID_CREDENTIALS)
            return False
        if write and kind != "write":
            self._error(403, "You don't have the rights to write to this namespace")
            return False
        return True

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
        return repo

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        body = self._read_body() if method in ("POST", "PUT") else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        self._logged = LoggedRequest(method, self.path, headers, body)
        with self.state.lock:
            self.state.log.append(self._logged)
        fault = self.state.take_fault(method, path)
        if fault is not None:
            if fault.action == "drop":
                self._logged.status = -1
                self.close_connection = True
                return  # no response at all: the client sees the connection drop
            self._error(int(fault.action), f"injected fault {fault.action}")
            return
        for verb, pattern, handler in ROUTES:
            if verb != method:
                continue
            m = re.fullmatch(pattern, path)
            if m:
                with self.state.lock:
                    handler(self, body=body, query=query, **m.groupdict())
                return
        self._error(404, f"no route for {method} {path}")

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    # --- endpoints -------------------------------------------------------------------------
    def create_repo(self, body: bytes, query, **_) -> None:
        if not self._auth(write=True):
            return
        payload = json.loads(body or b"{}")
        if payload.get("type", "model") != "model":
            self._error(400, "this loopback Hub only holds model repos")
            return
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        url = f"{self.base}/{repo_id}"
        if repo_id in self.state.repos:
            self._json(409, {"error": "You already created this model repo", "url": url},
                       {"X-Error-Message": "You already created this model repo"})
            return
        private = payload.get("visibility") == "private" or payload.get("private") is True
        self.state.create_repo(repo_id, private)
        self._json(200, {"url": url, "name": repo_id})

    def validate_yaml(self, body: bytes, query, **_) -> None:
        content = json.loads(body).get("content", "")
        m = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        if m:
            try:
                meta = yaml.safe_load(m.group(1))
                if meta is not None and not isinstance(meta, dict):
                    raise yaml.YAMLError("metadata is not a mapping")
            except yaml.YAMLError as e:
                self._json(400, {"error": f"Invalid YAML in README.md metadata: {e}"})
                return
        self._json(200, {"errors": [], "warnings": []})

    def preupload(self, body: bytes, query, repo: str, rev: str) -> None:
        if not self._auth(write=True):
            return
        r = self._repo(repo)
        if r is None:
            return
        commit = r.resolve(rev)
        out = []
        for f in json.loads(body)["files"]:
            lfs = any(fnmatch.fnmatch(f["path"], p) for p in LFS_PATTERNS) or f["size"] > REGULAR_MAX
            existing = commit.files.get(f["path"]) if commit else None
            out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                        "oid": existing.oid if existing else None})
        self._json(200, {"files": out, "commitOid": commit.oid if commit else None})

    def lfs_batch(self, body: bytes, query, repo: str) -> None:
        if not self._auth(write=True):
            return
        if self._repo(repo) is None:
            return
        payload = json.loads(body)
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.state.lfs:
                entry["actions"] = {
                    "upload": {"href": f"{self.base}/_lfs/upload/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{self.base}/_lfs/verify/{repo}", "header": {}},
                }
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def lfs_upload(self, body: bytes, query, oid: str) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            self._error(400, "uploaded bytes do not match the oid")
            return
        self.state.lfs[oid] = body
        self._send(200)

    def lfs_verify(self, body: bytes, query, repo: str) -> None:
        if not self._auth(write=True):
            return
        payload = json.loads(body)
        data = self.state.lfs.get(payload["oid"])
        if data is None or len(data) != payload["size"]:
            self._error(404, "object not found")
            return
        self._json(200, {})

    def commit(self, body: bytes, query, repo: str, rev: str) -> None:
        if not self._auth(write=True):
            return
        r = self._repo(repo)
        if r is None:
            return
        head = r.resolve(rev)
        if head is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return
        lines = [json.loads(ln) for ln in body.splitlines() if ln.strip()]
        if not lines or lines[0].get("key") != "header":
            self._error(400, "the first line must be the commit header")
            return
        header = lines[0]["value"]
        if header.get("parentCommit") and header["parentCommit"] != head.oid:
            self._error(412, "A commit has happened since. Please refresh and try again.")
            return
        files = dict(head.files)
        for item in lines[1:]:
            key, value = item["key"], item["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    self._error(400, "only base64 file content is supported")
                    return
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                data = self.state.lfs.get(value["oid"])
                if data is None:
                    self._error(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                    return
                files[value["path"]] = StoredFile(data, lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    self._error(404, "A file with this name doesn't exist", "EntryNotFound")
                    return
            else:
                self._error(400, f"unsupported commit operation {key}")
                return
        tree = "".join(f"{p}:{f.oid}" for p, f in sorted(files.items()))
        new = Commit(self.state.new_oid(repo, head.oid, header.get("summary", ""), tree), head.oid,
                     header.get("summary", ""), header.get("description", ""), files)
        r.commits[new.oid] = new
        r.branches[unquote(rev) if unquote(rev) in r.branches else "main"] = new.oid
        self._json(200, {"commitUrl": f"{self.base}/{repo}/commit/{new.oid}", "commitOid": new.oid,
                         "pullRequestUrl": None})

    def tag(self, body: bytes, query, repo: str, rev: str) -> None:
        if not self._auth(write=True):
            return
        r = self._repo(repo)
        if r is None:
            return
        target = r.resolve(rev)
        if target is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return
        payload = json.loads(body)
        if payload["tag"] in r.tags:
            self._error(409, f"Tag {payload['tag']} already exists")
            return
        r.tags[payload["tag"]] = target.oid
        r.tag_messages[payload["tag"]] = payload.get("message", "")
        self._json(200, {})

    def refs(self, body: bytes, query, repo: str) -> None:
        if not self._auth(write=False):
            return
        r = self._repo(repo)
        if r is None:
            return

        def ref(kind: str, name: str, oid: str) -> dict:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

        self._json(200, {"branches": [ref("heads", n, o) for n, o in r.branches.items()], "converts": [],
                         "tags": [ref("tags", n, o) for n, o in r.tags.items()]})

    def model_info(self, body: bytes, query, repo: str, rev: str = "main") -> None:
        if not self._auth(write=False):
            return
        r = self._repo(repo)
        if r is None:
            return
        commit = r.resolve(rev)
        if commit is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return
        siblings = []
        for p, f in sorted(commit.files.items()):
            s = {"rfilename": p, "size": len(f.data), "blobId": git_blob_id(f.data)}
            if f.lfs:
                s["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": 134}
            siblings.append(s)
        self._json(200, {"id": repo, "modelId": repo, "sha": commit.oid, "private": r.private, "gated": r.gated,
                         "tags": [], "siblings": siblings, "lastModified": "2026-01-01T00:00:00.000Z"})

    def tree(self, body: bytes, query, repo: str, rev: str, path: str = "") -> None:
        """``list_repo_tree`` (what ``snapshot_download`` lists): files only, one page, no folders."""
        if not self._auth(write=False):
            return
        r = self._repo(repo)
        if r is None:
            return
        commit = r.resolve(rev)
        if commit is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return
        prefix = unquote(path).strip("/")
        entries = []
        for p, f in sorted(commit.files.items()):
            if prefix and not p.startswith(prefix + "/"):
                continue
            e = {"type": "file", "oid": git_blob_id(f.data), "size": len(f.data), "path": p}
            if f.lfs:
                e["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": 134}
            entries.append(e)
        self._json(200, entries)

    def resolve_file(self, body: bytes, query, repo: str, rev: str, file: str, head: bool = False) -> None:
        if not self._auth(write=False):
            return
        r = self._repo(repo)
        if r is None:
            return
        commit = r.resolve(rev)
        if commit is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return
        f = commit.files.get(file)
        if f is None:
            self._error(404, "Entry not found", "EntryNotFound")
            return
        etag = f.sha256 if f.lfs else git_blob_id(f.data)
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{etag}"'}
        if f.lfs:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(f.data))
        self._logged.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(f.data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(f.data)

    def resolve_head(self, **kw) -> None:
        self.resolve_file(head=True, **kw)


def _settings(self, body: bytes, query, repo: str) -> None:
    """``PUT /api/models/{repo}/settings`` as huggingface_hub's ``update_repo_settings`` sends it:
    a JSON body with ``gated`` ("auto", "manual" or false) and/or ``visibility``
    ("public" or "private"; older clients send ``private``: bool)."""
    if not self._auth(write=True):
        return
    r = self._repo(repo)
    if r is None:
        return
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        self._error(400, "invalid JSON body")
        return
    if not payload:
        self._error(400, "no setting to update")
        return
    if "gated" in payload:
        if payload["gated"] not in ("auto", "manual", False):
            self._error(400, f"invalid gated value {payload['gated']!r}")
            return
        r.gated = payload["gated"]
    if "visibility" in payload:
        if payload["visibility"] not in ("public", "private"):
            self._error(400, f"invalid visibility {payload['visibility']!r}")
            return
        r.private = payload["visibility"] == "private"
    if "private" in payload:
        r.private = bool(payload["private"])
    self._json(200, {"private": r.private, "gated": r.gated})


ROUTES = [
    ("PUT", rf"/api/models/{REPO}/settings", _settings),
    ("POST", r"/api/repos/create", _Handler.create_repo),
    ("POST", r"/api/validate-yaml", _Handler.validate_yaml),
    ("POST", rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)", _Handler.preupload),
    ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
    ("PUT", r"/_lfs/upload/(?P<oid>[0-9a-f]{64})", _Handler.lfs_upload),
    ("POST", rf"/_lfs/verify/{REPO}", _Handler.lfs_verify),
    ("POST", rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)", _Handler.commit),
    ("POST", rf"/api/models/{REPO}/tag/(?P<rev>[^/]+)", _Handler.tag),
    ("GET", rf"/api/models/{REPO}/refs", _Handler.refs),
    ("GET", rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)/(?P<path>.+)", _Handler.tree),
    ("GET", rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)", _Handler.tree),
    ("GET", rf"/api/models/{REPO}/revision/(?P<rev>[^/]+)", _Handler.model_info),
    ("GET", rf"/api/models/{REPO}", _Handler.model_info),
    ("GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", _Handler.resolve_file),
    ("HEAD", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", _Handler.resolve_head),
]


class LoopbackHub:
    """Context manager: ``with LoopbackHub() as hub: hub.url, hub.state``."""

    def __init__(self) -> None:
        self.state = HubState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="loopback-hub", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "LoopbackHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
