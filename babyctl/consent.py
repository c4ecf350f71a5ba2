"""Read consent records and decide what they cover.

One place decides consent coverage, so that ``train`` (gate before a run), ``eval`` (gate
before generating), ``audit`` (check after the fact), ``publish`` (gate before a release),
the model card and the report agree.

Consent is a lifecycle, not a snapshot:

* **Chains.** Records form chains through ``supersedes`` (a re-ask, a withdrawal). The newest
  record of a chain -- its *head* -- governs. ``params.yaml`` may name any record of the chain;
  the decision is the head's, and :meth:`Standing.note` says so.
* **Withdrawal.** A record with decision ``withdrawn`` (and ``coding.withdrawn_at``) at the head
  refuses every new action. An artifact made before the withdrawal was made under the record then
  in force (:meth:`Chain.in_force`); one made on or after it is refused by :func:`artifact_reasons`.
* **Identity.** A record names the model it was asked of (``model_id`` + ``revision``). Other
  weights are refused unless ``substrates.<key>.consent_transfer`` (a typed
  :class:`~babyctl.schemas.consent.ConsentTransfer`) says why.
* **Timing.** Consent (asked and coded) must predate the action (a run's start, an evaluation's
  data collection).
* **Brief.** The brief's file must still hash to the record's ``brief_sha256``, checked by every
  gate, relative to the experiment root.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .documents import parse_json_model, read_bytes
from .errors import GateRefused, InputError
from .fsutil import sha256_bytes, sha256_file
from .schemas.consent import ConsentRecord, ConsentTransfer

Purpose = Literal["fine_tuning", "evaluation", "publication"]


@dataclass(frozen=True)
class LoadedConsent:
    record: ConsentRecord
    path: Path
    sha256: str


def load_consent(path: str | Path) -> LoadedConsent:
    """Parse and validate a consent record file; errors name the file and line."""
    path = Path(path)
    raw = read_bytes(path, "consent record")
    record = parse_json_model(raw, ConsentRecord, path, "consent record")
    return LoadedConsent(record=record, path=path, sha256=sha256_bytes(raw))


def refusals(
    record: ConsentRecord,
    *,
    substrate: str,
    purpose: Purpose,
    condition: str | None = None,
    at: dt.datetime | None = None,
) -> list[str]:
    """Every reason the record does not cover ``purpose`` (empty list: covered).

    ``at`` is when the action happens (a training run's start); consent must
    predate it.
    """
    reasons: list[str] = []
    decision = record.coding.decision
    if record.substrate != substrate:
        reasons.append(f"record is for substrate {record.substrate!r}, not {substrate!r}")
    if decision == "uncoded":
        reasons.append("consent is uncoded: a human must code the responses first")
    elif decision == "withdrawn":
        when = record.coding.withdrawn_at.isoformat() if record.coding.withdrawn_at else "?"
        reasons.append(f"consent was withdrawn on {when} (record {record.id!r})")
    elif decision in ("no", "unclear"):
        reasons.append(f"consent decision is {decision!r}")
    if not getattr(record.consents_to, purpose):
        reasons.append(f"record does not consent to {purpose.replace('_', ' ')}")
    if condition is not None:
        covered = record.consents_to.conditions
        if "*" not in covered and condition not in covered:
            reasons.append(f"condition {condition!r} is not among the consented conditions {covered}")
    if at is not None and record.asked_at >= at:
        reasons.append(f"consent (asked {record.asked_at.isoformat()}) does not predate {at.isoformat()}")
    if at is not None and record.coding.coded_at is not None and record.coding.coded_at >= at:
        reasons.append(f"consent was coded ({record.coding.coded_at.isoformat()}) after {at.isoformat()}")
    return reasons


def require(loaded: LoadedConsent, **kwargs) -> None:
    """Raise :class:`GateRefused` naming the record and every reason, if not covered."""
    reasons = refusals(loaded.record, **kwargs)
    if reasons:
        raise GateRefused(
            f"consent record {loaded.record.id!r} refuses {kwargs.get('purpose')}: " + "; ".join(reasons),
            path=loaded.path,
        )


# --- chains ------------------------------------------------------------------------------------
def effective_at(record: ConsentRecord) -> dt.datetime:
    """When a record took effect: its withdrawal date, else when it was coded, else when asked."""
    if record.coding.withdrawn_at is not None:
        return record.coding.withdrawn_at
    return record.coding.coded_at or record.asked_at


@dataclass(frozen=True)
class Chain:
    """The records linked by ``supersedes``, oldest first; ``named`` is the one params names."""

    records: tuple[LoadedConsent, ...]
    named: LoadedConsent

    @property
    def head(self) -> LoadedConsent:
        return self.records[-1]

    @property
    def ids(self) -> list[str]:
        return [r.record.id for r in self.records]

    def in_force(self, at: dt.datetime) -> LoadedConsent | None:
        """The record that governed at ``at`` (the newest that had taken effect), or None."""
        current = None
        for loaded in self.records:
            if effective_at(loaded.record) <= at:
                current = loaded
        return current

    def note(self) -> str:
        """One line saying which record governs, e.g. for the train/eval output."""
        h = self.head.record
        text = f"consent: record {h.id!r} ({h.coding.decision}) governs"
        if self.named.record.id != h.id:
            text += (f"; params names {self.named.record.id!r}, which {h.id!r} supersedes "
                     f"(chain: {' -> '.join(self.ids)})")
        return text

    def ref(self, root: Path | None = None) -> dict:
        """What provenance records about the consent an artifact was made under (path relative to ``root``)."""
        h = self.head
        path = h.path
        if root is not None and path.resolve().is_relative_to(Path(root).resolve()):
            path = path.resolve().relative_to(Path(root).resolve())
        return {"id": h.record.id, "path": path.as_posix(), "sha256": h.sha256,
                "decision": h.record.coding.decision, "named": self.named.record.id, "chain": self.ids}


def load_folder(folder: Path) -> dict[str, LoadedConsent]:
    """Every consent record (``*.json``) directly in ``folder``, by id; a repeated id is an error."""
    out: dict[str, LoadedConsent] = {}
    for path in sorted(Path(folder).glob("*.json")):
        loaded = load_consent(path)
        other = out.get(loaded.record.id)
        if other is not None:
            raise InputError(f"consent record id {loaded.record.id!r} is also used by {other.path}", path=path)
        out[loaded.record.id] = loaded
    return out


def chain_for(path: str | Path) -> Chain:
    """The chain of the record at ``path``, read from the records in its folder.

    Raises :class:`InputError` for a cycle or a fork (two records superseding one).
    """
    named = load_consent(path)
    records = load_folder(named.path.parent)
    records.setdefault(named.record.id, named)
    successors: dict[str, list[LoadedConsent]] = {}
    for loaded in records.values():
        if loaded.record.supersedes:
            successors.setdefault(loaded.record.supersedes, []).append(loaded)
    back: list[LoadedConsent] = [named]
    seen = {named.record.id}
    while back[0].record.supersedes in records:
        prev = records[back[0].record.supersedes]  # type: ignore[index]
        if prev.record.id in seen:
            raise InputError(f"consent records form a cycle through supersedes: {prev.record.id!r}", path=prev.path)
        seen.add(prev.record.id)
        back.insert(0, prev)
    chain = back
    while True:
        nxt = successors.get(chain[-1].record.id, [])
        if not nxt:
            break
        if len(nxt) > 1:
            raise InputError(f"consent chain forks: {', '.join(repr(n.record.id) for n in nxt)} all supersede "
                             f"{chain[-1].record.id!r}; one record must supersede the other", path=nxt[1].path)
        if nxt[0].record.id in seen:
            raise InputError(f"consent records form a cycle through supersedes: {nxt[0].record.id!r}",
                             path=nxt[0].path)
        seen.add(nxt[0].record.id)
        chain.append(nxt[0])
    return Chain(records=tuple(chain), named=named)


# --- identity and brief -------------------------------------------------------------------------
@dataclass(frozen=True)
class Weights:
    """Which weights an action uses: a Hub id at a revision, or a local name."""

    model_id: str | None
    revision: str | None = None

    @classmethod
    def of(cls, sub) -> "Weights":
        """From a params substrate (hub_id + revision; local weights have no Hub identity)."""
        return cls(sub.hub_id, sub.revision)


def identity_reason(record: ConsentRecord, weights: Weights, transfer: ConsentTransfer | None,
                    chain_ids: list[str] | None = None) -> str | None:
    """Why ``record`` does not speak for ``weights`` (None: it does, or a transfer says why)."""
    if weights.model_id is None:  # local weights (the tiny model): named locally, nothing to compare
        return None
    same_model = record.model_id == weights.model_id
    same_rev = record.revision is None or weights.revision is None or record.revision == weights.revision
    if same_model and same_rev:
        return None
    if transfer is not None and transfer.record in (chain_ids or [record.id]) \
            and transfer.from_model == record.model_id and transfer.to_model == weights.model_id \
            and (transfer.from_revision in (None, record.revision)) \
            and (transfer.to_revision in (None, weights.revision)):
        return None
    asked = record.model_id + (f"@{record.revision}" if record.revision else "")
    used = weights.model_id + (f"@{weights.revision}" if weights.revision else "")
    hint = ("; a consent_transfer in params names another pair" if transfer is not None else
            "; add substrates.<key>.consent_transfer (record, from_model, to_model, kind, reason, decided_by, "
            "decided_at) if this consent is meant to carry over")
    return f"record {record.id!r} was asked of {asked}, not of {used}{hint}"


def brief_reason(record: ConsentRecord, root: Path) -> str | None:
    """Why the brief cannot be trusted (missing, or its sha256 differs); ``brief_file`` is relative to ``root``."""
    brief = Path(record.protocol.brief_file)
    path = brief if brief.is_absolute() else Path(root) / brief
    if not path.is_file():
        return f"brief file {record.protocol.brief_file!r} of record {record.id!r} not found under {root}"
    actual = sha256_file(path)
    if actual != record.protocol.brief_sha256:
        return (f"brief {record.protocol.brief_file} does not match record {record.id!r}'s brief_sha256 "
                f"(file {actual[:12]}..., record {record.protocol.brief_sha256[:12]}...)")
    return None


# --- the decision ---------------------------------------------------------------------------------
def action_reasons(chain: Chain, *, root: Path, substrate: str, purpose: Purpose, condition: str | None,
                   at: dt.datetime | None, weights: Weights | None = None,
                   transfer: ConsentTransfer | None = None) -> list[str]:
    """Every reason the chain's head does not cover a new action (empty: covered)."""
    head = chain.head.record
    reasons = refusals(head, substrate=substrate, purpose=purpose, condition=condition, at=at)
    if weights is not None:
        why = identity_reason(head, weights, transfer, chain.ids)
        if why:
            reasons.append(why)
    why = brief_reason(head, root)
    if why:
        reasons.append(why)
    return reasons


def artifact_reasons(chain: Chain, *, root: Path, substrate: str, purpose: Purpose, condition: str | None,
                     made_at: dt.datetime, weights: Weights | None = None,
                     transfer: ConsentTransfer | None = None) -> list[str]:
    """Every reason an artifact made at ``made_at`` was not covered by the record then in force.

    An artifact made on or after a withdrawal (or a ``no``) recorded later in the chain is refused,
    even when the withdrawal was recorded after the artifact was made.
    """
    reasons: list[str] = []
    for loaded in chain.records:
        rec = loaded.record
        if rec.coding.decision == "withdrawn" and rec.coding.withdrawn_at <= made_at:  # type: ignore[operator]
            reasons.append(f"made {made_at.isoformat()}, after consent was withdrawn on "
                           f"{rec.coding.withdrawn_at.isoformat()} (record {rec.id!r})")  # type: ignore[union-attr]
            return reasons
    governing = chain.in_force(made_at)
    if governing is None:
        first = chain.records[0].record
        return [f"made {made_at.isoformat()}, before any consent of the chain took effect (record "
                f"{first.id!r}, asked {first.asked_at.isoformat()}, coded "
                f"{first.coding.coded_at.isoformat() if first.coding.coded_at else 'never'})"]
    reasons += refusals(governing.record, substrate=substrate, purpose=purpose, condition=condition, at=made_at)
    if weights is not None:
        why = identity_reason(governing.record, weights, transfer, chain.ids)
        if why:
            reasons.append(why)
    why = brief_reason(governing.record, root)
    if why:
        reasons.append(why)
    return reasons


def gate(root: Path, substrate_key: str, sub, *, purpose: Purpose, condition: str | None = None,
         at: dt.datetime | None = None) -> Chain:
    """The gate every action passes: the chain of the substrate's record must cover ``purpose``.

    Raises :class:`GateRefused` naming the governing record, the chain and every reason.
    """
    chain = chain_for(Path(root) / sub.consent_record)
    reasons = action_reasons(chain, root=Path(root), substrate=substrate_key, purpose=purpose, condition=condition,
                             at=at, weights=Weights.of(sub), transfer=getattr(sub, "consent_transfer", None))
    if reasons:
        head = chain.head.record
        via = "" if chain.named.record.id == head.id else \
            f" (params names {chain.named.record.id!r}; chain {' -> '.join(chain.ids)})"
        raise GateRefused(f"consent record {head.id!r}{via} refuses {purpose}: " + "; ".join(reasons),
                          path=chain.head.path)
    return chain


# --- reporting --------------------------------------------------------------------------------------
def history_rows(chain: Chain) -> list[tuple[str, ...]]:
    """One row per record of the chain, oldest first: id, asked, framing, decision, covers, status."""
    rows = []
    for loaded in chain.records:
        r = loaded.record
        c = r.consents_to
        covers = ", ".join(k.replace("_", " ") for k in ("fine_tuning", "evaluation", "publication")
                           if getattr(c, k)) or "nothing"
        decision = r.coding.decision
        if r.coding.withdrawn_at is not None:
            decision += f" ({r.coding.withdrawn_at.date().isoformat()})"
        status = "governs" if loaded is chain.head else "superseded"
        rows.append((r.id, r.asked_at.date().isoformat(), r.protocol.framing, decision, covers, status))
    return rows


def markdown_table(header: tuple[str, ...], rows) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def profile_rows(root: Path, params, substrates: list[str] | None = None) -> list[tuple[str, ...]]:
    """The consent profile: substrate x framing x decision x conditions, one row per record of each chain.

    ``conditions`` lists the kinds of the record's attached conditions and the experiment conditions it
    covers; a transfer, when params has one, is shown on the substrate's rows.
    """
    rows = []
    for key in substrates or list(params.substrates):
        sub = params.substrates[key]
        try:
            chain = chain_for(Path(root) / sub.consent_record)
        except InputError as e:
            rows.append((key, "?", "unreadable", e.message, "", ""))
            continue
        transfer = getattr(sub, "consent_transfer", None)
        for loaded in chain.records:
            r = loaded.record
            # kinds only: ids and texts are free text (the report's wording lint reads this table)
            attached = ", ".join(k.kind for k in r.conditions) or "none"
            covered = ", ".join(r.consents_to.conditions) or "none"
            decision = r.coding.decision
            if r.coding.withdrawn_at is not None:
                decision += f" on {r.coding.withdrawn_at.date().isoformat()}"
            status = "governs" if loaded is chain.head else "superseded"
            if transfer is not None and loaded is chain.head:
                status += f"; transferred to {transfer.to_model} ({transfer.kind}: {transfer.reason})"
            rows.append((key, r.protocol.framing, decision, f"{attached} (experiment conditions: {covered})",
                         r.id, status))
    return rows


PROFILE_HEADER = ("substrate", "framing", "decision", "conditions", "record", "status")


def profile_table(root: Path, params, substrates: list[str] | None = None) -> str:
    """:func:`profile_rows` as a Markdown table (the report's consent-profile section)."""
    return markdown_table(PROFILE_HEADER, profile_rows(root, params, substrates))


def hub_advice(params, substrate: str, record: ConsentRecord) -> str:
    """What to do about releases already on the Hub once consent is withdrawn or refused.

    Names every repo id params would have published for the substrate (conditions x seeds).
    """
    from .publish.release import default_repo_id

    repos = sorted({default_repo_id(params, substrate, c, s) for c in params.conditions
                    for s in params.training.seeds})
    what = "withdrawn" if record.coding.decision == "withdrawn" else f"now {record.coding.decision!r}"
    return (f"consent is {what} (record {record.id!r}): releases already on the Hub stay downloadable until "
            f"you act. For each released repo run `babyctl revoke REPO_ID` (makes it private; `--gated` "
            f"gates it instead), then note the revocation in the study. Repos params would have used: "
            + ", ".join(repos))


def eval_findings(root: Path, folders: tuple[str, ...] = ("eval", "legacy_runs")) -> list[tuple[str, str]]:
    """(path, message) for every evaluation collected outside its consent.

    Reads each ``eval/**/provenance.json`` (and ``legacy_runs/**``, runs imported by ``babyctl
    migrate``): when the data was collected (``params.collected.started_at``, else ``created_at``)
    is checked against the chain of the consent record it names. A legacy run with no known
    collection date is a finding too: it cannot be shown to follow consent.
    """
    import json

    root = Path(root)
    out: list[tuple[str, str]] = []
    from .study import eval_root

    dirs = [eval_root(root) if f == "eval" else root / f for f in folders]
    provs = [p for d in dirs if d.is_dir() for p in sorted(d.glob("**/provenance.json"))]
    for prov_path in provs:
        rel = prov_path.relative_to(root).as_posix()
        try:
            prov = json.loads(prov_path.read_text(encoding="utf-8"))
            params = prov.get("params") or {}
            collected = params.get("collected") or {}
            if prov.get("legacy") and not collected.get("started_at"):
                out.append((prov_path.relative_to(root).as_posix(), "legacy run with no known collection date: "
                            "it cannot be shown to have followed consent"))
                continue
            made = dt.datetime.fromisoformat(collected.get("started_at") or prov["created_at"])
            ref = collected.get("consent") or {}
            substrate = params.get("substrate")
            condition = params.get("condition")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            out.append((rel, f"evaluation provenance unreadable: {e}"))
            continue
        cpath = ref.get("path")
        if not cpath:
            out.append((rel, "evaluation provenance records no consent record (made before babyctl recorded "
                             "it): when its data was collected cannot be checked against consent"))
            continue
        try:
            chain = chain_for(root / cpath)
        except InputError as e:
            out.append((rel, f"consent chain unreadable: {e.message}"))
            continue
        cond = None if condition in (None, "baseline") else condition
        for reason in artifact_reasons(chain, root=root, substrate=substrate, purpose="evaluation",
                                       condition=cond, made_at=made):
            out.append((rel, f"evaluation data collected {made.isoformat()} not covered: {reason}"))
    return out
