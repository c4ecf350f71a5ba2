"""``babyctl train``: one LoRA run, from params to a provenance-stamped adapter.

Read top to bottom, in the order a run happens:

1. load params; look up the substrate and condition;
2. resolve the base model: a local folder (the tiny model; its weights are hashed) or a Hub id
   at a *pinned* revision (an unpinned Hub substrate is refused: the base weights would be unknown);
3. the consent gate (:mod:`.gate`) -- before any weights are loaded; no flag skips it;
4. pick the backend (:mod:`.select`), load model + tokenizer, encode the build output with the
   tokenizer's own chat template (:mod:`.data`), train (:mod:`.backends`);
5. commit the run folder (:func:`babyctl.study.run_dir`: adapter/ + provenance.json) and its
   training metrics (:func:`babyctl.study.train_metrics_paths`) as one unit
   (:func:`babyctl.fsutil.commit_unit`: staged, fsynced, renamed under a lock and a journal), so
   metrics are never stale beside a new adapter.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import study
from ..errors import GateRefused, InputError, IntegrityError, UsageError
from ..fsutil import atomic_write_json, commit_unit, inside, md5_file, sha256_file, temp_dir
from ..provenance import base_fields, file_hash, utc_now
from ..schemas.params import SEED_MAX, Params, Substrate
from ..schemas.provenance import AdapterProvenance, BaseModelRef, ConsentRef, FileHash
from .backends import FitResult, ModelSource
from .data import check_tokenizer, encode_dataset, load_examples
from .gate import check_training_consent
from .parity import fingerprint
from .plan import make_plan
from .select import backend_module, select_backend

GIT_SHA_LEN = 40


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    provenance_path: Path
    metrics_path: Path
    loss_path: Path
    backend: str
    steps: int
    final_loss: float
    consent_note: str = ""  #: which consent record governed (and the chain, if params names an older one)

    @property
    def adapter_dir(self) -> Path:
        return self.run_dir / "adapter"


def combine(fits: list[FitResult]) -> FitResult:
    """One run's result from its stages: steps continue across stages."""
    out = FitResult(device=fits[0].device, settings=fits[0].settings)
    for f in fits:
        out.losses += [(s + out.steps, v) for s, v in f.losses]
        out.valid_losses += [(s + out.steps, v) for s, v in f.valid_losses]
        out.steps += f.steps
        out.runtime_s += f.runtime_s
        out.tokens_seen += f.tokens_seen
        if f.peak_memory_bytes is not None:
            out.peak_memory_bytes = max(out.peak_memory_bytes or 0, f.peak_memory_bytes)
    return out


# --- 1. + 2. params, substrate, base model -------------------------------------------------------
def lookup(params: Params, params_path: Path, substrate: str, condition: str) -> Substrate:
    """The substrate's config; unknown keys are usage errors naming params.yaml (:mod:`babyctl.study`)."""
    sub = study.substrate(params, substrate, params_path)
    study.condition(params, condition, params_path)
    return sub


def resolve_source(root: Path, params_path: Path, key: str, sub: Substrate) -> tuple[ModelSource, BaseModelRef, list[Path]]:
    """Where the base model is, its provenance reference, and the local files to hash."""
    if sub.local_path:
        path = inside(root, sub.local_path, f"substrate {key!r} local_path")
        weights = study.weights_files(path)
        if not weights:
            hint = " (run: babyctl tiny-model)" if key == "tiny" else ""
            raise InputError(f"substrate {key!r}: no base model weights (*.safetensors or *.bin) at "
                             f"{sub.local_path}{hint}",
                             path=params_path, line=study.params_line(params_path, "substrates", key, "local_path"))
        files = sorted(p for p in path.iterdir() if p.is_file())
        ref = BaseModelRef(substrate=key, local_path=sub.local_path, hub_id=sub.hub_id,
                           weights_sha256=study.weights_sha256(weights))
        return ModelSource(str(path), local=True), ref, files
    if not sub.revision:
        raise GateRefused(
            f"substrate {key!r} ({sub.hub_id}) has no pinned revision: set substrates.{key}.revision to "
            "the Hub commit (40 hex) to train on, so the base weights are known", path=params_path,
            line=study.params_line(params_path, "substrates", key, "revision"))
    if len(sub.revision) != GIT_SHA_LEN or any(c not in "0123456789abcdef" for c in sub.revision):
        raise UsageError(f"substrate {key!r}: revision {sub.revision!r} is not a 40-hex commit id "
                         "(branch and tag names move)", path=params_path,
                         line=study.params_line(params_path, "substrates", key, "revision"))
    ref = BaseModelRef(substrate=key, hub_id=sub.hub_id, revision=sub.revision)
    return ModelSource(sub.hub_id, revision=sub.revision), ref, []  # type: ignore[arg-type]


