"""Run the rules over files: the one place that walks paths, reads, dispatches by kind,
and collects findings (never stopping at the first)."""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .. import prefetch
from . import jsonl, kinds, parallel
from .example import col_of
from .finding import RULES, Finding
from .loader import BOM, Source, check_path, finding, read_source, source_of
from .rules.duplicates import DuplicateIndex
from .rules.schema import validate_json_text
from .rules.stimuli import StimulusIndex
from .settings import Settings


@dataclass
class Outcome:
    """What a validate run found and what it read."""

    findings: list[Finding]
    files: dict[str, Path] = field(default_factory=dict)  # display path -> file read
    examples: int = 0
    stimuli: int = 0

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when under it, else as given; POSIX separators."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.relative_to(Path.cwd())
        except ValueError:
            pass
    return p.as_posix()


class Run:
    """One validate run: shared state across files (duplicate and id indexes, consent cache)."""

    def __init__(self, settings: Settings, root: Path, params=None):
        self.settings = settings
        self.root = root
        self.params = params
        self.findings: list[Finding] = []
        self.files: dict[str, Path] = {}
        self.examples = 0
        self.stimuli = 0
        self.dups = DuplicateIndex(threshold=settings.near_duplicate_threshold, text_of=self._duplicate_text)
        self.lines: dict[str, jsonl.LineTexts] = {}  # curriculum display path -> its lines
        self.stims = StimulusIndex()
        self.consents: dict[Path, tuple[str, object]] = {}  # resolved path -> (display, record or None)
        self.consent_src: dict[Path, Source] = {}
        self.ignores: dict[tuple[str, int], frozenset[str]] = {}
        self.known_codes = set(RULES) | {p.code for p in settings.phrases}
        self.seen: set[Path] = set()
        if params is not None:
            self.dirs = {Path(params.curriculum_dir).name: kinds.CURRICULUM,
                         Path(params.consent_dir).name: kinds.CONSENT,
                         Path(params.stimuli_dir).name: kinds.STIMULI,
                         Path(params.reviews_dir).name: kinds.REVIEW}
        else:
            self.dirs = {"curriculum": kinds.CURRICULUM, "consent_records": kinds.CONSENT, "stimuli": kinds.STIMULI,
                         "reviews": kinds.REVIEW}

    # --- dispatch -------------------------------------------------------------------------------
    def check_path(self, path: Path, kind: str | None = None) -> None:
        """Check a file, or every checkable file under a folder."""
        if path.is_dir() and not path.is_symlink():
            for p in kinds.walk(path):
                self.check_path(p, kind)
            return
        key = Path(os.path.abspath(path))
        if key in self.seen:
            return
        self.seen.add(key)
        display = display_path(path)
        kind = kind or kinds.by_place(path, self.dirs)
        data = None
        if kind == kinds.CURRICULUM and path.suffix in kinds.expected_suffix(kind):
            data = _big_file_bytes(path)
            if data is not None and not (data.startswith(BOM) or b"\r" in data or data.isspace()):
                self.files[display] = path
                self.check_curriculum_bytes(display, data)
                return
        src = read_source(path, display) if data is None else source_of(path, display, data)
        self.findings.extend(src.findings)
        if not src.ok:
            return
        self.files[display] = path
        if kind is None or path.suffix not in kinds.expected_suffix(kind):
            first = next((t for t in src.texts if t and not t.isspace()), None)
            if path.suffix == ".json" and src.decodable:
                first = src.text()
            kind = kinds.by_content(path, first)
        if kind == kinds.CURRICULUM:
            self.check_curriculum(src)
        elif kind == kinds.STIMULI:
            self.check_stimuli(src)
        elif kind == kinds.CONSENT:
            self.check_consent(src)
        elif kind == kinds.REVIEW:
            from .rules.reviews import check_review_source

            check_review_source(self, src)
        elif kind == kinds.PARAMS:
            from .rules.params import check_params_source

            check_params_source(self, src)
        else:
            self.check_unknown(src)

    def add(self, path: str, line: int, col: int, code: str, message: str, severity: str | None = None) -> None:
        f = finding(path, line, col, code, message)
        if severity is not None and severity != f.severity:
            f = Finding(f.path, f.line, f.col, f.code, severity, f.message)
        self.findings.append(f)

    # --- JSONL ----------------------------------------------------------------------------------
    def _jsonl_lines(self, src: Source) -> list[tuple[int, str, bool]]:
        """:func:`~babyctl.validate.jsonl.jsonl_items` of a file read whole; blank lines reported."""
        items, blank = jsonl.jsonl_items(src.texts, 1, src.findings)
        for number in blank:
            self.add(src.display, number, 1, "BC008", "blank line")
        return items

    def check_curriculum(self, src: Source) -> None:
        """A curriculum file read whole (small, or CRLF/BOM): its lines in chunks."""
        items = self._jsonl_lines(src)
        self.lines[src.display] = jsonl.LineTexts(src.texts)
        args = (src.display, self.settings, frozenset(self.known_codes))
        size = max(CHUNK_LINES, -(-len(items) // 4000)) if len(items) >= PARALLEL_MIN_LINES else max(len(items), 1)
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        parallel.run_in_order(chunks, lambda part: jsonl.examine_items(part, *args),
                              self._consumer(src.display, relative=False), _valid_result)

    def check_curriculum_bytes(self, display: str, data: bytes) -> None:
        """A big curriculum file (LF endings, no BOM): byte chunks, each decoded where examined."""
        chunks = jsonl.byte_chunks(data, max(CHUNK_BYTES, -(-len(data) // 4000)))
        self.lines[display] = jsonl.LineTexts(data=data, chunks=chunks)
        args = (display, self.settings, frozenset(self.known_codes))
        parallel.run_in_order(chunks, lambda chunk: jsonl.examine_bytes(data, chunk, *args),
                              self._consumer(display, relative=True), _valid_result)

    def _consumer(self, display: str, relative: bool):
        """What takes each chunk's result, in file order: the per-line findings, then the
        duplicate index (the one rule with state across lines). ``relative``: the results
        number lines from 1 in each chunk (byte chunks), and the lines before are added here."""
        dups, add, lines = self.dups, self.add, self.lines[display]

        def consume(chunk, result) -> None:
            count, extra, records = result
            base = lines.counted(count) if relative else 0
            for number, col, code, msg in extra:
                add(display, base + number, col, code, msg)
            examples = 0
            for number, pre, ignore, feat in records:
                number += base
                for col, code, msg, sev in pre:
                    add(display, number, col, code, msg, sev)
                if feat is None:
                    continue
                examples += 1
                if ignore:
                    self.ignores[(display, number)] = ignore
                for h in dups.add_features(display, number, feat):
                    add(display, number, col_of(lines[number], h.loc, h.needle), h.code, h.message, h.severity)
            self.examples += examples

        return consume

    def _duplicate_text(self, display: str, number: int) -> str:
        return jsonl.duplicate_text(self.lines[display][number])

    def check_stimuli(self, src: Source) -> None:
        from ..schemas.stimuli import Stimulus
        from ..locate import locate_json

        for number, text, _ in self._jsonl_lines(src):
            obj, problems = validate_json_text(text, Stimulus)
            for (_, col, code, msg) in problems:
                self.add(src.display, number, col, code, msg)
            if obj is None:
                continue
            self.stimuli += 1
            for loc, code, msg in self.stims.add(src.path, src.display, number, obj):
                self.add(src.display, number, locate_json(text, loc)[1], code, msg)

    # --- JSON documents -------------------------------------------------------------------------
    def check_consent(self, src: Source):
        """Validate a consent record file; returns the record (or None). Cached per file."""
        from ..schemas.consent import ConsentRecord

        key = Path(os.path.abspath(src.path))
        if key in self.consents:
            return self.consents[key][1]
        record = None
        self.consent_src[key] = src
        if src.decodable and src.data is not None and src.data.strip():
            text = src.text()
            record, problems = validate_json_text(text, ConsentRecord)
            for (line, col, code, msg) in problems:
                self.add(src.display, line, col, code, msg)
            if record is not None:
                from .rules.consent import check_brief

                for loc, code, msg in check_brief(record, self.root):
                    self.locate_add(src, loc, code, msg)
        self.consents[key] = (src.display, record)
        return record

    def load_consent(self, path: Path):
        """The record at ``path`` (checking the file once, if not yet checked), or None."""
        key = Path(os.path.abspath(path))
        if key not in self.consents:
            self.check_path(path, kinds.CONSENT)
            self.consents.setdefault(key, (display_path(path), None))
        return self.consents[key]

    def locate_add(self, src: Source, loc: tuple, code: str, msg: str) -> None:
        from ..locate import locate_json

        line, col = locate_json(src.text(), loc)
        self.add(src.display, line, col, code, msg)

    def check_unknown(self, src: Source) -> None:
        """Encoding and syntax only, for files whose kind cannot be told."""
        self.add(src.display, 1, 1, "BC105", "cannot tell what this file is (curriculum, consent record, "
                 "review record, stimuli or params); checked encoding and JSON syntax only")
        if not src.decodable or src.data is None or not src.data.strip():
            return
        if src.path.suffix == ".jsonl":
            for number, text, _ in self._jsonl_lines(src):
                try:
                    json.loads(text)
                except json.JSONDecodeError as e:
                    self.add(src.display, number, e.colno, "BC101", f"invalid JSON: {e.msg}")
                except RecursionError:
                    self.add(src.display, number, 1, "BC101", "invalid JSON: nested too deeply")
        elif src.path.suffix == ".json":
            try:
                json.loads(src.text())
            except json.JSONDecodeError as e:
                self.add(src.display, e.lineno, e.colno, "BC101", f"invalid JSON: {e.msg}")
            except RecursionError:
                self.add(src.display, 1, 1, "BC101", "invalid JSON: nested too deeply")

    # --- end ------------------------------------------------------------------------------------
    def finish(self) -> Outcome:
        found = self.findings
        if self.ignores:
            found = [f for f in found if f.code not in self.ignores.get((f.path, f.line), ())]
        return Outcome(self.settings.resolve(found), self.files, self.examples, self.stimuli)


#: a curriculum file of at least this many bytes (LF endings, no BOM) is read in byte chunks
#: that both processes decode and examine (fork), when the machine has two cores for us
PARALLEL_MIN_BYTES = prefetch.MIN_BYTES  # 16 MB (the CLI reads such files ahead)
#: bytes per chunk of such a file (about a thousand lines of a typical curriculum)
CHUNK_BYTES = 1024 * 1024
#: a curriculum file read the ordinary way (CRLF, BOM) is shared out in chunks of this many
#: lines when it has at least PARALLEL_MIN_LINES of them
PARALLEL_MIN_LINES = 20_000
CHUNK_LINES = 1024


def _big_file_bytes(path: Path) -> bytes | None:
    """The bytes of a regular file of at least PARALLEL_MIN_BYTES, else None (a smaller or
    unusual file is read the ordinary way, which reports what is wrong with it)."""
    ahead = prefetch.take(path)  # read in a thread while babyctl was importing (CLI only)
    if ahead is not None and len(ahead) >= PARALLEL_MIN_BYTES:
        return ahead
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size < PARALLEL_MIN_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _valid_result(chunk, result) -> bool:
    """A chunk's :data:`~babyctl.validate.jsonl.Result` has the right shape and covers exactly
    the chunk's lines (a list), or at least one line (a byte chunk: never empty)."""
    if not (isinstance(result, tuple) and len(result) == 3 and isinstance(result[0], int)
            and isinstance(result[2], list)):
        return False
    return result[0] >= 1 if isinstance(chunk, jsonl.ByteChunk) else result[0] == len(chunk)


__all__ = ["Outcome", "Run", "check_path", "display_path"]
