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
    dev = device()
    if training.lora.load_in_4bit and dev != "cuda":
        raise EnvironmentProblem("training.lora.load_in_4bit needs a GPU backend (unsloth or "
                                 "bitsandbytes on CUDA); the hf backend here trains full precision")
    tokenizer = load_tokenizer(source)
    extra = {}
    if training.lora.load_in_4bit:  # QLoRA through bitsandbytes (what Unsloth does too)
        from transformers import BitsAndBytesConfig

        extra["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if use_bf16(training, dev) else torch.float16)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.name_or_path, revision=source.revision,
            dtype=torch.bfloat16 if use_bf16(training, dev) else torch.float32, **extra)
    except torch.OutOfMemoryError as e:
        raise _oom(e, dev, "loading the base model")
    except Exception as e:
        raise load_error("base model", source, e, Path(source.name_or_path))
    if dev == "cuda" and not training.lora.load_in_4bit:
        model = model.to("cuda")
    if training.lora.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, training.gradient_checkpointing)
    seed_everything(seed)  # LoRA init draws from the RNG: seed right before it
    return get_peft_model(model, lora_config(training)), tokenizer


# --- fit -------------------------------------------------------------------------------------
def use_bf16(training: Training, dev: str) -> bool:
    """bf16 as params ask (None: where the GPU supports it); a CPU run trains fp32 (read back)."""
    return _bf16(dev) if training.bf16 is None else (training.bf16 and dev == "cuda")


def optimizer_name(training: Training, dev: str) -> str:
    """The optimizer to ask for: 8-bit AdamW needs bitsandbytes on CUDA, else plain AdamW (read back)."""
    return training.optim if dev == "cuda" else "adamw_torch"


def sft_config(training: Training, seed: int, output_dir: str, dev: str, *, max_steps: int | None = None,
               with_eval: bool = False):
    """trl ``SFTConfig`` carrying exactly the params' hyperparameters (``max_steps``: a stage's budget)."""
    from trl import SFTConfig

    bf16 = use_bf16(training, dev)
    evaluate = with_eval and training.eval_steps > 0
    return SFTConfig(
        output_dir=output_dir,
        num_train_epochs=training.epochs,
        max_steps=training.max_steps if max_steps is None else max_steps,
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
        bf16=bf16,
        fp16=dev == "cuda" and not bf16 and training.bf16 is None,  # older GPUs: fp16 autocast
        gradient_checkpointing=training.gradient_checkpointing,
        optim=optimizer_name(training, dev),
        weight_decay=training.weight_decay,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=training.eval_steps if evaluate else None,
        per_device_eval_batch_size=training.batch_size,
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
        progress: bool = True, *, valid: EncodedDataset | None = None,
        max_steps: int | None = None) -> FitResult:
    """Train ``model``'s adapter on ``dataset`` with trl's SFTTrainer; per-step losses back.

    ``valid``: the validation split, evaluated every ``training.eval_steps`` and once at the end.
    ``max_steps``: this call's step budget (a stage of a staged curriculum).
    """
    import torch
    from transformers import PrinterCallback
    from trl import SFTTrainer

    from ..progress import TrainProgress

    dev = device()
    cb = TrainProgress(enabled=progress)
    # temp_dir: removed on exit, and by the next run if this process is killed (issue 15)
    with temp_dir("babyctl-train-") as out, _cpu_threads(dev):
        seed_everything(seed)
        args = sft_config(training, seed, str(out), dev, max_steps=max_steps, with_eval=valid is not None)
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset.to_hf(),
                             eval_dataset=valid.to_hf() if valid is not None else None,
                             processing_class=tokenizer, callbacks=[cb])
        trainer.remove_callback(PrinterCallback)
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            trainer.train()
            runtime = time.perf_counter() - t0
            if valid is not None and (not cb.valid_losses or cb.valid_losses[-1][0] != trainer.state.global_step):
                trainer.evaluate()  # the end-of-run validation loss (logged through the callback)
        except torch.OutOfMemoryError as e:
            raise _oom(e, dev, "training")
        finally:
            cb.close()
        settings = read_back(trainer, model)
    return FitResult(losses=cb.losses, steps=trainer.state.global_step, runtime_s=runtime,
                     tokens_seen=int(trainer.state.num_input_tokens_seen or 0), device=dev,
                     peak_memory_bytes=torch.cuda.max_memory_allocated() if dev == "cuda" else None,
                     valid_losses=cb.valid_losses, settings=settings)


def read_back(trainer, model) -> dict:
    """The settings the trainer and model really used (not what params asked for).

    Unsloth, for one, turns on padding-free batching and overrides gradient checkpointing by
    itself; 8-bit AdamW falls back to AdamW off a GPU. Provenance records these.
    """
    args = trainer.args
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    quant = getattr(base.config, "quantization_config", None)
    if quant is not None and hasattr(quant, "to_dict"):
        quant = quant.to_dict()
    weight_dtypes = sorted({str(p.dtype).replace("torch.", "") for p in base.parameters()})
    opt = getattr(trainer, "optimizer", None)
    opt = getattr(opt, "optimizer", opt)  # accelerate wraps it
    return {
        "optimizer": type(opt).__name__ if opt is not None else None,
        "optim": str(getattr(args.optim, "value", args.optim)),
        "weight_decay": args.weight_decay,
        "learning_rate": args.learning_rate,
        "lr_scheduler": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
        "warmup_steps": args.warmup_steps,
        "bf16": bool(args.bf16), "fp16": bool(args.fp16),
        "weight_dtypes": weight_dtypes,
        "quantization": quant,
        "load_in_4bit": bool(getattr(base, "is_loaded_in_4bit", False)),
        "gradient_checkpointing": bool(getattr(base, "is_gradient_checkpointing", False)),
        "padding_free": bool(getattr(args, "padding_free", False)),
        "effective_batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps
        * max(1, args.world_size),
        "max_length": getattr(args, "max_length", None),
        "lora_dropout": sorted({float(v.p) for m in model.modules()
                                for v in (getattr(m, "lora_dropout", {}) or {}).values()
                                if hasattr(v, "p")}) if hasattr(model, "peft_config") else None,
    }


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