# --- the run -----------------------------------------------------------------------------------
def train(study_or_params: "study.Study | str | Path", *, substrate: str, condition: str, seed: int,
          backend: str = "auto", progress: bool = True) -> TrainResult:
    """Train one adapter; see the module docstring for the steps. Returns where it went.

    ``study_or_params``: a loaded :class:`~babyctl.study.Study` or the path of params.yaml.
    """
    started = utc_now()
    if not 0 <= seed <= SEED_MAX or isinstance(seed, bool):
        raise UsageError(f"seed {seed!r} is out of range (0 to {SEED_MAX})")
    loaded = study.Study.of(study_or_params)
    params, root, params_path = loaded.params, loaded.root, loaded.shown_params_path
    sub = lookup(params, params_path, substrate, condition)
    data_file = study.train_data(root, condition)
    if not data_file.is_file():
        raise InputError(f"no build output for condition {condition!r} (run: babyctl build {condition})",
                         path=data_file.relative_to(root))
    load_examples(data_file)  # empty or malformed data fails now, before any weights load
    dataset = FileHash(path=str(data_file.relative_to(root)), sha256=sha256_file(data_file),
                       md5=md5_file(data_file), size=data_file.stat().st_size)
    source, base_ref, base_files = resolve_source(root, params_path, substrate, sub)

    inside(root, sub.consent_record, "consent record")  # no symlink out of the experiment
    chain = check_training_consent(root, substrate, sub, condition, at=started)
    consent = chain.head

    name = select_backend(backend)
    impl = backend_module(name)
    training, cond = params.training, params.conditions[condition]
    model, tokenizer = impl.load_model(source, training, seed)
    check_tokenizer(tokenizer, where=source.name_or_path)
    encoded = encode_dataset(tokenizer, data_file, max_seq_length=training.max_seq_length,
                             allow_truncation=training.allow_truncation, bos=training.bos)
    valid_file = study.valid_data(root, condition)
    valid = encode_dataset(tokenizer, valid_file, max_seq_length=training.max_seq_length,
                           allow_truncation=training.allow_truncation, bos=training.bos) \
        if valid_file.is_file() else None
    plan = make_plan([e.id for e in encoded.examples], [e.module for e in encoded.examples], cond,
                     training, seed, condition_key=condition)
    template = fingerprint(tokenizer)  # the tokenizer as the backend loaded it (Unsloth may rewrite)
    base_ref_name = sub.hub_id or sub.local_path
    fits: list[FitResult] = []
    with temp_dir("babyctl-stages-") as stage_tmp:  # swept by the next run if this one is killed
        by_id = {e.id: e for e in encoded.examples}
        ordered = [by_id[i] for i in plan.order]
        stage_dirs = []
        for i, stage in enumerate(plan.stages, start=1):
            part = encoded.subset(ordered[stage.start:stage.end])
            fits.append(impl.fit(model, tokenizer, part, training, seed, progress=progress, valid=valid,
                                 max_steps=stage.max_steps))
            if len(plan.stages) > 1:  # a checkpoint adapter at the end of each stage
                d = Path(stage_tmp) / f"stage-{i}-{stage.name}"
                impl.save_adapter(model, d, base_model_ref=base_ref_name, revision=sub.revision)
                stage_dirs.append(d)
        fit = combine(fits)
        ended = utc_now()
        if sha256_file(data_file) != dataset.sha256:
            raise IntegrityError("the training data changed while the run was training; nothing was written",
                                 path=data_file)

        final = study.run_dir(root, substrate, condition, seed)
        metrics_path, loss_path = study.train_metrics_paths(root, substrate, condition, seed)
        valid_loss_path = study.train_valid_loss_path(root, substrate, condition, seed)
        # adapter + provenance + metrics: one unit (staged, fsynced, renamed under a lock and a journal)
        with commit_unit(final, files=[metrics_path, loss_path, valid_loss_path]) as unit:
            tmp = unit.dir
            files = impl.save_adapter(model, tmp / "adapter", base_model_ref=base_ref_name,
                                      revision=sub.revision)
            stages = plan.provenance()
            for entry, d in zip(stages["stages"], stage_dirs):
                shutil.copytree(d, tmp / "checkpoints" / d.name)
                entry["checkpoint"] = [file_hash(p, tmp) for p in sorted((tmp / "checkpoints" / d.name).iterdir())]
                entry["checkpoint"] = [h.model_dump(mode="json") for h in entry["checkpoint"]]
            for entry, f in zip(stages["stages"], fits):
                entry["steps"] = f.steps
            prov = AdapterProvenance(
                **base_fields("train", cwd=root),
                inputs=[_hash(p, root) for p in [data_file, *([valid_file] if valid else []), consent.path,
                                                 *base_files]],
                params={"training": training.model_dump(mode="json"),
                        "substrate": sub.model_dump(mode="json"),
                        "condition": cond.model_dump(mode="json"),
                        "backend_requested": backend,
                        "truncated_examples": encoded.truncated,
                        "plan": stages,
                        "template": template,
                        "settings_used": fit.settings},
                seed=seed, substrate=substrate, condition=condition, base_model=base_ref,
                dataset=dataset,
                consent=ConsentRef(id=consent.record.id, path=_rel(consent.path, root),
                                   sha256=consent.sha256, decision=consent.record.coding.decision,
                                   named=chain.named.record.id, chain=chain.ids),
                backend=name, device=_device_name(fit), started_at=started, ended_at=ended,
                adapter_files=[file_hash(p, tmp) for p in files],
            )
            atomic_write_json(tmp / "provenance.json", prov.model_dump(mode="json"))
            metrics = run_metrics(substrate, condition, seed, name, fit, encoded)
            metrics.update(permutation=plan.permutation, order_sha256=plan.order_sha256, stages=len(plan.stages),
                           valid_examples=len(valid.examples) if valid else 0)
            unit.write_json(metrics_path, metrics)
            unit.write_text(loss_path, "step\tloss\n" + "".join(f"{s}\t{v!r}\n" for s, v in fit.losses))
            unit.write_text(valid_loss_path,
                             "step\tvalid_loss\n" + "".join(f"{s}\t{v!r}\n" for s, v in fit.valid_losses))
    return TrainResult(run_dir=final, provenance_path=final / "provenance.json", metrics_path=metrics_path,
                       loss_path=loss_path, backend=name, steps=fit.steps,
                       final_loss=fit.losses[-1][1] if fit.losses else float("nan"), consent_note=chain.note())


