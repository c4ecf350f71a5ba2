"""Run the rules over files: the one place that walks paths, reads, dispatches by kind,
locates each rule's hits and collects findings (never stopping at the first).

One code path per kind of file. A curriculum JSONL file is read line by line: each line is
decoded, parsed once by the pydantic model, examined by every rule of
:data:`~babyctl.validate.rules.EXAMPLE_RULES`, then fed to the duplicate index.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import kinds
from .example import Hit, col_of, parse_example
from .finding import Finding
from .loader import Line, Source, finding, read_lines, read_source
from .rules import EXAMPLE_RULES
from .rules.contamination import LeakageIndex
from .rules.duplicates import DuplicateIndex, features
from .rules.stimuli import StimulusIndex
from .schema import json_problems, validate_json_text
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


def experiment_root_of(path: Path, default: Path) -> Path:
    """The experiment root of a file: the nearest folder above it holding ``params.yaml`` (so a
    consent record's ``brief_file`` resolves the same from any working folder), else ``default``."""
    for parent in Path(os.path.abspath(path)).parents:
        if (parent / "params.yaml").is_file():
            return parent
    return default


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when under it, else as given; POSIX separators."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.relative_to(Path.cwd())
        except ValueError:
            pass
    return p.as_posix()


#: the study's data folders: params key -> (folder when there is no params, kind); reviews last,
#: since they reference consent records
FOLDERS = {"curriculum_dir": ("curriculum", kinds.CURRICULUM), "consent_dir": ("consent_records", kinds.CONSENT),
           "stimuli_dir": ("stimuli", kinds.STIMULI), "reviews_dir": ("reviews", kinds.REVIEW)}


class Run:
    """One validate run: shared state across files (duplicate and id indexes, consent cache)."""

    def __init__(self, root: Path, params=None):
        self.settings, self.bad_phrases = Settings.from_params(params)
        self.root = root
        self.params = params
        self.findings: list[Finding] = []
        self.files: dict[str, Path] = {}
        self.examples = 0
        self.stimuli = 0
        self.dups = DuplicateIndex(threshold=self.settings.near_duplicate_threshold)
        self.stims = StimulusIndex()
        self.contam = None  # ContaminationIndex of the experiment's stimuli, loaded at the first example
        self.prompts = None  # a ContaminationIndex the stimuli checked here feed (see _start_turn_checks)
        self.split = False  # a condition has a validation split: first turns are kept for BC421
        self.leak = LeakageIndex()
        self.consents: dict[Path, tuple[Source, object]] = {}  # absolute path -> (source, record or None)
        self._consent_by_id: dict | None = None
        self.ignores: dict[tuple[str, int], frozenset[str]] = {}  # (display, line) -> lint_ignore
        self.seen: set[Path] = set()
        self.dirs = {Path(self.folder(key)).name: kind for key, (_, kind) in FOLDERS.items()}

    def folder(self, key: str) -> str:
        """The study folder ``key`` of :data:`FOLDERS` (relative to the root)."""
        return getattr(self.params, key) if self.params is not None else FOLDERS[key][0]

    # --- reporting --------------------------------------------------------------------------------
    def add(self, path: str, line: int, col: int, code: str, message: str, severity: str | None = None) -> None:
        self.findings.append(finding(path, line, col, code, message, severity))

    def exists(self, path: Path) -> bool:
        """True when ``path`` (given by the caller) exists, else BC001."""
        if path.exists() or path.is_symlink():
            return True
        self.add(display_path(path), 1, 1, "BC001", "no such file or folder")
        return False

    def check_model(self, display: str, text: str, model, first_line: int = 1):
        """``text`` (a document, or a JSONL line numbered ``first_line``) through ``model``: the
        instance, or None with its problems reported."""
        obj, problems = validate_json_text(text, model)
        for p in problems:
            self.add(display, first_line + p.line - 1, p.col, p.code, p.message)
        return obj

    def add_json_hits(self, display: str, text: str, hits: Iterable[Hit], first_line: int = 1) -> None:
        """Locate ``hits`` in JSON ``text`` (a document, or one JSONL line numbered ``first_line``)."""
        from ..locate import locate_json

        for h in hits:
            line, col = locate_json(text, h.loc)
            if h.needle:
                col = col_of(text, h.loc, h.needle, h.nth)
            self.add(display, first_line + line - 1, col, h.code, h.message, h.severity)

    # --- dispatch ---------------------------------------------------------------------------------
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
        if path.suffix == ".jsonl":
            self.check_jsonl(path, display, kind)
            return
        src = read_source(path, display)
        self.findings.extend(src.findings)
        if not src.ok:
            return
        self.files[display] = path
        if kind == kinds.STIMULI and path.suffix == ".json":
            self.check_legacy_stimuli(src)
            return
        if kind is None or path.suffix not in kinds.expected_suffix(kind):
            first = src.text() if path.suffix == ".json" and src.decodable else \
                next((t for t in src.texts if t and not t.isspace()), None)
            kind = kinds.by_content(path, first)
        {kinds.CONSENT: self.check_consent, kinds.REVIEW: self.check_review,
         kinds.PARAMS: self.check_params_file}.get(kind, self.check_unknown)(src)

    def check_jsonl(self, path: Path, display: str, kind: str | None) -> None:
        """A JSONL file, read line by line: curriculum, stimuli, or of a kind told by its first line."""
        lines = read_lines(path, display, self.findings)
        if lines is None:
            return
        self.files[display] = path
        if kind not in (kinds.CURRICULUM, kinds.STIMULI):
            head: list[Line] = []
            for line in lines:
                head.append(line)
                if line.text and not line.text.isspace():
                    break
            kind = kinds.by_content(path, head[-1].text if head else None)
            lines = itertools.chain(head, lines)
        if kind == kinds.CURRICULUM:
            self.check_curriculum(display, lines)
        elif kind == kinds.STIMULI:
            self.check_stimuli(path, display, lines)
        else:  # rare: read whole, as a document would be
            lines = list(lines)
            try:
                data = path.read_bytes()
            except OSError:
                data = b""
            self.check_unknown(Source(path, display, data, [line.text for line in lines]), lines)

    def _items(self, display: str, lines: Iterable[Line]) -> Iterator[Line]:
        """The lines worth parsing: undecodable ones skipped (reported already), blank ones reported."""
        for line in lines:
            if line.text is None:
                continue
            if not line.text or line.text.isspace():
                self.add(display, line.number, 1, "BC008", "blank line")
                continue
            yield line

    # --- curriculum -------------------------------------------------------------------------------
    def check_curriculum(self, display: str, lines: Iterable[Line]) -> None:
        """Each line through the model (:func:`parse_example`) and :data:`EXAMPLE_RULES`, then fed to
        the duplicate index, in file order."""
        for line in self._items(display, lines):
            number = line.number
            problems, ex = parse_example(display, number, line.text, line.control)
            for p in problems:
                self.add(display, number, p.col, p.code, p.message)
            if ex is None:
                continue
            for rule in EXAMPLE_RULES:
                for h in rule(ex, self.settings):
                    self.add(display, number, col_of(line.text, h.loc, h.needle, h.nth), h.code, h.message, h.severity)
            self.examples += 1
            if ex.ignore:
                self.ignores[(display, number)] = ex.ignore
            feat = features(ex)
            for h in self.dups.add(display, number, feat):
                self.add(display, number, col_of(line.text, h.loc), h.code, h.message, h.severity)
            if self.contam is None:
                self._start_turn_checks()
            if self.contam or self.split:
                turns = " ".join(feat.words).split("\x00")  # the user/assistant turns, case-folded
                for h in self.contam.check(turns) if self.contam else ():
                    self.add(display, number, 1, h.code, h.message, h.severity)
                if self.split:
                    self.leak.add(display, number, turns[0])

    def _start_turn_checks(self) -> None:
        """BC420/BC421 run only in an experiment run: with stimuli to compare against, or a condition
        with a validation split (a plain ``babyctl validate FILE`` keeps no per-example state)."""
        from .rules.contamination import ContaminationIndex

        self.contam, self.split = ContaminationIndex(), False
        if self.params is None:
            return
        folder = self.root / self.params.stimuli_dir
        if folder.is_dir():  # read by a quiet run: the stimuli's own findings belong to their files' checks
            quiet = Run(self.root, self.params)
            quiet.prompts = self.contam
            quiet.check_path(folder, kinds.STIMULI)
        self.split = any(c.validation_fraction > 0 for c in self.params.conditions.values())

    def check_legacy_stimuli(self, src: Source) -> None:
        """BC603 for a legacy stimulus file (a JSON item list), and BC601 for ids it repeats."""
        from ..migrate.legacy import legacy_items

        items = [(i, line or 1, item) for i, line, item in legacy_items(src.text())]
        self.add(src.display, 1, 1, "BC603", f"legacy stimulus layout: a JSON list of {len(items)} items, not "
                 "stimuli/<bank>.jsonl (convert it with babyctl migrate)")
        first: dict[str, int] = {}
        for stim_id, line, item in items:
            if stim_id in first:
                self.add(src.display, line, 1, "BC601", f"duplicate stimulus id {stim_id!r} (first at "
                         f"{src.display}:{first[stim_id]}; bank {item.get('bank')!r})")
            else:
                first[stim_id] = line
            if self.prompts is not None and isinstance(item.get("prompt"), str):
                self.prompts.add_prompt(stim_id, f"{src.display}:{line}", item["prompt"])
        self.stimuli += len(items)

    # --- stimuli ----------------------------------------------------------------------------------
    def check_stimuli(self, path: Path, display: str, lines: Iterable[Line]) -> None:
        from ..schemas.stimuli import Stimulus

        for number, text, _ in self._items(display, lines):
            obj = self.check_model(display, text, Stimulus, number)
            if obj is not None:
                self.stimuli += 1
                if self.prompts is not None:
                    self.prompts.add_prompt(obj.id, f"{display}:{number}", obj.prompt)
                self.add_json_hits(display, text, self.stims.add(path, display, number, obj), first_line=number)

    # --- JSON documents ---------------------------------------------------------------------------
    def check_consent(self, src: Source) -> None:
        """Validate a consent record file, once; :attr:`consents` keeps its source and record (or None)."""
        from ..schemas.consent import ConsentRecord
        from .rules.consent import check_brief

        key = Path(os.path.abspath(src.path))
        if key in self.consents:
            return
        record = None
        if src.decodable and src.data.strip():
            record = self.check_model(src.display, src.text(), ConsentRecord)
            if record is not None:
                self.add_json_hits(src.display, src.text(), check_brief(record, experiment_root_of(src.path, self.root)))
        self.consents[key] = (src, record)

    def consent_index(self) -> dict:
        """Consent records by id: those this run checked, plus the consent folder's (parsed once,
        quietly: their own findings belong to their own files)."""
        if self._consent_by_id is not None:
            return self._consent_by_id
        from ..schemas.consent import ConsentRecord

        index = {rec.id: rec for _, rec in reversed(self.consents.values()) if rec is not None}
        folder = self.root / self.folder("consent_dir")
        for path in kinds.walk(folder) if folder.is_dir() else []:
            if path.suffix == ".json" and Path(os.path.abspath(path)) not in self.consents:
                try:
                    rec = ConsentRecord.model_validate_json(path.read_bytes())
                except (ValueError, OSError):  # pydantic's ValidationError is a ValueError
                    continue
                index.setdefault(rec.id, rec)
        self._consent_by_id = index
        return index

    def check_review(self, src: Source) -> None:
        """A review record (BC102 located by line) and what it references (BC510-BC512)."""
        from ..schemas.review import ReviewRecord
        from .rules.consent import check_review as check

        if src.decodable and src.data.strip():
            review = self.check_model(src.display, src.text(), ReviewRecord)
            if review is not None:
                self.add_json_hits(src.display, src.text(), check(review, self.consent_index()))

    def check_params_file(self, src: Source) -> None:
        """A params file among the paths checked: validated, then its references."""
        from .rules.params import parse_params

        params, found = parse_params(src)
        self.findings.extend(found)
        if params is not None:
            self.check_params_references(src, params, src.path.resolve().parent, Settings.from_params(params)[1])

    def check_params_references(self, src: Source, params, root: Path, bad_phrases) -> None:
        """Everything params points at (located in params.yaml), and each consent record it
        references: coded, for its substrate, covering what is active (located in the record)."""
        from ..locate import locate, node_tree
        from .rules.consent import check_chain_head, check_reference
        from .rules.params import check_references

        hits, refs = check_references(params, root, bad_phrases)
        tree = node_tree(src.text()) if hits else None
        for h in hits:
            line, col = locate(tree, h.loc)
            self.add(src.display, line, col, h.code, h.message, h.severity)
        for ref in refs:
            key = Path(os.path.abspath(ref.path))
            if key not in self.consents:
                self.check_path(ref.path, kinds.CONSENT)
            rec_src, record = self.consents.get(key, (None, None))
            if record is None:
                continue  # the record's own findings say why
            self.add_json_hits(rec_src.display, rec_src.text(),
                               check_reference(ref.key, record, active=ref.active, conditions=ref.conditions)
                               + check_chain_head(ref.key, record, self.consent_index(), active=ref.active,
                                                  conditions=ref.conditions))

    def check_unknown(self, src: Source, lines: list[Line] | None = None) -> None:
        """Encoding and syntax only, for files whose kind cannot be told (``lines``: a JSONL file's)."""
        self.add(src.display, 1, 1, "BC105", "cannot tell what this file is (curriculum, consent record, "
                 "review record, stimuli or params); checked encoding and JSON syntax only")
        if not src.decodable or not src.data.strip():
            return
        if lines is None:  # a JSON document is one item; other files' syntax is not checked
            lines = [Line(1, src.text())] if src.path.suffix == ".json" else []
        for number, text, _ in self._items(src.display, lines):
            for p in json_problems(text):
                self.add(src.display, number + p.line - 1, p.col, p.code, p.message)

    # --- end --------------------------------------------------------------------------------------
    def finish(self) -> Outcome:
        found = self.findings
        if self.ignores:
            found = [f for f in found if f.code not in self.ignores.get((f.path, f.line), ())]
        return Outcome(self.settings.resolve(found), self.files, self.examples, self.stimuli)


def check_supersedes(run: Run) -> None:
    """BC509: a consent record's ``supersedes`` names no record id among those checked."""
    from .rules.consent import check_supersedes as check

    records = {rec.id: src for src, rec in run.consents.values() if rec is not None}
    for src, rec in run.consents.values():
        if rec is not None and records[rec.id] is src:
            run.add_json_hits(src.display, src.text(), check(rec, set(records)))


def check_leakage(run: Run) -> None:
    """BC421: a condition with a validation split lists one first user turn twice."""
    if run.params is None:
        return
    for name, cond in run.params.conditions.items():
        if cond.validation_fraction <= 0:
            continue
        displays = []
        for inp in cond.inputs:
            path = run.root / inp
            files = kinds.walk(path) if path.is_dir() else [path]
            displays += [display_path(f) for f in files if f.suffix == ".jsonl"]
        for display, line, message in run.leak.check(name, displays):
            run.add(display, line, 1, "BC421", message)


def check_prereg(run: Run) -> None:
    """BC513: the pre-registration lock and the amendments parse, the lock matches its digest, and
    every amendment names an item of the lock (:mod:`babyctl.prereg`); file:line of the problem."""
    if run.params is None:
        return
    from ..errors import InputError
    from ..prereg import LOCK, load_amendments, state

    try:
        load_amendments(run.root)
        state(run.params, run.root)
    except InputError as e:
        run.add(display_path(Path(e.path)) if e.path else LOCK.as_posix(), e.line or 1, 1, "BC513", e.message)


#: checks that need every file of the experiment read first (``run_experiment`` runs them, in order)
EXPERIMENT_CHECKS: list[Callable[[Run], None]] = [check_supersedes, check_leakage, check_prereg]

__all__ = ["EXPERIMENT_CHECKS", "Outcome", "Run", "display_path"]
