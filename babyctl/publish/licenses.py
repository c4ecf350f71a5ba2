"""Known base-model licenses and what each asks of a derivative (a LoRA adapter).

A license babyctl does not know is refused: it cannot tell what a release must
carry. The terms below are the obligations a *published adapter* has to meet
(Llama 3 / 3.1 / 3.2 Community License section 1.b; Apache-2.0 section 4; MIT):

* ``LICENSE``: a copy of the license. babyctl does not carry the full texts and
  cannot download them; it looks for the verbatim text in the experiment
  (``licenses/<id>.txt``) or beside local base weights (``<local_path>/LICENSE``).
  Without one, a dry run ships a clearly marked placeholder (license name,
  official URL, "the full text must accompany redistribution"), and a real
  publish is refused.
* ``NOTICE``: the attribution notice the license prescribes (verbatim for Llama).
* a "Built with ..." line displayed on the model card (Llama);
* a naming rule for the model (Llama 3: begins with "Llama 3"; 3.1 / 3.2: begins
  with "Llama"). On the Hub, names use hyphens, so the repo name must begin with
  ``Llama-3`` (resp. ``Llama``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import GateRefused

#: marks a LICENSE file that is not the full text (a real publish refuses it)
PLACEHOLDER_MARK = "PLACEHOLDER: not the full license text"


@dataclass(frozen=True)
class LicenseTerms:
    """What a derivative released under (or on top of) a base license must do."""

    id: str  #: the key used in params.yaml (``substrates.<s>.license``)
    title: str  #: the license's own name
    url: str  #: where the official full text lives
    hub_license: str  #: the Hub's license id, or "other" (then license_name/link are set)
    notice: str  #: the NOTICE file's attribution sentence(s)
    built_with: str | None = None  #: text the card must display, if any
    name_prefix: str | None = None  #: repo names must begin with this (Hub spelling)
    name_rule: str | None = None  #: the rule in the license's words
    use_policy_url: str | None = None

    def naming_violation(self, repo_name: str) -> str | None:
        """Why ``repo_name`` (the part after ``org/``) breaks the naming rule, or None."""
        if self.name_prefix is None:
            return None
        # "Llama-3" must not match "Llama-30B"; "Llama" must be followed by a separator or digit
        pattern = re.escape(self.name_prefix) + (r"(?![0-9])" if self.name_prefix[-1].isdigit() else r"(?![a-z])")
        if re.match(pattern, repo_name):
            return None
        return (f"repo name {repo_name!r} breaks the {self.title} naming rule: {self.name_rule} "
                f"(on the Hub: begin the name with {self.name_prefix!r})")


def _llama(hub: str, url_slug: str, prefix: str, rule: str, built_with: str,
           product: str) -> LicenseTerms:
    return LicenseTerms(
        id=hub,
        title=f"{product} Community License",
        url=f"https://www.llama.com/{url_slug}/license/",
        hub_license=hub,
        notice=(f"{product} is licensed under the {product} Community License, "
                "Copyright © Meta Platforms, Inc. All Rights Reserved."),
        built_with=built_with,
        name_prefix=prefix,
        name_rule=rule,
        use_policy_url=f"https://www.llama.com/{url_slug}/use-policy/",
    )


KNOWN: dict[str, LicenseTerms] = {
    "llama3": _llama("llama3", "llama3", "Llama-3",
                     'a model trained on Llama 3 materials must have "Llama 3" at the beginning of its name',
                     "Built with Meta Llama 3", "Meta Llama 3"),
    "llama3.1": _llama("llama3.1", "llama3_1", "Llama",
                       'a model trained on Llama 3.1 materials must have "Llama" at the beginning of its name',
                       "Built with Llama", "Llama 3.1"),
    "llama3.2": _llama("llama3.2", "llama3_2", "Llama",
                       'a model trained on Llama 3.2 materials must have "Llama" at the beginning of its name',
                       "Built with Llama", "Llama 3.2"),
    "apache-2.0": LicenseTerms(
        id="apache-2.0",
        title="Apache License 2.0",
        url="https://www.apache.org/licenses/LICENSE-2.0",
        hub_license="apache-2.0",
        notice="The base model is licensed under the Apache License, Version 2.0.",
    ),
    "mit": LicenseTerms(
        id="mit",
        title="MIT License",
        url="https://opensource.org/license/mit",
        hub_license="mit",
        notice="The base model is licensed under the MIT License.",
    ),
}


def terms_for(license_id: str) -> LicenseTerms | None:
    """The terms for a params.yaml license id (case-insensitive), or None if unknown."""
    return KNOWN.get(license_id.strip().lower())


def require_terms(license_id: str, *, substrate: str) -> LicenseTerms:
    """Like :func:`terms_for` but raises :class:`GateRefused` for an unknown license."""
    terms = terms_for(license_id)
    if terms is None:
        raise GateRefused(f"substrate {substrate!r}: base license {license_id!r} is unknown to babyctl "
                          f"(known: {', '.join(sorted(KNOWN))}); cannot tell what a release must carry")
    return terms


@dataclass(frozen=True)
class LicenseText:
    text: str
    source: str | None  #: where the full text came from; None for the placeholder

    @property
    def is_placeholder(self) -> bool:
        return self.source is None


def license_text_candidates(root: Path, terms: LicenseTerms, local_weights: Path | None) -> list[Path]:
    """Where the verbatim license text is looked for, in order."""
    out = [root / "licenses" / f"{terms.id}.txt", root / "licenses" / terms.id / "LICENSE"]
    if local_weights is not None:
        out += [local_weights / "LICENSE", local_weights / "LICENSE.txt"]
    return out


def license_text(root: Path, terms: LicenseTerms, local_weights: Path | None = None) -> LicenseText:
    """The full license text if the experiment holds it, else a marked placeholder."""
    for cand in license_text_candidates(root, terms, local_weights):
        if cand.is_file():
            text = cand.read_text(encoding="utf-8")
            if text.strip():
                try:
                    source = str(cand.relative_to(root))
                except ValueError:
                    source = cand.name
                return LicenseText(text=text if text.endswith("\n") else text + "\n", source=source)
    return LicenseText(
        text=(f"{terms.title}\n\n"
              f"{PLACEHOLDER_MARK}.\n\n"
              f"This adapter is a derivative of a base model licensed under the {terms.title}.\n"
              f"The official full text is at {terms.url}\n"
              "The full text must accompany every redistribution of this adapter. babyctl found no copy\n"
              f"in the experiment (save the official text as licenses/{terms.id}.txt), so a real publish\n"
              "is refused until it is there.\n"),
        source=None,
    )


def notice_text(terms: LicenseTerms, *, base: str, adapter_name: str) -> str:
    """The NOTICE file: the license's attribution notice plus what this adapter is built on."""
    lines = [terms.notice, ""]
    if terms.built_with:
        lines += [f"{terms.built_with}.", ""]
    lines += [f"{adapter_name} is a LoRA adapter trained on {base}.",
              f"Base model license: {terms.title} <{terms.url}>."]
    if terms.use_policy_url:
        lines.append(f"Use is subject to the Acceptable Use Policy <{terms.use_policy_url}>.")
    return "\n".join(lines) + "\n"
