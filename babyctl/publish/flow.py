"""The two commands: ``babyctl card`` (render only) and ``babyctl publish`` (gate, stage, push)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..fsutil import sha256_bytes
from ..study import Study, run_label
from . import card as card_mod
from .gates import GateFinding, evaluate
from .hub import PushResult, push, resolve_token
from .licenses import LicenseText, license_text
from .release import Release, resolve
from .stage import stage, staged_files


@dataclass
class PublishOutcome:
    release: Release
    staged: Path
    card_sha256: str
    warnings: list[GateFinding] = field(default_factory=list)
    pushed: PushResult | None = None




def _license_text(rel: Release) -> LicenseText | None:
    if rel.terms is None:
        return None
    local = rel.root / rel.sub.local_path if rel.sub.local_path else None
    return license_text(rel.root, rel.terms, local)


def render_card(study_or_params: Study | str | Path, substrate: str, *, condition: str | None = None, seed: int | None = None,
                repo_id: str | None = None) -> tuple[Release, str]:
    """Resolve the run and render its model card (README.md text)."""
    rel = resolve(study_or_params, substrate, condition=condition, seed=seed, repo_id=repo_id)
    return rel, card_mod.render(rel)


def publish(study_or_params: Study | str | Path, substrate: str, *, condition: str | None = None, seed: int | None = None,
            repo_id: str | None = None, dry_run: bool = False, private: bool = False,
            endpoint: str | None = None, token: str | None = None) -> PublishOutcome:
    """Gate, stage and (unless ``dry_run``) push one run's adapter.

    Raises :class:`~babyctl.errors.GateRefused` listing every refusal; a dry run
    stages even when only the tree state or the missing full license text would
    refuse a real publish, and returns those as warnings.
    """
    rel, text = render_card(study_or_params, substrate, condition=condition, seed=seed, repo_id=repo_id)
    lic = _license_text(rel)
    report = evaluate(rel, text, lic or LicenseText(text="", source="(unknown license)"))
    what = f"{run_label(rel.substrate, rel.condition, rel.seed)} -> {rel.repo_id}"
    warnings = report.raise_if_refused(dry_run=dry_run, what=what)
    if not dry_run:
        token = resolve_token(token)  # fail before staging when there is no token at all
    assert lic is not None  # an unknown license is a hard refusal above
    folder = stage(rel, text, lic)
    outcome = PublishOutcome(rel, folder, sha256_bytes(text.encode("utf-8")), warnings)
    if dry_run:
        return outcome
    p = rel.provenance
    description = (f"Adapter {run_label(rel.substrate, rel.condition, rel.seed)} trained on {p.dataset.path} "
                   f"(sha256 {p.dataset.sha256}) at git commit {p.git.commit}. Files and their SHA-256 are "
                   "listed in SHA256SUMS.")
    outcome.pushed = push(folder, staged_files(folder), repo_id=rel.repo_id, tag=rel.tag, private=private,
                          commit_message=f"babyctl publish {rel.substrate} {rel.condition} seed {rel.seed}",
                          commit_description=description, tag_message=f"release {rel.tag}",
                          endpoint=endpoint, token=token)
    return outcome
