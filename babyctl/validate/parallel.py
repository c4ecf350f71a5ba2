"""Do a list of chunks of work in two processes, consuming the results in order.

``babyctl validate`` uses this for curriculum files of many lines: the per-line work (decoding,
schema, chat order, phrases, duplicate features) is independent per line, so the file is cut into
chunks that a forked child and the parent take from one shared queue, while the parent alone
feeds the results, in file order, to the one stateful rule (the duplicate index). Neither
process gets a fixed share: whichever is free takes the next chunk, so the split follows
how busy each core really is. Any failure of the child falls back to the parent, so the
result never depends on whether a second process ran.
"""
from __future__ import annotations

import os
import select
from typing import Callable

#: False: the parent takes no chunk from the queue (it only consumes); the child does all the
#: work unless it fails. For tests, which must not depend on which process wins a race.
PARENT_TAKES_CHUNKS = True

_TOKEN = 4  # bytes per chunk number on the queue pipe
_MAX_CHUNKS = 8000  # 32 KB of queue: written whole before the fork, within any pipe's buffer
_REPORT = 16  # bytes per "chunk k done: n bytes" report from the child


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_in_order(chunks: list, work: Callable[[object], object], consume: Callable[[object, object], None],
                 valid: Callable[[object, object], bool] | None = None) -> None:
    """``consume(chunk, work(chunk))`` for each of ``chunks``, in order, with the work shared
    by the parent and a forked child.

    The chunk numbers are written to a pipe before the fork; each process reads one number
    (an atomic 4-byte read) to take that chunk. The child writes each result (a pickle) to an
    in-memory file (so it never waits on the parent) and reports ``(chunk, size)`` on a second
    pipe. The parent consumes whatever is next in order as soon as it is there (its own result
    or the child's), and works on a chunk of its own only when nothing is ready. The child
    shares the parent's str-hash salt (fork), so its exact-duplicate keys match the parent's.
    Any failure of the child (no fork, a crash, output that does not unpickle or that ``valid``
    rejects) means the parent does the chunks it did not get. At most 8,000 chunks."""
    if len(chunks) > _MAX_CHUNKS:
        raise ValueError(f"{len(chunks)} chunks: at most {_MAX_CHUNKS}")
    if len(chunks) < 2 or not hasattr(os, "fork") or _cores() < 2:
        _one_process(chunks, work, consume)
        return
    fds: list[int] = []
    try:
        try:
            buf = os.memfd_create("babyctl-validate") if hasattr(os, "memfd_create") else _anon_file()
        except OSError:
            buf = _anon_file()
        fds.append(buf)
        queue_r, queue_w = os.pipe()
        fds += [queue_r, queue_w]
        os.write(queue_w, b"".join(k.to_bytes(_TOKEN, "little") for k in range(len(chunks))))
        os.close(queue_w)
        fds.remove(queue_w)
        report_r, report_w = os.pipe()
        fds += [report_r, report_w]
        pid = os.fork()
    except OSError:
        for fd in fds:
            os.close(fd)
        _one_process(chunks, work, consume)
        return
    if pid == 0:
        _child(chunks, work, queue_r, buf, report_w)  # never returns
    os.close(report_w)
    try:
        _parent(chunks, work, consume, valid or _same_length, queue_r, buf, report_r)
    finally:
        for fd in (queue_r, report_r, buf):
            os.close(fd)  # a child still writing gets EPIPE and exits
        os.waitpid(pid, 0)


def _one_process(chunks: list, work: Callable, consume: Callable) -> None:
    for chunk in chunks:
        consume(chunk, work(chunk))


def _child(chunks: list, work: Callable, queue_r: int, buf: int, report_w: int) -> None:
    """Take chunks from the queue until it is empty; leave without running the parent's cleanup."""
    import pickle

    code = 1
    try:
        while True:
            token = os.read(queue_r, _TOKEN)
            if len(token) < _TOKEN:
                break
            k = int.from_bytes(token, "little")
            data = pickle.dumps(work(chunks[k]), protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(buf, view):]
            os.write(report_w, k.to_bytes(8, "little") + len(data).to_bytes(8, "little"))
        code = 0
    finally:
        os._exit(code)


def _same_length(chunk, result) -> bool:
    return isinstance(result, list) and len(result) == len(chunk)


def _parent(chunks: list, work: Callable, consume: Callable, valid: Callable, queue_r: int, buf: int,
            report_r: int) -> None:
    import pickle

    mine: dict[int, object] = {}  # chunk -> result the parent made
    theirs: dict[int, tuple[int, int]] = {}  # chunk -> (offset, size) of the child's pickle in buf
    offset = 0
    pending = b""
    child_open = True
    nxt = 0

    def reports(block: bool) -> None:
        """Read the child's reports: what is there now, or (block) wait for at least one or EOF."""
        nonlocal offset, pending, child_open
        while child_open:
            if not block and not select.select([report_r], [], [], 0)[0]:
                return
            got = os.read(report_r, 64 * _REPORT)
            if not got:
                child_open = False
                return
            pending += got
            while len(pending) >= _REPORT:
                k = int.from_bytes(pending[:8], "little")
                n = int.from_bytes(pending[8:_REPORT], "little")
                pending = pending[_REPORT:]
                if 0 <= k < len(chunks) and k not in theirs:
                    theirs[k] = (offset, n)
                offset += n
            block = False

    def child_result(k: int):
        at, n = theirs.pop(k)
        data = os.pread(buf, n, at)
        try:
            result = pickle.loads(data) if len(data) == n else None
        except Exception:
            return None
        return result if result is not None and valid(chunks[k], result) else None

    queue_open = PARENT_TAKES_CHUNKS
    while nxt < len(chunks):
        reports(block=False)
        result = mine.pop(nxt, None)
        if result is None and nxt in theirs:
            result = child_result(nxt)
            if result is None:  # bad output: do it here
                result = work(chunks[nxt])
        if result is not None:
            consume(chunks[nxt], result)
            nxt += 1
            continue
        if queue_open:  # nothing to consume yet: take a chunk from the queue
            token = os.read(queue_r, _TOKEN)
            if len(token) == _TOKEN:
                k = int.from_bytes(token, "little")
                mine[k] = work(chunks[k])
                continue
            queue_open = False
        if child_open:
            reports(block=True)  # the child holds the next chunk: wait for its report
        else:  # the child is gone without it (or never took it)
            mine[nxt] = work(chunks[nxt])


def _anon_file() -> int:
    """A read-write file descriptor for an unnamed temporary file."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix="babyctl-validate-")
    os.unlink(name)
    return fd
