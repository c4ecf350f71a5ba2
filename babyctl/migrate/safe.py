"""Reading a legacy folder without ever leaving it, hanging on it, or reading a huge file whole.

* A path given by the legacy data itself (a manifest row, a Markdown link) that is absolute or
  has ``..`` is refused before it touches the file system.
* A symlink whose target resolves outside the legacy folder is refused (reported, not followed).
* Only regular files are read: a FIFO, socket or device is refused after an ``lstat``/``stat``,
  never opened (opening a FIFO blocks until a writer appears).
* A file larger than :data:`MAX_BYTES` is refused from its size; reads never return more.

Every refusal is a :class:`Refusal` the caller turns into a finding with the file's path.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: the largest legacy file migrate reads (the real study's largest file is ~0.3 MB)
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Refusal:
    code: str  #: M100 path leaves the folder, M101 symlink leaves it, M102 not a regular file, M103 too large
    message: str


def check_rel(rel: str) -> Refusal | None:
    """A path named by legacy data: absolute paths and ``..`` are refused without a look at the disk."""
    p = PurePosixPath(rel.replace("\\", "/"))
    if p.is_absolute() or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        return Refusal("M100", f"absolute path {rel!r}: migrate reads only inside the legacy folder")
    if ".." in p.parts:
        return Refusal("M100", f"path {rel!r} climbs out with '..': migrate reads only inside the legacy folder")
    return None


def check_file(legacy: Path, path: Path, *, max_bytes: int = MAX_BYTES) -> Refusal | None:
    """Why ``path`` (inside ``legacy`` by name) must not be read, or None. Never opens it."""
    try:
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(legacy.resolve()):
                return Refusal("M101", f"symlink to {os.readlink(path)!r} leaves the legacy folder: not followed")
        st = path.stat()
    except OSError as e:
        return Refusal("M102", f"cannot stat: {e.strerror or e}")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file")
        return Refusal("M102", f"{kind}: not read")
    if st.st_size > max_bytes:
        return Refusal("M103", f"{st.st_size} bytes, over the {max_bytes}-byte limit for a legacy file: not read")
    return None


def read_bytes(legacy: Path, path: Path, *, max_bytes: int = MAX_BYTES) -> bytes | Refusal:
    """The file's bytes, or the :class:`Refusal`. Reads at most ``max_bytes`` + 1 bytes, non-blocking open."""
    refused = check_file(legacy, path, max_bytes=max_bytes)
    if refused is not None:
        return refused
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        return Refusal("M102", f"cannot open: {e.strerror or e}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the stat and the open
            return Refusal("M102", "not a regular file: not read")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        return Refusal("M102", f"cannot read: {e.strerror or e}")
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        return Refusal("M103", f"grew past the {max_bytes}-byte limit while being read: not read")
    return data


def walk(legacy: Path, sub: str, suffixes: tuple[str, ...]) -> tuple[list[Path], list[tuple[str, Refusal]]]:
    """Files under ``legacy/sub`` ending in ``suffixes`` that are safe to read, and the refused ones.

    Symlinked folders are not descended into (reported when they leave the folder); symlinked
    files are kept only when their target is inside ``legacy``.
    """
    base = legacy / sub
    ok: list[Path] = []
    refused: list[tuple[str, Refusal]] = []
    if not base.is_dir() or (base.is_symlink() and not base.resolve().is_relative_to(legacy.resolve())):
        return ok, refused
    for folder, dirs, files in os.walk(base, followlinks=False):
        d = Path(folder)
        for name in sorted(dirs):
            p = d / name
            if p.is_symlink() and not p.resolve().is_relative_to(legacy.resolve()):
                refused.append((p.relative_to(legacy).as_posix(),
                                Refusal("M101", f"symlinked folder to {os.readlink(p)!r} leaves the legacy folder: "
                                                "not followed")))
            elif name.endswith(suffixes):
                refused.append((p.relative_to(legacy).as_posix(), Refusal("M102", "a folder named like a data file: "
                                                                                  "not read")))
        dirs[:] = sorted(n for n in dirs if not n.startswith(".") and not (d / n).is_symlink())
        for name in sorted(files):
            p = d / name
            if not name.endswith(suffixes):
                continue
            why = check_file(legacy, p)
            if why is None:
                ok.append(p)
            else:
                refused.append((p.relative_to(legacy).as_posix(), why))
    return sorted(ok), refused
