"""Pre-registration: lock the plan, record amendments, list deviations.

* :func:`lock` writes ``preregistration/lock.json`` (:class:`~babyctl.schemas.prereg.PreregLock`):
  SHA-256s over the hypotheses text (``analysis.hypotheses``), ``analysis``, ``training``, ``eval``
  (judges apart), the judge panel, each active substrate (hub id, pinned revision, template,
  license), each active condition, and each stimulus bank file.
* ``amendments/*.json`` (:class:`~babyctl.schemas.prereg.Amendment`) record deviations, one per
  file, validated like review records: schema errors and references name file and line.
* :func:`deviations` compares the current state with the lock; a deviation is *explained* when an
  amendment names the item and its current SHA-256.
* :func:`audit_problems` is what ``babyctl audit`` checks: the lock parses, its digest matches its
  items, the amendments are valid, and no deviation is unexplained.

Example::

    babyctl prereg lock              # before the first eval
    babyctl prereg status            # deviations since, explained or not (exit 1: unexplained)
    babyctl prereg amend eval --by "A. Author" --reason "..." --changed "max_new_tokens 24 -> 48"
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .documents import parse_json_model, read_bytes
from .errors import InputError, UsageError
from .fsutil import atomic_write_text, sha256_bytes, sha256_file
from .locate import locate, node_tree
from .provenance import git_state, utc_now
from .schemas.params import Params
from .schemas.prereg import Amendment, LockItem, PreregLock

LOCK = Path("preregistration") / "lock.json"
AMENDMENTS = Path("amendments")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def current_items(params: Params, root: Path) -> dict[str, LockItem]:
    """The study's current state, item by item (see the module docstring)."""
    items: dict[str, LockItem] = {}

    def add(name: str, value: Any) -> None:
        items[name] = LockItem(sha256=sha256_bytes(canonical(value)), value=value)

    hyp = root / params.analysis.hypotheses
    if hyp.is_file():
        items["hypotheses"] = LockItem(sha256=sha256_file(hyp))
    add("analysis", params.analysis.model_dump(mode="json"))
    add("training", params.training.model_dump(mode="json"))
    add("eval", params.eval.model_dump(mode="json", exclude={"judges"}))
    add("judges", [j.model_dump(mode="json") for j in params.eval.judges])
    for key in params.active_substrates:
        add(f"substrate/{key}", params.substrates[key].model_dump(mode="json", exclude={"display_name"}))
    for key in [*params.active_conditions, *params.active_prompted]:
        add(f"condition/{key}", params.conditions[key].model_dump(mode="json", exclude={"description"}))
    stim = root / params.stimuli_dir
    if stim.is_dir():
        for f in sorted(stim.iterdir()):
            if f.is_file() and (f.suffix == ".jsonl" or f.name.endswith(".rubric.md")):
                items[f"stimuli/{f.name}"] = LockItem(sha256=sha256_file(f))
    return items


def digest(items: dict[str, LockItem]) -> str:
    return sha256_bytes(canonical({k: v.sha256 for k, v in sorted(items.items())}))


