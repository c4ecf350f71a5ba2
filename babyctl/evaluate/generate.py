"""Batched generation over the stimulus banks: ``babyctl eval``.

Greedy by default, one completion per stimulus. With ``eval.repeats`` > 1 and
``eval.sampling.temperature`` > 0 each stimulus gets that many sampled completions; each row
records its ``repeat`` index and ``sampling_seed`` (derived from the base seed, the stimulus id
and the repeat), and sampled rows are generated one at a time so that each is reproducible from
its seed whatever the batching or resumption. Generation stops at the substrate's end-of-turn
tokens (its eos, ``<|eot_id|>``, ``<|im_end|>``, a new turn's start) and the completion is cut
there, so an invented follow-on turn is never scored. Every setting, the stop tokens included,
goes into the rows and the eval provenance.


The prompt is the substrate's own chat template applied to the stimulus's conversation
(system prompt, prior turns, the user turn; ``apply_chat_template(..., add_generation_prompt=True)``)
plus its assistant prefill, which the model continues (:func:`.stimuli.render_prompt`); it is
tokenised without added special tokens (the template writes the BOS), left-padded in batches, and
recorded in each row as ``rendered_prompt``. Baseline runs use the base model; trained runs load
the LoRA adapter from the run folder's ``adapter/`` after checking its
provenance names this substrate and this base model. Rows are appended durably as
batches finish, so an interrupted eval resumes where it stopped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..consent import gate
from ..documents import parse_json_model, read_bytes
from ..errors import EnvironmentProblem, GateRefused, InputError, IntegrityError
from ..fsutil import atomic_write_json, inside, sha256_bytes, sha256_file
from ..provenance import base_fields, file_hash, utc_now
from ..schemas.params import Params
from ..schemas.provenance import AdapterProvenance, Provenance
from . import runs
from .resume import ResumableJsonl
from .prompted import consent_condition, system_prompt
from .stimuli import LoadedStimulus, load_stimuli, render_prompt, stimulus_fields

ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class EvalResult:
    """What one ``babyctl eval`` did."""

    completions: Path
    provenance: Path
    total: int
    generated: int
    reused: int
    stale: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    consent_note: str = ""  #: which consent record governed (babyctl.consent.Chain.note)


# --- adapter checks -----------------------------------------------------------------------------
def adapter_sha256(adapter_dir: Path) -> str:
    """SHA-256 of the adapter weights file."""
    weights = adapter_dir / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise InputError(f"adapter weights {ADAPTER_WEIGHTS} not found (run: babyctl train)",
                         path=adapter_dir)
    return sha256_file(weights)


def check_adapter(run: runs.RunSpec, root: Path, ref: dict) -> tuple[Path, str, AdapterProvenance]:
    """Refuse an adapter whose provenance does not match ``run`` and the base model ``ref``.

    Returns (adapter folder, adapter sha256, provenance). Raises :class:`InputError`
    for missing/malformed files and :class:`IntegrityError` for a mismatch.
    """
    mdir = run.model_dir(root)
    adir = mdir / "adapter"
    prov_path = mdir / "provenance.json"
    if not adir.is_dir():
        raise InputError("adapter folder not found (run: babyctl train "
                         f"--substrate {run.substrate} --condition {run.condition} --seed {run.seed})",
                         path=adir)
    raw = read_bytes(prov_path, "adapter provenance", "; refusing an adapter of unknown origin")
    prov = parse_json_model(raw, AdapterProvenance, prov_path, "adapter provenance")
    problems = []
    if prov.substrate != run.substrate:
        problems.append(f"it was trained on substrate {prov.substrate!r}, not {run.substrate!r}")
    if prov.condition != run.condition:
        problems.append(f"it was trained on condition {prov.condition!r}, not {run.condition!r}")
    if prov.seed is not None and prov.seed != run.seed:
        problems.append(f"it was trained with seed {prov.seed}, not {run.seed}")
    base = prov.base_model
    if base.substrate != run.substrate:
        problems.append(f"its base model is substrate {base.substrate!r}, not {run.substrate!r}")
    if ref["hub_id"] and base.hub_id != ref["hub_id"]:
        problems.append(f"its base model is {base.hub_id!r}, params.yaml says {ref['hub_id']!r}")
    if ref["hub_id"] and ref["revision"] and base.revision and base.revision != ref["revision"]:
        problems.append(f"its base revision is {base.revision}, params.yaml pins {ref['revision']}")
    if ref["weights_sha256"] and base.weights_sha256 and base.weights_sha256 != ref["weights_sha256"]:
        problems.append(f"its base weights sha256 is {base.weights_sha256[:12]}..., the local base "
                        f"model's is {ref['weights_sha256'][:12]}...")
    if ref["local_path"] and not ref["hub_id"] and not base.weights_sha256:
        problems.append("its provenance records no base weights sha256 to check against")
    sha = adapter_sha256(adir)
    recorded = {Path(f.path).name: f.sha256 for f in prov.adapter_files}
    if ADAPTER_WEIGHTS in recorded and recorded[ADAPTER_WEIGHTS] != sha:
        problems.append(f"{ADAPTER_WEIGHTS} changed since training (sha256 {sha[:12]}..., "
                        f"provenance says {recorded[ADAPTER_WEIGHTS][:12]}...)")
    if problems:
        raise IntegrityError("adapter provenance does not match: " + "; ".join(problems), path=prov_path)
    return adir, sha, prov


# --- model loading and generation ---------------------------------------------------------------
def _device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


def _hf():
    try:
        import torch  # noqa: F401
        import transformers
        from transformers.utils import logging as hf_logging
    except ImportError as e:  # pragma: no cover - depends on the install
        raise EnvironmentProblem(f"eval needs the 'train' extra ({e.name} is missing): "
                                 "pip install -e '.[train]'")
    hf_logging.disable_progress_bar()
    return transformers


def _source(params: Params, run: runs.RunSpec, root: Path) -> tuple[str, dict]:
    sub = params.substrates[run.substrate]
    if sub.local_path:
        return str(root / sub.local_path), {}
    return str(sub.hub_id), {"revision": sub.revision}


def load_tokenizer(params: Params, run: runs.RunSpec, root: Path):
    """The substrate's tokenizer, left-padded, with a pad token; it must have a chat template."""
    transformers = _hf()
    source, kwargs = _source(params, run, root)
    try:
        tok = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
    except OSError as e:
        raise EnvironmentProblem(f"cannot load tokenizer of {source}: {str(e).splitlines()[0]}")
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise InputError(f"base model {source} has no chat template")
    return tok


