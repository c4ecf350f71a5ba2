"""What DVC tracks, read without importing DVC: ``dvc.lock`` and ``*.dvc`` entries, walked
and hashed the way DVC does.

* ``dvc.lock`` and ``.dvc`` files are parsed with PyYAML; errors name the file and line.
* A directory is expanded by walking the workspace folder, leaving out what ``.dvcignore``
  files exclude (gitignore syntax, via ``pathspec`` as DVC itself uses) and ``.git``/``.dvc``.
* A directory's DVC hash is the MD5 of ``json.dumps(sorted [{"md5", "relpath"}], sort_keys=True)``
  plus the suffix ``.dir`` -- ``dvc_data.hashfile.tree.Tree.as_bytes``/``digest`` in dvc-data 3
  (``tests/test_audit.py`` checks this against what ``dvc repro`` records).
* Files are read once for MD5 and SHA-256 together, several files at a time (hashlib releases
  the GIL on large buffers).

Symlinks that resolve outside the repository (and outside DVC's cache) are refused.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

import yaml

from .errors import InputError

LOCK = "dvc.lock"
ALWAYS_IGNORED_DIRS = {".git", ".dvc", ".hg"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One path recorded in dvc.lock (a stage dep/out) or a .dvc file."""

    path: str  # POSIX, relative to the repository root
    md5: str | None  # "<hex>" for a file, "<hex>.dir" for a folder; None for params files
    kind: str  # "out", "dep", "params" or "dvc-file"
    source: str  # "dvc.lock:<stage>" or "<x>.dvc"
    hash_name: str = "md5"
    nfiles: int | None = None

    @property
    def is_dir(self) -> bool:
        return bool(self.md5 and self.md5.endswith(".dir"))


@dataclass(frozen=True)
class Hashes:
    md5: str
    sha256: str
    size: int


@dataclass
class Tracked:
    """Everything DVC tracks in one repository."""

    root: Path
    entries: list[Entry] = field(default_factory=list)
    stages: dict[str, dict] = field(default_factory=dict)  # raw dvc.lock stages

    def paths(self) -> list[str]:
        return sorted({e.path for e in self.entries})


# --- reading dvc.lock and .dvc files ----------------------------------------------------------
def _load_yaml(path: Path, root: Path) -> object:
    rel = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=rel)
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8 (corrupted?)", path=rel)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(f"corrupted: invalid YAML: {getattr(e, 'problem', e)}", path=rel,
                         line=mark.line + 1 if mark else None)


