"""Typed ``params.yaml``: the experiment's single configuration file.

DVC reads the same file through ``params:`` in ``dvc.yaml``, so each stage
depends on just the keys it uses.
"""
from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from .consent import ConsentTransfer

Severity = Literal["error", "warning", "off"]

# --- bounded types for every user-controlled number, path, name and template (issue 15) ---------
#: seeds go to numpy/torch/random, which take 0 .. 2**32-1
SEED_MAX = 2**32 - 1
#: integers are strict: YAML ``true`` is not 1 (DVC would run ``--seed true``), ``"3"`` is not 3
Seed = Annotated[int, Strict(), Field(ge=0, le=SEED_MAX)]


def Int(lo: int, hi: int, **kw) -> type:
    """A strict integer in ``lo .. hi``: big enough for any real run, small enough for every library."""
    return Annotated[int, Strict(), Field(ge=lo, le=hi, **kw)]  # type: ignore[return-value]


#: a key of params.yaml used in file paths (models/<substrate>/<condition>/...) and DVC stage names
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)]

_BAD_PATH = "must be a path relative to the experiment root, inside it"
#: the same rule as :func:`_relative_path`, for JSON Schema (ECMA regex, lookaheads)
REL_PATH_PATTERN = r"^(?![/~])(?![A-Za-z]:)(?!.*\\)(?!(.*/)?\.\.(/|$))[^\u0000-\u001f]+$"


def _relative_path(value: str) -> str:
    if not value or len(value) > 1024:
        raise ValueError(f"{_BAD_PATH} (1 to 1024 characters)")
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{_BAD_PATH}: control characters are not allowed")
    if "\\" in value:
        raise ValueError(f"{_BAD_PATH}: use / as the separator, not \\")
    if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{_BAD_PATH}, not absolute ({value!r})")
    if ".." in value.split("/"):
        raise ValueError(f"{_BAD_PATH}: '..' is not allowed ({value!r})")
    return value


#: a path relative to the experiment root that stays inside it (symlinks are checked where the
#: path is opened: :func:`babyctl.fsutil.inside`)
RelPath = Annotated[str, AfterValidator(_relative_path),
                    Field(json_schema_extra={"pattern": REL_PATH_PATTERN, "minLength": 1, "maxLength": 1024})]

#: the fields a ``publish.repo_name`` template may use
REPO_NAME_FIELDS = ("display_name", "substrate", "condition", "seed")


def _repo_name_template(value: str) -> str:
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as e:
        raise ValueError(f"not a valid template: {e} (write a literal brace as {{{{ or }}}})")
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if name not in REPO_NAME_FIELDS:
            raise ValueError(f"unknown template field {{{name}}} (known: "
                             + ", ".join("{" + f + "}" for f in REPO_NAME_FIELDS) + ")")
        if spec or conv:
            raise ValueError(f"template field {{{name}}} takes no format spec or conversion")
    return value


#: a Python identifier (module names, scheduler names)
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", max_length=128)]
#: a Hugging Face Hub model id, ORG/NAME
HubId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$",
                                         max_length=96)]

RepoNameTemplate = Annotated[str, StringConstraints(min_length=1, max_length=96), AfterValidator(_repo_name_template)]


class P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Substrate(P):
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=96)]
    hub_id: HubId | None = Field(default=None, description="Hub model id; None for local weights")
    revision: str | None = Field(default=None, description="Pinned Hub commit (40 hex)")
    local_path: RelPath | None = Field(default=None, description="Local weights folder (tiny model)")
    license: str = Field(description="Hub license id of the base model, e.g. llama3.1")
    chat_template: Literal["chatml", "llama3"]
    consent_record: RelPath = Field(description="Path of the consent record, e.g. consent_records/x.json")
    consent_transfer: ConsentTransfer | None = Field(
        default=None, description="Why the consent record, asked of other weights, covers these (babyctl.consent)")

    @model_validator(mode="after")
    def _one_source(self) -> "Substrate":
        if not self.hub_id and not self.local_path:
            raise ValueError("a substrate needs hub_id or local_path")
        return self