def load_model(params: Params, run: runs.RunSpec, root: Path, adapter_dir: Path | None,
               extra: dict | None = None):
    """The base model (bf16 on a GPU, fp32 on CPU), with the adapter applied when given.

    ``extra``: more ``from_pretrained`` arguments (the 4-bit base of a QLoRA adapter: see
    :func:`babyctl.evaluate.backends.base_quantization`)."""
    transformers = _hf()
    source, kwargs = _source(params, run, root)
    device, dtype = _device_and_dtype()
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs, **(extra or {}))
    except OSError as e:
        raise EnvironmentProblem(f"cannot load base model {source}: {str(e).splitlines()[0]}")
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    if not (extra or {}).get("quantization_config"):  # a bitsandbytes model is placed already
        model.to(device)
    model.eval()
    return model


#: special tokens that end an assistant turn or start a new one, in any supported chat template
STOP_TOKENS = ("<|eot_id|>", "<|im_end|>", "<|end_of_text|>", "<|endoftext|>", "<|im_start|>",
               "<|start_header_id|>", "</s>")


def stop_token_ids(tok, model=None) -> list[int]:
    """The substrate's end-of-turn ids: the tokenizer's eos, the generation config's eos ids, and
    every :data:`STOP_TOKENS` entry that is a single token of this tokenizer, sorted."""
    ids = set()
    if tok.eos_token_id is not None:
        ids.add(int(tok.eos_token_id))
    cfg = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for i in (cfg if isinstance(cfg, (list, tuple)) else [cfg]):
        if i is not None:
            ids.add(int(i))
    vocab = tok.get_vocab()
    ids.update(int(vocab[t]) for t in STOP_TOKENS if t in vocab)
    return sorted(ids)


