"""``babyctl eval``: generate (resumable) and score one run."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping

from ..study import Study
from .generate import EvalResult, run_eval
from .runs import make_run
from .score import ScoreResult, score_run


def evaluate(study_or_params: Study | str | Path, *, substrate: str, baseline: bool, condition: str | None = None,
             seed: int | None = None, env: Mapping[str, str] | None = None,
             sleep: Callable[[float], None] = time.sleep, backend=None) -> tuple[EvalResult, ScoreResult]:
    """Completions then scores for one run; paths are relative to the study's root.

    ``study_or_params``: a loaded :class:`~babyctl.study.Study` or the path of params.yaml.
    ``backend``: a :mod:`.backends` generator (``make("vllm")``); default transformers.
    """
    loaded = Study.of(study_or_params)
    params, root, params_path = loaded.params, loaded.root, loaded.shown_params_path
    run = make_run(params, substrate, baseline=baseline, condition=condition, seed=seed,
                   params_path=params_path)
    gen = run_eval(params, run, root, params_path=params_path, backend=backend)
    scored = score_run(params, run.eval_dir(root), params_path=params_path, root=root, env=env,
                       sleep=sleep)
    return gen, scored


def evaluate_substrate(study_or_params: Study | str | Path, *, substrate: str, backend: str = "hf",
                       env: Mapping[str, str] | None = None) -> list[tuple[EvalResult, ScoreResult]]:
    """The baseline, every active condition x training seed and every prompted arm of ``substrate``, one backend
    object for all (with ``vllm``: one engine, each adapter a LoRA request)."""
    from .backends import make

    loaded = Study.of(study_or_params)
    gen = make(backend)
    out = [evaluate(loaded, substrate=substrate, baseline=True, env=env, backend=gen)]
    for cond in loaded.params.active_conditions:
        for seed in loaded.params.training.seeds:
            out.append(evaluate(loaded, substrate=substrate, baseline=False, condition=cond, seed=seed,
                                env=env, backend=gen))
    for cond in loaded.params.active_prompted:  # prompted-only arms: the base model + a system prompt
        out.append(evaluate(loaded, substrate=substrate, baseline=False, condition=cond, env=env, backend=gen))
    return out
