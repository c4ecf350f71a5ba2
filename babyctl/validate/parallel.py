"""Examine a long list in two processes, consuming the results in order.

``babyctl validate`` uses this for curriculum files of many lines: the per-line work (schema,
chat order, phrases, duplicate features) is independent per line, so a forked child does the
larger share while the parent does its own and feeds results, in file order, to the one stateful
rule (the duplicate index). Any failure of the child falls back to the parent, so the result
never depends on whether a second process ran.
"""
from __future__ import annotations

import os
from typing import Callable


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: share of the lines the parent examines: it also feeds its part to the duplicate index while
#: the child works, then feeds the child's parts as they arrive
PARENT_SHARE = 0.35

#: the child sends its results in parts of this many lines, so the parent can feed the child's
#: first parts to the duplicate index while the child still examines its last ones
CHUNK_LINES = 2048


def run_in_order(items: list, work: Callable[[list], list], consume: Callable[[list, list], None]) -> None:
    """``consume(part, work(part))`` for consecutive parts of ``items``, in order, with
    the second half examined in a forked child process: the parent examines and consumes the
    first part while the child works, then consumes the child's results chunk by chunk as they
    come. The child writes each chunk (a pickle) to an in-memory file (it never waits on the
    parent) and its length to a pipe. The child shares the parent's str-hash salt (fork), so its
    exact-duplicate keys match the parent's. Any failure of the child (no fork, a crash, bad
    output) means the parent does the parts it did not get."""
    if not hasattr(os, "fork") or _cores() < 2:
        consume(items, work(items))
        return
    import pickle

    half = int(len(items) * PARENT_SHARE)
    mine, theirs = items[:half], items[half:]
    chunks = [theirs[i:i + CHUNK_LINES] for i in range(0, len(theirs), CHUNK_LINES)]
    fds: list[int] = []
    try:
        try:
            buf = os.memfd_create("babyctl-validate") if hasattr(os, "memfd_create") else _anon_file()
        except OSError:
            buf = _anon_file()
        fds.append(buf)
        r, w = os.pipe()
        fds += [r, w]
        pid = os.fork()
    except OSError:
        for fd in fds:
            os.close(fd)
        consume(items, work(items))
        return
    if pid == 0:  # child: compute, send, and leave without running any cleanup of the parent's
        code = 1
        try:
            os.close(r)
            for chunk in chunks:
                data = pickle.dumps(work(chunk), protocol=pickle.HIGHEST_PROTOCOL)
                view = memoryview(data)
                while view:
                    view = view[os.write(buf, view):]
                os.write(w, len(data).to_bytes(8, "little"))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    done = 0
    try:
        consume(mine, work(mine))
        offset = 0
        for chunk in chunks:
            size = _read_exact(r, 8)
            if size is None:
                break
            size = int.from_bytes(size, "little")
            data = os.pread(buf, size, offset)
            offset += size
            try:
                records = pickle.loads(data) if len(data) == size else None
            except Exception:
                records = None
            if not isinstance(records, list) or len(records) != len(chunk):
                break
            consume(chunk, records)
            done += 1
    finally:
        os.close(r)  # a child still writing gets EPIPE and exits
        os.close(buf)
        os.waitpid(pid, 0)
    for chunk in chunks[done:]:
        consume(chunk, work(chunk))


def _anon_file() -> int:
    """A read-write file descriptor for an unnamed temporary file."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix="babyctl-validate-")
    os.unlink(name)
    return fd


def _read_exact(fd: int, n: int) -> bytes | None:
    """``n`` bytes from ``fd``, or None at end of file before that."""
    out = b""
    while len(out) < n:
        got = os.read(fd, n - len(out))
        if not got:
            return None
        out += got
    return out
