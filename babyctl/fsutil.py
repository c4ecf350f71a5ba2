"""Small file utilities shared by every module: atomic writes, the commit protocol, locks, hashing.

The commit protocol (issue 15): an output -- a folder, and files elsewhere that belong with it
(a run's adapter + provenance and its metrics) -- is written and fsynced in staging paths beside
the final ones, then committed under a lock file by renames that a journal makes one unit: a
process killed half-way leaves the journal, and the next writer of that target finishes the
commit (roll forward) before it starts. Stale staging folders, old copies and temp folders of
dead processes are removed by the next writer. Errors name the final path, not a temp name.

Nothing here imports anything heavy.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return _hash_file(path, hashlib.sha256())


def md5_file(path: str | Path) -> str:
    """Hex MD5 of a file's bytes (what DVC records)."""
    return _hash_file(path, hashlib.md5())


def _hash_file(path: str | Path, h: "hashlib._Hash") -> str:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _named(err: OSError, path: str | Path) -> OSError:
    """``err`` naming ``path`` (a write error names no file, a temp file is not what the user asked for)."""
    if err.filename is not None and not str(err.filename).endswith((".tmp", ".partial")):
        return err
    named = type(err)(err.errno, err.strerror or str(err), str(path))
    named.__cause__ = err
    return named


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (a staged output, before it is committed)."""
    for folder, _, files in os.walk(root):
        for name in files:
            p = os.path.join(folder, name)
            if os.path.islink(p):
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


def _write_fsynced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename.

    An ``OSError`` (disk full, read-only, permission) names ``path`` and leaves nothing behind."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder: give a file path", str(path))
    if mode is not None and not stat.S_ISREG(mode):  # a rename would replace the device node itself
        raise OSError(errno.EINVAL, "not a regular file (a device, pipe or socket): give a file path", str(path))
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise _named(e, path) from e
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text with LF line endings atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Canonical JSON for artifacts babyctl writes: sorted keys, 2-space indent, trailing LF.

    Registered credentials (:mod:`babyctl.secrets`) are scrubbed from every string first."""
    from .secrets import scrub

    return json.dumps(scrub(obj), indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, dumps_json(obj))


# --- locks ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def lock(target: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``target`` (a file or folder, which need not exist) while inside.

    The lock is ``.<name>.lock`` beside the target, ``flock``-ed; a second process blocks until the
    first leaves. The lock file is removed on release (a waiter that then holds the lock on the
    removed file notices and takes the new one), so no lock files are left in the experiment."""
    target = Path(target)
    path = target.with_name(f".{target.name}.lock")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held = os.fstat(fd)
                now = os.stat(path)
            except FileNotFoundError:  # released and removed while we waited: take the new one
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                break
            os.close(fd)
    except OSError as e:  # name what the user asked to write, not the lock file
        named = type(e)(e.errno, e.strerror or str(e), str(target))
        raise named from e
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


# --- the commit protocol -------------------------------------------------------------------------
STAGE = ".stage-"  # staged copies are named .<name>.stage-<random>.partial beside the final path


def _staged_name(final: Path) -> Path:
    return final.with_name(f".{final.name}{STAGE}{os.urandom(6).hex()}.partial")


def _journal(final: Path) -> Path:
    return final.with_name(f".{final.name}.commit")


def stale_paths(final: str | Path) -> list[Path]:
    """Leftovers of an interrupted write of ``final``: staged copies, old copies, an unfinished
    commit journal (what :func:`sweep` removes under the lock; what an audit may report)."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    n = final.name
    found = []
    for p in final.parent.iterdir():
        name = p.name
        if (name.startswith(f".{n}{STAGE}") and name.endswith(".partial")) or name.startswith(f".{n}.old-") \
                or (name.startswith(f".{n}.") and name.endswith(".partial") and len(name) == len(n) + 18) \
                or name == f".{n}.commit":
            found.append(p)
    return sorted(found)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def sweep(final: str | Path) -> None:
    """Finish an interrupted commit of ``final`` (its journal), then remove stale leftovers.
    Call it holding :func:`lock` on ``final``."""
    final = Path(final)
    journal = _journal(final)
    if journal.is_file():
        _roll_forward(journal)
    for p in stale_paths(final):
        _remove(p)


def _roll_forward(journal: Path) -> None:
    """Apply the renames of a commit journal; each step is skipped when already done."""
    base = journal.parent
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
        steps = [(base / src, base / dst) for src, dst in plan["renames"]]
        old = base / plan["old"] if plan.get("old") else None
    except (ValueError, KeyError, TypeError):  # a journal torn before its fsync: nothing was renamed
        journal.unlink()
        return
    for i, (src, dst) in enumerate(steps):
        if not src.exists() and not src.is_symlink():
            continue  # done before the interruption
        if i == 0 and old is not None and dst.exists():
            os.replace(dst, old)  # the folder swap: the previous output goes aside first
        elif dst.is_dir() and not dst.is_symlink():
            _remove(dst)
        os.replace(src, dst)
        _fsync_dir(dst.parent)
    if old is not None:
        _remove(old)
    journal.unlink()
    _fsync_dir(base)