def cut_at_stop(ids: list[int], stop_ids: list[int]) -> tuple[list[int], int, str]:
    """(completion ids before the first stop token, tokens generated up to and including it,
    stop reason ``stop_token`` or ``max_new_tokens``): anything after the end of the turn
    (an invented follow-on turn, padding) is cut off."""
    stops = set(stop_ids)
    for n, i in enumerate(ids):
        if i in stops:
            return ids[:n], n + 1, "stop_token"
    return ids, len(ids), "max_new_tokens"


def _generate_batch(model, tok, prompts: list[str], max_new_tokens: int, stop_ids: list[int],
                    sampling: dict | None = None) -> list[dict]:
    """Completions for one batch: [{completion, n_input_tokens, n_output_tokens, stop_reason}].
    Greedy unless ``sampling`` ({temperature, top_p, seed}) is given; sampled batches are seeded."""
    import torch

    enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")  # rendered prompts
    enc = {k: v.to(model.device) for k, v in enc.items()}
    if sampling is None:
        decode = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    else:
        torch.manual_seed(sampling["seed"])
        decode = {"do_sample": True, "temperature": sampling["temperature"], "top_p": sampling["top_p"],
                  "top_k": None}
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, eos_token_id=stop_ids,
                             pad_token_id=tok.pad_token_id, **decode)
    width = enc["input_ids"].shape[1]
    rows = []
    for i in range(len(prompts)):
        kept, n_out, reason = cut_at_stop(out[i, width:].tolist(), stop_ids)
        rows.append({"completion": tok.decode(kept, skip_special_tokens=True),
                     "n_input_tokens": int(enc["attention_mask"][i].sum()),
                     "n_output_tokens": n_out, "stop_reason": reason})
    return rows


def sampling_seed(base: int, stimulus_id: str, repeat: int) -> int:
    """The seed of one sampled completion: stable in (base seed, stimulus id, repeat), < 2**31."""
    return int(sha256_bytes(f"{base}\x1f{stimulus_id}\x1f{repeat}".encode())[:8], 16) % (2 ** 31)


def _progress(total: int, description: str):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                    disable=not console.is_terminal)


