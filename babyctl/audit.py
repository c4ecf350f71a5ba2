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
    "f": "pre-registration lock",
}


@dataclass
class AuditFinding:
    """One audit finding: which check (a-e), the file, what is wrong, expected and actual values."""

    check: str  # a..e
    path: str
    message: str
    expected: str | None = None
    actual: str | None = None
    source: str | None = None


Finding = AuditFinding  # short name used inside this module


@dataclass
class AuditResult:
    root: str
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # check -> number of items checked
    skipped: dict[str, str] = field(default_factory=dict)  # check -> why
    seconds: float = 0.0
    bytes_hashed: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "root": self.root, "seconds": round(self.seconds, 3),
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
    """``dvc status`` (:func:`babyctl.tracked.pipeline_status`) as findings."""
    status = pipeline_status(root)
    if status.error:
        return [Finding("c", "dvc.yaml", status.error)], 0
    findings = [Finding("c", c.path, c.message, source=f"dvc status:{c.stage}") for c in status.changes]
    return findings, status.stages


# --- (d) --------------------------------------------------------------------------------------
def check_adapters(tracked: Tracked, hashes: HashCache) -> tuple[list[Finding], int]:
    from .consent import load_consent, refusals
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
                findings.append(Finding("d", build.path, f"train@{substrate}-{condition}-{seed} was trained on "
                                        "another build than the one recorded", expected=build.md5,
                                        actual=train_dep.md5))
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
        for reason in refusals(loaded.record, substrate=substrate, purpose="fine_tuning",
                               condition=condition, at=prov.started_at):
            findings.append(Finding("d", c.path, f"consent does not cover {run}: {reason}"))
    return findings, len(adapters)


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


def check_prereg(root: Path) -> tuple[list[Finding], int]:
    """(f) the pre-registration lock parses and matches its digest, amendments are valid, and every
    deviation from the lock has an amendment (:func:`babyctl.prereg.audit_problems`)."""
    from .prereg import LOCK, audit_problems

    return [Finding("f", path, msg) for path, msg in audit_problems(root)], int((root / LOCK).exists())


# --- all --------------------------------------------------------------------------------------
def audit(root: str | Path = ".", *, pipeline_status: bool = True) -> AuditResult:
    """Run every check on the repository at ``root``."""
    t0 = time.perf_counter()
    root = Path(root).resolve()
    if not (root / "dvc.lock").exists() and not (root / ".dvc").is_dir():
        raise InputError("not a DVC repository (no dvc.lock, no .dvc/): run from the experiment root",
                         path=root)
    tracked = load_tracked(root)  # raises on a corrupted dvc.lock / .dvc file
    result = AuditResult(root=str(root))
    hashes = HashCache(root)
    ignore = DvcIgnore(root)
    for key, fn in (("a", lambda: check_lock(tracked, hashes, ignore)), ("b", lambda: check_ledger(tracked, hashes)),
                    ("d", lambda: check_adapters(tracked, hashes)), ("e", lambda: check_untracked(tracked)),
                    ("f", lambda: check_prereg(root))):
        try:
            found, n = fn()
        except InputError as e:  # e.g. a symlink out of the repository
            found, n = [Finding(key, e.path or "?", e.message)], 0
        result.findings.extend(found)
        result.checked[key] = n
    if pipeline_status:
        found, n = check_status(root)
        result.findings.extend(found)
        result.checked["c"] = n
    else:
        result.skipped["c"] = "--no-status"
    result.findings.sort(key=lambda f: (f.check, f.path, f.message))
    result.bytes_hashed = sum(h.size for h in hashes._done.values())
    result.seconds = time.perf_counter() - t0
    return result
