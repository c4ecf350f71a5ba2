"""Evaluation: stimuli -> completions -> scores -> statistics -> report.

Small modules, one job each:

* :mod:`.stimuli`  -- load the stimulus banks (``stimuli/*.jsonl``)
* :mod:`.runs`     -- where an eval run lives and what identifies it
* :mod:`.resume`   -- append-only JSONL files that survive interruption
* :mod:`.generate` -- greedy, batched generation (baseline or base + adapter)
* :mod:`.signals`  -- regex surface signals
* :mod:`.judges`   -- the judge panel (OpenAI-compatible chat completions)
* :mod:`.score`    -- completions -> ``scores.jsonl``
* :mod:`.stats`    -- cluster bootstrap, seed variation, paired tests, Holm, Fleiss' kappa
* :mod:`.report`   -- ``reports/report.md``, plots, ``metrics/eval.json``

Nothing here imports torch, transformers or peft at module level.
"""