class Match(P):
    """What a control must match in its target condition, each with a tolerance (None: not checked).

    See :mod:`babyctl.geometry` and docs/study-design.md.
    """

    examples: float | None = Field(default=0.0, ge=0, description="Relative difference allowed in example count")
    tokens: float | None = Field(default=0.05, ge=0, description="Relative difference allowed in total tokens, "
                                 "under each active substrate's tokenizer")
    turns: float | None = Field(default=0.25, ge=0, description="Absolute difference allowed in mean turns per example")
    lengths: float | None = Field(default=0.3, ge=0, le=1, description="Largest two-sample Kolmogorov-Smirnov distance "
                                  "allowed between the assistant-turn length distributions (tokens)")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="The length test fails when its p-value is below alpha")
    deviation: str | None = Field(default=None, description="Why this control does not match: a declared "
                                  "deviation; the differences are then reported, not enforced")


class Condition(P):
    """A study condition: a training-set recipe (not a condition attached to a consent record)."""

    description: str = ""
    inputs: list[RelPath] = Field(default_factory=list, description="Curriculum files or folders, in module order")
    order: Literal["sequential", "shuffled", "staged"] = "sequential"
    seed: Seed = 0
    permutation: Literal["per_seed", "fixed"] = Field(
        default="per_seed", description="shuffled: draw the order per training seed, or keep the build's (seed)")
    stage_steps: dict[str, Int(1, 10**9)] = Field(
        default_factory=dict, description="staged: optimizer steps per module (stage); default training.max_steps")
    validation_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    expected_count: Int(0, 10**9) | None = Field(default=None, description="Examples after the build (train + validation)")
    kind: Literal["trained", "prompted"] = Field(default="trained", description="prompted: trains nothing; the base "
                                                 "model is evaluated with the system prompt in system_prompt_file")
    system_prompt_file: RelPath | None = Field(default=None, description="kind prompted: the system prompt's file")
    matches: Key | None = Field(default=None, description="The condition this control is matched to (e.g. core)")
    match: Match = Field(default_factory=Match, description="What is matched, with tolerances (when matches is set)")
    role: Literal["treatment", "control"] = Field(
        default="treatment", description="treatment or control: the default contrasts compare each "
        "treatment with each control of the same substrate (docs/statistics.md)")

    @model_validator(mode="after")
    def _kind_fields(self) -> "Condition":
        if self.kind == "prompted":
            if not self.system_prompt_file:
                raise ValueError("a prompted condition needs system_prompt_file")
            if self.inputs or self.matches:
                raise ValueError("a prompted condition trains nothing: it takes no inputs or matches")
        else:
            if not self.inputs:
                raise ValueError("inputs: a trained condition needs at least one curriculum file or folder")
            if self.expected_count is None:
                raise ValueError("expected_count: a trained condition needs it")
            if self.system_prompt_file:
                raise ValueError("system_prompt_file is for kind: prompted only")
        return self


StudyCondition = Condition  # the name babyctl.schemas exports


class Lora(P):
    r: Int(1, 4096) = 16
    alpha: Int(1, 65536) = 32
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: list[Identifier] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        max_length=256,
    )
    load_in_4bit: bool = False


class Training(P):
    lora: Lora = Field(default_factory=Lora)
    epochs: float = Field(default=1.0, gt=0, le=10_000)
    max_steps: Int(-1, 10**9) = Field(default=-1, description="-1: run the epochs")
    learning_rate: float = Field(default=2e-4, gt=0, le=10)
    lr_scheduler: Identifier = "linear"
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0)
    batch_size: Int(1, 65536) = 2
    grad_accum: Int(1, 65536) = 1
    max_seq_length: Int(1, 2**24) = 2048
    allow_truncation: bool = False
    seeds: list[Seed] = Field(default_factory=lambda: [1], min_length=1, max_length=1000)
    weight_decay: float = Field(default=0.0, ge=0.0, le=10, description="AdamW weight decay")
    optim: Literal["adamw_torch", "adamw_8bit", "paged_adamw_8bit"] = Field(
        default="adamw_torch", description="adamw_8bit needs bitsandbytes on a GPU; CPU runs fall back to adamw_torch")
    bf16: bool | None = Field(default=None, description="None: bf16 where the GPU supports it; CPU trains fp32")
    gradient_checkpointing: bool = False
    eval_steps: Int(0, 10**9) = Field(default=0, description="Validation loss every N steps (0: once per stage)")
    bos: Literal["require", "prepend"] = Field(
        default="require", description="A template that writes no BOS: an error, or prepend it (untrained)")


