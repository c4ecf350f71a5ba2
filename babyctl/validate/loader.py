"""Read the files validate checks -- bytes first, so no input can raise a traceback.

Every problem with the file itself (missing, a directory, a dangling symlink, unreadable,
empty, a BOM, line endings, invalid UTF-8, control characters, a huge line) becomes a
:class:`~babyctl.validate.finding.Finding`; the caller gets whatever could still be read:
JSONL line by line (:func:`read_lines`, flat memory), JSON and YAML whole (:func:`read_source`).
"""
from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

from .finding import Finding, default_severity

#: a line longer than this is reported (BC009) and not parsed
MAX_LINE_BYTES = 5 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
#: C0 controls except tab/LF/CR, DEL, and C1 controls (usually mojibake)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ENDING = re.compile(rb"\r\n|\n|\r")


def finding(path: str, line: int, col: int, code: str, message: str, severity: str | None = None) -> Finding:
    """A finding with ``severity`` or the rule's default (settings' overrides apply at the end)."""
    return Finding(path, line, col, code, severity or default_severity(code), message)


def describe_char(ch: str) -> str:
    return f"U+{ord(ch):04X}"


class Line(NamedTuple):
    """One line of a file: its number (1-based), its text without the line ending (None when
    undecodable or too long), and whether the raw text holds a control character (BC006)."""

    number: int
    text: str | None
    control: bool = False


@dataclass
class Source:
    """A document read whole: its raw bytes (None if unreadable) and its lines, decoded,
    without line endings: ``texts[i]`` is line ``i + 1`` (None if undecodable or too long)."""

    path: Path
    display: str
    data: bytes | None = None
    texts: list[str | None] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the bytes were read (the content may still have findings)."""
        return self.data is not None

    @property
    def decodable(self) -> bool:
        return self.data is not None and None not in self.texts

    def text(self) -> str:
        """The decodable text joined with LF (BOM and CRs removed)."""
        return "\n".join([t or "" for t in self.texts])


def check_path(path: Path, display: str, *, missing_code: str = "BC001") -> Finding | None:
    """A finding if ``path`` is not a readable regular file (missing, dir, dangling link, ...)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return finding(display, 1, 1, missing_code, "no such file")
    except OSError as e:
        return finding(display, 1, 1, "BC012", f"cannot read: {e.strerror}")
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return finding(display, 1, 1, "BC011", f"dangling symlink (points to {os.readlink(path)!r})")
        except OSError as e:
            return finding(display, 1, 1, "BC012", f"cannot follow symlink: {e.strerror}")
    if stat.S_ISDIR(st.st_mode):
        return finding(display, 1, 1, "BC010", "is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        return finding(display, 1, 1, "BC010", "is not a regular file")
    return None


def _open(path: Path, display: str, found: list[Finding]):
    """``path`` opened for binary reading, or None (the reason appended to ``found``)."""
    problem = check_path(path, display)
    if problem:
        found.append(problem)
        return None
    try:
        return open(path, "rb")
    except OSError as e:
        found.append(finding(display, 1, 1, "BC012", f"cannot read: {e.strerror}"))
        return None


def read_source(path: Path, display: str) -> Source:
    """Read ``path`` whole and split it into decoded lines, collecting file-level findings."""
    src = Source(path=path, display=display)
    f = _open(path, display, src.findings)
    if f is None:
        return src
    try:
        with f:
            src.data = f.read()
    except OSError as e:
        src.findings.append(finding(display, 1, 1, "BC012", f"cannot read: {e.strerror}"))
        return src
    src.texts = [line.text for line in decode(io.BytesIO(src.data), display, src.findings)]
    return src


def read_lines(path: Path, display: str, found: list[Finding]) -> Iterator[Line] | None:
    """The lines of ``path`` one at a time (see :func:`decode`), or None when it cannot be
    opened (the reason is appended to ``found``). The file is closed when the lines run out."""
    f = _open(path, display, found)
    if f is None:
        return None

    def lines() -> Iterator[Line]:
        with f:
            yield from decode(f, display, found)

    return lines()


def decode(raw_lines: Iterable[bytes], display: str, found: list[Finding]) -> Iterator[Line]:
    """Decode raw lines (each up to and including its ``\\n``), numbered from 1. Per line:
    BC002 (invalid UTF-8), BC006 (control character), BC009 (too long); once the lines run
    out: BC003 (BOM), BC007 (empty), BC004/BC005 (line endings), appended to ``found``."""
    size = ends = 0
    counts = {b"\n": 0, b"\r\n": 0, b"\r": 0}
    first_end = odd = None
    blank = True
    for number, raw in enumerate(raw_lines, 1):
        if number == 1 and raw.startswith(BOM):
            found.append(finding(display, 1, 1, "BC003", "file starts with a UTF-8 byte order mark (BOM)"))
            raw = raw[len(BOM):]
            if not raw:
                break  # the file is a BOM and nothing else: no line
        size += len(raw)
        if blank and not raw.isspace() and raw:
            blank = False
        # count endings the way a reader splitting on \r\n, \n and \r sees them
        endings = _ENDING.findall(raw) if b"\r" in raw else [b"\n"] if raw.endswith(b"\n") else []
        for end in endings:
            counts[end] += 1
            ends += 1
            first_end = first_end or end
            if odd is None and end != first_end:
                odd = ends
        body = raw[:-1] if raw.endswith(b"\n") else raw
        if body.endswith(b"\r"):
            body = body[:-1]
        yield _decode_line(number, body, display, found)
    if blank:
        found.append(finding(display, 1, 1, "BC007", "empty file" if not size else "file has only whitespace"))
    kinds = [(name, counts[end]) for name, end in (("LF", b"\n"), ("CRLF", b"\r\n"), ("CR", b"\r")) if counts[end]]
    if len(kinds) > 1:
        mixed = ", ".join(f"{n} {name}" for name, n in kinds)
        found.append(finding(display, odd or 1, 1, "BC005", f"mixed line endings ({mixed})"))
    elif kinds and kinds[0][0] == "CRLF":
        found.append(finding(display, 1, 1, "BC004", f"CRLF line endings ({kinds[0][1]} lines)"))
    elif kinds and kinds[0][0] == "CR":
        found.append(finding(display, 1, 1, "BC005", f"lone CR line endings ({kinds[0][1]})"))


def _decode_line(number: int, raw: bytes, display: str, found: list[Finding]) -> Line:
    if len(raw) > MAX_LINE_BYTES:
        found.append(finding(display, number, 1, "BC009",
                             f"line is {len(raw):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit; not parsed"))
        return Line(number, None)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        col = len(raw[: e.start].decode("utf-8", errors="replace")) + 1
        found.append(finding(display, number, col, "BC002",
                             f"invalid UTF-8 byte 0x{raw[e.start]:02x}; line not checked further"))
        return Line(number, None)
    m = CONTROL_RE.search(text)
    if m:
        found.append(finding(display, number, m.start() + 1, "BC006",
                             f"control character {describe_char(m.group())} in the raw text"))
    return Line(number, text, m is not None)

