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
             sleep: Callable[[float], None] = time.sleep) -> tuple[EvalResult, ScoreResult]:
    """Completions then scores for one run; paths are relative to the study's root.

    ``study_or_params``: a loaded :class:`~babyctl.study.Study` or the path of params.yaml.
    """
    loaded = Study.of(study_or_params)
    params, root, params_path = loaded.params, loaded.root, loaded.params_path
    run = make_run(params, substrate, baseline=baseline, condition=condition, seed=seed,
                   params_path=params_path)
    gen = run_eval(params, run, root, params_path=params_path)
    scored = score_run(params, run.eval_dir(root), params_path=params_path, root=root, env=env,
                       sleep=sleep)
    return gen, scored
