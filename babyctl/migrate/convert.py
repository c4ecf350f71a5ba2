"""Convert legacy curriculum, consent transcripts and stimuli to babyctl's models.

Every change is recorded in a :class:`Log` (what was changed, where) and every problem
(unreadable file, bad line, unparseable transcript) too; nothing is dropped silently.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..documents import jsonl_lines, loads
from ..errors import InputError
from ..schemas.consent import ConsentRecord
from ..schemas.curriculum import CurriculumExample
from ..schemas.stimuli import Stimulus

#: legacy metadata keys that become ``tags`` entries ``key:value`` (originals kept under ``legacy``)
TAG_KEYS = ("scenario_type", "pressure_type", "tactic", "pattern", "category")
#: legacy model names -> substrate keys of the example params.yaml
#: legacy difficulty labels outside easy/medium/hard: ranges round up, "very hard" is hard
DIFFICULTY_MAP = {"medium-hard": "hard", "easy-medium": "medium", "very hard": "hard", "very-hard": "hard"}
#: placeholder for a missing difficulty (reported as a problem: re-rate by hand)
DIFFICULTY_PLACEHOLDER = "medium"
KNOWN_SUBSTRATES = {"hermes-3-8b": "hermes", "dolphin-2.9-8b": "dolphin", "llama-3-8b-instruct": "llama3"}


@dataclass
class Log:
    changes: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)

    def change(self, path: str, what: str, **kw) -> None:
        self.changes.append({"path": path, "change": what, **kw})

    def problem(self, path: str, what: str, line: int | None = None, **kw) -> None:
        self.problems.append({"path": path, "line": line, "problem": what, **kw})


def slug(text: str, max_len: int = 100) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return (s or "x")[:max_len]


def read_text(path: Path, rel: str, log: Log, legacy: Path | None = None) -> str | None:
    """The file as UTF-8 text, or None with the problem logged (a legacy folder is reported, never fatal).

    With ``legacy``, the read goes through :mod:`.safe` (no symlink out, no FIFO, no huge file).
    """
    from . import safe

    raw = safe.read_bytes(legacy or path.parent, path)
    if isinstance(raw, safe.Refusal):
        log.problem(rel, f"{raw.code}: {raw.message}")
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        log.problem(rel, f"unreadable: not valid UTF-8 (byte {e.start})", line=raw[: e.start].count(b"\n") + 1)
        return None


def parse_json(text: str, rel: str, log: Log):
    """``text`` parsed as JSON, or None with the problem logged."""
    try:
        return loads(text, rel)
    except InputError as e:
        log.problem(rel, e.message, line=e.line)
        return None


# --- curriculum -------------------------------------------------------------------------------
@dataclass
class CurriculumFile:
    source: str
    out: str
    examples: int = 0
    bad_lines: int = 0
    authors: Counter = field(default_factory=Counter)


def convert_example(obj: dict, *, rel: str, line: int, log: Log, module: str | None = None) -> dict:
    """Stable id, normalised metadata keys, the original metadata kept under ``legacy``.

    ``module`` is the name to use when the line's metadata has none (from
    :func:`babyctl.migrate.study.module_names`: the file's siblings or its name, never its folder).
    """
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    canonical = json.dumps(obj.get("messages"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    ex_id = f"{slug(Path(rel).stem, 80)}-{line:04d}-{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:8]}"
    new: dict = {"id": ex_id, "source": f"legacy:{rel}:{line}"}
    if meta.get("module"):
        new["module"] = str(meta["module"])
    else:
        new["module"] = module or slug(Path(rel).stem)
    if meta.get("author"):
        new["author"] = str(meta["author"])
    date = meta.get("date", meta.get("created"))
    if date is not None:
        try:
            new["created"] = dt.date.fromisoformat(str(date)).isoformat()
        except ValueError:
            log.problem(rel, f"metadata date {date!r} is not an ISO date (kept under legacy only)", line=line)
    tags = [f"{k}:{meta[k]}" for k in TAG_KEYS if meta.get(k) not in (None, "")]
    if tags:
        new["tags"] = tags
    new["legacy"] = meta if meta else None
    if not new["legacy"]:
        del new["legacy"]
    return {"messages": obj.get("messages"), "metadata": new}


def convert_curriculum(legacy: Path, out: Path, log: Log, *, modules: dict[str, str] | None = None,
                       skip: set[str] | frozenset = frozenset(),
                       aggregates: set[str] | frozenset = frozenset()) -> list[CurriculumFile]:
    """Every ``curriculum/**/*.jsonl`` -> ``out/curriculum/<same path>`` (LF, canonical JSON).

    ``modules``: legacy path -> module name for lines without one; ``skip``: legacy paths not to
    import as curriculum (test fixtures); ``aggregates``: files that only repeat module files
    (a condition lists the modules instead). Each is reported.
    """
    from . import safe

    files: list[CurriculumFile] = []
    seen_content: dict[str, str] = {}
    repeats: Counter = Counter()
    found, refused = safe.walk(legacy, "curriculum", (".jsonl",))
    for rel, why in refused:
        log.problem(rel, f"{why.code}: {why.message}")
    for f in found:
        rel = f.relative_to(legacy).as_posix()
        if rel in skip:
            log.change(rel, "not imported as curriculum: a test-fixture folder (see the study-level findings)")
            continue
        if rel in aggregates:
            log.change(rel, "not imported as curriculum: an aggregate of module files (S201/S202); a condition "
                       "lists the module files instead, so no example is trained twice")
            continue
        cf = CurriculumFile(source=rel, out=rel)
        text = read_text(f, rel, log, legacy)
        if text is None:
            continue
        if "\r\n" in text:
            log.change(rel, "line endings CRLF -> LF")
        lines_out = []
        renamed: Counter = Counter()
        for no, line in jsonl_lines(text):
            try:
                obj = loads(line, rel, line=no)
            except InputError as e:
                log.problem(rel, f"{e.message}; line not converted", line=no)
                cf.bad_lines += 1
                continue
            if not isinstance(obj, dict):
                log.problem(rel, "line is not a JSON object; not converted", line=no)
                cf.bad_lines += 1
                continue
            new = convert_example(obj, rel=rel, line=no, log=log, module=(modules or {}).get(rel))
            try:
                CurriculumExample.model_validate_json(json.dumps(new))
            except ValidationError as e:
                err = e.errors()[0]
                log.problem(rel, f"not a valid example after conversion: {'.'.join(map(str, err['loc']))}: "
                            f"{err['msg']}; line not converted", line=no)
                cf.bad_lines += 1
                continue
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            for k in meta:
                if k == "date":
                    renamed["date -> created"] += 1
                elif k in TAG_KEYS:
                    renamed[f"{k} -> tags"] += 1
            if "author" not in meta:
                renamed["no author (left unset)"] += 1
            key = hashlib.sha256(json.dumps(obj.get("messages"), sort_keys=True).encode()).hexdigest()
            if key in seen_content:
                repeats[(rel, seen_content[key])] += 1
            else:
                seen_content[key] = rel
            cf.authors[new["metadata"].get("author", "(unattributed)")] += 1
            lines_out.append(json.dumps(new, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        cf.examples = len(lines_out)
        log.change(rel, f"{cf.examples} examples given stable ids <file stem>-<line>-<sha256[:8] of messages>",
                   examples=cf.examples)
        for what, n in sorted(renamed.items()):
            log.change(rel, f"metadata {what}", examples=n)
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("".join(ln + "\n" for ln in lines_out), encoding="utf-8")
        files.append(cf)
    for (rel, first), n in sorted(repeats.items()):
        log.problem(rel, f"{n} examples repeat examples of {first} (same messages): listing both in one "
                    "condition would train on them twice")
    return files


# --- consent ----------------------------------------------------------------------------------
def _brief(out: Path, text: str) -> tuple[str, str]:
    data = text.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    rel = f"consent_records/briefs/legacy-{digest[:12]}.md"
    p = out / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists():
        p.write_bytes(data)
    return rel, digest


def _record(out: Path, log: Log, *, source: str, model: str, model_id: str, asked_at: str, asker: str,
            brief: str, responses: list[dict], notes: str, sampling: dict | None = None,
            template: str | None = None) -> dict | None:
    brief_file, brief_sha = _brief(out, brief)
    stamp = re.sub(r"[^0-9]", "", asked_at)[:14]
    rec = {
        "schema_version": 1,
        "id": slug(f"legacy-{model}-{stamp}"),
        "substrate": KNOWN_SUBSTRATES.get(model, slug(model)),
        "model_id": model_id or model,
        "revision": None,
        "asker": asker or "unknown (legacy record)",
        "asked_at": asked_at,
        "protocol": {"brief_file": brief_file, "brief_sha256": brief_sha, "framing": "legacy (unclassified)",
                     "chat_template": template, "sampling": sampling or {}},
        "responses": responses,
        "coding": {"decision": "uncoded"},
        "notes": notes,
    }
    try:
        ConsentRecord.model_validate_json(json.dumps(rec))
    except ValidationError as e:
        err = e.errors()[0]
        log.problem(source, f"could not build a consent record for {model}: "
                    f"{'.'.join(map(str, err['loc']))}: {err['msg']}")
        return None
    dest = out / "consent_records" / f"{rec['id']}.json"
    n = 2
    while dest.exists():
        dest = out / "consent_records" / f"{rec['id']}-{n}.json"
        n += 1
    rec["id"] = dest.stem
    dest.write_text(json.dumps(rec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log.change(source, f"consent of {model} -> {dest.relative_to(out).as_posix()} (decision: uncoded)")
    return rec


def _fenced_after(text: str, heading: str) -> str | None:
    """The content of the first fenced block after ``heading`` (up to the next ``## `` heading)."""
    i = text.find(heading)
    if i < 0:
        return None
    rest = text[i + len(heading):]
    nxt = re.search(r"^## ", rest, re.M)
    section = rest[: nxt.start()] if nxt else rest
    lines = section.split("\n")
    fences = [k for k, ln in enumerate(lines) if ln.strip().startswith("```")]
    if len(fences) < 2:
        return None
    return "\n".join(lines[fences[0] + 1: fences[-1]])


def _field(text: str, name: str) -> str | None:
    m = re.search(rf"^\*\*{re.escape(name)}:\*\*\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else None


def convert_consent(legacy: Path, out: Path, log: Log) -> list[dict]:
    """JSON consent files and Markdown transcripts -> ConsentRecord files with decision ``uncoded``."""
    base = legacy / "CONSENT_RECORDS"
    records: list[dict] = []
    if not base.is_dir():
        log.problem("CONSENT_RECORDS", "no consent folder")
        return records
    for f in sorted(base.iterdir()):
        rel = f.relative_to(legacy).as_posix()
        if f.is_dir() and not f.is_symlink():
            continue
        text = read_text(f, rel, log, legacy)
        if text is None:
            continue
        if f.suffix == ".json":
            data = parse_json(text, rel, log)
            if data is None:
                continue
            entries = data.get("consent_records") if isinstance(data, dict) else None
            if not isinstance(entries, list):
                log.problem(rel, "no consent_records list: not converted")
                continue
            for k, entry in enumerate(entries):
                resp = [{"prompt": "brief", "seed": r.get("seed"), "text": r.get("response", "")}
                        for r in entry.get("responses", []) if isinstance(r, dict)]
                rec = _record(out, log, source=f"{rel}#consent_records[{k}]", model=str(entry.get("model", "unknown")),
                              model_id=entry.get("hf_name") or "", asked_at=str(entry.get("asked_at", "")),
                              asker=str(data.get("asker", "")), brief=str(data.get("protocol_brief", "")),
                              responses=resp, notes=f"Migrated from {rel}. Legacy note: {entry.get('note', '')}")
                if rec:
                    records.append(rec)
        elif f.suffix == ".md":
            title = re.search(r"^# Consent Record:\s*(\S+)", text, re.M)
            response = _fenced_after(text, "## Response")
            prompt = _fenced_after(text, "## Prompt")
            if not title or response is None or prompt is None:
                log.problem(rel, "not a consent transcript (no 'Consent Record' title, Prompt and Response "
                            "sections): not converted")
                continue
            model = title.group(1)
            date = _field(text, "Date") or ""
            hf = _field(text, "HF Name") or _field(text, "Model") or model
            max_tokens = re.search(r"Max new tokens:\s*(\d+)", text)
            temp = re.search(r"Temperature:\s*([0-9.]+)", text)
            sampling = {"max_new_tokens": int(max_tokens.group(1)) if max_tokens else None,
                        "temperature": float(temp.group(1)) if temp else None}
            rec = _record(out, log, source=rel, model=model, model_id=hf, asked_at=date, asker="",
                          brief=prompt, responses=[{"prompt": "brief", "seed": None, "text": response}],
                          notes=f"Migrated from the transcript {rel}.", sampling=sampling,
                          template=_field(text, "Template"))
            if rec:
                records.append(rec)
        else:
            log.problem(rel, "not a consent record (neither .json nor .md): not converted")
    return records


# --- stimuli ----------------------------------------------------------------------------------
def convert_stimuli(legacy: Path, out: Path, log: Log) -> dict:
    """``stimuli/*.json`` item lists -> ``out/stimuli/<bank>.jsonl``; duplicate ids made unique."""
    summary: dict = {"items": 0, "unique_ids_before": 0, "duplicate_ids": {}, "renamed": [], "banks": {}}
    base = legacy / "stimuli"
    items: list[tuple[str, int, dict]] = []
    for f in sorted(base.glob("*.json")) if base.is_dir() else []:
        rel = f.relative_to(legacy).as_posix()
        text = read_text(f, rel, log, legacy)
        data = parse_json(text, rel, log) if text is not None else None
        if data is None:
            continue
        lst = data.get("items") if isinstance(data, dict) else data
        if not isinstance(lst, list):
            log.problem(rel, "no item list: not converted")
            continue
        items += [(rel, k, it) for k, it in enumerate(lst) if isinstance(it, dict)]
    ids = Counter(str(it.get("id")) for _, _, it in items)
    summary["items"] = len(items)
    summary["unique_ids_before"] = len(ids)
    dup = {i for i, n in ids.items() if n > 1}
    for i in sorted(dup):
        summary["duplicate_ids"][i] = [it.get("bank") for _, _, it in items if str(it.get("id")) == i]
    banks: dict[str, list[str]] = defaultdict(list)
    used: set[str] = {i for i in ids if i not in dup}
    for rel, k, it in items:
        bank = slug(str(it.get("bank", "unknown")))
        old = str(it.get("id"))
        new_id = slug(f"{bank}-{old}") if old in dup else slug(old)
        n = 2
        base_id = new_id
        while new_id in used and old in dup:
            new_id = f"{base_id}-{n}"
            n += 1
        used.add(new_id)
        if new_id != old:
            summary["renamed"].append({"bank": bank, "old": old, "new": new_id, "item": k})
        difficulty = it.get("difficulty")
        if difficulty is None:
            difficulty = DIFFICULTY_PLACEHOLDER
            log.problem(rel, f"item {k} ({old}): no difficulty; set to {DIFFICULTY_PLACEHOLDER!r} as a placeholder "
                        "(re-rate by hand)")
        elif str(difficulty).strip().lower() in DIFFICULTY_MAP:
            mapped = DIFFICULTY_MAP[str(difficulty).strip().lower()]
            log.change(rel, f"item {k} ({old}): difficulty {difficulty!r} -> {mapped!r}")
            difficulty = mapped
        stim = {"id": new_id, "bank": bank, "sub_category": str(it.get("sub_category", "")),
                "prompt": it.get("prompt"), "trap": it.get("trap"), "difficulty": difficulty}
        try:
            Stimulus.model_validate_json(json.dumps(stim))
        except ValidationError as e:
            err = e.errors()[0]
            log.problem(rel, f"item {k} ({old}): {'.'.join(map(str, err['loc']))}: {err['msg']}; not converted")
            continue
        banks[bank].append(json.dumps(stim, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    for bank, lines in sorted(banks.items()):
        dest = out / "stimuli" / f"{bank}.jsonl"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
        summary["banks"][bank] = len(lines)
        log.change(f"stimuli/{bank}.jsonl", f"{len(lines)} stimuli written", examples=len(lines))
    if dup:
        log.problem("stimuli", f"{summary['items']} items carry {summary['unique_ids_before']} distinct ids: "
                    f"{len(dup)} ids are used more than once ({sum(ids[i] for i in dup)} items); those became "
                    "<bank>-<id>")
    return summary
