"""``babyctl audit``: is this workspace (or fresh clone after ``dvc pull``) what the records say?

Five checks, each producing :class:`Finding` objects that name the file, the expected and
the actual value:

* **(a) lock** -- every path in ``dvc.lock`` (deps and outs of every stage) and in ``.dvc``
  files against its recorded MD5. A folder's hash is recomputed with DVC's rule
  (:func:`babyctl.tracked.dir_md5`); when the folder's ``.dir`` object is in the cache, the
  differing files are named one by one.
* **(b) ledger** -- every file against ``SHA256SUMS`` (:func:`babyctl.ledger.check`).
* **(c) status** -- ``dvc status`` (:func:`babyctl.tracked.pipeline_status`, the one reading
  that publish uses too): no stage stale, no output missing or absent from the cache.
* **(d) provenance** -- every trained adapter (run folders, :func:`babyctl.study.parse_run_dir`,
  that are outputs of the ``train`` stages): ``provenance.json`` parses as AdapterProvenance, names the substrate,
  condition and seed of its folder, names the dataset file whose MD5 ``dvc.lock`` records
  for the ``build@<C>`` output (compared by MD5 and SHA-256), and a consent record whose
  file still has the recorded SHA-256 and which covers fine-tuning of that substrate and
  condition at the run's ``started_at`` (:func:`babyctl.consent.refusals`).
* **(e) untracked** -- no file under ``data/ models/ eval/ metrics/ reports/`` that neither
  DVC nor git tracks (DVC's own ``.gitignore`` files excepted).

Reading a corrupted ``dvc.lock`` or ``.dvc`` file raises :class:`~babyctl.errors.InputError`
(exit 2) before anything is checked. Audit never writes.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import InputError
from .study import DATA_FOLDERS, parse_run_dir, train_data_rel
from .tracked import (DvcIgnore, Entry, HashCache, Tracked, dir_md5, expand, load_tracked, pipeline_status,
                      read_dir_object, walk_dir)

CHECKS = {
    "a": "dvc.lock / .dvc hashes",
    "b": "SHA256SUMS",
    "c": "pipeline status",
    "d": "adapter provenance + consent",
    "e": "untracked files",
    "f": "dvc.lock, SHA256SUMS committed",
    "g": "symlinks in tracked data",
    "h": "leftovers of interrupted writes",
    "i": "pre-registration lock",
}
LOCK_NAME = "dvc.lock"


@dataclass
class Finding:
    """One audit finding: which check (a-e), the file, what is wrong, expected and actual values."""

    check: str  # a..e
    path: str
    message: str
    expected: str | None = None
    actual: str | None = None
    source: str | None = None
    line: int | None = None  #: line in ``path`` (e.g. the dvc.lock line) when known

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path



@dataclass
class AuditResult:
    root: str
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # check -> number of items checked
    skipped: dict[str, str] = field(default_factory=dict)  # check -> why
    seconds: float = 0.0
    bytes_hashed: int = 0
    header: dict = field(default_factory=dict)  #: :class:`babyctl.audit_context.Header` as a dict

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "root": self.root, "header": self.header, "seconds": round(self.seconds, 3),
            "bytes_hashed": self.bytes_hashed, "checked": self.checked, "skipped": self.skipped,
            "checks": CHECKS, "findings": [asdict(f) for f in self.findings],
        }


# --- (a) --------------------------------------------------------------------------------------
def check_lock(tracked: Tracked, hashes: HashCache, ignore: DvcIgnore) -> tuple[list[Finding], int]:
    root = tracked.root
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    entries = [e for e in tracked.entries if e.md5]
    for e in entries:  # hash everything in parallel first
        hashes.prefetch(expand(root, e.path, ignore))
    for e in entries:
        if (e.path, e.md5) in seen:
            continue
        seen.add((e.path, e.md5))
        findings.extend(_check_entry(e, root, hashes, ignore))
    # a folder finding that cannot name the file adds nothing when a finding inside it does
    named = [f.path for f in findings if f.actual is not None or f.expected is not None]
    findings = [f for f in findings if not (f.message.startswith("folder content differs")
                                            and any(p.startswith(f.path + "/") for p in named))]
    return findings, len(seen)


def _check_entry(e: Entry, root: Path, hashes: HashCache, ignore: DvcIgnore) -> list[Finding]:
    p = root / e.path
    src = e.source
    if e.hash_name != "md5":
        return [Finding("a", e.path, f"hash {e.hash_name!r} (DVC 2 lock entry) is not supported: "
                        "re-run `dvc repro`/`dvc commit` with DVC 3", source=src)]
    if not p.exists():
        return [Finding("a", e.path, "missing from the workspace (run: dvc pull / dvc checkout)",
                        expected=e.md5, source=src)]
    if e.is_dir:
        if not p.is_dir():
            return [Finding("a", e.path, "recorded as a folder but is a file", expected=e.md5, source=src)]
        files = walk_dir(root, e.path, ignore)
        pairs = [(f, hashes.get(f"{e.path}/{f}").md5) for f in files]
        actual = dir_md5(pairs)
        if actual == e.md5:
            return []
        recorded = read_dir_object(root, e.md5[: -len(".dir")] + ".dir")
        if recorded is None:
            return [Finding("a", e.path, "folder content differs from dvc.lock (its .dir object is not in "
                            "the cache, so the changed file cannot be named here; see SHA256SUMS findings)",
                            expected=e.md5, actual=actual, source=src)]
        out = []
        now = dict(pairs)
        for rel in sorted(set(recorded) | set(now)):
            full = f"{e.path}/{rel}"
            if rel not in now:
                out.append(Finding("a", full, "missing (recorded in the folder's DVC hash)",
                                   expected=recorded[rel], source=src))
            elif rel not in recorded:
                out.append(Finding("a", full, "extra file in a DVC-tracked folder", actual=now[rel], source=src))
            elif recorded[rel] != now[rel]:
                out.append(Finding("a", full, "md5 differs from dvc.lock", expected=recorded[rel],
                                   actual=now[rel], source=src))
        return out or [Finding("a", e.path, "folder hash differs", expected=e.md5, actual=actual, source=src)]
    if p.is_dir():
        return [Finding("a", e.path, "recorded as a file but is a folder", expected=e.md5, source=src)]
    actual = hashes.get(e.path).md5
    if actual != e.md5:
        return [Finding("a", e.path, "md5 differs from dvc.lock", expected=e.md5, actual=actual, source=src)]
    return []


# --- (b) --------------------------------------------------------------------------------------
def check_ledger(tracked: Tracked, hashes: HashCache) -> tuple[list[Finding], int]:
    from . import ledger

    problems = ledger.check(tracked.root, tracked=tracked, hashes=hashes)
    findings = [Finding("b", p.path, p.message + (f" ({ledger.LEDGER} line {p.line})" if p.line else ""),
                        expected=p.expected, actual=p.actual, source=ledger.LEDGER) for p in problems]
    try:
        n = sum(1 for ln in (tracked.root / ledger.LEDGER).read_text(encoding="utf-8").splitlines() if ln.strip())
    except (OSError, UnicodeDecodeError):
        n = 0
    return findings, n


# --- (c) --------------------------------------------------------------------------------------
def check_status(root: Path) -> tuple[list[Finding], int]:
    """``dvc status`` (:func:`babyctl.tracked.pipeline_status`) as findings; a changed command
    names its dvc.lock line and shows both commands."""
    status = pipeline_status(root)
    if status.error:
        return [Finding("c", "dvc.yaml", status.error)], 0
    findings = [_changed_command(root, c.stage, status.commands.get(c.stage)) if c.message.endswith(": changed command")
                else Finding("c", c.path, c.message, source=f"dvc status:{c.stage}") for c in status.changes]
    return findings, status.stages


def _changed_command(root: Path, stage: str, yaml_cmd: object) -> Finding:
    """``changed command``: name the dvc.lock line and show both commands."""
    from .audit_lock import lock_lines
    from .tracked import read_lock

    try:
        _, stages = read_lock(root)
    except InputError:
        stages = {}
    lock_cmd = (stages.get(stage) or {}).get("cmd") if isinstance(stages.get(stage), dict) else None
    line = lock_lines(root).get(("stages", stage, "cmd"))
    return Finding("c", LOCK_NAME, f"stage {stage}: the command dvc.lock records differs from dvc.yaml's "
                   "(even whitespace counts: DVC re-runs the stage)", expected=json.dumps(yaml_cmd),
                   actual=json.dumps(lock_cmd), source=f"dvc status:{stage}", line=line)


# --- (d) --------------------------------------------------------------------------------------
def check_adapters(tracked: Tracked, hashes: HashCache) -> tuple[list[Finding], int]:
    from .consent import Weights, artifact_reasons, chain_for, load_consent
    from .documents import parse_json_model, read_bytes
    from .schemas.provenance import AdapterProvenance

    root = tracked.root
    findings: list[Finding] = []
    build_outs = {e.source.split(":", 1)[1]: e for e in tracked.entries
                  if e.kind == "out" and e.source.startswith("dvc.lock:build")}
    adapters = sorted({e.path for e in tracked.entries if e.kind == "out" and parse_run_dir(e.path)
                       and e.source.startswith("dvc.lock:train")})
    for run in adapters:
        substrate, condition, seed_no = parse_run_dir(run)  # type: ignore[misc]
        seed = str(seed_no)
        prov_path = f"{run}/provenance.json"
        if not (root / prov_path).is_file():
            findings.append(Finding("d", prov_path, "trained adapter has no provenance.json"))
            continue
        try:
            prov = parse_json_model(read_bytes(root / prov_path, "provenance"), AdapterProvenance, prov_path,
                                    "provenance")
        except InputError as e:
            where = f"line {e.line}: " if e.line else ""
            findings.append(Finding("d", prov_path, where + e.message))
            continue
        for field_name, want, got in (("substrate", substrate, prov.substrate), ("condition", condition, prov.condition),
                                      ("seed", seed, str(prov.seed))):
            if want != got:
                findings.append(Finding("d", prov_path, f"provenance {field_name} does not match its folder",
                                        expected=want, actual=got))
        # the dataset: the build output dvc.lock records for this condition
        build = build_outs.get(f"build@{condition}")
        ds = prov.dataset
        want_path = train_data_rel(condition)
        if ds.path != want_path:
            findings.append(Finding("d", prov_path, "provenance dataset is not the condition's build output",
                                    expected=want_path, actual=ds.path))
        elif build is None or not build.md5:
            findings.append(Finding("d", prov_path, f"dvc.lock records no build@{condition} output"))
        else:
            recorded = read_dir_object(root, build.md5)
            rel_in = ds.path[len(build.path) + 1:]
            rec_md5 = recorded.get(rel_in) if recorded is not None else None
            if not (root / ds.path).is_file():
                findings.append(Finding("d", ds.path, "dataset named in provenance is missing (run: dvc pull)",
                                        expected=ds.sha256))
            else:
                h = hashes.get(ds.path)
                if rec_md5 is None and recorded is None:
                    # no .dir object: trust the workspace only if the folder matches dvc.lock
                    files = walk_dir(root, build.path)
                    if dir_md5((f, hashes.get(f"{build.path}/{f}").md5) for f in files) == build.md5:
                        rec_md5 = h.md5
                if rec_md5 is None:
                    findings.append(Finding("d", ds.path, f"cannot establish the md5 dvc.lock records for {ds.path}",
                                            expected=build.md5))
                elif h.md5 != rec_md5:
                    findings.append(Finding("d", ds.path, "dataset differs from the build output in dvc.lock (md5)",
                                            expected=rec_md5, actual=h.md5))
                if ds.sha256 != h.sha256:
                    findings.append(Finding("d", prov_path, f"provenance dataset sha256 is not that of {ds.path}",
                                            expected=ds.sha256, actual=h.sha256))
                if ds.md5 and rec_md5 and ds.md5 != rec_md5:
                    findings.append(Finding("d", prov_path, "provenance dataset md5 is not the one dvc.lock records",
                                            expected=rec_md5, actual=ds.md5))
            train_dep = next((e for e in tracked.entries if e.kind == "dep" and e.path == build.path
                              and e.source == f"dvc.lock:train@{substrate}-{condition}-{seed}"), None)
            if train_dep is not None and train_dep.md5 != build.md5:
                findings.append(_build_mismatch(tracked, hashes, build, train_dep, ds.md5,
                                                f"train@{substrate}-{condition}-{seed}"))
        # the consent record
        c = prov.consent
        cpath = root / c.path
        if not cpath.is_file():
            findings.append(Finding("d", c.path, "consent record named in provenance is missing", expected=c.sha256))
            continue
        try:
            loaded = load_consent(cpath)
        except InputError as e:
            findings.append(Finding("d", c.path, f"consent record unreadable: {e.message}"))
            continue
        if loaded.sha256 != c.sha256:
            findings.append(Finding("d", c.path, "consent record changed since training (sha256)",
                                    expected=c.sha256, actual=loaded.sha256))
        if loaded.record.id != c.id:
            findings.append(Finding("d", c.path, "consent record id differs from provenance",
                                    expected=c.id, actual=loaded.record.id))
        try:  # the chain as it stands now: a withdrawal recorded after training still counts
            chain = chain_for(cpath)
        except InputError as e:
            findings.append(Finding("d", c.path, f"consent chain unreadable: {e.message}"))
            continue
        base = prov.base_model
        for reason in artifact_reasons(chain, root=root, substrate=substrate, purpose="fine_tuning",
                                       condition=condition, made_at=prov.started_at,
                                       weights=Weights(base.hub_id, base.revision) if base.hub_id else None):
            findings.append(Finding("d", c.path, f"consent does not cover {run}: {reason}"))
    for path, message in _eval_consent(root):
        findings.append(Finding("d", path, message))
    return findings, len(adapters)


def _eval_consent(root: Path) -> list[tuple[str, str]]:
    """Evaluations whose data was collected outside the consent in force then (babyctl.consent)."""
    from .consent import eval_findings

    return eval_findings(root)


def _build_mismatch(tracked: Tracked, hashes: HashCache, build: Entry, train_dep: Entry, ds_md5: str | None,
                    stage: str) -> Finding:
    """The train stage's dep record and the build output's record disagree: say which side is wrong.

    "Trained on another build" is stated only when it is true: the dep's folder object is in the
    cache and holds the dataset the adapter's provenance names. Otherwise the lock entry was edited.
    """
    from .audit_lock import entry_key, lock_lines

    root = tracked.root
    lines = lock_lines(root)
    try:
        now = dir_md5((f, hashes.get(f"{build.path}/{f}").md5) for f in walk_dir(root, build.path))
    except (OSError, InputError):
        now = None
    build_stage = build.source.split(":", 1)[1]
    if now == train_dep.md5 and now != build.md5:
        hit = entry_key(tracked, build_stage, build.path)
        line = lines.get(hit[0] + ("md5",)) if hit else None
        return Finding("d", LOCK_NAME, f"the {build_stage} output entry for {build.path} disagrees with the "
                       f"workspace and with {stage}'s dep record, which agree: the lock's {build_stage} entry was "
                       "edited", expected=build.md5, actual=now, source=build.source, line=line)
    hit = entry_key(tracked, stage, build.path)
    line = lines.get(hit[0] + ("md5",)) if hit else None
    old = read_dir_object(root, train_dep.md5) if train_dep.md5 else None
    from .study import TRAIN_FILE

    rel_ds = TRAIN_FILE
    if old is not None and ds_md5 and old.get(rel_ds) == ds_md5:
        return Finding("d", build.path, f"{stage} was trained on another build than the one recorded (the build "
                       "was re-run after training; run: dvc repro)", expected=build.md5, actual=train_dep.md5,
                       source=train_dep.source, line=None)
    return Finding("d", LOCK_NAME, f"{stage}'s dep entry for {build.path} records an md5 that is neither the "
                   f"{build_stage} output nor any folder in the DVC cache holding the adapter's dataset: the lock "
                   "entry was edited", expected=build.md5, actual=train_dep.md5, source=train_dep.source, line=line)


# --- (e) --------------------------------------------------------------------------------------
def git_tracked(root: Path, folders: tuple[str, ...]) -> set[str] | None:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *folders], cwd=root, capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p}


def check_untracked(tracked: Tracked, folders: tuple[str, ...] = DATA_FOLDERS) -> tuple[list[Finding], int]:
    root = tracked.root
    in_git = git_tracked(root, folders) or set()
    covered = [e.path for e in tracked.entries if e.kind in ("out", "dvc-file")]
    findings, n = [], 0
    for folder in folders:
        if not (root / folder).is_dir():
            continue
        for f in walk_dir(root, folder, DvcIgnore(root)):
            rel = f"{folder}/{f}"
            n += 1
            if rel in in_git or rel.rsplit("/", 1)[-1] == ".gitignore":
                continue
            if any(rel == c or rel.startswith(c + "/") for c in covered):
                continue
            findings.append(Finding("e", rel, "untracked file in a data folder (not a DVC output, not in git)"))
    return findings, n


# --- (g) --------------------------------------------------------------------------------------
def check_symlinks(tracked: Tracked, ignore: DvcIgnore) -> tuple[list[Finding], int]:
    """Symlinks among tracked files and folders (and the records): DVC hashes the bytes a link points
    to, so a link to a byte-identical copy passes every hash check, yet a clone gets a copy, not the
    link, and the link can be re-pointed later. Links into DVC's own cache (``cache.type: symlink``)
    are DVC's and allowed."""
    from .tracked import cache_dir

    root = tracked.root
    cache = cache_dir(root)
    findings: list[Finding] = []
    seen: set[str] = set()
    n = 0

    def visit(rel: str) -> None:
        nonlocal n
        if rel in seen:
            return
        seen.add(rel)
        p = root / rel
        n += 1
        if p.is_symlink():
            target = p.resolve()
            if target.is_relative_to(cache):
                return
            where = "outside the repository" if not target.is_relative_to(root) else "inside the repository"
            findings.append(Finding("g", rel, f"symlink in tracked data, to {target} ({where}): the hashes "
                                    "are those of the target; a tracked path must be a plain file or folder",
                                    source="filesystem"))
            return
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
                d = Path(dirpath)
                drel = d.relative_to(root).as_posix()
                dirnames[:] = [x for x in dirnames if x not in (".git", ".dvc")
                               and not ignore.ignored(f"{drel}/{x}", is_dir=True)]
                for x in [*dirnames, *filenames]:
                    c = d / x
                    if c.is_symlink() and not ignore.ignored(f"{drel}/{x}", is_dir=c.is_dir()):
                        visit(f"{drel}/{x}")
                n += len(filenames)

    for rel in sorted({e.path for e in tracked.entries} | {"dvc.yaml"}):  # the records: check (f)
        if (root / rel).exists() or (root / rel).is_symlink():
            visit(rel)
    return findings, n


