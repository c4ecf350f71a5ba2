"""Read the files validate checks -- bytes first, so no input can raise a traceback.

Every problem with the file itself (missing, a directory, a dangling symlink,
unreadable, empty, a BOM, line endings, invalid UTF-8, control characters, a
huge line) becomes a :class:`~babyctl.validate.finding.Finding`; the caller gets
whatever could still be read. Nothing here writes to the files.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .finding import Finding, default_severity

#: a line longer than this is reported (BC009) and not parsed
MAX_LINE_BYTES = 5 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
#: C0 controls except tab/LF/CR, DEL, and C1 controls (usually mojibake)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def finding(path: str, line: int, col: int, code: str, message: str) -> Finding:
    """A finding with the rule's default severity (overrides are applied at the end)."""
    return Finding(path, line, col, code, default_severity(code), message)


def describe_char(ch: str) -> str:
    return f"U+{ord(ch):04X}"


@dataclass
class Source:
    """A file as read: its raw bytes (None if unreadable) and its lines, decoded, without
    line endings: ``texts[i]`` is line ``i + 1`` (None if undecodable or too long)."""

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


def read_source(path: Path, display: str) -> Source:
    """Read ``path`` as bytes and split it into decoded lines, collecting file-level findings."""
    src = Source(path=path, display=display)
    problem = check_path(path, display)
    if problem:
        src.findings.append(problem)
        return src
    try:
        data = path.read_bytes()
    except OSError as e:
        src.findings.append(finding(display, 1, 1, "BC012", f"cannot read: {e.strerror}"))
        return src
    return source_of(path, display, data)


def source_of(path: Path, display: str, data: bytes) -> Source:
    """:func:`read_source` for a regular file whose bytes were read already."""
    src = Source(path=path, display=display)
    src.data = data
    if data.startswith(BOM):
        src.findings.append(finding(display, 1, 1, "BC003", "file starts with a UTF-8 byte order mark (BOM)"))
        data = data[len(BOM):]
    if not data or data.isspace():  # == not data.strip(), without copying a large file
        src.findings.append(finding(display, 1, 1, "BC007", "empty file" if not data else "file has only whitespace"))
    _check_line_endings(src, data)
    src.texts, found = decode_lines(data, display)
    src.findings += found
    return src


def decode_lines(data: bytes, display: str, first: int = 1) -> tuple[list[str | None], list[Finding]]:
    """``data`` (a whole file without its BOM, or whole lines of one) split into decoded lines
    without line endings, numbered from ``first``, and the per-line findings: BC002 (invalid
    UTF-8), BC006 (control character), BC009 (line too long). An undecodable or too long line
    is None."""
    fast = _decode_fast(data, display, first)
    if fast is not None:
        return fast
    texts: list[str | None] = []
    found: list[Finding] = []
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for i, raw in enumerate(raw_lines, first):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > MAX_LINE_BYTES:
            found.append(finding(display, i, 1, "BC009",
                                 f"line is {len(raw):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit; not parsed"))
            texts.append(None)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            col = len(raw[: e.start].decode("utf-8", errors="replace")) + 1
            found.append(finding(display, i, col, "BC002",
                                 f"invalid UTF-8 byte 0x{raw[e.start]:02x}; line not checked further"))
            texts.append(None)
            continue
        m = CONTROL_RE.search(text)
        if m:
            found.append(finding(display, i, m.start() + 1, "BC006",
                                 f"control character {describe_char(m.group())} in the raw text"))
        texts.append(text)
    return texts, found


def _decode_fast(data: bytes, display: str, first: int) -> tuple[list[str], list[Finding]] | None:
    """The common case of :func:`decode_lines` in one pass: LF endings, valid UTF-8, no line near
    the size limit. Decodes and searches all of ``data`` at once (C-level), then splits; the
    result is exactly what the line-by-line path gives. None (nothing done) otherwise."""
    if b"\r" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    texts = text.split("\n")
    if texts[-1] == "":
        texts.pop()
    # a character is at most 4 UTF-8 bytes: no line can be over the byte limit
    if texts and max(map(len, texts)) * 4 > MAX_LINE_BYTES:
        return None
    found: list[Finding] = []
    if _may_have_controls(data):
        search = CONTROL_RE.search
        for i, line in enumerate(texts, first):
            m = search(line)
            if m:
                found.append(finding(display, i, m.start() + 1, "BC006",
                                     f"control character {describe_char(m.group())} in the raw text"))
    return texts, found


#: every byte value except the ASCII controls of CONTROL_RE (deleted by translate: what is
#: left are the control bytes)
_NOT_ASCII_CONTROL = bytes(b for b in range(256) if not CONTROL_RE.match(chr(b)) or b >= 0x80)


def _may_have_controls(data: bytes) -> bool:
    """False when UTF-8 ``data`` surely holds no CONTROL_RE character: no ASCII control byte, and
    no 0xC2 lead byte (C1 controls U+0080-U+009F are encoded C2 80-C2 9F). Faster than the regex."""
    return b"\xc2" in data or bool(data.translate(None, _NOT_ASCII_CONTROL))


def _check_line_endings(src: Source, data: bytes) -> None:
    if b"\r" not in data:
        return  # LF only (or one line): nothing to report
    crlf = data.count(b"\r\n")
    lf = data.count(b"\n") - crlf
    cr = data.count(b"\r") - crlf
    kinds = [name for name, n in (("LF", lf), ("CRLF", crlf), ("CR", cr)) if n]
    if len(kinds) > 1:
        first = _first_odd_line(data)
        counts = ", ".join(f"{n} {name}" for name, n in (("LF", lf), ("CRLF", crlf), ("CR", cr)) if n)
        src.findings.append(finding(src.display, first, 1, "BC005", f"mixed line endings ({counts})"))
    elif kinds == ["CRLF"]:
        src.findings.append(finding(src.display, 1, 1, "BC004", f"CRLF line endings ({crlf} lines)"))
    elif kinds == ["CR"]:
        src.findings.append(finding(src.display, 1, 1, "BC005", f"lone CR line endings ({cr})"))


def _first_odd_line(data: bytes) -> int:
    """1-based number of the first line whose ending differs from the first line's."""
    endings = re.finditer(rb"\r\n|\n|\r", data)
    first = None
    for n, m in enumerate(endings, 1):
        if first is None:
            first = m.group()
        elif m.group() != first:
            return n
    return 1


def char_line_col(text: str, index: int) -> tuple[int, int]:
    """1-based (line, col) of character ``index`` in ``text``."""
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col
