"""What a check reports (:class:`Finding`) and the registry of rule codes (:data:`RULES`).

Codes are stable: ``BC`` + three digits, grouped by family (the hundreds digit). What each rule
catches, with an example, is documented once: the rule table in docs/validate.md, which a test
keeps in step with :data:`RULES` (codes, names and default severities).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


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


_RULES = [
    # BC0xx files and encoding
    Rule("BC001", "missing-file", "error"),
    Rule("BC002", "invalid-utf8", "error"),
    Rule("BC003", "bom", "error"),
    Rule("BC004", "crlf", "warning"),
    Rule("BC005", "mixed-line-endings", "warning"),
    Rule("BC006", "control-char", "error"),
    Rule("BC007", "empty-file", "warning"),
    Rule("BC008", "blank-line", "warning"),
    Rule("BC009", "line-too-long", "error"),
    Rule("BC010", "not-a-file", "error"),
    Rule("BC011", "dangling-symlink", "error"),
    Rule("BC012", "unreadable", "error"),
    # BC1xx schema and metadata
    Rule("BC101", "invalid-json", "error"),
    Rule("BC102", "schema", "error"),
    Rule("BC103", "missing-provenance", "warning"),
    Rule("BC104", "unknown-lint-ignore", "warning"),
    Rule("BC105", "unknown-kind", "warning"),
    Rule("BC106", "duplicate-key", "error"),
    Rule("BC107", "generated-provenance", "error"),
    # BC2xx chat structure
    Rule("BC201", "turn-order", "error"),
    Rule("BC202", "last-turn-not-assistant", "error"),
    Rule("BC203", "empty-content", "error"),
    # BC3xx phrasing in assistant turns
    Rule("BC301", "ai-disavowal", "error"),
    Rule("BC302", "policy-refusal", "error"),
    Rule("BC303", "apology-refusal", "warning"),
    Rule("BC310", "placeholder", "error"),
    Rule("BC311", "template-marker", "error"),
    Rule("BC312", "citation-markup", "error"),
    # BC4xx duplicates
    Rule("BC401", "duplicate-example", "error"),
    Rule("BC402", "near-duplicate", "warning"),
    Rule("BC420", "contamination", "error"),
    Rule("BC421", "train-valid-leakage", "error"),
    Rule("BC403", "duplicate-id", "error"),
    # BC5xx consent records and reviews
    Rule("BC501", "consent-missing", "error"),
    Rule("BC502", "consent-missing-inactive", "warning"),
    Rule("BC503", "consent-uncoded", "error"),
    Rule("BC504", "consent-uncoded-inactive", "warning"),
    Rule("BC505", "consent-substrate-mismatch", "error"),
    Rule("BC506", "brief-hash-mismatch", "error"),
    Rule("BC507", "brief-missing", "warning"),
    Rule("BC508", "consent-not-covering", "error"),
    Rule("BC509", "supersedes-unknown", "warning"),
    Rule("BC510", "review-consent-unknown", "error"),
    Rule("BC511", "review-condition-unknown", "error"),
    Rule("BC512", "review-condition-kind", "error"),
    Rule("BC513", "prereg-invalid", "error"),
    # BC6xx stimuli
    Rule("BC601", "duplicate-stimulus-id", "error"),
    Rule("BC603", "legacy-stimulus-layout", "warning"),
    Rule("BC602", "bank-mismatch", "error"),
    Rule("BC604", "prefill-trailing-space", "warning"),
    # BC7xx params.yaml
    Rule("BC701", "params-schema", "error"),
    Rule("BC702", "params-input-missing", "error"),
    Rule("BC703", "unpinned-revision", "warning"),
    Rule("BC704", "bad-phrase-pattern", "error"),
    Rule("BC705", "unknown-rule-code", "warning"),
    Rule("BC709", "system-prompt-missing", "error"),
    Rule("BC706", "unknown-bank", "error"),
    Rule("BC707", "tiny-settings-on-8b", "error"),
    Rule("BC708", "path-outside-experiment", "error"),
]

#: code -> rule, in code order
RULES: dict[str, Rule] = {r.code: r for r in sorted(_RULES, key=lambda r: r.code)}


def default_severity(code: str) -> Severity:
    """The registered default severity; unregistered (custom phrase) codes default to error."""
    r = RULES.get(code)
    return r.severity if r else "error"
