"""Evaluation: stimuli -> completions -> scores -> statistics -> report.

Small modules, one job each:

* :mod:`.stimuli`  -- load the stimulus banks (``stimuli/*.jsonl``)
* :mod:`.runs`     -- where an eval run lives and what identifies it
* :mod:`.resume`   -- append-only JSONL files that survive interruption
* :mod:`.generate` -- batched generation, greedy or sampled repeats (baseline or base + adapter)
* :mod:`.signals`  -- regex surface signals
* :mod:`.judges`   -- the judge panel (OpenAI-compatible chat completions)
* :mod:`.score`    -- completions -> ``scores.jsonl``
* :mod:`.stats`    -- seeds x stimuli crossed inference, variance components, Holm, Fleiss' kappa
* :mod:`.analysis` -- declared contrasts, families, interactions, judge ties
* :mod:`.metrics`  -- ``metrics/eval.json``, ``metrics/headline/``, TSVs for ``dvc plots``
* :mod:`.report`   -- ``reports/report.md``, plots, completeness check

Nothing here imports torch, transformers or peft at module level.
"""