class Signal(P):
    pattern: str = Field(description="Python regex, matched case-insensitively")
    description: str = ""


class Judge(P):
    name: str
    model: str = Field(description="Pinned model id (dated snapshot), never a floating alias")
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)]
    api_key_env: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)] = Field(
        description="Environment variable holding the key")
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_retries: Int(0, 100) = 3
    seed: int | None = Field(default=0, ge=0, le=2**31 - 1, description="Sent as `seed` (None: not sent)")
    max_tokens: int | None = Field(default=256, gt=0, le=10**6, description="Sent as `max_tokens` (None: not sent)")


class Bootstrap(P):
    n_resamples: Int(1, 10**7) = 2000
    seed: Seed = 0
    confidence: float = Field(default=0.95, gt=0, lt=1)


class Sampling(P):
    """Decoding settings for ``babyctl eval``; temperature 0 is greedy decoding."""

    temperature: float = Field(default=0.0, ge=0.0, le=10.0, description="0: greedy")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int = Field(default=0, ge=0, lt=2**31, description="Base seed; each row's seed derives from it")


class Eval(P):
    banks: list[Key] = Field(default_factory=list, description="Bank names; empty means all")
    max_new_tokens: Int(1, 2**20) = 64
    batch_size: Int(1, 65536) = 8
    signals: dict[str, Signal] = Field(default_factory=dict)
    judges: list[Judge] = Field(default_factory=list)
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)
    repeats: int = Field(default=1, ge=1, le=1000, description="Completions per stimulus and run")
    sampling: Sampling = Field(default_factory=Sampling)
    base_quantization: Literal["as_trained", "none"] = Field(
        default="as_trained", description="as_trained: a 4-bit-trained adapter runs on the 4-bit base")
    allow_template_mismatch: bool = Field(
        default=False, description="Evaluate an adapter whose chat-template hash differs (recorded)")

    @model_validator(mode="after")
    def _repeats_need_sampling(self) -> "Eval":
        if self.repeats > 1 and self.sampling.temperature == 0:
            raise ValueError("eval.repeats > 1 needs eval.sampling.temperature > 0 "
                             "(greedy reruns are identical)")
        return self


class Contrast(P):
    """``condition`` minus ``against`` (a condition or ``baseline``) within each substrate."""

    condition: str
    against: str

    @property
    def name(self) -> str:
        return f"{self.condition} - {self.against}"


class Primary(P):
    """The primary family: these contrasts x signals x banks (x active substrates)."""

    signals: list[str] = Field(default_factory=list, description="Signal names (or `judge`)")
    banks: list[str] = Field(default_factory=list, description="Bank names; empty: every bank")
    contrasts: list[str] | None = Field(
        default=None, description="Contrast names `A - B`; None: the treatment-against-control ones")


class Analysis(P):
    """What the report tests: declared contrasts and the primary family (docs/statistics.md)."""

    contrasts: list[Contrast] | None = Field(
        default=None, description="None: each treatment against each control, and each condition "
        "against baseline")
    primary: Primary = Field(default_factory=Primary)
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Level for the Holm procedure")
    hypotheses: str = Field(default="preregistration/hypotheses.md",
                            description="The study's hypotheses text (Markdown), locked by prereg")


class Capability(P):
    """The optional capability check: lm-evaluation-harness tasks run on the baseline and each adapter
    (:mod:`babyctl.capability`, docs/study-design.md)."""

    tasks: list[str] = Field(default_factory=list, description="lm-eval task names; a name with a "
                             "<task_dir>/<name>.yaml is a local task. Empty: the stage records that nothing ran")
    task_dir: str = Field(default="capability", description="Local task definitions (YAML + data)")
    num_fewshot: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, gt=0, description="At most this many items per task")
    batch_size: int = Field(default=8, gt=0)