def safe_relpath(raw: object, source: str) -> str:
    """A normalised POSIX path inside the repository, or :class:`InputError`."""
    if not isinstance(raw, str) or not raw:
        raise InputError(f"path entry is not a non-empty string: {raw!r}", path=source)
    p = PurePosixPath(raw.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or raw.startswith("~"):
        raise InputError(f"path {raw!r} points outside the repository (refused)", path=source)
    norm = p.as_posix()
    if norm in ("", "."):
        raise InputError(f"path {raw!r} names the repository root", path=source)
    return norm


def _entry(item: object, kind: str, source: str, base: PurePosixPath, where: str) -> Entry:
    if not isinstance(item, dict) or "path" not in item:
        raise InputError(f"corrupted: a {kind} entry without a path: {item!r}", path=where)
    rel = safe_relpath((base / str(item["path"])).as_posix() if str(base) != "." else item["path"], where)
    md5 = item.get("md5")
    if md5 is not None and not isinstance(md5, str):
        raise InputError(f"corrupted: md5 of {rel} is not a string", path=where)
    hash_name = item.get("hash", "md5-dos2unix")  # DVC 2 entries have no `hash:` and use dos2unix MD5
    return Entry(path=rel, md5=md5, kind=kind, source=source, hash_name=hash_name, nfiles=item.get("nfiles"))


def read_lock(root: Path) -> tuple[list[Entry], dict[str, dict]]:
    """Entries and raw stages of ``dvc.lock`` (empty when there is none)."""
    lock = root / LOCK
    if not lock.exists():
        return [], {}
    data = _load_yaml(lock, root)
    if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
        raise InputError("corrupted: expected a mapping with `stages:`", path=LOCK, line=1)
    stages = data.get("stages") or {}
    entries: list[Entry] = []
    for name, stage in stages.items():
        if not isinstance(stage, dict):
            raise InputError(f"corrupted: stage {name!r} is not a mapping", path=LOCK)
        src = f"{LOCK}:{name}"
        for kind in ("deps", "outs"):
            items = stage.get(kind) or []
            if not isinstance(items, list):
                raise InputError(f"corrupted: {kind} of stage {name!r} is not a list", path=LOCK)
            for item in items:
                entries.append(_entry(item, kind[:-1], src, PurePosixPath("."), LOCK))
        params = stage.get("params") or {}
        if not isinstance(params, dict):
            raise InputError(f"corrupted: params of stage {name!r} is not a mapping", path=LOCK)
        for pfile in params:
            entries.append(Entry(path=safe_relpath(pfile, LOCK), md5=None, kind="params", source=src))
    return entries, stages


def find_dvc_files(root: Path) -> list[Path]:
    """``*.dvc`` files in the repository (respecting .dvcignore)."""
    ignore = DvcIgnore(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        rel_dir = d.relative_to(root).as_posix()
        dirnames[:] = sorted(n for n in dirnames if n not in ALWAYS_IGNORED_DIRS
                             and not ignore.ignored(_join(rel_dir, n), is_dir=True))
        for n in filenames:
            if n.endswith(".dvc") and not ignore.ignored(_join(rel_dir, n), is_dir=False):
                found.append(d / n)
    return sorted(found)


def read_dvc_file(path: Path, root: Path) -> list[Entry]:
    rel = path.relative_to(root).as_posix()
    data = _load_yaml(path, root)
    if not isinstance(data, dict) or not isinstance(data.get("outs", []), list):
        raise InputError("corrupted: expected a mapping with `outs:`", path=rel, line=1)
    base = PurePosixPath(rel).parent
    return [_entry(item, "dvc-file", rel, base, rel) for item in data.get("outs") or []]


def load_tracked(root: str | Path) -> Tracked:
    """Everything ``dvc.lock`` and the ``.dvc`` files of ``root`` record."""
    root = Path(root).resolve()
    entries, stages = read_lock(root)
    for f in find_dvc_files(root):
        entries.extend(read_dvc_file(f, root))
    return Tracked(root=root, entries=entries, stages=stages)


def load_lock(root: str | Path) -> Tracked | None:
    """What ``dvc.lock`` alone records (no ``.dvc`` file scan); None when there is no lock file."""
    root = Path(root).resolve()
    if not (root / LOCK).exists():
        return None
    entries, stages = read_lock(root)
    return Tracked(root=root, entries=entries, stages=stages)


# --- .dvcignore -------------------------------------------------------------------------------
class DvcIgnore:
    """The ``.dvcignore`` files of a repository (root and nested), gitignore syntax."""

    def __init__(self, root: Path):
        self.root = root
        self._specs: dict[str, object | None] = {}

    def _spec(self, rel_dir: str):
        if rel_dir not in self._specs:
            f = self.root / rel_dir / ".dvcignore" if rel_dir else self.root / ".dvcignore"
            spec = None
            if f.is_file():
                import pathspec

                lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
                spec = pathspec.GitIgnoreSpec.from_lines(lines)
            self._specs[rel_dir] = spec
        return self._specs[rel_dir]

    def ignored(self, rel: str, *, is_dir: bool) -> bool:
        """Whether ``rel`` (POSIX, relative to the root) is excluded by some .dvcignore above it."""
        parts = rel.split("/")
        for i in range(len(parts)):
            base = "/".join(parts[:i])
            spec = self._spec(base)
            if spec is None:
                continue
            sub = "/".join(parts[i:]) + ("/" if is_dir else "")
            if spec.match_file(sub):
                return True
        return False


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a and a != "." else b


# --- walking ----------------------------------------------------------------------------------
def cache_dir(root: Path) -> Path:
    """DVC's local cache folder (``.dvc/cache`` unless ``cache.dir`` is set in .dvc/config)."""
    cfg = root / ".dvc" / "config"
    if cfg.is_file():
        section = None
        for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
            s = line.strip()
            if s.startswith("["):
                section = s.strip("[]").strip().strip("'\"")
            elif section == "cache" and "=" in s and s.split("=", 1)[0].strip() == "dir":
                return (root / ".dvc" / s.split("=", 1)[1].strip()).resolve()
    return (root / ".dvc" / "cache").resolve()


def check_inside(path: Path, root: Path, allowed: Iterable[Path] = ()) -> None:
    """Refuse ``path`` when it (through symlinks) resolves outside ``root`` and ``allowed``."""
    if not path.is_symlink() and not any(p.is_symlink() for p in _parents_below(path, root)):
        return
    target = path.resolve()
    for base in (root.resolve(), *allowed):
        try:
            target.relative_to(base)
            return
        except ValueError:
            continue
    raise InputError(f"symlink points outside the repository, to {target} (refused)",
                     path=path.relative_to(root).as_posix())


def _parents_below(path: Path, root: Path) -> Iterator[Path]:
    p = path.parent
    while p != root and root in p.parents:
        yield p
        p = p.parent


def walk_dir(root: Path, rel: str, ignore: DvcIgnore | None = None) -> list[str]:
    """Files under the folder ``rel`` (POSIX paths relative to ``rel``), sorted, as DVC sees them."""
    ignore = ignore or DvcIgnore(root)
    base = root / rel
    allowed = (cache_dir(root),)
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        d = Path(dirpath)
        rel_dir = d.relative_to(root).as_posix()
        keep = []
        for n in sorted(dirnames):
            child = d / n
            if n in ALWAYS_IGNORED_DIRS or ignore.ignored(_join(rel_dir, n), is_dir=True):
                continue
            if child.is_symlink():
                check_inside(child, root, allowed)
                out.extend(f"{child.relative_to(base).as_posix()}/{f}" for f in walk_dir(root, _join(rel_dir, n), ignore))
                continue
            keep.append(n)
        dirnames[:] = keep
        for n in filenames:
            if ignore.ignored(_join(rel_dir, n), is_dir=False):
                continue
            f = d / n
            check_inside(f, root, allowed)
            out.append(f.relative_to(base).as_posix())
    return sorted(out)


def expand(root: Path, rel: str, ignore: DvcIgnore | None = None) -> list[str]:
    """``rel`` if it is a file, its files (repository-relative) if it is a folder, [] if absent."""
    p = root / rel
    if p.is_dir():
        return [f"{rel}/{f}" for f in walk_dir(root, rel, ignore)]
    if p.exists() or p.is_symlink():
        check_inside(p, root, (cache_dir(root),))
        return [rel] if p.exists() else []
    return []


# --- hashing ----------------------------------------------------------------------------------
def hash_file(path: Path) -> Hashes:
    """MD5 and SHA-256 of one file, read once."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            chunk = view[:n]
            md5.update(chunk)
            sha.update(chunk)
            size += n
    return Hashes(md5=md5.hexdigest(), sha256=sha.hexdigest(), size=size)


class HashCache:
    """Hash each file at most once per run; several files at a time."""

    def __init__(self, root: Path, workers: int | None = None):
        self.root = root
        self.workers = workers or min(4, os.cpu_count() or 1)
        self._done: dict[str, Hashes] = {}

    def get(self, rel: str) -> Hashes:
        if rel not in self._done:
            self._done[rel] = hash_file(self.root / rel)
        return self._done[rel]

    def prefetch(self, rels: Iterable[str]) -> None:
        todo = sorted({r for r in rels if r not in self._done and (self.root / r).is_file()})
        if not todo:
            return
        if self.workers <= 1 or len(todo) == 1:
            for r in todo:
                self.get(r)
            return
        # biggest first, so that one large file does not finish last on its own
        todo.sort(key=lambda r: -(self.root / r).stat().st_size)
        with ThreadPoolExecutor(self.workers) as pool:
            for r, h in zip(todo, pool.map(lambda r: hash_file(self.root / r), todo)):
                self._done[r] = h


def dir_md5(entries: Iterable[tuple[str, str]]) -> str:
    """DVC's hash of a folder from its (relpath, md5) pairs: ``<md5 of the JSON list>.dir``."""
    items = sorted(({"md5": m, "relpath": r} for r, m in entries), key=lambda d: d["relpath"])
    return hashlib.md5(json.dumps(items, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def cache_object(root: Path, md5: str) -> Path:
    """Where DVC 3 keeps the object of ``md5`` (``<cache>/files/md5/ab/cdef...``)."""
    return cache_dir(root) / "files" / "md5" / md5[:2] / md5[2:]


def read_dir_object(root: Path, md5: str) -> dict[str, str] | None:
    """relpath -> md5 from the cached ``.dir`` object, or None when it is not in the cache."""
    obj = cache_object(root, md5)
    try:
        items = json.loads(obj.read_bytes())
        return {i["relpath"]: i["md5"] for i in items}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded_md5(tracked: Tracked, relpath: str, ignore: DvcIgnore | None = None,
                 hashes: HashCache | None = None) -> tuple[Entry | None, str | None]:
    """(the ``dvc.lock`` output that is or holds ``relpath``, the MD5 recorded for ``relpath``).

    A file output records its MD5 itself. For a folder output, the MD5 is read from the folder's
    ``.dir`` object in the cache; without one, the workspace folder is walked as DVC walks it
    (``.dvcignore`` honoured) and its MD5s are trusted only if they hash to the recorded ``.dir``
    value. The MD5 is None when it cannot be established.
    """
    rel = PurePosixPath(relpath)
    out = next((e for e in tracked.entries if e.kind == "out" and e.md5
                and (rel == PurePosixPath(e.path) or PurePosixPath(e.path) in rel.parents)), None)
    if out is None or out.md5 is None:
        return None, None
    if not out.is_dir:
        return out, out.md5 if PurePosixPath(out.path) == rel else None
    inner = rel.relative_to(PurePosixPath(out.path)).as_posix()
    manifest = read_dir_object(tracked.root, out.md5)
    if manifest is None and (tracked.root / out.path).is_dir():
        hashes = hashes or HashCache(tracked.root)
        pairs = [(f, hashes.get(f"{out.path}/{f}").md5) for f in walk_dir(tracked.root, out.path, ignore)]
        if dir_md5(pairs) == out.md5:
            manifest = dict(pairs)
    return out, (manifest or {}).get(inner)


def stage_of(entry: Entry) -> str:
    """The stage name of a ``dvc.lock`` entry (``build@core``); the ``.dvc`` file for others."""
    return entry.source.split(":", 1)[1] if entry.source.startswith(f"{LOCK}:") else entry.source


# --- dvc status -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatusChange:
    stage: str
    path: str  #: the changed dep/out, or the stage name for a stage-level change
    message: str


@dataclass
class PipelineStatus:
    """``dvc status``: what is stale or missing (empty ``changes`` when clean)."""

    changes: list[StatusChange] = field(default_factory=list)
    stages: int = 0  #: stages in the pipeline
    error: str | None = None  #: why the status could not be read
    commands: dict[str, object] = field(default_factory=dict)  #: stage -> its cmd in dvc.yaml (resolved)

    @property
    def clean(self) -> bool:
        return self.error is None and not self.changes

    @property
    def changed_stages(self) -> list[str]:
        return sorted({c.stage for c in self.changes})


def pipeline_status(root: str | Path) -> PipelineStatus:
    """``dvc status`` of the repository at ``root``, through DVC's Python API.

    The one status reading (audit and publish use it). DVC is imported here only: nothing on
    the ``validate`` path calls this.
    """
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    try:
        from dvc.exceptions import DvcException
        from dvc.repo import Repo
    except ImportError as e:  # pragma: no cover - dvc is a hard dependency
        return PipelineStatus(error=f"cannot import dvc: {e}")
    cwd = os.getcwd()
    try:
        os.chdir(root)  # DVC names stages and paths relative to the working folder
        with Repo(str(root)) as repo:
            raw = repo.status()
            n = len(repo.index.stages)
            commands = {s.addressing: s.cmd for s in repo.index.stages}
    except DvcException as e:
        return PipelineStatus(error=f"dvc cannot read the pipeline: {e}")
    finally:
        os.chdir(cwd)
    changes: list[StatusChange] = []
    for stage, items in sorted(raw.items()):
        if not items:
            changes.append(StatusChange(stage, stage, f"stage {stage}: changed"))
        for change in items or []:
            if isinstance(change, str):
                changes.append(StatusChange(stage, stage, f"stage {stage}: {change}"))
                continue
            for kind, paths in change.items():
                if isinstance(paths, dict):
                    for path, what in paths.items():
                        changes.append(StatusChange(stage, path, f"stage {stage}: {kind[len('changed '):]} {what}"))
                else:
                    changes.append(StatusChange(stage, stage, f"stage {stage}: {kind}"))
    return PipelineStatus(changes=changes, stages=n, commands=commands)
