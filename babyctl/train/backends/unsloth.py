"""The GPU backend: Unsloth's ``FastLanguageModel`` (optionally 4-bit), then the hf training loop.

``unsloth`` is imported only here, inside the functions: it needs a CUDA device at import time
and patches transformers/trl when imported, which must not happen on a CPU machine. Loading goes
through Unsloth (its kernels, 4-bit loading from params); training and saving reuse
:mod:`.hf` so that both backends train on the same token ids and labels.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import EnvironmentProblem
from ...schemas.params import Training
from ..data import EncodedDataset
from . import FitResult, ModelSource
from . import hf

NAME = "unsloth"


def device() -> str:
    return "cuda"


def load_model(source: ModelSource, training: Training, seed: int):
    """Base model via ``FastLanguageModel.from_pretrained`` + LoRA via ``get_peft_model``."""
    try:
        import unsloth  # noqa: F401  (first: it patches transformers, peft and trl)
        from unsloth import FastLanguageModel
    except Exception as e:  # ImportError, or NotImplementedError without a GPU
        raise EnvironmentProblem(f"unsloth cannot be imported: {type(e).__name__}: {e}")
    import torch

    lora = training.lora
    hf.seed_everything(seed)
    try:
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=source.name_or_path, revision=source.revision,
            max_seq_length=training.max_seq_length, load_in_4bit=lora.load_in_4bit,
            dtype=None if training.bf16 is None else (torch.bfloat16 if training.bf16 else torch.float16),
            use_exact_model_name=True,  # never swap in another (pre-quantised) repo: provenance
        )
    except torch.OutOfMemoryError as e:
        raise hf._oom(e, "cuda", "loading the base model")
    except Exception as e:
        raise hf.load_error("base model", source, e, Path(source.name_or_path))
    model = FastLanguageModel.get_peft_model(
        model, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=sorted(lora.target_modules), bias="none",
        use_gradient_checkpointing="unsloth" if training.gradient_checkpointing else False,
        random_state=seed,
    )
    return model, tokenizer


def fit(model, tokenizer, dataset: EncodedDataset, training: Training, seed: int,
        progress: bool = True, **kwargs) -> FitResult:
    """Same SFTTrainer loop as the hf backend (Unsloth has patched it on import).

    Unsloth changes settings by itself (padding-free batching, gradient checkpointing): the
    returned ``settings`` are read back from the trainer and model after set-up, not assumed.
    """
    result = hf.fit(model, tokenizer, dataset, training, seed, progress=progress, **kwargs)
    result.settings["unsloth_version"] = _version()
    return result


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("unsloth")
    except PackageNotFoundError:
        return None


def save_adapter(model, out_dir: Path, base_model_ref: str, revision: str | None) -> list[Path]:
    return hf.save_adapter(model, out_dir, base_model_ref, revision)
