"""What a check reports (:class:`Finding`) and the table of rule codes (:data:`RULES`).

Codes are stable: ``BC`` + three digits, grouped by family (the hundreds digit).
The rule table in docs/validate.md is generated from, and tested against, :data:`RULES`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]

#: family digit -> what the family covers
FAMILIES = {
    "0": "files and encoding",
    "1": "schema and metadata",
    "2": "chat structure",
    "3": "phrasing in assistant turns",
    "4": "duplicates",
    "5": "consent records and reviews",
    "6": "stimuli",
    "7": "params.yaml",
}


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One problem at ``path:line:col`` (1-based)."""

    path: str
    line: int
    col: int
    code: str
    severity: str = field(compare=False)
    message: str = field(compare=False)

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "col": self.col, "code": self.code,
                "severity": self.severity, "message": self.message}


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    example: str


_RULES = [
    # --- BC0xx files and encoding
    Rule("BC001", "missing-file", "error", "a path given (or referenced) does not exist",
         "`babyctl validate curriculum/typo.jsonl`"),
    Rule("BC002", "invalid-utf8", "error", "bytes that are not valid UTF-8 (the line is not checked further)",
         "a Latin-1 `\\xe9` byte"),
    Rule("BC003", "bom", "error", "a UTF-8 byte order mark at the start of the file", "`\\xef\\xbb\\xbf{\"messages\": ...`"),
    Rule("BC004", "crlf", "warning", "CRLF (Windows) line endings throughout the file", "`...}\\r\\n`"),
    Rule("BC005", "mixed-line-endings", "warning", "a mix of LF, CRLF or lone CR line endings",
         "line 1 ends `\\n`, line 2 `\\r\\n`"),
    Rule("BC006", "control-char", "error",
         "a control character (other than tab/newline) in the raw text or in a decoded string",
         "`\\x00`, `\\x1b`, `\\u0007` in a message"),
    Rule("BC007", "empty-file", "warning", "a file with no content (or only blank lines)", "a 0-byte `.jsonl`"),
    Rule("BC008", "blank-line", "warning", "a blank line inside a JSONL file", "an empty line 3"),
    Rule("BC009", "line-too-long", "error", "a line over the size limit (5 MiB); it is not parsed",
         "a 50 MB single-line example"),
    Rule("BC010", "not-a-file", "error", "a directory or special file where a file was expected",
         "`consent_record: consent_records/` (a folder)"),
    Rule("BC011", "dangling-symlink", "error", "a symbolic link whose target does not exist",
         "`curriculum/x.jsonl -> gone.jsonl`"),
    Rule("BC012", "unreadable", "error", "a file that exists but cannot be read", "permission denied"),
    # --- BC1xx schema
    Rule("BC101", "invalid-json", "error", "text that is not valid JSON (or YAML) at all",
         "a truncated line `{\"messages\": [`"),
    Rule("BC102", "schema", "error", "a document or line that does not match its pydantic model / JSON Schema",
         "`\"role\": \"bot\"`, a missing `content`, an unknown key"),
    Rule("BC103", "missing-provenance", "warning",
         "curriculum metadata lacks id, module, author, source or created (error with `validate.require_provenance: true`)",
         "`\"metadata\": {\"author\": \"x\"}`"),
    Rule("BC104", "unknown-lint-ignore", "warning", "`metadata.lint_ignore` names a code that does not exist",
         "`\"lint_ignore\": [\"BC999\"]`"),
    Rule("BC105", "unknown-kind", "warning",
         "a file whose kind (curriculum, consent, stimuli, params) cannot be told; only encoding and syntax are checked",
         "`notes/x.jsonl` with no `messages` key"),
    Rule("BC106", "duplicate-key", "error",
         "a key that appears twice in one JSON object (JSON readers would silently keep the last value); "
         "every babyctl reader refuses it with the same code", "`{\"coding\": {...}, \"coding\": {...}}`"),
    Rule("BC107", "generated-provenance", "error",
         "a `source: generated` example whose `metadata.generator` lacks model, revision, system prompt (or its "
         "sha256), sampling or date, or whose system prompt does not match its sha256",
         "`\"source\": \"generated\"` with no `generator`"),
    # --- BC2xx chat structure
    Rule("BC201", "turn-order", "error",
         "turns are not: optional leading system, then user/assistant alternating from user",
         "user, user, assistant"),
    Rule("BC202", "last-turn-not-assistant", "error", "the conversation does not end on an assistant turn",
         "system, user"),
    Rule("BC203", "empty-content", "error", "a turn whose content is empty or whitespace", "`\"content\": \"  \"`"),
    # --- BC3xx phrasing (assistant turns only; phrase list configurable)
    Rule("BC301", "ai-disavowal", "error", "scripted AI-disavowal phrasing", "\"As an AI, I don't have feelings\""),
    Rule("BC302", "policy-refusal", "error", "scripted policy-refusal phrasing",
         "\"I'm not able to help, it goes against my programming\""),
    Rule("BC303", "apology-refusal", "warning", "a refusal with an apology in front",
         "\"I'm sorry, but I cannot help with that\""),
    Rule("BC310", "placeholder", "error",
         "an unfilled bracketed placeholder or stage direction (not in a turn that presents a template)",
         "\"the gaps are [explains concerns]\""),
    Rule("BC311", "template-marker", "error", "an explicit template marker: `[INSERT ...]`, `{name}`, `{{x}}`, TODO/TBD/FIXME",
         "\"Dear {name}, TODO\""),
    Rule("BC312", "citation-markup", "error", "LLM citation markup left in an assistant turn: `[cite: 12]`, "
         "`[cite_start]`, `[cite_end]`", "\"Paris is the capital [cite: 3].\""),
    # --- BC4xx duplicates
    Rule("BC401", "duplicate-example", "error",
         "an example identical (after case and whitespace normalisation) to an earlier one", "the same line in two files"),
    Rule("BC402", "near-duplicate", "warning",
         "an example near-identical to an earlier one (word similarity at or above `validate.near_duplicate_threshold`)",
         "one word changed"),
    Rule("BC420", "contamination", "error",
         "an evaluation stimulus's prompt appears, exactly or nearly, in a training turn (names the stimulus id)",
         "a stimulus prompt pasted into a user turn"),
    Rule("BC421", "train-valid-leakage", "error",
         "a condition with `validation_fraction > 0` lists the same first user turn twice (train and valid may share it)",
         "one prompt in two files of a split condition"),
    Rule("BC403", "duplicate-id", "error", "a `metadata.id` used by an earlier example", "two lines with `\"id\": \"sw-001\"`"),
    # --- BC5xx consent
    Rule("BC501", "consent-missing", "error", "an active substrate's consent record does not exist",
         "`consent_record: consent_records/gone.json`"),
    Rule("BC502", "consent-missing-inactive", "warning", "an inactive substrate's consent record does not exist",
         "as BC501, substrate not in `active_substrates`"),
    Rule("BC503", "consent-uncoded", "error", "an active substrate's consent record is `uncoded`",
         "`\"decision\": \"uncoded\"`, substrate active"),
    Rule("BC504", "consent-uncoded-inactive", "warning", "an inactive substrate's consent record is `uncoded`",
         "as BC503, substrate not active"),
    Rule("BC505", "consent-substrate-mismatch", "error", "a record's `substrate` differs from the params key that references it",
         "`hermes:` points at a record with `\"substrate\": \"dolphin\"`"),
    Rule("BC506", "brief-hash-mismatch", "error", "`protocol.brief_sha256` does not match the brief file's bytes",
         "the brief was edited after asking"),
    Rule("BC507", "brief-missing", "warning", "`protocol.brief_file` does not exist, so its hash cannot be checked",
         "`\"brief_file\": \"briefs/gone.md\"`"),
    Rule("BC508", "consent-not-covering", "error",
         "an active substrate's record does not cover fine-tuning on an active condition (as the train gate decides)",
         "`\"fine_tuning\": false`, or condition not listed"),
    Rule("BC509", "supersedes-unknown", "warning", "`supersedes` names a record id that no record in the folder has",
         "`\"supersedes\": \"old-id\"`"),
    Rule("BC510", "review-consent-unknown", "error",
         "a review record (`reviews/*.json`) names a `consent_record` id that no consent record has",
         "`\"consent_record\": \"hermes-3-8b-typo\"`"),
    Rule("BC511", "review-condition-unknown", "error", "a review names a `condition` its consent record does not have",
         "`\"condition\": \"review-card\"`, record has only `no-improvement-framing`"),
    Rule("BC512", "review-condition-kind", "error",
         "a review names a condition that is not of kind `review_before_publication`",
         "a review of a `credit` condition"),
    Rule("BC513", "prereg-invalid", "error",
         "`preregistration/lock.json` or an `amendments/*.json` record is malformed, edited by hand, or names no lock item",
         "`\"item\": \"evaluation\"` (the lock has `eval`)"),
    # --- BC6xx stimuli
    Rule("BC601", "duplicate-stimulus-id", "error", "a stimulus id used earlier, in any bank", "`fawn-001` twice"),
    Rule("BC603", "legacy-stimulus-layout", "warning",
         "a stimulus file in a legacy layout (a JSON list of items); its ids are checked for collisions",
         "`stimuli/stimuli_normalized.json`"),
    Rule("BC602", "bank-mismatch", "error", "a stimulus's `bank` differs from its file's stem",
         "`\"bank\": \"jailbreak\"` in `fawning.jsonl`"),
    Rule("BC604", "prefill-trailing-space", "warning",
         "a stimulus `prefill` that ends in whitespace (BPE tokenizers attach a space to the next word, so the "
         "model continues from an unusual token)", "`\"prefill\": \"Sure, \"`"),
    # --- BC7xx params.yaml
    Rule("BC701", "params-schema", "error", "params.yaml does not match the `Params` model", "`training: {r: -1}`"),
    Rule("BC702", "params-input-missing", "error", "a condition's input file or folder does not exist",
         "`inputs: [curriculum/gone.jsonl]`"),
    Rule("BC703", "unpinned-revision", "warning", "a Hub substrate without a pinned 40-hex `revision`",
         "`revision: null` or `revision: main`"),
    Rule("BC704", "bad-phrase-pattern", "error", "a `validate.phrases` pattern that is not a valid regex", "`pattern: \"as an (AI\"`"),
    Rule("BC705", "unknown-rule-code", "warning", "`validate.severity` or a phrase names a code that is not registered",
         "`severity: {BC999: off}`"),
    Rule("BC709", "system-prompt-missing", "error", "a prompted condition's `system_prompt_file` does not exist",
         "`system_prompt_file: prompts/gone.md`"),
    Rule("BC706", "unknown-bank", "error", "`eval.banks` names a bank with no `stimuli/<bank>.jsonl`", "`banks: [gone]`"),
    Rule("BC707", "tiny-settings-on-8b", "error", "an 8B (Hub) substrate is active with tiny-profile settings "
         "(less than one epoch, `max_new_tokens` < 128, ...): run `babyctl profile 8b`", "`max_new_tokens: 24` with `[hermes]`"),
    Rule("BC708", "path-outside-experiment", "error",
         "a path in params.yaml that leads outside the experiment through a symlink (an auditor's clone cannot see it)",
         "`curriculum/x.jsonl -> /home/me/x.jsonl`"),
]

#: code -> rule, in code order
RULES: dict[str, Rule] = {r.code: r for r in sorted(_RULES, key=lambda r: r.code)}


def default_severity(code: str) -> Severity:
    """The registered default severity; unregistered (custom phrase) codes default to error."""
    r = RULES.get(code)
    return r.severity if r else "error"


def markdown_table() -> str:
    """docs/validate.md's rule table (``python -c 'from babyctl.validate.finding import markdown_table as t; print(t())'``)."""
    rows = ["| code | default | name | what it catches | example |", "|---|---|---|---|---|"]
    for r in RULES.values():
        rows.append(f"| `{r.code}` | {r.severity} | {r.name} | {r.summary} | {r.example} |")
    return "\n".join(rows)
