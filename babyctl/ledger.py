"""``babyctl ledger``: ``SHA256SUMS`` for every file DVC tracks.

DVC records MD5 only. The ledger adds SHA-256 in coreutils ``sha256sum`` format
(``<64 hex>  <path>``, two spaces, LF, paths sorted bytewise, relative to the repository
root) so that anyone can verify a clone with ``sha256sum -c SHA256SUMS`` and no babyctl.

It lists every file that a ``dvc.lock`` dep/out (folders expanded from the workspace,
respecting ``.dvcignore``), a ``params:`` file, or a ``.dvc`` file tracks -- except
``SHA256SUMS`` itself, ``dvc.lock``, and the deps of the stage that writes ``SHA256SUMS``
(those deps only order that stage last; counting them would make the list depend on the
ledger stage's own previous lock entry, so a fresh run and a re-run could differ).
The ``ledger`` stage of ``dvc.yaml`` runs last (it
depends on every data folder), after DVC has written the lock entries of all other stages,
so it never depends on its own output.

``--check`` re-hashes and compares. Lines naming a path outside the repository
(absolute, ``..``) are refused without opening the path; so are symlinks out of the repo.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import InputError
from .fsutil import atomic_write_text
from .tracked import LOCK, DvcIgnore, HashCache, Tracked, expand, load_tracked

LEDGER = "SHA256SUMS"
EXCLUDED = {LEDGER, LOCK}
LINE_RE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    expected: str | None = None
    actual: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{LEDGER}:{self.line}: " if self.line else ""
        shown = [f"{k} {v}" for k, v in (("expected", self.expected), ("actual", self.actual)) if v is not None]
        hashes = f" ({', '.join(shown)})" if shown else ""
        return f"{where}{self.path}: {self.message}{hashes}"


def ledger_files(tracked: Tracked, ignore: DvcIgnore | None = None) -> list[str]:
    """The repository-relative files the ledger must list, sorted."""
    root = tracked.root
    ignore = ignore or DvcIgnore(root)
    own = {f"{LOCK}:{name}" for name, st in tracked.stages.items()
           if isinstance(st, dict) and any(isinstance(o, dict) and o.get("path") == LEDGER for o in st.get("outs") or [])}
    files: set[str] = set()
    for path in sorted({e.path for e in tracked.entries if e.source not in own}):
        files.update(expand(root, path, ignore))
    files -= EXCLUDED
    for f in files:
        if "\n" in f or "\\" in f or "\r" in f:
            raise InputError("file name with a newline or backslash cannot go into SHA256SUMS", path=f)
    return sorted(files, key=lambda s: s.encode("utf-8"))


def render(files: list[str], hashes: HashCache) -> str:
    hashes.prefetch(files)
    return "".join(f"{hashes.get(f).sha256}  {f}\n" for f in files)


def write(root: str | Path = ".") -> tuple[Path, int]:
    """Write ``<root>/SHA256SUMS`` atomically; returns its path and the number of files."""
    root = Path(root).resolve()
    tracked = load_tracked(root)
    if not tracked.entries:
        raise InputError("nothing is tracked yet (no dvc.lock entries or .dvc files): run dvc repro first",
                         path=root / LOCK)
    files = ledger_files(tracked)
    text = render(files, HashCache(root))
    path = root / LEDGER
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)
    return path, len(files)


def parse(text: str) -> tuple[dict[str, tuple[str, int]], list[Problem]]:
    """``path -> (sha256, line)`` and the lines refused (malformed, outside the repo, duplicated)."""
    entries: dict[str, tuple[str, int]] = {}
    problems: list[Problem] = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = LINE_RE.match(line)
        if not m:
            problems.append(Problem(path=LEDGER, line=no, message="malformed line (expected '<sha256>  <path>')"))
            continue
        digest, raw = m.group(1), m.group(2)
        p = PurePosixPath(raw)
        if raw.startswith("\\") or p.is_absolute() or ".." in p.parts or raw.startswith("~"):
            problems.append(Problem(path=raw, line=no,
                                    message="path outside the repository refused (not opened)"))
            continue
        if p.as_posix() != raw or raw.startswith("./"):
            problems.append(Problem(path=raw, line=no, message="path is not normalised (refused)"))
            continue
        if raw in entries:
            problems.append(Problem(path=raw, line=no, message=f"listed twice (first on line {entries[raw][1]})"))
            continue
        entries[raw] = (digest, no)
    return entries, problems


def check(root: str | Path = ".", *, tracked: Tracked | None = None, hashes: HashCache | None = None) -> list[Problem]:
    """Every way ``SHA256SUMS`` disagrees with the workspace and with what DVC tracks."""
    root = Path(root).resolve()
    path = root / LEDGER
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [Problem(path=LEDGER, message="missing (run: babyctl ledger)")]
    except (OSError, UnicodeDecodeError) as e:
        return [Problem(path=LEDGER, message=f"cannot read: {e}")]
    listed, problems = parse(text)
    tracked = tracked or load_tracked(root)
    hashes = hashes or HashCache(root)
    try:
        expected = set(ledger_files(tracked))
    except InputError as e:
        return problems + [Problem(path=e.path or LEDGER, message=e.message)]
    safe = {}
    for rel, (digest, no) in listed.items():
        f = root / rel
        try:
            if f.is_symlink() or any(q.is_symlink() for q in f.parents if root in q.parents):
                from .tracked import cache_dir, check_inside

                check_inside(f, root, (cache_dir(root),))
        except InputError as e:
            problems.append(Problem(path=rel, line=no, message=e.message))
            continue
        safe[rel] = (digest, no)
    hashes.prefetch(r for r in safe if (root / r).is_file())
    for rel, (digest, no) in sorted(safe.items()):
        f = root / rel
        if not f.is_file():
            problems.append(Problem(path=rel, line=no, message="listed but missing (run: dvc pull)", expected=digest))
            continue
        actual = hashes.get(rel).sha256
        if actual != digest:
            problems.append(Problem(path=rel, line=no, message="sha256 differs", expected=digest, actual=actual))
        if rel not in expected:
            problems.append(Problem(path=rel, line=no,
                                    message="listed but not tracked by dvc.lock or a .dvc file (stale ledger)"))
    for rel in sorted(expected - set(listed)):
        actual = hashes.get(rel).sha256 if (root / rel).is_file() else None
        if recorded_by_dvc(tracked, hashes, rel):
            problems.append(Problem(path=rel, actual=actual, message="recorded by dvc.lock (md5 matches) but not "
                                    "in SHA256SUMS: stale ledger (run: babyctl ledger)"))
        else:
            problems.append(Problem(path=rel, actual=actual, message=UNRECORDED))
    for rel in unlisted_in_data_folders(tracked, set(listed) | expected):
        problems.append(Problem(path=rel, actual=hashes.get(rel).sha256 if (root / rel).is_file() else None,
                                message=UNRECORDED))
    return problems


#: the message for a file nothing records: never advise `babyctl ledger`, which would bless it
UNRECORDED = ("in a tracked folder but recorded by neither SHA256SUMS nor dvc.lock: an unrecorded file "
              "(find out what wrote it and remove it; re-running `babyctl ledger` would bless it)")


def recorded_by_dvc(tracked: Tracked, hashes: HashCache, rel: str) -> bool:
    """Whether ``dvc.lock``/a ``.dvc`` file records ``rel`` with its current md5 (a file entry,
    or a folder entry whose ``.dir`` object lists it, or whose whole workspace folder matches)."""
    from .tracked import dir_md5, read_dir_object, walk_dir

    root = tracked.root
    if not (root / rel).is_file():
        return False
    md5 = hashes.get(rel).md5
    for e in tracked.entries:
        if not e.md5:
            continue
        if e.path == rel and e.md5 == md5:
            return True
        if e.is_dir and rel.startswith(e.path + "/"):
            inner = rel[len(e.path) + 1:]
            obj = read_dir_object(root, e.md5)
            if obj is not None:
                if obj.get(inner) == md5:
                    return True
                continue
            try:
                files = walk_dir(root, e.path)
                if dir_md5((f, hashes.get(f"{e.path}/{f}").md5) for f in files) == e.md5:
                    return True
            except (OSError, InputError):
                continue
    return False


def unlisted_in_data_folders(tracked: Tracked, known: set[str]) -> list[str]:
    """Files under the data folders that are neither in ``known`` nor in git (``.gitignore`` files aside)."""
    import subprocess

    from .study import DATA_FOLDERS
    from .tracked import walk_dir

    root = tracked.root
    folders = [f for f in DATA_FOLDERS if (root / f).is_dir()]
    if not folders:
        return []
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *folders], cwd=root, capture_output=True,
                             check=True).stdout
        in_git = {p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p}
    except (OSError, subprocess.CalledProcessError):
        in_git = set()
    found = []
    ignore = DvcIgnore(root)
    for folder in folders:
        try:
            files = walk_dir(root, folder, ignore)
        except InputError:
            continue  # a symlink out of the repository: audit reports it
        for f in files:
            rel = f"{folder}/{f}"
            if rel in known or rel in in_git or rel.rsplit("/", 1)[-1] == ".gitignore":
                continue
            found.append(rel)
    return sorted(found)
