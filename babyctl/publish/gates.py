"""Every reason not to publish a release, collected and reported together.

Gates (each refusal names the gate, the reason and the record or file):

* ``consent``    -- the record does not cover publication (``babyctl.consent.refusals``);
* ``condition``  -- a recorded consent condition is unmet (review, framing, sections, credit);
* ``tree``       -- the git work tree is dirty, or ``dvc status`` is not clean, or there is no
  ``dvc.lock`` to tie the run to;
* ``provenance`` -- the adapter's provenance disagrees with the files or with ``dvc.lock``;
* ``license``    -- the base license is unknown, the repo name breaks its naming rule, or
  the full license text is missing.

A dry run stages anyway when only the *tree* gate or the missing full license text
refuse (they are about the state of the checkout, not the release's content) and
reports them as warnings; every other gate refuses a dry run too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import consent as consent_mod
from ..documents import read_json
from ..errors import GateRefused, InputError
from ..fsutil import md5_file, sha256_bytes, sha256_file
from ..provenance import git_state
from ..study import DEFAULT_PARAMS
from ..tracked import load_lock, pipeline_status, recorded_md5, stage_of
from .card import CREDITS_HEADING, NON_METAPHOR_HEADING
from .licenses import LicenseText
from .release import PROVENANCE, Release

#: gates a dry run reports as warnings instead of refusing
SOFT_ON_DRY_RUN = frozenset({"tree", "license-text"})


@dataclass(frozen=True)
class GateFinding:
    gate: str
    reason: str
    where: str  #: the record or file the reason is about

    def __str__(self) -> str:
        return f"[{self.gate}] {self.where}: {self.reason}"




@dataclass
class GateReport:
    findings: list[GateFinding] = field(default_factory=list)

    def add(self, gate: str, reason: str, where: str | Path) -> None:
        self.findings.append(GateFinding(gate, reason, str(where)))

    def split(self, dry_run: bool) -> tuple[list[GateFinding], list[GateFinding]]:
        """(refusals, warnings) for a real publish or a dry run."""
        if not dry_run:
            return list(self.findings), []
        hard = [f for f in self.findings if f.gate not in SOFT_ON_DRY_RUN]
        soft = [f for f in self.findings if f.gate in SOFT_ON_DRY_RUN]
        return hard, soft

    def raise_if_refused(self, *, dry_run: bool, what: str) -> list[GateFinding]:
        """Raise :class:`GateRefused` listing every refusal; return the warnings."""
        hard, soft = self.split(dry_run)
        if hard:
            lines = "\n".join(f"  - {f}" for f in hard)
            raise GateRefused(f"publish refused for {what} ({len(hard)} reason{'s' if len(hard) > 1 else ''}):\n"
                              f"{lines}")
        return soft


def _framing_findings(text: str, identifiers: list[str]) -> list:
    """The wording lint's findings, after blanking consent-condition identifiers.

    A condition's own id and kind (``no-improvement-framing``, ``no_improvement_framing``)
    name the rule; quoting them is not framing. They are replaced by spaces of the same
    length, so line:col positions stay right.
    """
    from ..wording import framing_findings

    for ident in sorted(set(identifiers), key=len, reverse=True):
        text = text.replace(ident, " " * len(ident))
    return list(framing_findings(text))


def check_consent(rel: Release, card_text: str, report: GateReport) -> None:
    loaded = rel.consent
    where = loaded.path.relative_to(rel.root).as_posix() if loaded.path.is_relative_to(rel.root) else loaded.path
    chain = rel.chain or consent_mod.Chain(records=(loaded,), named=loaded)
    base = rel.provenance.base_model
    weights = consent_mod.Weights(base.hub_id, base.revision) if base.hub_id else None
    reasons = consent_mod.action_reasons(chain, root=rel.root, substrate=rel.substrate, purpose="publication",
                                         condition=rel.condition, at=None, weights=weights,
                                         transfer=rel.sub.consent_transfer)
    for reason in reasons:
        report.add("consent", f"record {loaded.record.id!r}: {reason}", where)
    if loaded.record.coding.decision in ("no", "withdrawn"):
        report.add("consent", consent_mod.hub_advice(rel.params, rel.substrate, loaded.record), where)
    card_sha = sha256_bytes(card_text.encode("utf-8"))
    record = loaded.record
    for cond in record.conditions:
        label = f"condition {cond.id!r} ({cond.kind})"
        if cond.kind == "review_before_publication":
            _check_review(rel, cond, label, card_sha, report)
        elif cond.kind == "no_improvement_framing":
            idents = [k.id for k in record.conditions] + [k.kind for k in record.conditions]
            for finding in _framing_findings(card_text, idents):
                report.add("condition", f"{label}: the card's wording frames a difference as improvement: "
                           f"{finding}", where)
        elif cond.kind == "non_metaphor_section":
            if NON_METAPHOR_HEADING not in card_text:
                report.add("condition", f"{label}: the card has no {NON_METAPHOR_HEADING[3:]!r} section", where)
        elif cond.kind == "credit":
            credit = record.participant_credit
            if not credit:
                report.add("condition", f"{label}: the record asks for credit but has no participant_credit "
                           "to show", where)
            elif credit not in card_text.split(CREDITS_HEADING, 1)[-1]:
                report.add("condition", f"{label}: participant credit {credit!r} is missing from the card's "
                           "Credits", where)


def _check_review(rel: Release, cond, label: str, card_sha: str, report: GateReport) -> None:
    """A ``review_before_publication`` condition: the latest review of this card must approve it.

    Reviews are files under ``params.reviews_dir`` (``reviews/*.json``), not part of the
    consent record, so recording one leaves training's inputs untouched. A review with no
    ``artifact_sha256`` counts for any card; one that pins a hash counts only for that card.
    """
    from ..reviews import load_reviews, reviews_for

    folder = rel.root / rel.params.reviews_dir
    where = rel.params.reviews_dir.rstrip("/") + "/"
    record_id = rel.consent.record.id
    reviews = [r.record for r in reviews_for(load_reviews(folder), record_id, cond.id)]
    relevant = [r for r in reviews if r.artifact_sha256 in (None, card_sha)]
    if not reviews:
        report.add("condition", f"{label}: no review recorded; render the card (babyctl card "
                   f"{rel.substrate}), have it reviewed, and record the review as {where}<id>.json "
                   f"(consent_record {record_id!r}, condition {cond.id!r}, artifact_sha256 {card_sha})", where)
    elif not relevant:
        shas = ", ".join(sorted({r.artifact_sha256 or "" for r in reviews}))
        report.add("condition", f"{label}: the recorded review(s) are of a different card "
                   f"(sha256 {shas}); this card's sha256 is {card_sha}: a new review is needed", where)
    else:
        latest = max(relevant, key=lambda r: r.reviewed_at)
        if latest.outcome != "approved":
            report.add("condition", f"{label}: the latest review ({latest.id}: {latest.reviewer}, "
                       f"{latest.reviewed_at.isoformat()}) requested changes", where)


def check_tree(rel: Release, report: GateReport) -> None:
    git = git_state(rel.root)
    if git.commit is None:
        report.add("tree", "not a git repository with a commit: a release must tie to a commit", rel.root)
    elif git.dirty:
        report.add("tree", "the git work tree has uncommitted changes to tracked files; commit them first",
                   rel.root)
    if not (rel.root / "dvc.yaml").is_file():
        report.add("tree", "no dvc.yaml: the run was not produced by the pipeline", rel.root)
        return
    status = pipeline_status(rel.root)
    if status.error:
        report.add("tree", status.error, rel.root / "dvc.yaml")
    elif not status.clean:
        stages = ", ".join(status.changed_stages)
        report.add("tree", f"dvc status is not clean (changed: {stages}); run dvc repro and commit dvc.lock",
                   rel.root / "dvc.yaml")


def check_provenance(rel: Release, report: GateReport) -> None:
    p = rel.provenance
    prov_rel = rel.rel(rel.run_dir / PROVENANCE)
    for name, got, want in (("substrate", p.substrate, rel.substrate), ("condition", p.condition, rel.condition),
                            ("seed", p.seed, rel.seed)):
        if got != want:
            report.add("provenance", f"provenance {name} is {got!r}, the release is for {want!r}", prov_rel)
    if p.consent.id != rel.consent.record.id:
        report.add("provenance", f"trained under consent record {p.consent.id!r}, params names "
                   f"{rel.consent.record.id!r}", prov_rel)
    lock = load_lock(rel.root)
    if lock is None:
        report.add("tree", "no dvc.lock: the run cannot be tied to the pipeline's recorded outputs", rel.root)
    # the dataset
    ds = rel.root / p.dataset.path
    if not ds.is_file():
        report.add("provenance", f"dataset {p.dataset.path} recorded in provenance does not exist", prov_rel)
    else:
        if sha256_file(ds) != p.dataset.sha256:
            report.add("provenance", f"dataset {p.dataset.path} sha256 differs from provenance", prov_rel)
        ds_md5 = md5_file(ds)
        if p.dataset.md5 and p.dataset.md5 != ds_md5:
            report.add("provenance", f"dataset {p.dataset.path} md5 differs from provenance", prov_rel)
        if lock is not None:
            out, md5 = recorded_md5(lock, p.dataset.path)
            if out is None:
                report.add("provenance", f"dataset {p.dataset.path} is not an output in dvc.lock", "dvc.lock")
            elif md5 != ds_md5:
                report.add("provenance", f"dataset {p.dataset.path} does not match dvc.lock "
                           f"(stage {stage_of(out)}: {md5 or 'no readable record'}, file md5 {ds_md5})", "dvc.lock")
    # the adapter config must not carry the trainer's filesystem layout
    try:
        config = read_json(rel.adapter_config, "adapter config")
        base_ref = str((config if isinstance(config, dict) else {}).get("base_model_name_or_path") or "")
    except InputError as e:
        base_ref = ""
        report.add("provenance", f"adapter_config.json is not valid JSON ({e.message})", rel.rel(rel.adapter_config))
    if base_ref.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", base_ref):
        report.add("provenance", f"adapter_config.json names an absolute local path as its base model "
                   f"({base_ref!r}); train should record the Hub id or an experiment-relative path",
                   rel.rel(rel.adapter_config))
    # the adapter files and provenance.json
    recorded = {fh.path.rsplit("/", 1)[-1]: fh for fh in p.adapter_files}
    for path in (rel.weights, rel.adapter_config, rel.run_dir / PROVENANCE):
        relp = rel.rel(path)
        if path.name != PROVENANCE:
            fh = recorded.get(path.name)
            if fh is None:
                report.add("provenance", f"{relp} is not listed in provenance adapter_files", prov_rel)
            elif fh.sha256 != sha256_file(path):
                report.add("provenance", f"{relp} sha256 differs from provenance adapter_files", prov_rel)
        if lock is not None:
            out, md5 = recorded_md5(lock, relp)
            if out is None:
                report.add("provenance", f"{relp} is not an output in dvc.lock", "dvc.lock")
            elif md5 != md5_file(path):
                report.add("provenance", f"{relp} does not match dvc.lock (stage {stage_of(out)})", "dvc.lock")


def check_license(rel: Release, text: LicenseText, report: GateReport) -> None:
    params_rel = rel.params_path.name if rel.params_path else DEFAULT_PARAMS
    if rel.terms is None:
        from .licenses import KNOWN

        report.add("license", f"substrate {rel.substrate!r}: base license {rel.sub.license!r} is unknown to "
                   f"babyctl (known: {', '.join(sorted(KNOWN))})", params_rel)
        return
    violation = rel.terms.naming_violation(rel.repo_name)
    if violation:
        report.add("license", violation, params_rel)
    if text.is_placeholder:
        report.add("license-text", f"the full {rel.terms.title} text is not in the experiment: save it from "
                   f"{rel.terms.url} as licenses/{rel.terms.id}.txt (LICENSE would be a placeholder)",
                   f"licenses/{rel.terms.id}.txt")


def evaluate(rel: Release, card_text: str, license_text: LicenseText, *, check_state: bool = True) -> GateReport:
    """Run every gate; ``check_state=False`` skips git/dvc status (for ``babyctl card``)."""
    report = GateReport()
    check_consent(rel, card_text, report)
    if check_state:
        check_tree(rel, report)
    check_provenance(rel, report)
    check_license(rel, license_text, report)
    return report
