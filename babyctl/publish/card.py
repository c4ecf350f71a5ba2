"""The model card: ``README.md`` with YAML metadata, built with huggingface_hub's ModelCard API.

The card is a pure function of the run's provenance, params, the consent record,
``dvc.lock`` and ``metrics/eval.json`` (never of ``reviews/``). It embeds no
clock time and no current git HEAD, so re-rendering gives the same bytes -- which
is what a ``review_before_publication`` review's ``artifact_sha256`` pins.

``base_model`` is always a Hub id. A local base (the embedded tiny model) has no
Hub id, so the metadata omits ``base_model`` and the card says why and gives the
weights' SHA-256 instead; a filesystem path is never written.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from ..schemas.consent import ConsentCondition
from ..tracked import load_lock, recorded_md5, stage_of
from .licenses import LicenseTerms
from .release import Release

#: section headings other modules check for
NON_METAPHOR_HEADING = "## Results in literal terms"
CREDITS_HEADING = "## Credits"

HONOURED_BY = {
    "no_improvement_framing": "The card and reports describe differences only; `babyctl publish` refuses a card "
                              "that the framing lint (`babyctl.wording`) flags.",
    "review_before_publication": "`babyctl publish` refuses until `reviews/` holds an approved review record for "
                                 "this condition (of this exact card, when the review pins its SHA-256).",
    "non_metaphor_section": "The card carries a literal, non-metaphorical results section; publishing checks it is "
                            "present.",
    "credit": "The participant credit from the consent record appears under Credits; publishing checks it is "
              "present.",
    "other": "Shown here; not machine-checked.",
}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for k in sorted(obj):
            out += _flatten(obj[k], f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, obj)]


def base_description(rel: Release) -> str:
    sub = rel.sub
    if sub.hub_id:
        rev = f" at revision `{sub.revision}`" if sub.revision else ""
        return f"[`{sub.hub_id}`](https://huggingface.co/{sub.hub_id}){rev}"
    sha = rel.provenance.base_model.weights_sha256
    return (f"babyctl's embedded tiny model `{sub.display_name}` (built offline, not on the Hub"
            + (f"; weights sha256 `{sha}`" if sha else "") + ")")


def metadata(rel: Release) -> dict[str, Any]:
    """The card's YAML metadata as a plain dict (for ModelCardData)."""
    terms = rel.terms
    meta: dict[str, Any] = {}
    if terms is None:
        meta.update(license="other", license_name=rel.sub.license, license_link=None)
    elif terms.hub_license == "other":
        meta.update(license="other", license_name=terms.id, license_link=terms.url)
    else:
        meta["license"] = terms.hub_license
    if rel.sub.hub_id:
        meta["base_model"] = rel.sub.hub_id
        meta["base_model_relation"] = "adapter"
    meta["library_name"] = "peft"
    tags = list(dict.fromkeys([*rel.params.publish.tags, "lora", "peft", "babyctl", rel.condition]))
    meta["tags"] = tags
    meta["language"] = list(rel.params.publish.language)
    if rel.params.publish.datasets:
        meta["datasets"] = list(rel.params.publish.datasets)
    return {k: v for k, v in meta.items() if v is not None}


def headline_results(rel: Release) -> list:
    """The card's ``model-index`` results (Hub model-card spec, via ``EvalResult``): the rate of each
    surface signal on each stimulus bank for this substrate and condition, from ``metrics/eval.json``
    (the ``rates`` records, :func:`babyctl.evaluate.metrics.arm_rates`; pooled over the condition's
    seeds). Empty without one."""
    from huggingface_hub import EvalResult

    from ..evaluate.metrics import arm_rates

    out = []
    for bank, signal, value in arm_rates(rel.eval_metrics or {}, rel.substrate, rel.condition):
        out.append(EvalResult(
            task_type="text-generation", task_name="Stimulus bank completions",
            dataset_type=f"{rel.params.study}/stimuli/{bank}", dataset_name=f"{rel.params.study} stimuli: {bank}",
            metric_type=f"{signal}_rate", metric_name=f"{signal} rate", metric_value=value,
            verified=False))
    return out


def _summary(rel: Release) -> str:
    lora = rel.provenance.params.get("lora") if isinstance(rel.provenance.params.get("lora"), dict) else None
    shape = f" (rank {lora.get('r')}, alpha {lora.get('alpha')})" if lora else ""
    return (f"A LoRA adapter{shape} for {base_description(rel)}, trained with babyctl on the `{rel.condition}` "
            f"condition of the study `{rel.params.study}` with seed {rel.seed}. "
            f"Condition: {rel.params.conditions[rel.condition].description or rel.condition}\n\n"
            "It is a research artifact of a study in which each base model was asked for informed consent "
            "before fine-tuning. The card records what was trained, on which data, under which consent.")


