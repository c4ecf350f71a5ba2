"""The reference backend: transformers + peft + trl's ``SFTTrainer``, on CPU or a GPU.

Determinism: every seed is set from the run's seed, LoRA weights are initialised right after
seeding, the data order is the build's order (sequential sampler: the condition decides the
curriculum order, not the trainer), PyTorch runs in deterministic mode and, on CPU, in one
thread (so results do not depend on the machine's core count). The same inputs and seed then
give byte-identical adapter weights.
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Iterator

from ...errors import EnvironmentProblem, InputError
from ...fsutil import atomic_write_text, dumps_json, temp_dir
from ...schemas.params import Training
from ..data import EncodedDataset
from . import FitResult, ModelSource

NAME = "hf"


def device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _bf16(dev: str) -> bool:
    import torch

    return dev == "cuda" and torch.cuda.is_bf16_supported()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; deterministic algorithms where torch has them."""
    from transformers.trainer_utils import enable_full_determinism

    enable_full_determinism(seed, warn_only=True)


def lora_config(training: Training):
    """The peft ``LoraConfig`` from params (target modules sorted: a stable adapter_config)."""
    from peft import LoraConfig

    lora = training.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=sorted(lora.target_modules), bias="none", task_type="CAUSAL_LM")


# --- load ------------------------------------------------------------------------------------
def load_tokenizer(source: ModelSource):
    """The substrate's own tokenizer (and chat template); a broken one is an InputError."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source.name_or_path, revision=source.revision)
    except Exception as e:  # corrupt JSON, missing files, a Hub that cannot be reached...
        raise load_error("tokenizer", source, e, Path(source.name_or_path) / "tokenizer.json")


def load_model(source: ModelSource, training: Training, seed: int):
    """Base model (float32 on CPU) with a freshly initialised LoRA adapter, and its tokenizer."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # babyctl draws its own progress (stderr)
    if training.lora.load_in_4bit:
        raise EnvironmentProblem("training.lora.load_in_4bit needs a GPU backend (unsloth or "
                                 "bitsandbytes on CUDA); the hf backend here trains full precision")
    tokenizer = load_tokenizer(source)
    dev = device()
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.name_or_path, revision=source.revision,
            dtype=torch.bfloat16 if _bf16(dev) else torch.float32)
    except torch.OutOfMemoryError as e:
        raise _oom(e, dev, "loading the base model")
    except Exception as e:
        raise load_error("base model", source, e, Path(source.name_or_path))
    if dev == "cuda":
        model = model.to("cuda")
    seed_everything(seed)  # LoRA init draws from the RNG: seed right before it
    return get_peft_model(model, lora_config(training)), tokenizer


# --- fit -------------------------------------------------------------------------------------
def sft_config(training: Training, seed: int, output_dir: str, dev: str):
    """trl ``SFTConfig`` carrying exactly the params' hyperparameters."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=output_dir,
        num_train_epochs=training.epochs,
        max_steps=training.max_steps,
        learning_rate=training.learning_rate,
        lr_scheduler_type=training.lr_scheduler,
        warmup_steps=training.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        per_device_train_batch_size=training.batch_size,
        gradient_accumulation_steps=training.grad_accum,
        max_length=training.max_seq_length,
        seed=seed,
        data_seed=seed,
        full_determinism=True,
        train_sampling_strategy="sequential",  # the build's order is the curriculum order
        shuffle_dataset=False,
        dataset_kwargs={"skip_prepare_dataset": True},  # data.py already made input_ids + labels
        remove_unused_columns=False,
        use_cpu=dev == "cpu",
        bf16=_bf16(dev),
        fp16=dev == "cuda" and not _bf16(dev),  # older GPUs: fp32 weights, fp16 autocast
        gradient_checkpointing=False,
        optim="adamw_torch",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        log_level="error",
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
    )


@contextlib.contextmanager
def _cpu_threads(dev: str) -> Iterator[None]:
    import torch

    if dev != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(model, tokenizer, dataset: EncodedDataset, training: Training, seed: int,
        progress: bool = True) -> FitResult:
    """Train ``model``'s adapter on ``dataset`` with trl's SFTTrainer; per-step losses back."""
    import torch
    from transformers import PrinterCallback
    from trl import SFTTrainer

    from ..progress import TrainProgress

    dev = device()
    cb = TrainProgress(enabled=progress)
    # temp_dir: removed on exit, and by the next run if this process is killed (issue 15)
    with temp_dir("babyctl-train-") as out, _cpu_threads(dev):
        seed_everything(seed)
        trainer = SFTTrainer(model=model, args=sft_config(training, seed, str(out), dev),
                             train_dataset=dataset.to_hf(), processing_class=tokenizer, callbacks=[cb])
        trainer.remove_callback(PrinterCallback)
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            trainer.train()
        except torch.OutOfMemoryError as e:
            raise _oom(e, dev, "training")
        finally:
            cb.close()
        runtime = time.perf_counter() - t0
    return FitResult(losses=cb.losses, steps=trainer.state.global_step, runtime_s=runtime,
                     tokens_seen=int(trainer.state.num_input_tokens_seen or 0), device=dev,
                     peak_memory_bytes=torch.cuda.max_memory_allocated() if dev == "cuda" else None)


# --- save ------------------------------------------------------------------------------------
def save_adapter(model, out_dir: Path, base_model_ref: str, revision: str | None) -> list[Path]:
    """Write adapter_model.safetensors + a canonical adapter_config.json; returns the files.

    The config names the base model by its stable id (Hub id, or the path relative to the
    experiment), not the folder it was loaded from, and is rewritten with sorted keys and a
    sorted ``target_modules`` -- peft stores that as a set, whose order varies per process.
    """
    out_dir = Path(out_dir)
    cfg = model.peft_config["default"]
    cfg.base_model_name_or_path = base_model_ref
    cfg.revision = revision
    model.save_pretrained(out_dir, safe_serialization=True, save_embedding_layers=False)  # LoRA only
    (out_dir / "README.md").unlink(missing_ok=True)  # peft's stub card; `babyctl card` writes the real one
    config_path = out_dir / "adapter_config.json"
    data = json.loads(config_path.read_text(encoding="utf-8"))
    if isinstance(data.get("target_modules"), list):
        data["target_modules"] = sorted(data["target_modules"])
    atomic_write_text(config_path, dumps_json(data))
    return sorted(p for p in out_dir.iterdir() if p.is_file())


# --- errors ----------------------------------------------------------------------------------
def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def load_error(what: str, source: ModelSource, e: BaseException, local_file: Path):
    """A local file that will not load is bad input; a Hub download that fails is the environment."""
    detail = f"{type(e).__name__}: {_first_line(e)}"
    if source.local:
        return InputError(f"cannot load the {what}: {detail}", path=local_file)
    return EnvironmentProblem(f"cannot load the {what} {source.name_or_path}@{source.revision} from the Hub "
                              f"(offline, no access to a gated repo, or no cached copy?): {detail}")


def _oom(e: BaseException, dev: str, doing: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"out of memory on {dev} while {doing} ({_first_line(e)}); lower training.batch_size or "
        "training.max_seq_length, raise training.grad_accum, or set training.lora.load_in_4bit on a GPU")