def run_metrics(substrate: str, condition: str, seed: int, backend: str, fit: FitResult, encoded) -> dict:
    """What the run's training metrics file holds (DVC metrics)."""
    losses = [v for _, v in fit.losses]
    return {
        "substrate": substrate, "condition": condition, "seed": seed, "backend": backend,
        "device": _device_name(fit), "steps": fit.steps,
        "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
        "min_loss": min(losses) if losses else None,
        "examples": len(encoded.examples), "tokens": encoded.n_tokens, "loss_tokens": encoded.n_loss_tokens,
        "tokens_seen": fit.tokens_seen, "runtime_s": round(fit.runtime_s, 3),
        "tokens_per_second": round(fit.tokens_seen / fit.runtime_s, 1) if fit.runtime_s else None,
        "peak_gpu_memory_bytes": fit.peak_memory_bytes,
        "valid_loss": fit.valid_losses[-1][1] if fit.valid_losses else None,
        "too_long_examples": encoded.too_long, "truncated_examples": encoded.truncated,
    }


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to the experiment root where it lies inside it, else absolute."""
    path = path.resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _hash(path: Path, root: Path) -> FileHash:
    h = file_hash(path)
    return h.model_copy(update={"path": _rel(path, root)})


def _device_name(fit: FitResult) -> str:
    if fit.device != "cuda":
        return fit.device
    import torch

    return f"cuda ({torch.cuda.get_device_name()})"
