"""Find the run to release and everything it is tied to.

A release is one trained run (its folder: :func:`babyctl.study.run_dir`) with
``adapter/adapter_model.safetensors``, ``adapter/adapter_config.json`` and
``provenance.json`` (an :class:`~babyctl.schemas.AdapterProvenance`), plus the
substrate's consent record, its base license and the target repo id and tag.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import study
from ..consent import Chain, LoadedConsent, chain_for
from ..documents import parse_json_model, read_bytes, read_json
from ..errors import InputError, UsageError
from ..fsutil import inside
from ..schemas.params import Params, Substrate
from ..schemas.provenance import AdapterProvenance
from .licenses import LicenseTerms, terms_for

ADAPTER_WEIGHTS = "adapter/adapter_model.safetensors"
ADAPTER_CONFIG = "adapter/adapter_config.json"
PROVENANCE = "provenance.json"
EVAL_METRICS = "metrics/eval.json"


@dataclass(frozen=True)
class Release:
    """Everything ``card``, ``gates`` and ``stage`` need about one run."""

    root: Path
    params_path: Path | None  #: None for a study loaded from a Params object with no file
    params: Params
    substrate: str
    sub: Substrate
    condition: str
    seed: int
    run_dir: Path
    provenance: AdapterProvenance
    provenance_bytes: bytes
    consent: LoadedConsent
    terms: LicenseTerms | None  #: None when the base license is unknown (a gate refuses)
    repo_id: str
    tag: str
    eval_metrics: dict | None
    chain: Chain | None = None  #: the consent chain; ``consent`` is its head (the record that governs)

    @property
    def repo_name(self) -> str:
        return self.repo_id.split("/", 1)[-1]

    @property
    def weights(self) -> Path:
        return self.run_dir / ADAPTER_WEIGHTS

    @property
    def adapter_config(self) -> Path:
        return self.run_dir / ADAPTER_CONFIG

    def rel(self, path: Path) -> str:
        """``path`` relative to the experiment root, POSIX style."""
        return path.resolve().relative_to(self.root).as_posix()


def make_tag(condition: str, seed: int, dataset_sha256: str) -> str:
    """The release tag: condition, seed and dataset hash prefix, e.g. ``core-seed1-ds1a2b3c4d5e6``."""
    return f"{condition}-seed{seed}-ds{dataset_sha256[:12]}"


def default_repo_id(params: Params, substrate: str, condition: str, seed: int) -> str:
    sub = params.substrates[substrate]
    name = params.publish.repo_name.format(display_name=sub.display_name, condition=condition, seed=seed,
                                           substrate=substrate)
    return f"{params.publish.org}/{name}"


def check_repo_id(repo_id: str) -> None:
    """Raise :class:`UsageError` unless ``repo_id`` is a valid ``org/name`` Hub repo id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        raise UsageError(f"invalid repo id {repo_id!r}: expected ORG/NAME")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise UsageError(f"invalid repo id {repo_id!r}: {str(e).splitlines()[0]}")


def _load_provenance(path: Path) -> tuple[AdapterProvenance, bytes]:
    raw = read_bytes(path, "adapter provenance")
    return parse_json_model(raw, AdapterProvenance, path, "adapter provenance"), raw


def _load_eval(root: Path) -> dict | None:
    path = root / EVAL_METRICS
    if not path.is_file():
        return None
    data = read_json(path, "eval metrics")
    return data if isinstance(data, dict) else None


def resolve(study_or_params: study.Study | str | Path, substrate: str, *, condition: str | None = None, seed: int | None = None,
            repo_id: str | None = None) -> Release:
    """Locate the run and load its provenance, consent record and license terms.

    Raises :class:`UsageError` for an unknown substrate/condition or invalid repo id,
    and :class:`InputError` when the run has no adapter yet.
    """
    loaded = study.Study.of(study_or_params)
    params, root, params_path = loaded.params, loaded.root, loaded.shown_params_path
    sub = study.substrate(params, substrate, params_path)
    condition = params.active_conditions[0] if condition is None else condition  # "" is an error, not the default
    study.condition(params, condition, params_path)
    seed = params.training.seeds[0] if seed is None else seed
    run_dir = study.run_dir(root, substrate, condition, seed)
    rel_run = run_dir.relative_to(root).as_posix()
    train_hint = (f"run: babyctl train --substrate {substrate} --condition {condition} --seed {seed} "
                  "(or dvc repro)")
    for need in (ADAPTER_WEIGHTS, ADAPTER_CONFIG, PROVENANCE):
        if not (run_dir / need).is_file():
            raise InputError(f"no adapter yet: {rel_run}/{need} does not exist; {train_hint}",
                             path=run_dir / need)
    provenance, prov_bytes = _load_provenance(run_dir / PROVENANCE)
    chain = chain_for(inside(root, sub.consent_record, "consent record"))  # no symlink out
    consent = chain.head
    repo_id = default_repo_id(params, substrate, condition, seed) if repo_id is None else repo_id
    check_repo_id(repo_id)
    return Release(
        root=root, params_path=params_path, params=params, substrate=substrate, sub=sub,
        condition=condition, seed=seed, run_dir=run_dir, provenance=provenance, provenance_bytes=prov_bytes,
        consent=consent, terms=terms_for(sub.license), repo_id=repo_id,
        tag=make_tag(condition, seed, provenance.dataset.sha256), eval_metrics=_load_eval(root),
        chain=chain,
    )