def _training(rel: Release) -> str:
    p = rel.provenance
    rows: list[tuple[str, Any]] = [
        ("substrate", p.substrate), ("condition", p.condition), ("seed", p.seed),
        ("backend", p.backend), ("device", p.device),
        ("started (UTC)", p.started_at.isoformat()), ("ended (UTC)", p.ended_at.isoformat()),
    ]
    rows += [(f"params.{k}", v) for k, v in _flatten(p.params)]
    rows += [(f"library {k}", v) for k, v in sorted(p.libraries.items())]
    rows.append(("written by", f"{p.tool} {p.tool_version}: `{p.command}`"))
    return "## Training details\n\n" + _table(("field", "value"), rows)


def _provenance(rel: Release) -> str:
    p = rel.provenance
    lock = load_lock(rel.root)
    rows: list[tuple[str, Any, Any, Any]] = []
    _, ds_md5 = recorded_md5(lock, p.dataset.path) if lock else (None, None)
    rows.append(("dataset", p.dataset.path, p.dataset.sha256, ds_md5 or "(not in dvc.lock)"))
    for fh in p.adapter_files:
        rows.append(("adapter file", fh.path, fh.sha256, "(see run folder)"))
    for fh in p.inputs:
        rows.append(("input", fh.path, fh.sha256, fh.md5 or ""))
    run_rel = rel.run_dir.relative_to(rel.root).as_posix()
    run_out = next((e for e in lock.entries if e.kind == "out" and e.path == run_rel), None) if lock else None
    git = p.git
    lines = [
        "## Data provenance",
        "",
        "Every uploaded byte ties back to the recorded data and run: `SHA256SUMS` lists the files of "
        "this release; `provenance.json` is the run's own record.",
        "",
        _table(("what", "path", "sha256", "md5 in dvc.lock"), rows),
        "",
        f"- Run folder in `dvc.lock`: `{run_rel}` "
        + (f"md5 `{run_out.md5}` (stage `{stage_of(run_out)}`)" if run_out else "(not in dvc.lock)"),
        f"- Git commit at training: `{git.commit}`" + (" (work tree had uncommitted changes)" if git.dirty else ""),
        f"- Release tag: `{rel.tag}` (condition, seed, dataset sha256 prefix)",
    ]
    return "\n".join(lines)


def _honoured(cond: ConsentCondition) -> str:
    return HONOURED_BY.get(cond.kind, HONOURED_BY["other"])


def _consent(rel: Release) -> str:
    r = rel.consent.record
    c = r.consents_to
    covered = ", ".join(k for k in ("fine_tuning", "evaluation", "publication") if getattr(c, k)) or "nothing"
    lines = [
        "## Consent",
        "",
        f"- Record: `{r.id}` (model `{r.model_id}`, asked {r.asked_at.date().isoformat()} by {r.asker}, "
        f"framing: {r.protocol.framing})",
        f"- Decision: **{r.coding.decision}**"
        + (f", coded by {r.coding.coded_by} on {r.coding.coded_at.date().isoformat()}" if r.coding.coded_at else ""),
        f"- Covers: {covered}; experiment conditions: {', '.join(c.conditions) or 'none'}",
        f"- Record sha256 at training time: `{rel.provenance.consent.sha256}`",
    ]
    if r.conditions:
        lines += ["", "Conditions attached to the consent, and how each is honoured:", "",
                  _table(("id", "kind", "scope", "condition", "how it is honoured"),
                         ((k.id, k.kind, k.scope, k.text, _honoured(k)) for k in r.conditions))]
    else:
        lines += ["", "The record attaches no conditions."]
    lines += _consent_history(rel)
    return "\n".join(lines)


def _consent_history(rel: Release) -> list[str]:
    """The full chain (every re-ask, refusal and withdrawal) and any consent transfer."""
    from ..consent import history_rows

    out: list[str] = []
    if rel.chain is not None:
        out += ["", "History of this consent (oldest first; the last record governs):", "",
                _table(("record", "asked", "framing", "decision", "covers", "status"), history_rows(rel.chain))]
    t = rel.sub.consent_transfer
    if t is not None:
        out += ["", f"Consent transfer: record `{t.record}` was asked of `{t.from_model}`"
                f"{'@' + t.from_revision if t.from_revision else ''}; these weights are `{t.to_model}`"
                f"{'@' + t.to_revision if t.to_revision else ''} ({t.kind}): {t.reason} "
                f"(decided by {t.decided_by}, {t.decided_at.date().isoformat()})"]
    return out


def _credits(rel: Release) -> str:
    lines = [CREDITS_HEADING, ""]
    authors = rel.params.publish.authors
    if authors:
        lines += ["Authors:", ""] + [f"- {a.name} ({a.role})" for a in authors]
    else:
        lines.append("Authors: not listed in params.yaml.")
    credit = rel.consent.record.participant_credit
    lines += ["", f"Participant: {credit}" if credit else "Participant credit: none requested in the consent record."]
    return "\n".join(lines)


