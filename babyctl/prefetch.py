"""Read big files in a background thread while the CLI imports the rest of babyctl.

``babyctl validate big.jsonl`` spends ~0.25 s importing (pydantic, the rules) before it reads
the file (~0.1 s for 120 MB, mostly page faults). The read releases the GIL, so a thread
started before those imports does it on the second core meanwhile. :func:`take` hands the
bytes over only when the file is still the one that was read (same device, inode, size and
modification time), else None and the caller reads it again, as it would have anyway.

Light on purpose: importing this module imports nothing heavy.
"""
from __future__ import annotations

import os
import stat
import threading

#: files at least this big are read ahead; also ``babyctl validate``'s byte-chunk threshold
#: (``engine.PARALLEL_MIN_BYTES`` is this value)
MIN_BYTES = 16 * 1024 * 1024

_reads: dict[tuple[int, int], "_Read"] = {}  # (device, inode) -> its read


class _Read(threading.Thread):
    def __init__(self, path: str) -> None:
        super().__init__(name="babyctl-prefetch", daemon=True)
        self.path = path
        self.data: bytes | None = None
        self.identity: tuple | None = None

    def run(self) -> None:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
                st = os.fstat(f.fileno())
        except OSError:
            return
        if len(data) == st.st_size:
            self.data, self.identity = data, _identity(st)


def start(paths: list[str]) -> None:
    """Start reading each of ``paths`` that is a regular file of at least MIN_BYTES."""
    for path in paths:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_size >= MIN_BYTES and key not in _reads:
            _reads[key] = read = _Read(path)
            read.start()


def take(path: str | os.PathLike) -> bytes | None:
    """The bytes read ahead for ``path`` if it is still that file, else None. Waits for every
    read still running first, so that no thread is left when the caller forks."""
    if not _reads:
        return None  # nothing was read ahead (the library, or small files): not even a stat
    for read in _reads.values():
        read.join()
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    read = _reads.pop((st.st_dev, st.st_ino), None)
    if read is None or read.identity != _identity(st):
        return None
    return read.data


def _identity(st: os.stat_result) -> tuple:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
