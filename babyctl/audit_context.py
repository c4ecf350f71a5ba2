"""What an auditor pastes above the findings: which study, at which commit, checked when, by what.

* :func:`find_root` -- the study root (the folder holding ``dvc.yaml``, ``dvc.lock`` or ``.dvc/``)
  from any subfolder, the way git finds ``.git``.
* :func:`header` -- git commit, whether the tree, ``dvc.lock`` and ``SHA256SUMS`` are committed
  and clean, UTC time, babyctl and DVC versions, the DVC remote(s) (URL only, credentials
  stripped). Reads git through ``git`` and DVC's config as text: it imports no DVC.
* :func:`check_committed` -- audit check (f): an uncommitted ``dvc.lock`` or ``SHA256SUMS`` is a
  finding, and the finding names the first changed line.
"""
from __future__ import annotations

import configparser
import datetime as dt
import difflib
import re
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from . import __version__
from .errors import InputError

LOCK = "dvc.lock"
LEDGER = "SHA256SUMS"
RECORDS = (LOCK, LEDGER)
MARKERS = ("dvc.yaml", "dvc.lock", ".dvc")


def find_root(start: str | Path | None = None) -> Path:
    """The study root at or above ``start`` (default: the working folder).

    Raises :class:`InputError` (exit 2) when no folder up to ``/`` holds ``dvc.yaml``,
    ``dvc.lock`` or ``.dvc/``.
    """
    here = Path(start if start is not None else ".").resolve()
    if not here.exists():
        raise InputError("no such folder", path=str(start))
    if here.is_file():
        here = here.parent
    for d in (here, *here.parents):
        if any((d / m).exists() for m in MARKERS):
            return d
    raise InputError("not a DVC repository (no dvc.yaml, dvc.lock or .dvc/ here or in any parent folder)",
                     path=str(start if start is not None else here))


def _git(root: Path, *args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


@dataclass
class Header:
    """The audit's context. ``None`` means unknown (e.g. not a git repository)."""

    root: str
    time_utc: str
    babyctl_version: str
    dvc_version: str | None
    git_commit: str | None
    git_branch: str | None
    tree_clean: bool | None
    changed_files: list[str] = field(default_factory=list)  #: tracked files changed + untracked, git's view
    records: dict[str, str] = field(default_factory=dict)  #: dvc.lock / SHA256SUMS -> committed|modified|...
    remotes: dict[str, str] = field(default_factory=dict)  #: name -> URL (no credentials)
    default_remote: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _strip_credentials(url: str) -> str:
    """``ssh://user:pw@host/x`` -> ``ssh://user@host/x``; a query string is dropped."""
    url = re.sub(r"^([a-zA-Z][\w+.-]*://)([^/@:]+):[^/@]*@", r"\1\2@", url)
    return url.split("?", 1)[0]


def remotes(root: Path) -> tuple[dict[str, str], str | None]:
    """DVC remotes of ``.dvc/config`` (then ``config.local`` overrides): name -> URL, and the default."""
    found: dict[str, str] = {}
    default = None
    for name in ("config", "config.local"):
        path = root / ".dvc" / name
        if not path.is_file():
            continue
        cp = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            cp.read_string(path.read_text(encoding="utf-8", errors="replace"))
        except configparser.Error:
            continue
        for section in cp.sections():
            m = re.fullmatch(r"""remote\s+["']?([^"']+)["']?""", section.strip().strip("'").strip())
            if m and cp.has_option(section, "url"):
                found[m.group(1)] = _strip_credentials(cp.get(section, "url").strip())
            elif section.strip() == "core" and cp.has_option(section, "remote"):
                default = cp.get(section, "remote").strip()
    return found, default


def _record_state(root: Path, name: str, porcelain: dict[str, str], in_head: set[str]) -> str:
    p = root / name
    if not p.exists() and not p.is_symlink():
        return "absent"
    code = porcelain.get(name)
    if code == "??":
        return "untracked (never committed)"
    if code is None:
        return "committed" if name in in_head else "not in git (ignored?)"
    return {"M": "modified", "A": "staged, not committed", "D": "deleted", "R": "renamed",
            "T": "type changed"}.get(code.strip()[:1], f"changed ({code.strip()})") + " since the commit"


def header(root: str | Path) -> Header:
    """Collect the audit header for the study at ``root``."""
    root = Path(root).resolve()
    try:
        dvc_version: str | None = metadata.version("dvc")
    except metadata.PackageNotFoundError:
        dvc_version = None
    commit = _git(root, "rev-parse", "HEAD")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    porcelain: dict[str, str] = {}
    if status is not None:
        items = status.split("\0")
        i = 0
        while i < len(items):
            item = items[i]
            if len(item) > 3:
                code, path = item[:2], item[3:]
                porcelain[path] = code
                if code[0] in "RC":  # rename/copy: the next item is the source path
                    i += 1
            i += 1
    listed = _git(root, "ls-files", "-z", "--", *RECORDS)
    in_head = {p for p in (listed or "").split("\0") if p}
    records = {name: _record_state(root, name, porcelain, in_head) if status is not None else "unknown (not git)"
               for name in RECORDS}
    found, default = remotes(root)
    return Header(
        root=str(root), time_utc=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        babyctl_version=__version__, dvc_version=dvc_version,
        git_commit=commit.strip() if commit else None,
        git_branch=branch.strip() if branch else None,
        tree_clean=None if status is None else not porcelain,
        changed_files=sorted(porcelain), records=records, remotes=found, default_remote=default,
    )


def first_change(old: str, new: str) -> tuple[int, str | None, str | None]:
    """1-based line of the first difference between two texts, with the old and new line there."""
    a, b = old.splitlines(), new.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            return j1 + 1, (a[i1] if i1 < i2 else None), (b[j1] if j1 < j2 else None)
    return 1, None, None


def check_committed(root: Path, hdr: Header) -> tuple[list, int]:
    """Check (f): ``dvc.lock`` and ``SHA256SUMS`` are committed, unchanged since HEAD, and not symlinks."""
    from .audit import Finding

    findings = []
    if hdr.git_commit is None:
        return [Finding("f", ".", "not a git repository (or no commit yet): nothing vouches for dvc.lock "
                        "and SHA256SUMS")], 0
    for name in RECORDS:
        state = hdr.records.get(name, "unknown")
        p = root / name
        if p.is_symlink():
            findings.append(Finding("f", name, f"is a symlink (to {p.resolve()}): a record must be a plain "
                                    "file committed to git", source="git"))
        if state in ("committed", "absent"):
            continue
        if state.startswith("modified"):
            old = _git(root, "show", f"HEAD:{name}") or ""
            try:
                new = p.read_text(encoding="utf-8", errors="replace")
            except OSError:
                new = ""
            line, was, now = first_change(old, new)
            findings.append(Finding("f", name, f"{state} {hdr.git_commit[:12]}: uncommitted edit, first "
                                    f"difference at line {line}", expected=was, actual=now,
                                    source=f"git diff HEAD -- {name}", line=line))
        else:
            findings.append(Finding("f", name, f"{state}: an auditor cannot trust an uncommitted record",
                                    source="git status"))
    return findings, len(RECORDS)