class Staging:
    """What :func:`commit_unit` yields: ``dir``, the staged folder, and staged files elsewhere."""

    def __init__(self, final: Path, files: Iterable[Path]):
        self.final = final
        self.dir = _staged_name(final)
        self.files = {Path(f): _staged_name(Path(f)) for f in files}

    def path(self, final_file: str | Path) -> Path:
        """The staging path of one of the unit's files (``files=``); write it, it is fsynced later."""
        return self.files[Path(final_file)]

    def write_bytes(self, final_file: str | Path, data: bytes) -> Path:
        path = self.path(final_file)
        try:
            _write_fsynced(path, data)
        except OSError as e:
            raise _named(e, final_file) from e
        return path

    def write_text(self, final_file: str | Path, text: str) -> Path:
        return self.write_bytes(final_file, text.encode("utf-8"))

    def write_json(self, final_file: str | Path, obj: Any) -> Path:
        return self.write_text(final_file, dumps_json(obj))

    def discard(self) -> None:
        for p in (self.dir, *self.files.values()):
            _remove(p)


@contextlib.contextmanager
def commit_unit(final: str | Path, files: Iterable[str | Path] = ()) -> Iterator[Staging]:
    """Write folder ``final`` and ``files`` (final paths of files that belong with it) as one unit.

    Inside the block, fill ``staging.dir`` and write each file through ``staging.write_*``. On a
    normal exit everything staged is fsynced and committed: a journal lists the renames, the old
    folder goes aside, the new one and each file are renamed into place, the journal goes. A kill
    at any point leaves either the old unit (no journal) or a journal that the next writer rolls
    forward -- never a new folder beside old files. On an exception nothing is committed, the
    staged copies are removed and the old unit is untouched. Writers of one ``final`` are
    serialised by :func:`lock`; leftovers of dead writers are swept first."""
    final = Path(final)
    files = [Path(f) for f in files]
    with lock(final):
        try:
            sweep(final)
            for f in files:
                f.parent.mkdir(parents=True, exist_ok=True)
                for p in stale_paths(f):
                    _remove(p)
            stage = Staging(final, files)
            stage.dir.mkdir(mode=0o755)
        except OSError as e:
            raise _named(e, final) from e
        try:
            yield stage
            _fsync_tree(stage.dir)
            for f, staged in stage.files.items():
                if not staged.exists():
                    raise FileNotFoundError(errno.ENOENT, "the commit's file was never written", str(f))
            base = final.parent
            rel = lambda p: os.path.relpath(p, base)  # noqa: E731
            plan = {"renames": [[rel(stage.dir), rel(final)], *[[rel(s), rel(f)] for f, s in stage.files.items()]],
                    "old": rel(final.with_name(f".{final.name}.old-{os.getpid()}"))}
            journal = _journal(final)
            _write_fsynced(journal, json.dumps(plan).encode())
            _fsync_dir(base)
            _roll_forward(journal)
        except OSError as e:
            if not _journal(final).exists():
                stage.discard()
            raise _named(e, final) from e
        except BaseException:
            if not _journal(final).exists():
                stage.discard()
            raise


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside ``final``; on success it replaces ``final`` in one rename.

    On any exception the temp folder is removed and ``final`` is untouched, so an interrupted run
    never leaves a half-written folder where a finished one is expected. Concurrent writers of one
    ``final`` are serialised (:func:`commit_unit`)."""
    with commit_unit(final) as stage:
        yield stage.dir


# --- private temp folders ------------------------------------------------------------------------
OWNER = ".babyctl-owner"


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A private temp folder (``$TMPDIR/<prefix>XXXX``), removed on exit.

    The folder holds an ``flock``-ed owner file while in use, so the next caller can tell
    folders of dead processes (killed: no ``finally`` ran) from live ones and removes them."""
    base = Path(tempfile.gettempdir())
    _sweep_temp(base, prefix)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    fd = os.open(path / OWNER, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)


#: a folder with no owner file (made by an older babyctl) counts as dead after this long
_UNOWNED_AGE_S = 3600
#: an owner file younger than this is left alone (its maker may be between creating and locking it)
_FRESH_S = 60


def _sweep_temp(base: Path, prefix: str) -> None:
    for p in base.glob(f"{prefix}*"):
        if not p.is_dir() or p.is_symlink():
            continue
        owner = p / OWNER
        try:
            fd = os.open(owner, os.O_RDWR)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - p.stat().st_mtime > _UNOWNED_AGE_S:
                    shutil.rmtree(p, ignore_errors=True)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # a folder made a moment ago may not hold its lock yet: only older ones are dead
            dead = time.time() - os.fstat(fd).st_mtime > _FRESH_S
        except OSError:
            continue  # alive
        finally:
            os.close(fd)
        if dead:
            shutil.rmtree(p, ignore_errors=True)


# --- paths inside the experiment -----------------------------------------------------------------
def inside(root: str | Path, path: str | Path, what: str = "path") -> Path:
    """``path`` when it lies inside ``root`` once symlinks are followed; else an
    :class:`~babyctl.errors.InputError` naming it. An auditor cloning the experiment must see
    every input: nothing babyctl reads may live outside it (``..``, absolute, or a symlink)."""
    from .errors import InputError

    root_r = Path(root).resolve()
    p = Path(path)
    full = p if p.is_absolute() else Path(root) / p
    try:
        target = full.resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise InputError(f"cannot resolve {what}: {e}", path=path)
    shown = Path(os.path.relpath(os.path.abspath(full), root_r)) if Path(os.path.abspath(full)).is_relative_to(root_r) \
        else path
    if not target.is_relative_to(root_r):
        via = " through a symlink" if Path(os.path.abspath(full)).is_relative_to(root_r) else ""
        raise InputError(f"{what} leads outside the experiment{via} (to {target}): every input must live "
                         "inside the experiment, where an auditor's clone can see it", path=shown)
    return full


def append_text(path: str | Path, text: str) -> Path:
    """Append ``text`` durably (flush + fsync), e.g. a batch of finished rows; errors name ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise _named(e, path) from e
    return path
