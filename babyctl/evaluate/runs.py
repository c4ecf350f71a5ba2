"""What identifies an eval run, and where its files live.

* baseline: ``eval/<S>/baseline/``
* trained:  ``eval/<S>/<C>/seed-<N>/`` (adapter from ``models/<S>/<C>/seed-<N>/adapter``)
* prompted: ``eval/<S>/<C>/`` (a condition of kind ``prompted``: the base model with the
  condition's system prompt; no adapter, no training seed)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..fsutil import sha256_bytes, sha256_file
from ..schemas.params import Params, Substrate

BASELINE = "baseline"
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
        """``S/baseline`` or ``S/C/seed-N``."""
        if self.is_baseline:
            return f"{self.substrate}/{BASELINE}"
        if self.is_prompted:
            return f"{self.substrate}/{self.condition}"
        return f"{self.substrate}/{self.condition}/seed-{self.seed}"

    def eval_dir(self, root: str | Path = ".") -> Path:
        return Path(root) / "eval" / self.label

    def model_dir(self, root: str | Path = ".") -> Path:
        """``models/<S>/<C>/seed-<N>`` (trained runs only)."""
        if not self.is_trained:
            raise UsageError("a baseline or prompted run has no adapter")
        return Path(root) / "models" / self.substrate / str(self.condition) / f"seed-{self.seed}"


def make_run(params: Params, substrate: str, *, baseline: bool, condition: str | None,
             seed: int | None) -> RunSpec:
    """Check the CLI's choice against params and return the :class:`RunSpec`."""
    if substrate not in params.substrates:
        raise UsageError(f"unknown substrate {substrate!r} (params.yaml knows: "
                         f"{', '.join(params.substrates)})")
    if baseline:
        if condition is not None or seed is not None:
            raise UsageError("--baseline takes no --condition or --seed")
        return RunSpec(substrate)
    if condition is not None and condition in params.conditions and params.conditions[condition].kind == "prompted":
        if seed is not None:
            raise UsageError(f"condition {condition!r} is prompted-only: it has no training seed (drop --seed)")
        return RunSpec(substrate, condition)
    if condition is None or seed is None:
        raise UsageError("pass --baseline, or both --condition C and --seed N (no seed for a prompted condition)")
    if condition not in params.conditions:
        raise UsageError(f"unknown condition {condition!r} (params.yaml knows: "
                         f"{', '.join(params.conditions)})")
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


def weights_files(folder: Path) -> list[Path]:
    """The weight files of a local model folder (safetensors, else PyTorch bins), sorted."""
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    return files


def local_weights_sha256(folder: str | Path) -> str | None:
    """SHA-256 of a local model's weights.

    One weights file: its own SHA-256. Several shards: the SHA-256 of the text
    ``"<sha256>  <name>\\n"`` over the shards sorted by name. None when there are none.
    """
    files = weights_files(Path(folder))
    if not files:
        return None
    if len(files) == 1:
        return sha256_file(files[0])
    text = "".join(f"{sha256_file(f)}  {f.name}\n" for f in files)
    return sha256_bytes(text.encode())


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
