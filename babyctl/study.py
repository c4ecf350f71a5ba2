"""The layout and identity of a study: where every file of a run lives, and what names mean.

The one home for these; every other module imports them. Paths are relative to the
experiment root (the folder holding ``params.yaml``)::

    data/build/<C>/train.jsonl, valid.jsonl       build outputs (build_dir, train_data, valid_data)
    models/<S>/<C>/seed-<N>/                      a trained run: adapter/ + provenance.json (run_dir)
    metrics/train/<S>/<C>/seed-<N>.json, .loss.tsv  its training metrics (train_metrics_paths)
    eval/<S>/baseline/, eval/<S>/<C>/seed-<N>/    eval runs (eval_dir); eval/<S>/<C>/ a prompted-only arm
    releases/<S>/<C>/seed-<N>/                    a staged release (release_dir)

Look-ups of substrates and conditions raise one :class:`~babyctl.errors.UsageError` wording,
naming ``params.yaml`` and the line of the section. :func:`params_line` is the one "line of a
key in params.yaml". The base weights of a local model are ``*.safetensors`` files, or
``*.bin`` files when a folder has no safetensors (:func:`weights_files`), hashed one way
(:func:`weights_sha256`) by train and eval alike.

:class:`Study` bundles a loaded :class:`~babyctl.schemas.Params` with its root, so that the
Python API can take either a path or a loaded study.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .config import DEFAULT_PARAMS, load_params
from .errors import UsageError
from .schemas.params import Condition, Params, Substrate

BUILD_DIR = "data/build"
TRAIN_FILE = "train.jsonl"
VALID_FILE = "valid.jsonl"
BASELINE = "baseline"
#: the folders a study's pipeline writes (audit looks for untracked files there)
DATA_FOLDERS = ("data", "models", "eval", "metrics", "reports")
DATA_FOLDERS += ("eval-capability",)  # capability-check results (babyctl.capability)

_RUN_RE = re.compile(r"^models/([^/]+)/([^/]+)/seed-(-?\d+)$")


# --- run identity and folders -----------------------------------------------------------------
def run_label(substrate: str, condition: str | None = None, seed: int | None = None) -> str:
    """``S/C/seed-N`` for a trained run, ``S/baseline`` for a baseline (condition None), ``S/C`` for a
    prompted-only arm (a condition without a seed)."""
    if condition is None:
        return f"{substrate}/{BASELINE}"
    if seed is None:
        return f"{substrate}/{condition}"
    return f"{substrate}/{condition}/seed-{seed}"


def run_dir(root: str | Path, substrate: str, condition: str, seed: int) -> Path:
    """``models/<S>/<C>/seed-<N>``: one trained run (``adapter/`` + ``provenance.json``)."""
    return Path(root) / "models" / run_label(substrate, condition, seed)


def parse_run_dir(rel: str) -> tuple[str, str, int] | None:
    """(substrate, condition, seed) of a repository-relative ``models/<S>/<C>/seed-<N>``, else None."""
    m = _RUN_RE.match(rel)
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def train_metrics_paths(root: str | Path, substrate: str, condition: str, seed: int) -> tuple[Path, Path]:
    """``metrics/train/<S>/<C>/seed-<N>.json`` and ``.loss.tsv``."""
    base = Path(root) / "metrics" / "train" / run_label(substrate, condition, seed)
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".loss.tsv")


def train_valid_loss_path(root: str | Path, substrate: str, condition: str, seed: int) -> Path:
    """``metrics/train/<S>/<C>/seed-<N>.valid.tsv``: validation loss per evaluation (DVC plots)."""
    base = Path(root) / "metrics" / "train" / run_label(substrate, condition, seed)
    return base.with_name(base.name + ".valid.tsv")


def eval_root(root: str | Path) -> Path:
    """``eval/``: every eval run's folder is below it."""
    return Path(root) / "eval"


def eval_dir(root: str | Path, substrate: str, condition: str | None = None, seed: int | None = None) -> Path:
    """``eval/<S>/baseline`` or ``eval/<S>/<C>/seed-<N>``."""
    return eval_root(root) / run_label(substrate, condition, seed)


def capability_dir(root: str | Path, substrate: str, condition: str | None = None, seed: int | None = None) -> Path:
    """``eval-capability/<S>/baseline`` or ``eval-capability/<S>/<C>/seed-<N>``: capability-check results."""
    return Path(root) / "eval-capability" / run_label(substrate, condition, seed)


def export_dir(root: str | Path, substrate: str, condition: str, seed: int) -> Path:
    """``exports/<S>/<C>/seed-<N>-merged``: a run's adapter merged into its base (``babyctl export``)."""
    base = Path(root) / "exports" / run_label(substrate, condition, seed)
    return base.with_name(base.name + "-merged")


def release_dir(root: str | Path, substrate: str, condition: str, seed: int) -> Path:
    """``releases/<S>/<C>/seed-<N>``: what ``publish`` stages before it uploads."""
    return Path(root) / "releases" / run_label(substrate, condition, seed)


def build_dir(root: str | Path, condition: str) -> Path:
    """``data/build/<C>``: one condition's build outputs."""
    return Path(root) / BUILD_DIR / condition


def train_data(root: str | Path, condition: str) -> Path:
    """``data/build/<C>/train.jsonl``."""
    return build_dir(root, condition) / TRAIN_FILE