# --- the command ----------------------------------------------------------------------------------
def run_eval(params: Params, run: runs.RunSpec, root: str | Path = ".",
             params_path: str | Path = "params.yaml", backend=None) -> EvalResult:
    """Generate completions for ``run``; resumes an interrupted run. See module docstring.

    ``backend``: a :class:`babyctl.evaluate.backends.Generator` (default: transformers ``generate``).
    """
    from . import backends

    backend = backend or backends.HFGenerator()
    root = Path(root)
    started = utc_now()  # when this run's data collection starts: consent must predate it
    sub = params.substrates[run.substrate]
    if sub.hub_id and not sub.local_path and not sub.revision:
        from .signals import _line_of

        raise GateRefused(f"substrate {run.substrate!r} ({sub.hub_id}) has no pinned revision: set "
                          f"substrates.{run.substrate}.revision to the Hub commit to evaluate, so the "
                          "completions say which weights made them", path=params_path,
                          line=_line_of(params_path, ("substrates", run.substrate, "revision")))
    inside(root, sub.consent_record, "consent record")  # no symlink out of the experiment
    if sub.local_path:
        inside(root, sub.local_path, f"substrate {run.substrate!r} local_path")
    chain = gate(root, run.substrate, sub, purpose="evaluation", condition=consent_condition(run), at=started)
    consent = chain.head
    arm_prompt, arm_prompt_path = system_prompt(params, run, root)
    stimuli = load_stimuli(root / params.stimuli_dir, params.eval.banks or None)
    ref = runs.model_ref(run.substrate, sub, root)
    if sub.local_path and ref["weights_sha256"] is None:
        raise InputError("base model weights not found (run: babyctl tiny-model)",
                         path=root / sub.local_path)
    adir, a_sha, prov = (None, None, None)
    if run.is_trained:
        adir, a_sha, prov = check_adapter(run, root, ref)
    ev = params.eval
    sample = ev.sampling.temperature > 0
    settings = {"do_sample": sample, "max_new_tokens": ev.max_new_tokens,
                # sampled rows one at a time on hf (each reproducible from its own seed); vllm
                # seeds each request itself
                "batch_size": 1 if sample and backend.name == "hf" else ev.batch_size,
                "chat_template": sub.chat_template,
                "temperature": ev.sampling.temperature if sample else None,
                "top_p": ev.sampling.top_p if sample else None,
                "sampling_base_seed": ev.sampling.seed if sample else None,
                "prompt_format": "system + prior turns + user turn, apply_chat_template(add_generation_prompt=True)"
                                 " + assistant prefill",
                "backend": backend.name}
    settings.update(backends.base_quantization(prov, params)[1])
    if arm_prompt is not None:
        settings["arm_system_prompt_sha256"] = sha256_bytes(arm_prompt.encode())
    if ref["local_path"]:  # the stop tokens come from the tokenizer: known before loading it
        settings["stop_token_ids"] = _local_stop_ids(root / ref["local_path"])
    fingerprint = sha256_bytes(json.dumps({"model": ref, "adapter_sha256": a_sha,
                                           "settings": settings}, sort_keys=True).encode())[:16]
    out_dir = run.eval_dir(root)
    store = ResumableJsonl(out_dir / runs.COMPLETIONS, key=("stimulus_id", "repeat"), fingerprint=fingerprint)
    done = store.load_done()
    wanted = [(s, r) for s in stimuli for r in range(ev.repeats)]
    todo = [(s, r) for s, r in wanted if (s.stimulus.id, r) not in done]
    reused = len(wanted) - len(todo)
    if todo:  # transformers is imported only when there is something to generate
        tok = load_tokenizer(params, run, root)
        settings["chat_template_sha256"] = sha256_bytes(str(tok.chat_template).encode())
        if prov is not None:  # train/eval template parity (refused unless allowed; recorded)
            settings.update(backends.template_parity(prov, tok, params, run.model_dir(root)))
        backend.open(params, run, root, adir, tok, prov)
        stop_ids = stop_token_ids(tok, getattr(backend, "model", None))
        settings["stop_token_ids"] = stop_ids
        settings["stop_tokens"] = [tok.convert_ids_to_tokens(i) for i in stop_ids]
        bs = settings["batch_size"]
        with _progress(len(wanted), f"eval {run.label}") as bar:
            task = bar.add_task(f"eval {run.label}", total=len(wanted), completed=reused)
            for start in range(0, len(todo), bs):
                batch = todo[start:start + bs]
                texts = [render_prompt(tok, s.stimulus, arm_prompt) for s, _ in batch]  # stimuli.render_prompt
                seeds = [sampling_seed(ev.sampling.seed, s.stimulus.id, r) if sample else None for s, r in batch]
                sampling = [{"temperature": ev.sampling.temperature, "top_p": ev.sampling.top_p, "seed": sd}
                            for sd in seeds] if sample else None
                outs = backend.generate(texts, ev.max_new_tokens, stop_ids, sampling)
                rows = [_row(s, {"rendered_prompt": t, **o}, run, ref, a_sha, settings, fingerprint, r, sd,
                             arm_prompt)
                        for (s, r), o, sd, t in zip(batch, outs, seeds, texts)]
                store.append(rows)
                for row in rows:
                    done[(row["stimulus_id"], row["repeat"])] = row
                bar.advance(task, len(rows))
    ordered = [done[(s.stimulus.id, r)] for s, r in wanted]
    for k in ("chat_template_sha256", "stop_tokens"):
        settings.setdefault(k, ordered[0]["generation"].get(k))
    settings["repeats"] = ev.repeats
    final = store.finish(ordered)
    prov_path = out_dir / runs.PROVENANCE
    collected = {"started_at": started.isoformat(), "ended_at": utc_now().isoformat(),
                 "reused_rows": reused, "consent": chain.ref(root)}
    _write_provenance(prov_path, params, run, root, stimuli, ref, adir, a_sha, consent, settings,
                      params_path, collected, arm_prompt_path)
    return EvalResult(final, prov_path, len(wanted), len(todo), reused, store.stale, settings, chain.note())