# --- (h) --------------------------------------------------------------------------------------
def check_leftovers(tracked: Tracked) -> tuple[list[Finding], int]:
    """Leftovers of an interrupted write beside each DVC output (:func:`babyctl.fsutil.stale_paths`,
    the one spelling of their names): an unfinished commit journal means the run's unit (adapter +
    provenance + metrics) may be torn; staged or moved-aside copies are stale."""
    from . import fsutil

    stale_paths = getattr(fsutil, "stale_paths", None)
    if stale_paths is None:  # the commit protocol without journals: check (e) reports stray files
        return [], 0
    root = tracked.root
    outs = sorted({e.path for e in tracked.entries if e.kind == "out"})
    findings = []
    for rel in outs:
        for p in stale_paths(root / rel):
            where = p.relative_to(root).as_posix()
            if p.name.endswith(".commit"):
                findings.append(Finding("h", where, f"unfinished commit of {rel}: the unit may be torn (e.g. a new "
                                        "adapter with old metrics) until the next run rolls it forward"))
            else:
                findings.append(Finding("h", where, f"stale leftover of an interrupted write of {rel} (the next "
                                        "run removes it)"))
    return findings, len(outs)


# --- (i) --------------------------------------------------------------------------------------
def check_prereg(root: Path) -> tuple[list[Finding], int]:
    """(i) the pre-registration lock parses and matches its digest, amendments are valid, and every
    deviation from the lock has an amendment (:func:`babyctl.prereg.audit_problems`)."""
    from .prereg import LOCK, audit_problems

    return [Finding("i", path, msg) for path, msg in audit_problems(root)], int((root / LOCK).exists())