class Phrase(P):
    code: str = Field(pattern=r"^BC\d{3}$")
    pattern: str
    severity: Severity = "error"
    message: str


class ValidateParams(P):
    require_provenance: bool = Field(
        default=False, description="Missing metadata provenance fields become errors"
    )
    severity: dict[str, Severity] = Field(default_factory=dict, description="Per-rule overrides")
    phrases: list[Phrase] | None = Field(
        default=None, description="Replaces the default disavowal/refusal phrase list"
    )
    near_duplicate_threshold: float = Field(default=0.9, gt=0, le=1)


class Author(P):
    name: str
    role: str


class Publish(P):
    org: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=96)] = "babyctl-study"
    repo_name: RepoNameTemplate = Field(
        default="{display_name}-{condition}-seed{seed}",
        description="Template for the Hub repo name",
    )
    authors: list[Author] = Field(default_factory=list)
    citation: str = ""
    language: list[str] = Field(default_factory=lambda: ["en"])
    tags: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list,
                                description="Hub dataset ids of the curriculum, for the card's `datasets:`")


class Params(P):
    study: str
    profile: Key = Field(default="tiny", description="The settings profile applied (profiles/<name>.yaml)")
    curriculum_dir: RelPath = "curriculum"
    consent_dir: RelPath = "consent_records"
    stimuli_dir: RelPath = "stimuli"
    reviews_dir: RelPath = Field(default="reviews", description="Publication reviews (reviews/*.json)")
    substrates: dict[Key, Substrate]
    active_substrates: list[Key] = Field(min_length=1, description="The one param that switches")
    conditions: dict[Key, Condition]
    active_conditions: list[Key] = Field(min_length=1)
    active_prompted: list[Key] = Field(default_factory=list, description="Prompted-only arms (conditions of "
                                       "kind prompted): evaluated, never trained; not in active_conditions")
    training: Training = Field(default_factory=Training)
    eval: Eval = Field(default_factory=Eval)
    capability: Capability = Field(default_factory=Capability)
    analysis: Analysis = Field(default_factory=Analysis)
    validate_: ValidateParams = Field(default_factory=ValidateParams, alias="validate")
    publish: Publish = Field(default_factory=Publish)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _known_keys(self) -> "Params":
        for key in self.active_substrates:
            if key not in self.substrates:
                raise ValueError(f"active_substrates names unknown substrate {key!r}")
        for key in self.active_conditions:
            if key not in self.conditions:
                raise ValueError(f"active_conditions names unknown condition {key!r}")
        for key in self.active_conditions:
            if self.conditions[key].kind == "prompted":
                raise ValueError(f"active_conditions names {key!r}, a prompted condition: the train matrix spans "
                                 "active_conditions; list prompted arms under active_prompted")
        for key in self.active_prompted:
            if key not in self.conditions or self.conditions[key].kind != "prompted":
                raise ValueError(f"active_prompted names {key!r}, which is not a condition of kind prompted")
        for key, cond in self.conditions.items():
            target = self.conditions.get(cond.matches) if cond.matches else None
            if cond.matches and (target is None or cond.matches == key or target.kind != "trained"):
                raise ValueError(f"conditions.{key}.matches: {cond.matches!r} is not another trained condition")
        for c in self.analysis.contrasts or []:
            for key in (c.condition, c.against):
                if key != "baseline" and key not in self.conditions:
                    raise ValueError(f"analysis.contrasts names unknown condition {key!r}")
            if c.condition == c.against:
                raise ValueError(f"analysis.contrasts compares {c.condition!r} with itself")
        for name in self.analysis.primary.contrasts or []:
            parts = name.split(" - ")
            if len(parts) != 2 or any(p != "baseline" and p not in self.conditions for p in parts):
                raise ValueError(f"analysis.primary.contrasts: {name!r} is not 'A - B' with known conditions")
        return self