def lock(params: Params, root: Path, *, force: bool = False) -> Path:
    """Write the lock file; refuses to replace one unless ``force``."""
    path = root / LOCK
    if path.exists() and not force:
        raise UsageError(f"{LOCK} exists: the plan is already locked (record deviations with "
                         "`babyctl prereg amend`, or pass --force to lock again)", path=path)
    if not (root / params.analysis.hypotheses).is_file():
        raise InputError("write the hypotheses first (analysis.hypotheses names this file)",
                         path=root / params.analysis.hypotheses)
    items = current_items(params, root)
    record = PreregLock(locked_at=utc_now(), git_commit=git_state(root).commit,
                        babyctl_version=__version__, items=items, digest=digest(items))
    atomic_write_text(path, json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return path


def load_lock(root: Path) -> PreregLock | None:
    """The lock, or None when the study has none. A malformed lock is an error naming file:line;
    a lock whose items do not match its digest (a hand edit) is an error too."""
    path = root / LOCK
    if not path.exists():
        return None
    raw = read_bytes(path, "pre-registration lock")
    rec = parse_json_model(raw, PreregLock, path, "pre-registration lock")
    if digest(rec.items) != rec.digest:
        line = locate(node_tree(raw.decode("utf-8", "replace")), ("digest",))[0]
        raise InputError("pre-registration lock was edited by hand: its items do not match its digest "
                         "(lock again with `babyctl prereg lock --force`, or restore it from git)",
                         path=path, line=line)
    return rec


@dataclass(frozen=True)
class LoadedAmendment:
    record: Amendment
    path: Path
    text: str

    def line_of(self, key: str) -> int | None:
        return locate(node_tree(self.text), (key,))[0]


def load_amendments(root: Path) -> list[LoadedAmendment]:
    """Every ``amendments/*.json`` (sorted), schema-checked; errors name file and line."""
    folder = root / AMENDMENTS
    if not folder.is_dir():
        return []
    out, seen = [], {}
    for p in sorted(folder.glob("*.json")):
        raw = read_bytes(p, "amendment")
        rec = parse_json_model(raw, Amendment, p, "amendment", hint=" (see docs/statistics.md)")
        a = LoadedAmendment(rec, p, raw.decode("utf-8", "replace"))
        if rec.id in seen:
            raise InputError(f"amendment id {rec.id!r} is also used by {seen[rec.id].name}", path=p,
                             line=a.line_of("id"))
        seen[rec.id] = p
        out.append(a)
    return out


@dataclass(frozen=True)
class Deviation:
    item: str
    kind: str  # changed | added | removed
    locked: str | None
    current: str | None
    detail: str
    amendment: LoadedAmendment | None = None

    @property
    def explained(self) -> bool:
        return self.amendment is not None


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    if a != b:
        return [f"{prefix or '(value)'}: {json.dumps(a)} -> {json.dumps(b)}"]
    return []


def deviations(lock_rec: PreregLock, params: Params, root: Path,
               amendments: list[LoadedAmendment]) -> list[Deviation]:
    """Differences between the lock and now, each with the amendment that explains it (if any).
    An amendment naming an item that neither the lock nor the study has is an error (file:line)."""
    now = current_items(params, root)
    names = set(lock_rec.items) | set(now)
    for a in amendments:
        if a.record.item not in names:
            raise InputError(f"amendment names item {a.record.item!r}, which the lock does not have "
                             f"(items: {', '.join(sorted(names))})", path=a.path, line=a.line_of("item"))
    out = []
    for name in sorted(names):
        old, new = lock_rec.items.get(name), now.get(name)
        if old is not None and new is not None and old.sha256 == new.sha256:
            continue
        kind = "added" if old is None else "removed" if new is None else "changed"
        if old is not None and new is not None and old.value is not None:
            detail = "; ".join(_diff(old.value, new.value)) or "content changed"
        else:
            detail = {"added": "not in the lock", "removed": "no longer in the study",
                      "changed": "file content changed"}[kind]
        cur = new.sha256 if new else None
        match = [a for a in amendments if a.record.item == name and a.record.sha256 == cur]
        out.append(Deviation(name, kind, old.sha256 if old else None, cur, detail,
                             match[-1] if match else None))
    return out


@dataclass(frozen=True)
class State:
    """What the report and the card say about the pre-registration."""

    locked: bool
    lock: PreregLock | None
    deviations: list[Deviation]

    @property
    def unexplained(self) -> list[Deviation]:
        return [d for d in self.deviations if not d.explained]


def state(params: Params, root: Path) -> State:
    rec = load_lock(root)
    if rec is None:
        return State(False, None, [])
    return State(True, rec, deviations(rec, params, root, load_amendments(root)))


def markdown(st: State) -> list[str]:
    """The "Deviations from the pre-registration" section (report and model card)."""
    out = ["## Deviations from the pre-registration", ""]
    if not st.locked:
        out += [f"No pre-registration lock (`{LOCK.as_posix()}`): nothing was registered before the "
                "results, so every test in this report is exploratory.", ""]
        return out
    rec = st.lock
    out += [f"Locked {rec.locked_at.isoformat()} at commit `{rec.git_commit or 'unknown'}` "
            f"({len(rec.items)} items).", ""]
    if not st.deviations:
        return out + ["None: the study matches the lock.", ""]
    un = st.unexplained
    if un:
        out += [f"**{len(un)} unexplained deviation(s)** (no amendment record names the current state):", "",
                "| item | change | what differs |", "|---|---|---|"]
        out += [f"| `{d.item}` | {d.kind} | {d.detail} |" for d in un] + [""]
    done = [d for d in st.deviations if d.explained]
    if done:
        out += ["Amended deviations:", "", "| item | what changed | why | decided | by | record |",
                "|---|---|---|---|---|---|"]
        for d in done:
            a = d.amendment.record
            out.append(f"| `{d.item}` | {a.changed} | {a.reason} | {a.decided_at.date().isoformat()} | "
                       f"{a.decided_by} | `{AMENDMENTS.as_posix()}/{d.amendment.path.name}` |")
        out.append("")
    return out


def amend(params: Params, root: Path, item: str, *, reason: str, by: str, changed: str | None = None,
          amendment_id: str | None = None) -> Path:
    """Write an amendment explaining the current state of ``item``."""
    rec = load_lock(root)
    if rec is None:
        raise UsageError(f"no pre-registration lock ({LOCK}): run `babyctl prereg lock` first")
    devs = {d.item: d for d in deviations(rec, params, root, load_amendments(root))}
    if item not in devs:
        known = ", ".join(sorted(devs)) or "none"
        raise UsageError(f"{item!r} does not deviate from the lock (deviating items: {known})")
    d = devs[item]
    aid = amendment_id or f"{utc_now().strftime('%Y%m%d')}-{item.replace('/', '-')}"
    path = root / AMENDMENTS / f"{aid}.json"
    if path.exists():
        raise UsageError("amendment exists; pass another --id", path=path)
    a = Amendment(id=aid, item=item, sha256=d.current, changed=changed or d.detail, reason=reason,
                  decided_at=utc_now(), decided_by=by)
    atomic_write_text(path, json.dumps(a.model_dump(mode="json"), indent=2) + "\n")
    return path


def audit_problems(root: Path) -> list[tuple[str, str]]:
    """``(path, message)`` for ``babyctl audit``: a malformed or hand-edited lock, invalid
    amendments, unexplained deviations. Empty without a lock."""
    from .config import load_params

    if not (root / LOCK).exists():
        return []
    try:
        st = state(load_params(root / "params.yaml"), root)
    except InputError as e:
        where = LOCK.as_posix()
        if e.path:
            p = Path(e.path).resolve()
            where = p.relative_to(root.resolve()).as_posix() if p.is_relative_to(root.resolve()) else str(p)
        return [(where + (f":{e.line}" if e.line else ""), e.message)]
    return [(LOCK.as_posix(), f"unexplained deviation from the pre-registration: {d.item} ({d.kind}: "
             f"{d.detail})") for d in st.unexplained]
