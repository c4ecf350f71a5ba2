"""Settings profiles: ``profiles/<name>.yaml`` (``tiny`` for CI, ``8b`` for the real study).

A profile is a partial ``params.yaml``: the keys it names (``profile``, ``active_substrates``,
``training.*``, ``eval.*``) replace those in ``params.yaml``; everything else, comments included,
is kept byte for byte. Because the values land in ``params.yaml`` itself, DVC sees them as the
params its stages depend on: ``dvc params diff`` lists every changed setting and ``dvc repro``
re-runs what depends on them. The 8B profile cites a source for each value in comments.

:func:`tiny_settings_on_8b` is the check behind the validate rule: an 8B (Hub) substrate trained
or evaluated with tiny-profile settings. It is pure Python (the validate path imports it).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ParamsError, UsageError

PROFILE_DIR = "profiles"

#: the least an 8B run may use (key path -> (minimum, why))
MIN_8B = {
    ("eval", "max_new_tokens"): (128, "completions are cut before the signals and judges see them"),
    ("training", "max_seq_length"): (1024, "curriculum conversations are cut or refused"),
}
MIN_SEEDS_8B = 3


@dataclass(frozen=True)
class Finding:
    """One tiny setting on an 8B substrate: the params key path and what is wrong."""

    key: tuple[str | int, ...]
    message: str

    @property
    def dotted(self) -> str:
        return ".".join(str(k) for k in self.key)


def profile_path(root: Path, name: str) -> Path:
    return Path(root) / PROFILE_DIR / f"{name}.yaml"


def available(root: Path) -> list[str]:
    """Profile names found under ``profiles/``."""
    d = Path(root) / PROFILE_DIR
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def _yaml():
    from ruamel.yaml import YAML

    y = YAML()  # round-trip: comments, flow lists and key order survive
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y


def _merge(dst, src, path: tuple[str, ...], changed: list[str]) -> None:
    for key, value in src.items():
        here = (*path, str(key))
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge(dst[key], value, here, changed)
            continue
        value = _plain(value)
        if dst.get(key) != value:
            changed.append(".".join(here))
        dst[key] = value


def _plain(value):
    """A profile value without the profile's comments (they stay in the profile file)."""
    from ruamel.yaml.comments import CommentedSeq

    if isinstance(value, list):
        seq = CommentedSeq(_plain(v) for v in value)
        if getattr(value, "fa", None) is not None and value.fa.flow_style():
            seq.fa.set_flow_style()
        return seq
    return value


def apply_profile(params_path: str | Path, name: str) -> list[str]:
    """Write profile ``name``'s values into ``params_path`` (atomically); returns the changed keys.

    The result is validated as :class:`~babyctl.schemas.Params` before it is written: a profile
    that would make params.yaml invalid changes nothing.
    """
    from .config import load_params
    from .fsutil import atomic_write_text

    params_path = Path(params_path)
    root = params_path.resolve().parent
    src = profile_path(root, name)
    if not src.is_file():
        known = ", ".join(available(root)) or "none"
        raise UsageError(f"no profile {name!r} (profiles here: {known})", path=src)
    y = _yaml()
    try:
        profile = y.load(src.read_text(encoding="utf-8"))
        params = y.load(params_path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ParamsError(f"cannot read: {e.strerror}", path=params_path)
    except Exception as e:  # ruamel's YAMLError carries a mark
        mark = getattr(e, "problem_mark", None)
        raise ParamsError(f"invalid YAML: {getattr(e, 'problem', e)}", path=getattr(mark, "name", src),
                          line=mark.line + 1 if mark else None)
    if not isinstance(profile, dict) or not isinstance(params, dict):
        raise ParamsError("a profile and params.yaml must be YAML mappings", path=src, line=1)
    profile["profile"] = name
    changed: list[str] = []
    _merge(params, profile, (), changed)
    out = io.StringIO()
    y.dump(params, out)
    tmp = params_path.with_name(f".{params_path.name}.profile-check")
    tmp.write_text(out.getvalue(), encoding="utf-8")
    try:
        load_params(tmp)  # typed check of the result before params.yaml is touched
    finally:
        tmp.unlink(missing_ok=True)
    if changed:
        atomic_write_text(params_path, out.getvalue())
    return changed


# --- the validate check ---------------------------------------------------------------------------
def is_8b(substrate: dict[str, Any]) -> bool:
    """A real (Hub) substrate, as opposed to local tiny weights."""
    return bool(substrate.get("hub_id")) and not substrate.get("local_path")


def _train_examples(cond: dict[str, Any]) -> int:
    n = int(cond.get("expected_count") or 0)
    frac = float(cond.get("validation_fraction") or 0.0)
    return n - (math.floor(n * frac + 0.5) if frac > 0 else 0)


def tiny_settings_on_8b(data: dict[str, Any]) -> list[Finding]:
    """Tiny-profile settings in params ``data`` (plain parsed YAML) while an 8B substrate is active."""
    subs = data.get("substrates") or {}
    active = [k for k in (data.get("active_substrates") or []) if isinstance(subs.get(k), dict)]
    big = [k for k in active if is_8b(subs[k])]
    if not big:
        return []
    who = ", ".join(big)
    out: list[Finding] = []
    training = data.get("training") or {}
    ev = data.get("eval") or {}
    sections = {"training": training, "eval": ev}
    for (section, key), (least, why) in MIN_8B.items():
        value = sections[section].get(key)
        if isinstance(value, int) and value < least:
            out.append(Finding((section, key), f"{section}.{key}: {value} on 8B substrate(s) {who} "
                                               f"(at least {least}: {why}; see profiles/8b.yaml)"))
    max_steps = training.get("max_steps", -1)
    per_step = int(training.get("batch_size", 2) or 1) * int(training.get("grad_accum", 1) or 1)
    conds = data.get("conditions") or {}
    if isinstance(max_steps, int) and max_steps > 0:
        for ck in data.get("active_conditions") or []:
            cond = conds.get(ck)
            if not isinstance(cond, dict) or cond.get("order") == "staged":
                continue
            n = _train_examples(cond)
            epoch = math.ceil(n / per_step) if n else 0
            if max_steps < epoch:
                out.append(Finding(("training", "max_steps"),
                                   f"training.max_steps: {max_steps} steps x {per_step} examples cover "
                                   f"{max_steps * per_step} of the {n} examples of condition {ck!r}, less than "
                                   f"one epoch ({epoch} steps), on 8B substrate(s) {who}"))
                break
    seeds = training.get("seeds")
    if isinstance(seeds, list) and len(seeds) < MIN_SEEDS_8B:
        out.append(Finding(("training", "seeds"), f"training.seeds: {len(seeds)} seed(s) on 8B substrate(s) "
                                                  f"{who} (at least {MIN_SEEDS_8B} to see seed spread)"))
    return out
