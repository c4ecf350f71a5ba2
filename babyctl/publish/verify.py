"""``babyctl verify REPO_ID[@REV] [--study PATH]``: check a published release, as an auditor would.

Downloads the release with ``huggingface_hub.snapshot_download`` into a fresh temporary folder
and checks, each check a function returning :class:`Mismatch` objects:

* **files** -- exactly the release allowlist (plus the Hub's ``.gitattributes``);
* **sums** -- every file against ``SHA256SUMS``, and every file listed;
* **statement** -- ``provenance.intoto.json`` is an in-toto v1 Statement with a SLSA provenance
  predicate; its subjects are the release files with their sha256; its dataset, consent, base
  model, git commit and babyctl version agree with the release's ``provenance.json``, whose
  ``adapter_files`` agree with the adapter;
* **license** -- ``LICENSE`` is there and not empty; ``NOTICE`` carries the attribution notice of
  the license the card declares;
* **card** -- the card's metadata parses, names ``peft``, the base model of the statement, and
  the release's license.

With ``--study PATH`` (a clone of the study, after ``dvc pull``), also against that study:

* the adapter and ``provenance.json`` against the study's ``SHA256SUMS`` (and the run folder in
  the workspace when present), the dataset against the study's ``SHA256SUMS``;
* the consent record: unchanged since training, and it covers publication now;
* the git commit of the run is in the study's history.

Nothing is written outside the temporary folder; exit 0 clean, 1 mismatches, 2 usage/Hub errors.
"""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError, UsageError
from ..fsutil import sha256_file
from .stage import ALLOWLIST, CONFIG, STATEMENT, SUMS, WEIGHTS
from .release import PROVENANCE

HUB_FILES = frozenset({".gitattributes"})


@dataclass(frozen=True)
class Mismatch:
    check: str  #: files | sums | statement | license | card | study
    what: str  #: the file (or file:field) that disagrees
    message: str
    expected: str | None = None
    actual: str | None = None

    def __str__(self) -> str:
        shown = [f"{k} {v}" for k, v in (("expected", self.expected), ("actual", self.actual)) if v is not None]
        return f"[{self.check}] {self.what}: {self.message}" + (f" ({', '.join(shown)})" if shown else "")


@dataclass
class VerifyResult:
    repo_id: str
    revision: str
    commit: str | None
    study: str | None
    files: dict[str, str] = field(default_factory=dict)  #: name -> sha256 of what was downloaded
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def parse_target(target: str) -> tuple[str, str]:
    """``ORG/NAME[@REV]`` -> (repo id, revision; ``main`` by default)."""
    from .release import check_repo_id

    repo_id, _, rev = target.partition("@")
    check_repo_id(repo_id)
    if "@" in target and not rev:
        raise UsageError(f"empty revision in {target!r} (write ORG/NAME@TAG-OR-COMMIT)")
    return repo_id, rev or "main"


# --- download ---------------------------------------------------------------------------------
def download(repo_id: str, revision: str, dest: Path, *, endpoint: str | None = None,
             token: str | None = None) -> str | None:
    """Every file of the release at ``revision`` into ``dest``; returns the commit id."""
    import httpx
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    from .hub import HubError, HubNetworkError

    try:
        info = HfApi(endpoint=endpoint, token=token or None).model_info(repo_id, revision=revision)
        snapshot_download(repo_id, revision=info.sha or revision, local_dir=dest, endpoint=endpoint,
                          token=token or None)
        return info.sha
    except RevisionNotFoundError:
        raise UsageError(f"{repo_id} has no revision {revision!r} (a tag, branch or commit)")
    except RepositoryNotFoundError:
        raise UsageError(f"no such model repository on the Hub (or no access): {repo_id}")
    except OfflineModeIsEnabled:
        raise HubError("HF_HUB_OFFLINE is set: verify needs to download the release (unset it)")
    except (HfHubHTTPError, httpx.HTTPError, OSError) as err:
        raise HubNetworkError(f"could not download {repo_id}@{revision}: {type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}")


