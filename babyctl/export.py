"""``babyctl export --merged``: a trained adapter merged into its base, as 16-bit safetensors.

Read top to bottom:

1. look up the run and check its adapter against its provenance and the base model, exactly as
   ``babyctl eval`` does (:func:`babyctl.evaluate.generate.check_adapter`): a tampered or
   mismatched adapter is refused;
2. load the base model in float32, apply the adapter, ``merge_and_unload()`` (the LoRA update
   ``W + (alpha/r) B A`` computed in float32), then cast to the export dtype (bfloat16 by
   default: the pre-registration's "merge to 16-bit"). A QLoRA adapter is merged into the
   16-bit base (the 4-bit base is a quantisation of it); provenance says so;
3. write the export folder (:func:`babyctl.study.export_dir`) in one atomic rename: ``model*.safetensors``,
   ``config.json``, ``generation_config.json``, the base's tokenizer and chat template, and
   ``provenance.json`` pointing at the adapter's provenance (path + sha256) and the adapter
   weights' sha256.
"""
from __future__ import annotations

from pathlib import Path

from . import study
from .errors import EnvironmentProblem, UsageError
from .fsutil import atomic_dir, atomic_write_json, sha256_file
from .provenance import base_fields, file_hash
from .schemas.provenance import Provenance

DTYPES = ("bfloat16", "float16", "float32")


def export_merged(study_or_params: "study.Study | str | Path", *, substrate: str, condition: str, seed: int,
                  out: str | Path | None = None, dtype: str = "bfloat16") -> Path:
    """Merge run (substrate, condition, seed)'s adapter into its base; returns the folder written.

    ``study_or_params``: a loaded :class:`~babyctl.study.Study` or the path of params.yaml."""
    from .evaluate import generate, runs

    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r} (choose one of {', '.join(DTYPES)})")
    loaded = study.Study.of(study_or_params)
    params, root, params_path = loaded.params, loaded.root, loaded.shown_params_path
    sub = study.substrate(params, substrate, params_path)
    run = runs.make_run(params, substrate, baseline=False, condition=condition, seed=seed,
                        params_path=params_path)
    ref = runs.model_ref(substrate, sub, root)
    adir, adapter_sha, prov = generate.check_adapter(run, root, ref)  # refuses a mismatched adapter
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as e:
        raise EnvironmentProblem(f"export needs the 'train' extra ({e.name} is missing)")
    hf_logging.disable_progress_bar()
    source = str(root / sub.local_path) if sub.local_path else str(sub.hub_id)
    kwargs = {} if sub.local_path else {"revision": sub.revision}
    base = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs)
    tok = AutoTokenizer.from_pretrained(source, **kwargs)
    merged = PeftModel.from_pretrained(base, str(adir)).merge_and_unload()
    merged = merged.to(getattr(torch, dtype))
    final = Path(out) if out is not None else study.export_dir(root, substrate, condition, seed)
    adapter_prov = run.model_dir(root) / "provenance.json"
    trained_4bit = bool(prov.params.get("training", {}).get("lora", {}).get("load_in_4bit"))
    with atomic_dir(final) as tmp:
        tmp.chmod(0o755)
        merged.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        files = sorted(p for p in tmp.iterdir() if p.is_file())
        record = Provenance(
            **base_fields(f"babyctl export --substrate {substrate} --condition {condition} --seed {seed} --merged",
                          cwd=root),
            inputs=[file_hash(adapter_prov, root), *[file_hash(p, root) for p in sorted(adir.iterdir())
                                                    if p.is_file()]],
            seed=seed,
            params={"kind": "merged-export", "substrate": substrate, "condition": condition, "dtype": dtype,
                    "adapter_provenance": {"path": _rel(adapter_prov, root), "sha256": sha256_file(adapter_prov)},
                    "adapter_sha256": adapter_sha, "base_model": ref,
                    "merge": "peft merge_and_unload in float32, then cast to " + dtype,
                    "trained_on_4bit_base": trained_4bit,
                    "files": [file_hash(p, tmp).model_dump(mode="json") for p in files]},
        )
        atomic_write_json(tmp / "provenance.json", record.model_dump(mode="json"))
    return final


def _rel(path: Path, root: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
