"""Pick the training backend: Unsloth on a CUDA GPU, transformers + peft + trl otherwise.

``auto`` takes Unsloth when ``torch.cuda.is_available()`` and ``import unsloth`` works, else
``hf``. An explicit request that cannot be met raises :class:`EnvironmentProblem` -- babyctl never
silently trains on something other than what was asked for.
"""
from __future__ import annotations

from types import ModuleType

from ..errors import EnvironmentProblem, UsageError

BACKENDS = ("auto", "unsloth", "hf")


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _unsloth_problem() -> str | None:
    """Why unsloth cannot be used here (None when it can)."""
    if not _cuda_available():
        return "no CUDA GPU is visible (torch.cuda.is_available() is False); Unsloth needs one"
    try:
        import unsloth  # noqa: F401  (must be imported before transformers/trl to patch them)
    except Exception as e:  # ImportError, or NotImplementedError without an accelerator
        return f"unsloth cannot be imported ({type(e).__name__}: {e}); install the 'gpu' extra"
    return None


def _hf_problem() -> str | None:
    """Which of the hf backend's libraries are missing (found without importing them: fast)."""
    from importlib.util import find_spec

    missing = [name for name in ("torch", "transformers", "peft", "trl", "datasets") if find_spec(name) is None]
    return f"missing {', '.join(missing)}; install the 'train' extra" if missing else None


def select_backend(requested: str = "auto") -> str:
    """Resolve ``auto|unsloth|hf`` to the backend that will run, or fail clearly."""
    if requested not in BACKENDS:
        raise UsageError(f"unknown backend {requested!r} (choose one of {', '.join(BACKENDS)})")
    if requested in ("auto", "unsloth"):
        problem = _hf_problem()  # unsloth rides on the same stack
        if problem is None:
            problem = _unsloth_problem()
        if problem is None:
            return "unsloth"
        if requested == "unsloth":
            raise EnvironmentProblem(f"--backend unsloth cannot run here: {problem}")
    problem = _hf_problem()
    if problem:
        raise EnvironmentProblem(f"the hf training backend cannot run here: {problem}")
    return "hf"


def backend_module(name: str) -> ModuleType:
    """The module implementing backend ``name`` (``load_model``, ``fit``, ``device``)."""
    if name == "unsloth":
        from .backends import unsloth as mod
    elif name == "hf":
        from .backends import hf as mod
    else:
        raise UsageError(f"unknown backend {name!r}")
    return mod
