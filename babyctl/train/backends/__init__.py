"""Training backends. Each module offers the same three functions:

* ``load_model(source, training, seed) -> (peft_model, tokenizer)``: base weights + fresh LoRA;
* ``fit(model, tokenizer, dataset, training, seed, progress) -> FitResult``;
* ``save_adapter(model, out_dir)``: adapter safetensors + adapter_config.json.

``hf`` (transformers + peft + trl, CPU or GPU) is the reference; ``unsloth`` (GPU only) loads
through Unsloth and then reuses ``hf.fit`` and ``hf.save_adapter``, so both train on the same
token ids and labels (:mod:`babyctl.train.data`).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSource:
    """Where the base model comes from: a local folder, or a Hub id at a pinned revision."""

    name_or_path: str
    revision: str | None = None
    local: bool = False


@dataclass
class FitResult:
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss), one per optimizer step
    steps: int = 0
    runtime_s: float = 0.0
    tokens_seen: int = 0  # non-padding input tokens the model saw
    device: str = "cpu"
    peak_memory_bytes: int | None = None  # CUDA only
    valid_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, validation loss)
    settings: dict = field(default_factory=dict)  # what the trainer really used, read back after set-up
