"""What identifies an eval run, and where its files live.

A baseline run evaluates the base model, a trained run the adapter of one (condition, seed), a
prompted run (a condition of kind ``prompted``, no seed) the base model with the condition's system
prompt;
the folders come from :mod:`babyctl.study` (:func:`~babyctl.study.eval_dir`,
:func:`~babyctl.study.run_dir`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import study
from ..errors import UsageError
from ..fsutil import sha256_bytes, sha256_file
from ..schemas.params import Params, Substrate
from ..study import BASELINE, weights_files
COMPLETIONS = "completions.jsonl"
SCORES = "scores.jsonl"
PROVENANCE = "provenance.json"
SCORES_PROVENANCE = "scores.provenance.json"


@dataclass(frozen=True)
class RunSpec:
    """One eval run: a substrate, and either the baseline or a (condition, seed) adapter."""

    substrate: str
    condition: str | None = None
    seed: int | None = None

    @property
    def is_baseline(self) -> bool:
        return self.condition is None

    @property
    def is_prompted(self) -> bool:
        """A prompted-only arm: a condition without a training seed (no adapter)."""
        return self.condition is not None and self.seed is None

    @property
    def is_trained(self) -> bool:
        return self.condition is not None and self.seed is not None

    @property
    def condition_label(self) -> str:
        return BASELINE if self.condition is None else self.condition

    @property
    def label(self) -> str:
        """:func:`babyctl.study.run_label`."""
        return study.run_label(self.substrate, self.condition, self.seed)

    def eval_dir(self, root: str | Path = ".") -> Path:
        return study.eval_dir(root, self.substrate, self.condition, self.seed)

    def model_dir(self, root: str | Path = ".") -> Path:
        """The trained run's folder (trained runs only)."""
        if not self.is_trained:
            raise UsageError("a baseline or prompted run has no adapter")
        return study.run_dir(root, self.substrate, str(self.condition), self.seed)


def make_run(params: Params, substrate: str, *, baseline: bool, condition: str | None,
             seed: int | None, params_path: str | Path | None = None) -> RunSpec:
    """Check the CLI's choice against params and return the :class:`RunSpec`."""
    study.substrate(params, substrate, params_path)
    if baseline:
        if condition is not None or seed is not None:
            raise UsageError("--baseline takes no --condition or --seed")
        return RunSpec(substrate)
    if condition is not None and study.condition(params, condition, params_path).kind == "prompted":
        if seed is not None:
            raise UsageError(f"condition {condition!r} is prompted-only: it has no training seed (drop --seed)")
        return RunSpec(substrate, condition)
    if condition is None or seed is None:
        raise UsageError("pass --baseline, or both --condition C and --seed N (no seed for a prompted condition)")
    study.condition(params, condition, params_path)
    return RunSpec(substrate, condition, seed)


def active_runs(params: Params) -> list[RunSpec]:
    """Every eval run of the study: per active substrate the baseline, each active trained
    condition x training seed, and each active prompted arm."""
    out = []
    for s in params.active_substrates:
        out.append(RunSpec(s))
        out += [RunSpec(s, c, n) for c in params.active_conditions for n in params.training.seeds]
        out += [RunSpec(s, c) for c in params.active_prompted]
    return out


def local_weights_sha256(folder: str | Path) -> str | None:
    """SHA-256 of a local model's weights (:func:`babyctl.study.weights_sha256`); None when none."""
    return study.weights_sha256(weights_files(folder))


#: files of a local model folder that make up its tokenizer and chat template
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt", "tokenizer.model")


def local_tokenizer_sha256(folder: str | Path) -> str | None:
    """SHA-256 of ``"<sha256>  <name>\n"`` over a local model's tokenizer/chat-template files."""
    files = [Path(folder) / n for n in sorted(TOKENIZER_FILES) if (Path(folder) / n).is_file()]
    if not files:
        return None
    return sha256_bytes("".join(f"{sha256_file(f)}  {f.name}\n" for f in files).encode())


def model_ref(substrate: str, sub: Substrate, root: str | Path = ".") -> dict:
    """What identifies the base model: hub id + revision, or local path + weights and tokenizer
    hashes (so a changed chat template is a different model for resuming)."""
    ref = {"substrate": substrate, "hub_id": sub.hub_id, "revision": sub.revision,
           "local_path": sub.local_path, "weights_sha256": None, "tokenizer_sha256": None}
    if sub.local_path:
        ref["weights_sha256"] = local_weights_sha256(Path(root) / sub.local_path)
        ref["tokenizer_sha256"] = local_tokenizer_sha256(Path(root) / sub.local_path)
    return ref


def model_id(ref: dict) -> str:
    """A short human id: ``hub_id@revision`` or ``local_path``."""
    if ref.get("hub_id"):
        return f"{ref['hub_id']}@{ref['revision'] or 'unpinned'}"
    return str(ref.get("local_path"))