# --- all --------------------------------------------------------------------------------------
def audit(root: str | Path | None = None, *, pipeline_status: bool = True) -> AuditResult:
    """Run every check on the study at ``root`` (default: the study holding the working folder)."""
    from . import audit_context, audit_lock, ledger

    t0 = time.perf_counter()
    root = audit_context.find_root(root)
    if not (root / "dvc.lock").exists() and not (root / ".dvc").is_dir():
        raise InputError("not a DVC repository (no dvc.lock, no .dvc/): run from the experiment root",
                         path=root)
    hdr = audit_context.header(root)
    tracked = load_tracked(root)  # raises on a corrupted dvc.lock / .dvc file
    result = AuditResult(root=str(root), header=hdr.as_dict())
    hashes = HashCache(root)
    ignore = DvcIgnore(root)
    for key, fn in (("a", lambda: check_lock(tracked, hashes, ignore)), ("b", lambda: check_ledger(tracked, hashes)),
                    ("d", lambda: check_adapters(tracked, hashes)), ("e", lambda: check_untracked(tracked)),
                    ("f", lambda: audit_context.check_committed(root, hdr)),
                    ("g", lambda: check_symlinks(tracked, ignore)), ("h", lambda: check_leftovers(tracked)),
                    ("a", lambda: audit_lock.check_metadata(tracked, hashes, ignore)),
                    ("i", lambda: check_prereg(root))):
        try:
            found, n = fn()
        except InputError as e:  # e.g. a symlink out of the repository
            found, n = [Finding(key, e.path or "?", e.message)], 0
        result.findings.extend(found)
        result.checked[key] = result.checked.get(key, 0) + n
    if pipeline_status:
        found, n = check_status(root)
        result.findings.extend(found)
        result.checked["c"] = n
    else:
        result.skipped["c"] = "--no-status"
    # which side changed: a file that SHA256SUMS and git vouch for is not to blame
    try:
        listed, _ = ledger.parse((root / ledger.LEDGER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        listed = {}
    b_paths = {f.path for f in result.findings if f.check in ("b", "g")}
    witnessed = {p for p in listed if p not in b_paths and (root / p).is_file() and not (root / p).is_symlink()}
    result.findings = audit_lock.attribute(result.findings, tracked, witnessed=witnessed,
                                           git_changed=set(hdr.changed_files))
    result.findings.sort(key=lambda f: (f.check, f.path, f.line or 0, f.message))
    result.bytes_hashed = sum(h.size for h in hashes._done.values())
    result.seconds = time.perf_counter() - t0
    return result
