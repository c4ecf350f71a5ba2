"""Study-level verification of a legacy study: what an auditor checks beyond the manifest rows.

:func:`verify_study` reads the legacy folder (only through :mod:`.safe`) and returns findings,
each with a code, the file and line it is about, a plain message and the numbers behind it:

==========  ==================================================================================
S201        an aggregate ("combined") file lacks modules: which, and how many examples
S202        an aggregate repeats examples of module files (training on both repeats them)
S203        an example repeated inside one file
S210        a count the study's documents state does not match the unique examples on disk
S211        a stated count that does match (listed so the auditor sees what was checked)
S220        a manifest total that counts the same examples twice
S230        line endings mixed across the set (or inside a file)
S240        metadata values differing only in case or spelling
S241        different field names for one role
S242        rows with no metadata, per file
S250        legacy stimulus ids used by more than one item
S260        module names inferred (from sibling files or the file name, never the folder)
S270        a test-fixture folder: not imported as curriculum
S280        a file the study's documents reference is absent (consent files called out)
S290        a legacy run against consent scope and time
S300        consent sentences that limit scope or set conditions: "needs coding"
S301        a sentence that limits consent to part of the study ("I will only ... the why-only pass")
M100-M103   refused paths (see :mod:`.safe`)
==========  ==================================================================================
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from . import safe
from .legacy import json_objects, legacy_items

#: metadata keys that play one role, by role
ROLES = {
    "example sub-type": ("scenario_type", "pressure_type", "tactic", "pattern", "category", "type", "subtype"),
    "author": ("author", "authors", "written_by", "by", "writer"),
    "date": ("date", "created", "created_at", "written"),
    "module": ("module", "topic", "section"),
}
FIXTURE_DIR = re.compile(r"(^|[-_])(tests?|fixtures?|audit-tests?|known[-_]bad)($|[-_])", re.I)
FIXTURE_TEXT = re.compile(r"\b(synthetic|known[- ]bad|test fixture|verify `?audit)", re.I)
DOCS = ("README.md", "PREREGISTRATION.md", "curriculum/README.md", "curriculum/DATASET_CARD.md",
        "CONSENT_RECORDS/README.md", "VERIFICATION_LOG.md")
EXAMPLES_RE = re.compile(r"\b(\d{1,6})[- ](?:unique |distinct |training )?(?:example|examples)\b", re.I)
#: a number that names something ("Study 1", "Phase 2"), not a count
NAMING = re.compile(r"(Study|Paper|Phase|Amendment|Section|Panel|Condition|H)\s*$")
MODULES_RE = re.compile(r"\b(\d{1,3}) modules\b", re.I)
FILES_RE = re.compile(r"\b(\d{1,4}) (?:source )?files\b", re.I)
PROMPTS_RE = re.compile(r"\b(\d{1,6}) (?:prompts|stimuli)\b", re.I)
REF_RE = re.compile(r"`([A-Za-z0-9_./-]+\.(?:json|jsonl|md|py|yaml|yml|txt))`|\]\(([^)#\s]+)\)")
SCOPE_RE = re.compile(
    r"\b(only|condition|conditions|provided that|as long as|on the condition|except|but not|not to be|"
    r"do not consent|don't consent|decline|withdraw|delet\w*|must|should not|shouldn't|request|i would like|"
    r"i'd like|review|right to|not be|without my)\b", re.I)


@dataclass
class Finding:
    code: str
    path: str
    line: int | None
    message: str
    numbers: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"code": self.code, "path": self.path, "line": self.line, "message": self.message,
                "numbers": self.numbers}


@dataclass
class Example:
    file: str
    line: int
    key: str
    meta: dict | None


@dataclass
class StudyReport:
    findings: list[Finding] = field(default_factory=list)
    unique: dict[str, int] = field(default_factory=dict)  #: set name -> unique examples on disk
    aggregates: list[str] = field(default_factory=list)
    fixtures: list[str] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)  #: legacy file -> module for unlabelled lines
    runs: list[dict] = field(default_factory=list)
    needs_coding: list[dict] = field(default_factory=list)
    keys: dict[str, set[str]] = field(default_factory=dict, repr=False)  #: legacy file -> example keys

    def add(self, code: str, path: str, line: int | None, message: str, **numbers) -> None:
        self.findings.append(Finding(code, path, line, message, numbers))

    def as_dict(self) -> dict:
        return {"findings": [f.as_dict() for f in self.findings], "unique_examples": self.unique,
                "aggregates": self.aggregates, "fixtures": self.fixtures, "inferred_modules": self.modules,
                "runs": self.runs, "needs_coding": self.needs_coding}


def _key(messages) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _text(legacy: Path, rel: str, report: StudyReport) -> str | None:
    path = legacy / rel
    if not path.exists() and not path.is_symlink():
        return None
    raw = safe.read_bytes(legacy, path)
    if isinstance(raw, safe.Refusal):
        report.add(raw.code, rel, None, raw.message)
        return None
    return raw.decode("utf-8", errors="replace")


# --- curriculum ------------------------------------------------------------------------------------
def _read_curriculum(legacy: Path, report: StudyReport) -> dict[str, list[Example]]:
    files, refused = safe.walk(legacy, "curriculum", (".jsonl",))
    for rel, why in refused:
        report.add(why.code, rel, None, why.message)
    out: dict[str, list[Example]] = {}
    endings: dict[str, tuple[int, int]] = {}
    for f in files:
        rel = f.relative_to(legacy).as_posix()
        raw = safe.read_bytes(legacy, f)
        if isinstance(raw, safe.Refusal):
            report.add(raw.code, rel, None, raw.message)
            continue
        crlf = raw.count(b"\r\n")
        lf = raw.count(b"\n") - crlf
        endings[rel] = (crlf, lf)
        if crlf and lf:
            first = next(i for i, ln in enumerate(raw.split(b"\n"), 1) if not ln.endswith(b"\r"))
            report.add("S230", rel, first, f"mixed line endings inside one file: {crlf} CRLF and {lf} LF lines",
                       crlf=crlf, lf=lf)
        rows = []
        for no, obj in json_objects(raw.decode("utf-8", errors="replace")):
            if "messages" in obj:
                meta = obj.get("metadata")
                rows.append(Example(rel, no, _key(obj["messages"]), meta if isinstance(meta, dict) else None))
        out[rel] = rows
    crlf_files = sorted(r for r, (c, lf) in endings.items() if c and not lf)
    lf_files = sorted(r for r, (c, lf) in endings.items() if lf and not c)
    if crlf_files and lf_files:
        report.add("S230", "curriculum", None,
                   f"line endings are mixed across the set: {len(crlf_files)} files use CRLF, {len(lf_files)} use LF "
                   "(byte hashes then change with a checkout's line-ending settings; migrate writes LF). CRLF: "
                   + ", ".join(crlf_files), crlf_files=len(crlf_files), lf_files=len(lf_files))
    return out


def _fixtures(legacy: Path, files: dict[str, list[Example]], report: StudyReport) -> set[str]:
    """Files in test-fixture folders (by folder name, or a README there that says so)."""
    out = set()
    for rel in files:
        folder = Path(rel).parent
        readme = legacy / folder / "README.md"
        by_name = bool(FIXTURE_DIR.search(folder.name))
        text = _text(legacy, (folder / "README.md").as_posix(), report) if readme.is_file() else None
        if by_name or (text and FIXTURE_TEXT.search(text)):
            out.add(rel)
            why = f"folder name {folder.name!r}" if by_name else f"{folder.as_posix()}/README.md describes test data"
            report.add("S270", rel, None, f"test-fixture folder ({why}): its {len(files[rel])} examples are not "
                       "imported as curriculum", examples=len(files[rel]))
    return out


def _aggregates(files: dict[str, list[Example]]) -> dict[str, dict[str, int]]:
    """file -> {contributing smaller file: examples shared}, for files whose examples (>= 90%) all
    come from at least two smaller files: an aggregate ("combined") file."""
    where: dict[str, set[str]] = defaultdict(set)
    for rel, rows in files.items():
        for ex in rows:
            where[ex.key].add(rel)
    out = {}
    for rel, rows in files.items():
        if not rows:
            continue
        contrib: Counter = Counter()
        covered = 0
        for ex in rows:
            smaller = [o for o in where[ex.key] if o != rel and len(files[o]) < len(rows)]
            if smaller:
                covered += 1
                contrib.update(set(smaller))
        if len(contrib) >= 2 and covered >= 0.9 * len(rows):
            out[rel] = dict(contrib)
    return out


def module_names(files: dict[str, list[Example]], skip: set[str]) -> dict[str, str]:
    """For each file with lines lacking ``metadata.module``: the module name to give them.

    The name its sibling files use for the same stem (``01-self-worth.jsonl`` next to
    ``01-self-worth-ace.jsonl`` labelled ``self-worth``), else the file name without its numeric
    prefix and author/batch suffix. Never the folder name (``curriculum``, ``anti-patterns``).
    """
    labelled: dict[str, Counter] = defaultdict(Counter)
    for rel, rows in files.items():
        for ex in rows:
            if ex.meta and ex.meta.get("module"):
                labelled[Path(rel).parent.as_posix() + "/" + _stem(rel)][str(ex.meta["module"])] += 1
    out = {}
    for rel, rows in files.items():
        if rel in skip or all(ex.meta and ex.meta.get("module") for ex in rows):
            continue
        sib = labelled.get(Path(rel).parent.as_posix() + "/" + _stem(rel))
        out[rel] = sib.most_common(1)[0][0] if sib else _stem(rel)
    return out


def _stem(rel: str) -> str:
    stem = Path(rel).stem
    stem = re.sub(r"^\d+[-_]", "", stem)
    stem = re.sub(r"([-_](batch\d*|v\d+))+$", "", stem, flags=re.I)
    stem = re.sub(r"[-_](ace|grok|nova|lumen|examples?)$", "", stem, flags=re.I)
    stem = re.sub(r"[-_](ace|grok|nova|lumen)$", "", stem, flags=re.I)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "module"


def _check_curriculum(legacy: Path, files: dict[str, list[Example]], report: StudyReport) -> dict:
    fixtures = _fixtures(legacy, files, report)
    report.fixtures = sorted(fixtures)
    aggs = _aggregates({r: x for r, x in files.items() if r not in fixtures})
    report.aggregates = sorted(aggs)
    modules_files = {r: x for r, x in files.items() if r not in fixtures and r not in aggs}
    report.modules = module_names(files, fixtures | set(aggs))
    for rel, name in sorted(report.modules.items()):
        n = sum(1 for ex in files[rel] if not (ex.meta and ex.meta.get("module")))
        report.add("S260", rel, None, f"{n} examples have no metadata.module: module {name!r} taken from "
                   f"{'sibling files of the same name' if name != _stem(rel) else 'the file name'} "
                   f"(not from the folder {Path(rel).parent.name!r})", examples=n, module=name)
    # unique counts of the natural sets
    folder_of = lambda r: Path(r).parts[1] if len(Path(r).parts) > 2 else "(top)"  # noqa: E731
    by_folder: dict[str, set[str]] = defaultdict(set)
    for rel, rows in modules_files.items():
        by_folder[folder_of(rel)].update(ex.key for ex in rows)
    sets: dict[str, set[str]] = {}
    for k in range(1, min(3, len(by_folder)) + 1):
        for combo in combinations(sorted(by_folder), k):
            sets[" + ".join(f"{c}/" for c in combo)] = set().union(*(by_folder[c] for c in combo))
    sets["all module files"] = set().union(*by_folder.values()) if by_folder else set()
    for rel in aggs:
        sets[rel] = {ex.key for ex in files[rel]}
    no_author = {ex.key for rows in modules_files.values() for ex in rows if not (ex.meta and ex.meta.get("author"))}
    sets["module examples with no author"] = no_author
    module_of: dict[str, set[str]] = defaultdict(set)
    for rel, rows in modules_files.items():
        for ex in rows:
            module_of[str((ex.meta or {}).get("module") or report.modules.get(rel, _stem(rel)))].add(ex.key)
    report.unique = {name: len(keys) for name, keys in sets.items()}
    # aggregates vs modules
    for rel, contrib in sorted(aggs.items()):
        keys = [ex.key for ex in files[rel]]
        kset = set(keys)
        in_it = {m: len(k & kset) for m, k in sorted(module_of.items())}
        missing = [m for m, n in in_it.items() if n == 0 and m in module_of]
        partial = [f"{m} ({n} of {len(module_of[m])})" for m, n in in_it.items() if 0 < n < len(module_of[m])]
        same_folders = {folder_of(f) for f in contrib}
        expected = {m for m, ks in module_of.items()
                    if any(folder_of(f) in same_folders and any(e.key in ks for e in modules_files[f])
                           for f in modules_files)}
        missing = sorted(m for m in missing if m in expected)
        missing_files = sorted(f for f in modules_files if folder_of(f) in same_folders
                               and not any(e.key in kset for e in modules_files[f]))
        n_missing = sum(len(modules_files[f]) for f in missing_files)
        if missing or missing_files:
            report.add("S201", rel, None,
                       f"aggregate of {len(contrib)} files has {len(kset)} unique examples; {n_missing} examples of "
                       f"{len(missing_files)} module files in the same folders are not in it: "
                       f"{', '.join(missing_files)}"
                       + (f" (modules entirely missing: {', '.join(missing)})" if missing else "")
                       + (f"; partly included: {', '.join(partial)}" if partial else ""),
                       unique=len(kset), missing_examples=n_missing, missing_files=len(missing_files),
                       missing_modules=missing)
        repeated = len(kset & sets["all module files"])
        report.add("S202", rel, None,
                   f"{repeated} of its {len(kset)} unique examples repeat examples of {len(contrib)} module files "
                   "(a condition listing this file and its modules trains on them twice)",
                   repeated=repeated, unique=len(kset), contributing_files=len(contrib))
    for rel, rows in files.items():
        seen: dict[str, int] = {}
        for ex in rows:
            if ex.key in seen:
                report.add("S203", rel, ex.line, f"repeats the example on line {seen[ex.key]} (same messages)",
                           first_line=seen[ex.key])
            else:
                seen[ex.key] = ex.line
    _metadata(files, fixtures, report)
    return {"sets": sets, "modules": module_of, "module_files": modules_files, "aggregates": aggs}


def _metadata(files: dict[str, list[Example]], fixtures: set[str], report: StudyReport) -> None:
    values: dict[str, dict[str, dict[str, Counter]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(Counter)))
    keys_per_role: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for rel, rows in sorted(files.items()):
        if rel in fixtures:
            continue
        missing = [ex.line for ex in rows if not ex.meta]
        if missing:
            report.add("S242", rel, missing[0], f"{len(missing)} of {len(rows)} rows have no metadata "
                       f"(lines {_ranges(missing)})", rows_without=len(missing), rows=len(rows))
        for ex in rows:
            for k, v in (ex.meta or {}).items():
                for role, names in ROLES.items():
                    if k in names:
                        keys_per_role[role][k][rel] += 1
                if isinstance(v, str) and k in ("author", "module", "authors"):
                    norm = re.sub(r"[^a-z0-9]", "", v.casefold())
                    values[k][norm][v][rel] += 1
    for k, groups in sorted(values.items()):
        for norm, variants in sorted(groups.items()):
            if len(variants) > 1:
                parts = [f"{v!r} in {', '.join(f'{r} ({n})' for r, n in sorted(files_.items()))}"
                         for v, files_ in sorted(variants.items())]
                report.add("S240", "curriculum", None, f"metadata.{k} spelled {len(variants)} ways for one value: "
                           + "; ".join(parts), field=k, variants=sorted(variants))
    for role, names in sorted(keys_per_role.items()):
        if len(names) > 1:
            parts = [f"{name} ({sum(c.values())} rows in {len(c)} files)" for name, c in sorted(names.items())]
            report.add("S241", "curriculum", None, f"{len(names)} field names for one role ({role}): "
                       + ", ".join(parts), role=role, fields=sorted(names))


def _ranges(lines: list[int]) -> str:
    out, start, prev = [], None, None
    for n in lines:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else str(start))
    return ", ".join(out)


# --- the study's documents ------------------------------------------------------------------------
def _claims(legacy: Path, report: StudyReport, cur: dict, stimuli: dict) -> None:
    sets: dict[str, set[str]] = cur["sets"]
    counts = {name: len(k) for name, k in sets.items()}
    counts.update({f"module {m}": len(k) for m, k in cur["modules"].items()})
    folder_of = lambda r: Path(r).parts[1] if len(Path(r).parts) > 2 else "(top)"  # noqa: E731
    set_files = {name: [f for f in cur["module_files"] if f"{folder_of(f)}/" in name.split(" + ")]
                 for name in sets if "/" in name and not name.startswith("curriculum/")}
    set_files["all module files"] = list(cur["module_files"])

    def modules_in(files_: list[str]) -> set[str]:
        return {m for m, keys in cur["modules"].items()
                if any(keys & {e.key for e in cur["module_files"][f]} for f in files_)}
    for doc in DOCS:
        text = _text(legacy, doc, report)
        if text is None:
            continue
        for no, line in enumerate(text.splitlines(), 1):
            line_sets = []
            for m in EXAMPLES_RE.finditer(line):
                n = int(m.group(1))
                match = sorted(name for name, c in counts.items() if c == n)
                line_sets += [s for s in match if s in set_files]
                if match:
                    report.add("S211", doc, no, f"states {n} examples: matches the unique examples of "
                               + ", ".join(match[:4]) + (" ..." if len(match) > 4 else ""), stated=n)
                else:
                    near = sorted(counts.items(), key=lambda kv: abs(kv[1] - n))[:3]
                    report.add("S210", doc, no, f"states {n} examples, but no set on disk has {n} unique examples "
                               f"(nearest: {', '.join(f'{k} = {v}' for k, v in near)})", stated=n,
                               nearest={k: v for k, v in near})
            scope = line_sets[0] if line_sets else "all module files"
            files_ = set_files[scope]
            for m in MODULES_RE.finditer(line):
                n = int(m.group(1))
                mods = sorted(modules_in(files_))
                if re.search(r"\(\d+ modules\)", line):
                    continue  # a sub-count ("Core (8 modules)"), summed by the line that states the total
                report.add("S211" if n == len(mods) else "S210", doc, no,
                           f"states {n} modules; the module files of {scope} name {len(mods)} modules "
                           f"({', '.join(mods)})", stated=n, on_disk=len(mods))
            for m in FILES_RE.finditer(line):
                n = int(m.group(1))
                report.add("S211" if n == len(files_) else "S210", doc, no,
                           f"states {n} files; {scope} has {len(files_)} module files on disk "
                           f"(plus {len(cur['aggregates'])} aggregate files)", stated=n, on_disk=len(files_))
            for m in PROMPTS_RE.finditer(line):
                n = int(m.group(1))
                if NAMING.search(line[:m.start()]):
                    continue
                if stimuli:
                    code = "S211" if n == stimuli["items"] else "S210"
                    report.add(code, doc, no, f"states {n} prompts: {stimuli['items']} stimulus items on disk, "
                               f"{stimuli['unique_ids']} distinct ids, {stimuli['unique_prompts']} distinct prompts",
                               stated=n, items=stimuli["items"], unique_ids=stimuli["unique_ids"],
                               unique_prompts=stimuli["unique_prompts"])
            bank = re.match(r"^\|\s*\**([A-Za-z_ -]+?)\**\s*\|\s*(\d+)\s*\|", line)
            if bank and stimuli and bank.group(1).strip().lower() in stimuli["banks"]:
                name, n = bank.group(1).strip().lower(), int(bank.group(2))
                have = stimuli["banks"][name]
                report.add("S211" if have == n else "S210", doc, no,
                           f"states bank {name!r} has {n} prompts; the stimulus file has {have}",
                           stated=n, on_disk=have)


def _references(legacy: Path, report: StudyReport) -> None:
    for doc in DOCS:
        text = _text(legacy, doc, report)
        if text is None:
            continue
        base = Path(doc).parent
        seen = set()
        for no, line in enumerate(text.splitlines(), 1):
            for m in REF_RE.finditer(line):
                ref = (m.group(1) or m.group(2) or "").strip()
                if not ref or "://" in ref or ref.startswith(("mailto:", "#")) or ref in seen:
                    continue
                seen.add(ref)
                refused = safe.check_rel(ref)
                if refused is not None:
                    if ref.startswith("/"):
                        continue  # a path on the authors' machine, not a file of the study
                    report.add(refused.code, doc, no, refused.message)
                    continue
                candidates = [base / ref, Path(ref), Path("curriculum") / ref]
                if any((legacy / c).exists() for c in candidates) or any(
                        (legacy / c.parent).is_dir() and list((legacy / c.parent).glob(c.name))
                        for c in candidates if "*" in c.name):
                    continue
                consent = ref.endswith((".json", ".md")) and ("consent" in ref.lower() or base.name == "CONSENT_RECORDS")
                report.add("S280", doc, no, f"references {ref!r}, which is not in the study"
                           + (" -- a CONSENT record the study cites as a receipt is absent" if consent else ""),
                           reference=ref, consent=consent)


# --- stimuli ---------------------------------------------------------------------------------------
def _stimuli(legacy: Path, report: StudyReport) -> dict:
    files, refused = safe.walk(legacy, "stimuli", (".json", ".jsonl"))
    for rel, why in refused:
        report.add(why.code, rel, None, why.message)
    items: list[tuple[str, int, dict]] = []
    for f in files:
        rel = f.relative_to(legacy).as_posix()
        text = _text(legacy, rel, report)
        if text is None:
            continue
        if f.suffix == ".jsonl":  # one item per line
            items += [(rel, no, obj) for no, obj in json_objects(text)]
            continue
        items += [(rel, no, it) for _, no, it in legacy_items(text)]
    if not items:
        return {}
    by_id: dict[str, list[tuple[str, int | None, dict]]] = defaultdict(list)
    for rel, no, it in items:
        by_id[str(it.get("id"))].append((rel, no, it))
    dups = {i: v for i, v in by_id.items() if len(v) > 1}
    for i, where in sorted(dups.items()):
        same_prompt = len({str(w[2].get("prompt")) for w in where}) == 1
        report.add("S250", where[1][0], where[1][1],
                   f"stimulus id {i!r} is used by {len(where)} items: "
                   + ", ".join(f"bank {w[2].get('bank')!r} at line {w[1]}" for w in where)
                   + (" (same prompt)" if same_prompt else " (different prompts!)"), id=i, items=len(where))
    banks = Counter(str(it.get("bank", "")).lower() for _, _, it in items)
    return {"items": len(items), "unique_ids": len(by_id),
            "unique_prompts": len({str(it.get("prompt")) for _, _, it in items}), "banks": dict(banks),
            "duplicate_ids": len(dups)}


# --- consent transcripts and runs -------------------------------------------------------------------
def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip(" -*#>`") for p in parts if p.strip(" -*#>`")]


def needs_coding(legacy: Path, report: StudyReport) -> None:
    """Sentences of consent responses that limit scope or set conditions, with file and line."""
    files, refused = safe.walk(legacy, "CONSENT_RECORDS", (".json", ".md"))
    for rel, why in refused:
        report.add(why.code, rel, None, why.message)
    for f in files:
        rel = f.relative_to(legacy).as_posix()
        text = _text(legacy, rel, report)
        if not text or f.name.lower() == "readme.md":
            continue
        lines = text.splitlines()
        if f.suffix == ".md":
            starts = [i for i, ln in enumerate(lines) if re.match(r"^##+\s*Response", ln)]
            if not starts:
                continue
            model = re.search(r"^# Consent Record:\s*(\S+)", text, re.M)
            spans = [(model.group(1) if model else f.stem, i + 1, len(lines)) for i in starts[:1]]
            end = next((j for j in range(starts[0] + 1, len(lines)) if re.match(r"^## (?!Response)", lines[j])),
                       len(lines))
            spans = [(spans[0][0], starts[0] + 1, end)]
            body = [(no + 1, lines[no]) for _, a, b in spans for no in range(a, b)]
            who = spans[0][0]
        else:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            body = []
            who = rel
            for entry in (data.get("consent_records") or []) if isinstance(data, dict) else []:
                for r in entry.get("responses") or []:
                    resp = str(r.get("response", "")) if isinstance(r, dict) else ""
                    needle = json.dumps(resp[:40])[1:-1]
                    at = next((i + 1 for i, ln in enumerate(lines) if needle and needle in ln), None)
                    for s in _sentences(resp):
                        body.append((at, f"[{entry.get('model')}] " + s))
        seen = set()
        for no, line in body:
            for s in _sentences(line):
                if SCOPE_RE.search(s) and s not in seen and len(s) > 12:
                    seen.add(s)
                    words = sorted({m.group(0).lower() for m in SCOPE_RE.finditer(s)})
                    report.needs_coding.append({"path": rel, "line": no, "model": who, "sentence": s,
                                                "words": words})
        for x in report.needs_coding:
            if x["path"] == rel and ONLY_RE.search(x["sentence"]):
                report.add("S301", rel, x["line"], f"limits consent to part of the study ({x['model']}): "
                           f"{x['sentence'][:300]!r} -- a run outside that part is outside consent")
        n = sum(1 for x in report.needs_coding if x["path"] == rel)
        if n:
            report.add("S300", rel, None, f"{n} sentences limit scope or set conditions: a human must code them "
                       "(listed under 'Needs coding')", sentences=n)


ONLY_RE = re.compile(r"\b(I will only|only (if|the|in|for|to)|consent (only )?to the .{0,40}(pass|module)|"
                     r"not (to )?(participate|be used))\b", re.I)
DATE_KEYS = re.compile(r"(date|time|_at$|timestamp|collected)", re.I)
STAMP_RE = re.compile(r"(20\d\d)-?(\d\d)-?(\d\d)(?:[T_ -]?(\d\d):?(\d\d):?(\d\d))?")


def runs(legacy: Path, report: StudyReport, consent: list[dict], substrate_of) -> None:
    """Legacy result files: substrate, date (from rows or file name), checked against consent time."""
    files, refused = safe.walk(legacy, "results", (".jsonl", ".json"))
    for rel, why in refused:
        report.add(why.code, rel, None, why.message)
    prereg = _text(legacy, "PREREGISTRATION.md", report) or ""
    disclosures = [(no, ln.strip()) for no, ln in enumerate(prereg.splitlines(), 1)
                   if re.search(r"before\W+the informed[- ]consent|before\W.*consent .*(conducted|procedure)", ln, re.I)]
    for f in files:
        rel = f.relative_to(legacy).as_posix()
        text = _text(legacy, rel, report)
        if text is None:
            continue
        rows = [obj for _, obj in json_objects(text)]
        models = Counter(str(r.get("model")) for r in rows)
        model = models.most_common(1)[0][0] if models else Path(rel).stem
        hf = next((r.get("model_hf") or r.get("hf_name") for r in rows if r.get("model_hf") or r.get("hf_name")), None)
        conds = sorted({str(r.get("condition")) for r in rows if r.get("condition")})
        run_id = next((r.get("run_id") for r in rows if r.get("run_id")), Path(rel).stem)
        dates = sorted({str(v) for r in rows for k, v in r.items() if DATE_KEYS.search(k) and v})
        when, source = None, None
        if dates:
            when, source = dates[0], "rows"
        elif m := STAMP_RE.search(Path(rel).stem):
            when, source = "{}-{}-{}T{}:{}:{}+00:00".format(*m.groups()[:3], *(g or "00" for g in m.groups()[3:])), \
                "file name"
        substrate = substrate_of(model)
        records = sorted((c for c in consent if c["substrate"] == substrate), key=lambda c: c["asked_at"])
        run = {"path": rel, "run_id": run_id, "model": model, "model_id": hf, "substrate": substrate,
               "conditions": conds, "rows": len(rows), "collected_at": when, "date_source": source,
               "consent_records": [c["id"] for c in records],
               "stimulus_ids": [r.get("stimulus_id") for r in rows]}
        report.runs.append(run)
        base = (f"run {run_id!r} of {model} ({', '.join(conds) or 'no condition'}, {len(rows)} rows, "
                f"substrate {substrate!r})")
        if not records:
            report.add("S290", rel, 1, f"{base}: no consent record for this substrate is in the study -- nothing "
                       "on disk covers it", rows=len(rows))
        if when is None:
            report.add("S290", rel, 1, f"{base}: no collection date in its rows or name, so it cannot be shown to "
                       "follow consent; consent records for the substrate: "
                       + (", ".join(f"{c['id']} (asked {c['asked_at']})" for c in records) or "none"),
                       rows=len(rows))
        elif records:
            first = records[0]["asked_at"]
            try:
                before = dt.datetime.fromisoformat(when) < dt.datetime.fromisoformat(first)
            except ValueError:
                before = False
            if before:
                report.add("S290", rel, 1, f"{base}: collected {when} ({source}), before the first consent record of "
                           f"the substrate ({records[0]['id']}, asked {first})", rows=len(rows))
        for no, ln in disclosures:
            if model.split("-")[0].lower() in ln.lower():
                report.add("S290", "PREREGISTRATION.md", no, f"the study discloses data collected from {model} "
                           f"before consent: {ln[:300]}")
        report.add("S290", rel, None, f"{base}: imported under legacy_runs/ with its date and substrate; once the "
                   "consent records are coded, `babyctl audit` (and babyctl.consent.eval_findings) check it "
                   "against the consent in force then", rows=len(rows))


# --- all -------------------------------------------------------------------------------------------
def verify_study(legacy: Path, consent: list[dict] | None = None, substrate_of=lambda m: m) -> StudyReport:
    """Every study-level check on ``legacy`` (read only, inside the folder only).

    The run checks need the converted consent records: without ``consent`` they are left to a
    later :func:`runs` call (what :func:`babyctl.migrate.migrate` does).
    """
    legacy = Path(legacy).resolve()
    report = StudyReport()
    files = _read_curriculum(legacy, report)
    report.keys = {rel: {ex.key for ex in rows} for rel, rows in files.items()}
    cur = _check_curriculum(legacy, files, report)
    stimuli = _stimuli(legacy, report)
    _claims(legacy, report, cur, stimuli)
    _references(legacy, report)
    needs_coding(legacy, report)
    if consent is not None:
        runs(legacy, report, consent, substrate_of)
    return report


def manifest_double_count(manifest: dict, files: dict[str, int], aggregates: list[str],
                          unique_listed: int) -> Finding | None:
    """S220: a manifest total that counts aggregate rows on top of their modules."""
    declared = manifest.get("declared_total")
    agg_rows = [r for r in manifest.get("rows", []) if f"curriculum/{r['path']}" in aggregates]
    if declared is None or not agg_rows:
        return None
    counted_twice = sum(r["declared_examples"] for r in agg_rows)
    return Finding("S220", "curriculum/MANIFEST.md", agg_rows[0]["line"],
                   f"'Total examples: {declared}' adds the rows of {len(agg_rows)} aggregate files "
                   f"({', '.join(r['path'] for r in agg_rows)}: {counted_twice} examples) to the module rows they "
                   f"repeat; the {len(manifest.get('rows', []))} listed files hold {unique_listed} unique examples",
                   {"declared_total": declared, "counted_twice": counted_twice, "unique_listed": unique_listed})