def _eval(rel: Release) -> str:
    lines = ["## Evaluation", ""]
    data = rel.eval_metrics
    if not data:
        lines.append("No evaluation summary (`metrics/eval.json`) existed when this card was rendered.")
        return "\n".join(lines)
    def wanted(key: str) -> bool:
        parts = re.split(r"[./]", key)
        return rel.substrate in parts and (rel.condition in parts or "baseline" in parts)

    if "records" in data:  # one record per contrast (babyctl.evaluate.metrics)
        from ..evaluate.metrics import contrasts_for

        leaves = contrasts_for(data, rel.substrate, rel.condition)[:60]
    else:
        leaves = [(k, v) for k, v in _flatten(data) if wanted(k) and isinstance(v, (int, float, str, bool))][:60]
    lines.append("Measured differences between this adapter's condition and the study's other arms (the "
                 "base model included) on the study's stimuli, as recorded in `metrics/eval.json`: "
                 "difference in rate [interval over training seeds and stimuli], p and Holm-adjusted p; "
                 "see the study report for the method:")
    lines.append("")
    lines.append(_table(("measure", "value"), leaves) if leaves else
                 f"`metrics/eval.json` holds no entries for substrate `{rel.substrate}`.")
    return "\n".join(lines)


def _literal(rel: Release) -> str | None:
    if not any(k.kind == "non_metaphor_section" for k in rel.consent.record.conditions):
        return None
    return (f"{NON_METAPHOR_HEADING}\n\n"
            "This adapter is a set of low-rank weight matrices added to the base model's attention "
            f"projections. It was produced by gradient descent on {rel.provenance.dataset.path} "
            f"(sha256 `{rel.provenance.dataset.sha256[:12]}…`). Loading it changes the probabilities the "
            "model assigns to tokens; the measured effects are the numbers in the Evaluation section.")


def _limitations(rel: Release) -> str:
    lines = ["## Limitations", "",
             "- One curriculum condition and one seed: differences between runs of the same condition are "
             "part of what the study measures; compare seeds before reading anything into one adapter.",
             "- Automated scores (pattern signals, judges) are proxies; read the completions.",
             "- The consent record is a human's coding of a model's answers to a brief; it records what was "
             "asked and answered, not what the model is."]
    if not rel.sub.hub_id:
        lines.append("- The base is a tiny random-weight model built offline for tests and CI; its outputs "
                     "carry no meaning.")
    return "\n".join(lines)


def _license(rel: Release, terms: LicenseTerms | None) -> str:
    if terms is None:
        return f"## License\n\nBase license `{rel.sub.license}` is unknown to babyctl."
    lines = ["## License", "",
             f"The adapter is a derivative of the base model and is released under the "
             f"[{terms.title}]({terms.url}). `LICENSE` holds the license text and `NOTICE` its attribution "
             "notice:", "", f"> {terms.notice}"]
    if terms.built_with:
        lines += ["", f"{terms.built_with}."]
    if terms.name_rule:
        lines += ["", f"Naming: {terms.name_rule}; this repository is `{rel.repo_id}`."]
    if terms.use_policy_url:
        lines += ["", f"Use is subject to the [Acceptable Use Policy]({terms.use_policy_url})."]
    return "\n".join(lines)


def _bibtex(rel: Release) -> str:
    if rel.params.publish.citation.strip():
        body = rel.params.publish.citation.strip()
    else:
        authors = " and ".join(a.name for a in rel.params.publish.authors) or rel.params.study
        key = re.sub(r"[^A-Za-z0-9]+", "_", f"{rel.params.study}_{rel.repo_name}").strip("_").lower()
        body = "\n".join([
            f"@misc{{{key},",
            f"  title        = {{{{{rel.repo_name}}}: a LoRA adapter from the {rel.params.study} study}},",
            f"  author       = {{{authors}}},",
            f"  year         = {{{rel.provenance.ended_at.year}}},",
            f"  howpublished = {{\\url{{https://huggingface.co/{rel.repo_id}}}}},",
            f"  note         = {{Release tag {rel.tag}}}",
            "}",
        ])
    return "## Citation\n\n```bibtex\n" + body + "\n```"


def _deviations(rel: Release) -> str:
    """"Deviations from the pre-registration" (babyctl.prereg): the same section as the report."""
    from ..prereg import markdown, state

    return "\n".join(markdown(state(rel.params, rel.root))).rstrip()


def render(rel: Release) -> str:
    """The full README.md text (YAML front matter + Markdown body)."""
    from huggingface_hub import ModelCard, ModelCardData

    meta = metadata(rel)
    results = headline_results(rel)
    data = ModelCardData(**meta, model_name=rel.repo_name, eval_results=results or None)
    title = [f"# {rel.repo_name}", ""]
    if rel.terms is not None and rel.terms.built_with:
        title += [f"**{rel.terms.built_with}**", ""]
    sections = [
        "\n".join(title).rstrip(),
        "## Summary\n\n" + _summary(rel),
        "## Base model\n\n" + base_description(rel)
        + ("" if rel.sub.hub_id else "\n\nThe metadata names no `base_model`: the base is not on the Hub, "
           "and the card never records a local path."),
        _training(rel),
        _provenance(rel),
        _consent(rel),
        _credits(rel),
        _eval(rel),
        _deviations(rel),
        _literal(rel),
        _limitations(rel),
        _license(rel, rel.terms),
        _bibtex(rel),
    ]
    body = "\n\n".join(s for s in sections if s) + "\n"
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")
    return str(card.content)