def valid_data(root: str | Path, condition: str) -> Path:
    """``data/build/<C>/valid.jsonl`` (only written when ``validation_fraction > 0``)."""
    return build_dir(root, condition) / VALID_FILE


def train_data_rel(condition: str) -> str:
    """``data/build/<C>/train.jsonl`` as the POSIX string provenance records."""
    return f"{BUILD_DIR}/{condition}/{TRAIN_FILE}"


def shown(path: str | Path | None) -> Path | None:
    """``path`` as a message shows it: relative to the working directory when it lies below it."""
    if path is None:
        return None
    path = Path(path)
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd())
        except (ValueError, OSError):
            return path
    return path


# --- params look-ups --------------------------------------------------------------------------
def params_line(params_path: str | Path | None, *loc: str | int) -> int | None:
    """1-based line of the key path ``loc`` in params.yaml (the deepest part that exists); None
    when there is no file to read."""
    if params_path is None:
        return None
    from .locate import locate, node_tree

    try:
        text = Path(params_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return locate(node_tree(text), loc)[0]


def _unknown(kind: str, key: str, known: dict, params_path: str | Path | None, section: str) -> UsageError:
    names = ", ".join(known) or "(none)"
    return UsageError(f"unknown {kind} {key!r} (params.yaml defines: {names})",
                      path=params_path, line=params_line(params_path, section))


def substrate(params: Params, key: str, params_path: str | Path | None = None) -> Substrate:
    """The substrate ``key``; :class:`UsageError` (one wording) when params defines no such substrate."""
    if key not in params.substrates:
        raise _unknown("substrate", key, params.substrates, params_path, "substrates")
    return params.substrates[key]


def condition(params: Params, key: str, params_path: str | Path | None = None) -> Condition:
    """The condition ``key``; :class:`UsageError` (one wording) when params defines no such condition."""
    if key not in params.conditions:
        raise _unknown("condition", key, params.conditions, params_path, "conditions")
    return params.conditions[key]


def arms(params: Params) -> list[str]:
    """Every active arm's condition name: the trained ``active_conditions``, then the prompted-only
    ``active_prompted`` (evaluated, never trained). Contrasts and reports span these."""
    return [*params.active_conditions, *params.active_prompted]


# --- base weights -----------------------------------------------------------------------------
def weights_files(folder: str | Path) -> list[Path]:
    """The weight files of a local model folder: ``*.safetensors``, else ``*.bin``; sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))


def weights_sha256(files: list[Path]) -> str | None:
    """SHA-256 of a model's weights: the one file's own SHA-256, or, for shards, the SHA-256 of
    ``"<sha256>  <name>\\n"`` lines over the files sorted by name. None when there are none."""
    from .fsutil import sha256_bytes, sha256_file

    if not files:
        return None
    if len(files) == 1:
        return sha256_file(files[0])
    return sha256_bytes("".join(f"{sha256_file(p)}  {p.name}\n" for p in sorted(files)).encode())


# --- a loaded study ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Study:
    """A loaded ``params.yaml`` and the experiment root its paths are relative to.

    >>> study = Study.load("params.yaml")            # doctest: +SKIP
    >>> study.run_dir("tiny", "core", 1)             # doctest: +SKIP
    PosixPath('/.../models/tiny/core/seed-1')
    """

    params: Params
    root: Path
    params_path: Path | None = None

    @classmethod
    def load(cls, params_path: str | Path = DEFAULT_PARAMS) -> "Study":
        """Read and validate ``params_path``; the root is its folder (absolute)."""
        path = Path(params_path).resolve()
        return cls(params=load_params(path), root=path.parent, params_path=path)

    @classmethod
    def of(cls, study: "Study | Params | str | Path" = DEFAULT_PARAMS, root: str | Path | None = None) -> "Study":
        """A :class:`Study` from a study, a params path, or a :class:`Params` (then ``root`` is
        required: a loaded Params does not know where its files are)."""
        if isinstance(study, Study):
            return study
        if isinstance(study, Params):
            if root is None:
                raise UsageError("a Params object needs root= (the experiment folder its paths are relative to)")
            root = Path(root).resolve()
            path = root / DEFAULT_PARAMS
            return cls(params=study, root=root, params_path=path if path.is_file() else None)
        return cls.load(study)

    @property
    def shown_params_path(self) -> Path | None:
        """params.yaml as errors name it: relative to the working directory when it lies below it
        (``params.yaml:17`` when run from the experiment root), else absolute."""
        return shown(self.params_path)

    def substrate(self, key: str) -> Substrate:
        return substrate(self.params, key, self.shown_params_path)

    def condition(self, key: str) -> Condition:
        return condition(self.params, key, self.shown_params_path)

    def line(self, *loc: str | int) -> int | None:
        return params_line(self.params_path, *loc)

    def run_dir(self, substrate: str, condition: str, seed: int) -> Path:
        return run_dir(self.root, substrate, condition, seed)

    def eval_dir(self, substrate: str, condition: str | None = None, seed: int | None = None) -> Path:
        return eval_dir(self.root, substrate, condition, seed)

    def train_data(self, condition: str) -> Path:
        return train_data(self.root, condition)

    def rel(self, path: Path) -> str:
        """``path`` relative to the root (POSIX) where it lies inside it, else absolute."""
        path = Path(path).resolve()
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
