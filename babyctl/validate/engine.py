"""Run the rules over files: the one place that walks paths, reads, dispatches by kind,
and collects findings (never stopping at the first)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from . import kinds, parallel
from .example import Example, Hit, col_of
from .finding import RULES, Finding
from .loader import CONTROL_RE, Source, check_path, describe_char, finding, read_source
from .rules.chat import check_turns, turns_clean
from .rules.duplicates import DuplicateIndex, features_text
from .rules.duplicates import features as dup_features
from .rules.phrases import check_phrases, check_placeholders
from .rules.provenance import check_lint_ignore, check_provenance
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
        self.dups = DuplicateIndex(threshold=settings.near_duplicate_threshold, text_of=_line_text)
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
        src = read_source(path, display)
        self.findings.extend(src.findings)
        if not src.ok:
            return
        self.files[display] = path
        kind = kind or kinds.by_place(path, self.dirs)
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
        """``(number, text, the raw line had a control character)`` of each decoded line that is
        not blank (blank ones are reported here)."""
        texts = src.texts
        raw_ctrl = {f.line for f in src.findings if f.code == "BC006"}
        if not raw_ctrl and None not in texts and "" not in texts and not any(map(str.isspace, texts)):
            return list(zip(range(1, len(texts) + 1), texts, repeat(False)))  # the usual case, C-level
        out = []
        for number, text in enumerate(texts, 1):
            if text is None:
                continue
            if not text or text.isspace():
                self.add(src.display, number, 1, "BC008", "blank line")
                continue
            out.append((number, text, number in raw_ctrl))
        return out

    def check_curriculum(self, src: Source) -> None:
        display, dups, add = src.display, self.dups, self.add
        items = self._jsonl_lines(src)
        args = (display, self.settings, frozenset(self.known_codes))

        def consume(part: list, records: list) -> None:
            # in line order: the per-line findings, then duplicates (the one rule with state
            # across lines); parts arrive in file order
            examples = 0
            for (number, text, _), (pre, ignore, feat) in zip(part, records):
                for col, code, msg, sev in pre:
                    add(display, number, col, code, msg, sev)
                if feat is None:
                    continue
                examples += 1
                if ignore:
                    self.ignores[(display, number)] = ignore
                for h in dups.add_features(display, number, feat, text):
                    add(display, number, col_of(text, h.loc, h.needle), h.code, h.message, h.severity)
            self.examples += examples

        if len(items) >= PARALLEL_MIN_LINES:
            parallel.run_in_order(items, lambda part: _examine(part, *args), consume)
        else:
            consume(items, _examine(items, *args))

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


#: a curriculum file with at least this many lines is examined in two processes (fork), when
#: the machine has two cores for us; smaller files are not worth the fork
PARALLEL_MIN_LINES = 20_000

#: one line's result from :func:`_examine`: findings as (col, code, message, severity or None),
#: its lint_ignore codes, and its duplicate-index features (None: no usable example)
Record = tuple


def _examine(items: list[tuple[int, str, bool]], display: str, settings: Settings,
             known_codes: frozenset[str]) -> list[Record]:
    """Every per-line check of curriculum lines ``(number, text, raw line had a control char)``:
    schema, turns, phrasing, placeholders, provenance, lint_ignore, escaped controls, and the
    features the duplicate index needs. Depends on nothing but its arguments."""
    from ..schemas.curriculum import CurriculumExample

    out: list[Record] = []
    for number, text, had_ctrl in items:
        problems, ex = _example_of(display, number, text, CurriculumExample)
        pre = [(col, code, msg, None) for (_, col, code, msg) in problems]
        if ex is None:
            out.append((pre, None, None))
            continue
        hits = [] if turns_clean(ex.messages) else check_turns(ex)
        hits += check_phrases(ex, settings)
        hits += check_placeholders(ex)
        hits += check_provenance(ex)
        if ex.ignore:
            hits += check_lint_ignore(ex, known_codes)
        # a decoded string holds a control character only if the raw line does (had_ctrl,
        # reported there) or it came from a JSON \u, \b or \f escape
        if not had_ctrl and "\\" in text and ("\\u" in text or "\\b" in text or "\\f" in text):
            hits += _escaped_controls(ex)
        for h in hits:
            pre.append((ex.col(h.loc, h.needle), h.code, h.message, h.severity))
        out.append((pre, ex.ignore, dup_features(ex)))
    return out


def _example_of(display: str, number: int, text: str, model) -> tuple[list, Example | None]:
    """Schema problems of one curriculum line (``model``: CurriculumExample), and its Example
    (None: no usable messages)."""
    obj, problems = validate_json_text(text, model)
    if obj is None:
        return problems, _best_effort_example(display, number, text)
    md = obj.metadata
    meta, ignore = None, _NO_CODES
    if md is not None:
        meta = md.__dict__  # the model is dropped after this line: no copy needed
        if md.__pydantic_extra__:
            meta = {**meta, **md.__pydantic_extra__}
        if md.lint_ignore:
            ignore = frozenset(md.lint_ignore)
    return problems, Example(display, number, text, [(m.role, m.content) for m in obj.messages], meta, ignore)


_NO_CODES: frozenset[str] = frozenset()


def _line_text(text: str) -> str:
    """The duplicate index's text of a curriculum line that :func:`_examine` found usable."""
    from ..schemas.curriculum import CurriculumExample

    return features_text(_example_of("", 0, text, CurriculumExample)[1].messages)


def _best_effort_example(display: str, line: int, text: str) -> Example | None:
    """An Example from a schema-invalid line when its messages are still usable, else None."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
        return None
    msgs = []
    for m in obj["messages"]:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            return None
        msgs.append((m["role"], m["content"]))
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else None
    ignore = meta.get("lint_ignore") if meta else None
    ignore = frozenset(c for c in ignore if isinstance(c, str)) if isinstance(ignore, list) else frozenset()
    return Example(display, line, text, msgs, meta, ignore)


def _escaped_controls(ex: Example) -> list[Hit]:
    hits = []
    for i, (_, content) in enumerate(ex.messages):
        m = CONTROL_RE.search(content)
        if m:
            hits.append(Hit("BC006", ("messages", i, "content"),
                            f"control character {describe_char(m.group())} in messages[{i}].content"))
    return hits


__all__ = ["Outcome", "Run", "check_path", "display_path"]