def release_files(folder: Path) -> dict[str, str]:
    """name -> sha256 of every downloaded file (``.cache/`` of the download aside)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if rel.startswith(".cache/") or rel == ".cache" or not p.is_file():
            continue
        out[rel] = sha256_file(p)
    return out


# --- checks on the release alone ----------------------------------------------------------------
def check_files(folder: Path, files: dict[str, str]) -> list[Mismatch]:
    names = set(files) - HUB_FILES
    out = [Mismatch("files", n, "not a release file (not on the allowlist)") for n in sorted(names - ALLOWLIST)]
    out += [Mismatch("files", n, "missing from the release") for n in sorted(ALLOWLIST - names)]
    return out


def check_sums(folder: Path, files: dict[str, str]) -> list[Mismatch]:
    from ..ledger import parse

    if SUMS not in files:
        return []
    listed, problems = parse((folder / SUMS).read_text(encoding="utf-8", errors="replace"))
    out = [Mismatch("sums", f"{SUMS}:{p.line}" if p.line else SUMS, p.message) for p in problems]
    for name, (digest, line) in sorted(listed.items()):
        if name not in files:
            out.append(Mismatch("sums", name, f"listed in {SUMS} (line {line}) but not in the release", expected=digest))
        elif files[name] != digest:
            out.append(Mismatch("sums", name, f"sha256 differs from {SUMS} line {line}", expected=digest,
                                actual=files[name]))
    for name in sorted(set(files) - set(listed) - HUB_FILES - {SUMS}):
        out.append(Mismatch("sums", name, f"not listed in {SUMS}", actual=files[name]))
    return out


def _provenance(folder: Path):
    from ..documents import parse_json_model, read_bytes
    from ..schemas.provenance import AdapterProvenance

    return parse_json_model(read_bytes(folder / PROVENANCE, "provenance"), AdapterProvenance, PROVENANCE, "provenance")


def check_statement(folder: Path, files: dict[str, str]) -> list[Mismatch]:
    from .statement import parse

    if STATEMENT not in files:
        return []
    st, problems = parse((folder / STATEMENT).read_text(encoding="utf-8", errors="replace"))
    out = [Mismatch("statement", STATEMENT, p) for p in problems]
    if st is None:
        return out
    expected_subjects = set(files) - HUB_FILES - {SUMS, STATEMENT}
    for name in sorted(expected_subjects | set(st.subjects)):
        if name not in st.subjects:
            out.append(Mismatch("statement", name, "release file is not a subject of the statement", actual=files[name]))
        elif name not in files:
            out.append(Mismatch("statement", name, "statement subject is not in the release", expected=st.subjects[name]))
        elif st.subjects[name] != files[name]:
            out.append(Mismatch("statement", name, "sha256 differs from the statement's subject",
                                expected=st.subjects[name], actual=files[name]))
    if PROVENANCE not in files:
        return out
    try:
        prov = _provenance(folder)
    except InputError as e:
        return out + [Mismatch("statement", PROVENANCE, f"unreadable: {e.message}")]
    pairs = [
        ("dataset sha256", st.digest("dataset", "sha256"), prov.dataset.sha256),
        ("consent record sha256", st.digest("consent_record", "sha256"), prov.consent.sha256),
        ("git commit", st.digest("source", "gitCommit"), prov.git.commit),
        ("babyctl version", st.babyctl_version, prov.tool_version),
    ]
    if prov.base_model.hub_id:
        uri = (st.dependencies.get("base_model") or {}).get("uri")
        pairs.append(("base model", uri, f"https://huggingface.co/{prov.base_model.hub_id}"))
    for label, stated, recorded in pairs:
        if stated != recorded:
            out.append(Mismatch("statement", f"{STATEMENT}:{label}", f"{label} differs from {PROVENANCE}",
                                expected=str(recorded), actual=str(stated)))
    # the adapter against what training recorded
    recorded_files = {Path(f.path).name: f.sha256 for f in prov.adapter_files}
    for name in (WEIGHTS, CONFIG):
        if name in files and name in recorded_files and recorded_files[name] != files[name]:
            out.append(Mismatch("statement", name, f"not the adapter training wrote ({PROVENANCE} adapter_files)",
                                expected=recorded_files[name], actual=files[name]))
    return out


def _card(folder: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / "README.md", ignore_metadata_errors=False)


def check_license(folder: Path, files: dict[str, str]) -> list[Mismatch]:
    from .licenses import KNOWN

    out = []
    if "LICENSE" in files and not (folder / "LICENSE").read_text(encoding="utf-8", errors="replace").strip():
        out.append(Mismatch("license", "LICENSE", "empty"))
    if "README.md" not in files or "NOTICE" not in files:
        return out
    try:
        meta = _card(folder).data.to_dict()
    except Exception as e:  # the card check reports it
        return out + [Mismatch("license", "README.md", f"card metadata unreadable: {type(e).__name__}")]
    lic = meta.get("license")
    key = meta.get("license_name") if lic == "other" else lic
    terms = next((t for t in KNOWN.values() if t.id == key or (lic != "other" and t.hub_license == lic)), None)
    if terms is None:
        return out + [Mismatch("license", "README.md:license", f"license {key!r} is unknown to babyctl")]
    notice = (folder / "NOTICE").read_text(encoding="utf-8", errors="replace")
    if terms.notice not in notice:
        out.append(Mismatch("license", "NOTICE", f"does not carry the {terms.title} attribution notice",
                            expected=terms.notice))
    return out


def check_card(folder: Path, files: dict[str, str]) -> list[Mismatch]:
    if "README.md" not in files:
        return []
    try:
        meta = _card(folder).data.to_dict()
    except Exception as e:  # a malformed card: ModelCard raises ValueError/yaml errors
        return [Mismatch("card", "README.md", f"metadata does not parse: {type(e).__name__}: {e}")]
    out = []
    if meta.get("library_name") != "peft":
        out.append(Mismatch("card", "README.md:library_name", "not peft", expected="peft",
                            actual=str(meta.get("library_name"))))
    if "babyctl" not in (meta.get("tags") or []):
        out.append(Mismatch("card", "README.md:tags", "no `babyctl` tag"))
    if PROVENANCE in files:
        try:
            prov = _provenance(folder)
        except InputError:
            return out
        want = prov.base_model.hub_id
        if meta.get("base_model") != want:
            out.append(Mismatch("card", "README.md:base_model", f"differs from {PROVENANCE}", expected=str(want),
                                actual=str(meta.get("base_model"))))
    return out


# --- against a study --------------------------------------------------------------------------
def check_study(folder: Path, files: dict[str, str], study_root: Path) -> list[Mismatch]:
    """The release against a clone of the study (after ``dvc pull``)."""
    from .. import study as study_mod
    from ..consent import load_consent, refusals
    from ..ledger import LEDGER, parse

    out: list[Mismatch] = []
    if PROVENANCE not in files:
        return out
    try:
        prov = _provenance(folder)
    except InputError:
        return out
    run = study_mod.run_dir(study_root, prov.substrate, prov.condition, prov.seed)
    run_rel = run.relative_to(study_root).as_posix()
    try:
        listed, _ = parse((study_root / LEDGER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        listed = {}
        out.append(Mismatch("study", LEDGER, "the study has no readable SHA256SUMS to check the release against"))
    ledger_sha = {p: d for p, (d, _) in listed.items()}
    for name, rel in ((WEIGHTS, f"{run_rel}/adapter/{WEIGHTS}"), (CONFIG, f"{run_rel}/adapter/{CONFIG}"),
                      (PROVENANCE, f"{run_rel}/{PROVENANCE}")):
        if name not in files:
            continue
        want = ledger_sha.get(rel)
        if want is None and listed:
            out.append(Mismatch("study", rel, f"the study's {LEDGER} does not list this run's file"))
        elif want is not None and want != files[name]:
            out.append(Mismatch("study", name, f"not the study's {rel} ({LEDGER})", expected=want, actual=files[name]))
        local = study_root / rel
        if local.is_file() and sha256_file(local) != files[name]:
            out.append(Mismatch("study", name, f"not the study's workspace file {rel}", expected=sha256_file(local),
                                actual=files[name]))
    out += _against_lock(folder, files, study_root, run_rel)
    ds = ledger_sha.get(prov.dataset.path)
    if listed and ds != prov.dataset.sha256:
        out.append(Mismatch("study", prov.dataset.path, f"the release's dataset is not the one in the study's {LEDGER}",
                            expected=ds, actual=prov.dataset.sha256))
    cpath = study_root / prov.consent.path
    try:
        loaded = load_consent(cpath)
    except InputError as e:
        out.append(Mismatch("study", prov.consent.path, f"consent record unreadable in the study: {e.message}"))
    else:
        if loaded.sha256 != prov.consent.sha256:
            out.append(Mismatch("study", prov.consent.path, "consent record changed since training",
                                expected=prov.consent.sha256, actual=loaded.sha256))
        for reason in refusals(loaded.record, substrate=prov.substrate, purpose="publication",
                               condition=prov.condition):
            out.append(Mismatch("study", prov.consent.path, f"consent does not cover publication: {reason}"))
    if prov.git.commit:
        try:
            subprocess.run(["git", "cat-file", "-e", f"{prov.git.commit}^{{commit}}"], cwd=study_root, check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            out.append(Mismatch("study", "git", "the run's commit is not in the study's history",
                                expected=prov.git.commit))
    return out


def _against_lock(folder: Path, files: dict[str, str], study_root: Path, run_rel: str) -> list[Mismatch]:
    """The adapter and provenance against the md5s the study's dvc.lock records for the run folder."""
    from ..fsutil import md5_file
    from ..tracked import load_lock, read_dir_object

    try:
        lock = load_lock(study_root)
    except InputError as e:
        return [Mismatch("study", "dvc.lock", f"unreadable: {e.message}")]
    entry = next((e for e in (lock.entries if lock else []) if e.kind == "out" and e.path == run_rel and e.md5), None)
    if entry is None:
        return [Mismatch("study", "dvc.lock", f"records no run folder {run_rel}")]
    recorded = read_dir_object(study_root, entry.md5)
    if recorded is None:  # the .dir object is not in the cache: SHA256SUMS and the workspace still vouch
        return []
    out = []
    for name, inner in ((WEIGHTS, f"adapter/{WEIGHTS}"), (CONFIG, f"adapter/{CONFIG}"), (PROVENANCE, PROVENANCE)):
        if name in files and recorded.get(inner) != md5_file(folder / name):
            out.append(Mismatch("study", name, f"md5 differs from the study's dvc.lock ({run_rel}/{inner})",
                                expected=recorded.get(inner), actual=md5_file(folder / name)))
    return out


def verify(target: str, *, study: str | Path | None = None, endpoint: str | None = None,
           token: str | None = None) -> VerifyResult:
    """Download ``ORG/NAME[@REV]`` and check it; with ``study``, also against that study."""
    from ..audit_context import find_root

    repo_id, revision = parse_target(target)
    study_root = find_root(study) if study is not None else None
    with tempfile.TemporaryDirectory(prefix="babyctl-verify-") as tmp:
        folder = Path(tmp) / "release"
        commit = download(repo_id, revision, folder, endpoint=endpoint, token=token)
        files = release_files(folder)
        result = VerifyResult(repo_id, revision, commit, str(study_root) if study_root else None, files)
        for check in (check_files, check_sums, check_statement, check_license, check_card):
            result.mismatches += check(folder, files)
        if study_root is not None:
            result.mismatches += check_study(folder, files, study_root)
    return result
