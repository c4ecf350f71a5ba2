"""Generation backends for ``babyctl eval``: ``hf`` (transformers, the CPU default) and ``vllm``.

A backend is opened once per run (``open``: base model + that run's adapter) and asked for
completions of a batch of prompts (``generate(prompts, max_new_tokens, stop_ids, sampling)``:
greedy, or one seeded sampling request per prompt), cut at the substrate's end-of-turn tokens,
returning rows in one format::

    {"completion": str, "n_input_tokens": int, "n_output_tokens": int, "stop_reason": str}

Both take prompts already rendered with the substrate's own chat template
(:func:`babyctl.evaluate.stimuli.render_prompt`: system, prior turns, the user turn, the generation
prompt, then any assistant prefill), tokenise them without added special tokens, and decode the new
tokens with the same tokenizer
(``skip_special_tokens=True``), so the completion files are identical in format; the backend's
name is recorded in each row's ``generation`` settings and in the provenance.

``vllm`` (the ``eval-vllm`` extra, GPU) keeps ONE engine per base model in this process and
serves every adapter of the substrate through LoRA requests
(``LLM(enable_lora=True)``, ``generate(..., lora_request=LoRARequest(name, id, path))``), so
``babyctl eval --substrate S --all --backend vllm`` loads the 8B weights once for the baseline
and all conditions x seeds.

Also here: the train/eval template parity check and the quantisation of the base a QLoRA
adapter is evaluated on (``eval.base_quantization: as_trained``).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import EnvironmentProblem, UsageError

BACKENDS = ("hf", "vllm")


def prompt_ids(tok, prompts: list[str]) -> list[list[int]]:
    """Token ids of each rendered prompt (no padding; the template wrote the BOS, so none is added)."""
    return [list(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]


def completion_row(tok, new_ids: list[int], n_input: int, stop_ids: list[int] | None = None) -> dict:
    """The shared row format from the generated token ids: cut at the first end-of-turn token
    (:func:`babyctl.evaluate.generate.cut_at_stop`; the tokenizer's eos when ``stop_ids`` is None)."""
    from .generate import cut_at_stop

    kept, n_out, reason = cut_at_stop(new_ids, stop_ids if stop_ids is not None else [tok.eos_token_id])
    return {"completion": tok.decode(kept, skip_special_tokens=True), "n_input_tokens": int(n_input),
            "n_output_tokens": n_out, "stop_reason": reason}


class HFGenerator:
    """transformers ``generate``, batched and left-padded (see :mod:`.generate`)."""

    name = "hf"

    def open(self, params, run, root: Path, adapter_dir: Path | None, tok, prov) -> None:
        from .generate import load_model

        self.tok = tok
        extra, _ = base_quantization(prov, params)
        self.model = load_model(params, run, root, adapter_dir, extra=extra)

    def generate(self, prompts: list[str], max_new_tokens: int, stop_ids: list[int],
                 sampling: list[dict] | None = None) -> list[dict]:
        """Greedy, or with ``sampling`` (one {temperature, top_p, seed} per prompt) one prompt at a
        time so that each row is reproducible from its seed."""
        from .generate import _generate_batch

        if sampling is None:
            return _generate_batch(self.model, self.tok, prompts, max_new_tokens, stop_ids)
        return [row for p, sp in zip(prompts, sampling)
                for row in _generate_batch(self.model, self.tok, [p], max_new_tokens, stop_ids, sp)]


class VllmGenerator:
    """vLLM with LoRA requests: one engine per base model, one request id per adapter.

    ``engine_factory`` (tests) replaces ``vllm.LLM``; the real one needs a GPU.
    """

    name = "vllm"
    _engines: dict[tuple, object] = {}  # (source, revision, quantization) -> vllm.LLM, process-wide
    _lora_ids: dict[str, int] = {}  # adapter path -> the int id vLLM caches it under

    def __init__(self, max_loras: int = 4, max_lora_rank: int = 64) -> None:
        self.max_loras, self.max_lora_rank = max_loras, max_lora_rank

    @staticmethod
    def _vllm():
        try:
            import vllm
            from vllm.lora.request import LoRARequest
        except ImportError as e:
            raise EnvironmentProblem(f"--backend vllm needs the 'eval-vllm' extra on a GPU machine ({e})")
        return vllm, LoRARequest

    def open(self, params, run, root: Path, adapter_dir: Path | None, tok, prov) -> None:
        from .generate import _source

        vllm, LoRARequest = self._vllm()
        source, kwargs = _source(params, run, root)
        quant = "bitsandbytes" if base_quantization(prov, params)[0] else None
        key = (source, kwargs.get("revision"), quant)
        if key not in self._engines:
            self._engines[key] = vllm.LLM(
                model=source, revision=kwargs.get("revision"), tokenizer=source,
                tokenizer_revision=kwargs.get("revision"), enable_lora=True, max_loras=self.max_loras,
                max_lora_rank=self.max_lora_rank, dtype="bfloat16", quantization=quant, seed=0)
        self.engine = self._engines[key]
        self.tok = tok
        self.lora = None
        if adapter_dir is not None:
            path = str(Path(adapter_dir).resolve())
            lora_id = self._lora_ids.setdefault(path, len(self._lora_ids) + 1)  # ids start at 1
            self.lora = LoRARequest(run.label, lora_id, path)
        self._sampling = vllm.SamplingParams

    def generate(self, prompts: list[str], max_new_tokens: int, stop_ids: list[int],
                 sampling: list[dict] | None = None) -> list[dict]:
        """Greedy, or with ``sampling`` one seeded request per prompt (vLLM seeds each request)."""
        ids = prompt_ids(self.tok, prompts)
        if sampling is None:
            sp = self._sampling(temperature=0.0, max_tokens=max_new_tokens, skip_special_tokens=True,
                                stop_token_ids=stop_ids)
        else:
            sp = [self._sampling(temperature=x["temperature"], top_p=x["top_p"], seed=x["seed"],
                                 max_tokens=max_new_tokens, skip_special_tokens=True, stop_token_ids=stop_ids)
                  for x in sampling]
        outs = self.engine.generate([{"prompt_token_ids": x} for x in ids], sp, lora_request=self.lora,
                                    use_tqdm=False)
        return [completion_row(self.tok, list(o.outputs[0].token_ids), len(x), stop_ids)
                for o, x in zip(outs, ids)]


def make(name: str):
    """The backend called ``name`` (``hf`` or ``vllm``)."""
    if name == "hf":
        return HFGenerator()
    if name == "vllm":
        return VllmGenerator()
    raise UsageError(f"unknown eval backend {name!r} (choose one of {', '.join(BACKENDS)})")


# --- parity and quantisation ------------------------------------------------------------------------
def template_parity(prov, tok, params, where) -> dict:
    """Compare the adapter's train-time template fingerprint with this tokenizer's; see train.parity."""
    from ..train import parity

    return parity.check(prov.params.get("template"), parity.fingerprint(tok, files=False),
                        allow_mismatch=params.eval.allow_template_mismatch, where=Path(where) / "provenance.json")


def base_quantization(prov, params) -> tuple[dict, dict]:
    """(from_pretrained kwargs, settings to record) for the base an adapter is evaluated on.

    A QLoRA adapter (trained on a 4-bit base) is evaluated on the same 4-bit base by default
    (``eval.base_quantization: as_trained``); ``none`` evaluates it on the 16-bit base. A baseline
    (``prov`` None) uses the base ``training.lora.load_in_4bit`` trains on, so baseline and
    trained runs are compared on the same weights.
    """
    if prov is not None:
        trained_4bit = bool(((prov.params.get("training") or {}).get("lora") or {}).get("load_in_4bit"))
    else:  # the baseline runs on the base the study's adapters are trained on (comparable)
        trained_4bit = params.training.lora.load_in_4bit
    if not trained_4bit or params.eval.base_quantization == "none":
        return {}, {"base_quantization": "none"}
    import torch

    if not torch.cuda.is_available():
        what = "this adapter was trained on a 4-bit base" if prov is not None else \
            "the study trains on a 4-bit base (training.lora.load_in_4bit)"
        raise EnvironmentProblem(f"{what} (QLoRA): evaluating on that same base needs bitsandbytes on a CUDA "
                                 "GPU (or set eval.base_quantization: none to evaluate on the 16-bit base, "
                                 "recorded)")
    from transformers import BitsAndBytesConfig

    cfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.bfloat16)
    return {"quantization_config": cfg, "device_map": {"": 0}}, {"base_quantization": "nf4-4bit (as trained)"}