def _local_stop_ids(folder: Path) -> list[int] | None:
    """Stop ids of a local model read from its tokenizer files without loading transformers
    (so that a resumed run's fingerprint is known before anything is loaded); None if unknown."""
    try:
        tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    vocab = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    eos = cfg.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    ids = {vocab[t] for t in (*STOP_TOKENS, eos) if t in vocab}
    try:
        gen = json.loads((folder / "generation_config.json").read_text(encoding="utf-8")).get("eos_token_id")
        ids.update(gen if isinstance(gen, list) else [gen] if gen is not None else [])
    except (OSError, ValueError):
        pass
    return sorted(ids) or None


def _row(s: LoadedStimulus, out: dict, run: runs.RunSpec, ref: dict, a_sha: str | None,
         settings: dict, fingerprint: str, repeat: int = 0, seed: int | None = None,
         arm_prompt: str | None = None) -> dict:
    st = s.stimulus
    return {
        "stimulus_id": st.id, "bank": st.bank, "sub_category": st.sub_category,
        "difficulty": st.difficulty, "prompt": st.prompt, "trap": st.trap, **stimulus_fields(st),
        **({"arm_system_prompt": arm_prompt} if arm_prompt is not None else {}),
        "substrate": run.substrate, "condition": run.condition_label, "seed": run.seed,
        "repeat": repeat, "sampling_seed": seed,
        "model_id": runs.model_id(ref), "model_sha256": ref["weights_sha256"],
        "model_revision": ref["revision"], "adapter_sha256": a_sha,
        "generation": {k: v for k, v in settings.items() if k != "prompt_format"},
        "fingerprint": fingerprint, **out,
    }


def _write_provenance(path: Path, params: Params, run: runs.RunSpec, root: Path,
                      stimuli: list[LoadedStimulus], ref: dict, adir: Path | None, a_sha: str | None,
                      consent, settings: dict, params_path, collected: dict | None = None,
                      arm_prompt_path: Path | None = None) -> None:
    inputs = [file_hash(p, root) for p in sorted({s.path for s in stimuli})]
    inputs.append(file_hash(consent.path, root))
    if arm_prompt_path is not None:
        inputs.append(file_hash(arm_prompt_path, root))
    if adir is not None:
        inputs.append(file_hash(adir / ADAPTER_WEIGHTS, root))
    if ref["local_path"]:
        inputs += [file_hash(f, root) for f in runs.weights_files(root / ref["local_path"])]
    cmd = (f"babyctl eval --substrate {run.substrate} "
           + ("--baseline" if run.is_baseline else f"--condition {run.condition}"
              + (f" --seed {run.seed}" if run.is_trained else "")))
    prov = Provenance(
        **base_fields(cmd, root), inputs=inputs, seed=run.seed,
        params={"eval": params.eval.model_dump(mode="json", include={"banks", "max_new_tokens",
                                                                      "batch_size", "repeats", "sampling"}),
                "substrate": run.substrate, "condition": run.condition_label,
                "model": ref, "adapter_sha256": a_sha, "generation": settings,
                "completions_sha256": sha256_file(path.parent / runs.COMPLETIONS),
                # when the data was collected and under which consent (babyctl.consent, audit checks it)
                "collected": collected or {}},
    )
    atomic_write_json(path, prov.model_dump(mode="json"))
