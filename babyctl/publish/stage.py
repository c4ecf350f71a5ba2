"""Stage a release folder: exactly the allowlisted files, plus ``SHA256SUMS`` of them.

``provenance.intoto.json`` is an in-toto v1 Statement (:func:`babyctl.publish.statement.build`)
whose subjects are the other release files with their sha256; ``SHA256SUMS`` covers it too.

The folder is written through :func:`babyctl.fsutil.atomic_dir`, so an interrupted
run leaves the previous release folder (or none), never a half-written one.
Nothing else goes into it: no pickles, no optimizer state, no dotfiles.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import study
from ..errors import IntegrityError
from ..fsutil import atomic_dir, atomic_write_text, sha256_bytes, sha256_file
from .licenses import LicenseText, notice_text
from .release import PROVENANCE, Release

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
STATEMENT = "provenance.intoto.json"  #: in-toto v1 Statement, SLSA provenance v1 predicate
CONTENT = (WEIGHTS, CONFIG, "README.md", "LICENSE", "NOTICE", PROVENANCE, STATEMENT)
SUMS = "SHA256SUMS"
#: every file a release holds, and nothing else
ALLOWLIST = frozenset((*CONTENT, SUMS))


def release_dir(rel: Release) -> Path:
    """Where ``stage`` writes: :func:`babyctl.study.release_dir`."""
    return study.release_dir(rel.root, rel.substrate, rel.condition, rel.seed)


def sums_text(folder: Path, names=CONTENT) -> str:
    """``sha256sum``-compatible lines ("<hex>  <name>"), sorted by name."""
    return "".join(f"{sha256_file(folder / n)}  {n}\n" for n in sorted(names))


def base_label(rel: Release) -> str:
    return rel.sub.hub_id or f"babyctl's embedded tiny model ({rel.sub.display_name})"


def stage(rel: Release, card_text: str, license_text: LicenseText, out: Path | None = None) -> Path:
    """Write the release folder and return it; raises IntegrityError if a source changed while copying."""
    out = out or release_dir(rel)
    sources = {WEIGHTS: rel.weights, CONFIG: rel.adapter_config}
    before = {name: sha256_file(path) for name, path in sources.items()}
    with atomic_dir(out) as tmp:
        for name, src in sources.items():
            shutil.copyfile(src, tmp / name)
        (tmp / PROVENANCE).write_bytes(rel.provenance_bytes)
        atomic_write_text(tmp / "README.md", card_text)
        atomic_write_text(tmp / "LICENSE", license_text.text)
        if rel.terms is not None:
            atomic_write_text(tmp / "NOTICE", notice_text(rel.terms, base=base_label(rel),
                                                          adapter_name=rel.repo_name))
        for name, digest in before.items():
            if sha256_file(tmp / name) != digest:
                raise IntegrityError(f"{name} changed while it was being staged; stage again", path=sources[name])
        if sha256_bytes(rel.provenance_bytes) != sha256_file(rel.run_dir / PROVENANCE):
            raise IntegrityError("provenance.json changed while it was being staged; stage again",
                                 path=rel.run_dir / PROVENANCE)
        atomic_write_text(tmp / STATEMENT, statement_text(rel, tmp))
        atomic_write_text(tmp / SUMS, sums_text(tmp))
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        os.chmod(tmp, 0o755)
        problems = check_release(tmp)
        if problems:
            raise IntegrityError("staged release is invalid: " + "; ".join(problems), path=out)
    return out


def check_release(folder: Path) -> list[str]:
    """Problems with a staged folder: files outside the allowlist, missing files, bad sums."""
    problems: list[str] = []
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    extra = sorted(present - ALLOWLIST)
    missing = sorted(ALLOWLIST - present)
    if extra:
        problems.append(f"not on the allowlist: {', '.join(extra)}")
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if not missing and (folder / SUMS).read_text(encoding="utf-8") != sums_text(folder):
        problems.append("SHA256SUMS does not match the files")
    return problems


def staged_files(folder: Path) -> list[Path]:
    """The files of a valid staged release, in upload order (SHA256SUMS last)."""
    return [folder / n for n in sorted(CONTENT)] + [folder / SUMS]


def statement_text(rel: Release, folder: Path) -> str:
    """The in-toto Statement of the files already in ``folder`` (all of CONTENT but itself)."""
    from .statement import build, dumps

    subjects = {n: sha256_file(folder / n) for n in sorted(CONTENT) if n != STATEMENT and (folder / n).is_file()}
    return dumps(build(rel, subjects))
