"""Score a run's completions: surface signals, plus the judge panel when configured.

Reads ``eval/.../completions.jsonl`` and writes ``scores.jsonl`` beside it (one
row per completion) and ``scores.provenance.json``. Like generation, scoring is
resumable: rows are appended as they are scored, and a restart reuses rows made
with the same signals, panel and completion text.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..errors import InputError
from ..fsutil import atomic_write_json, sha256_bytes, sha256_file
from ..provenance import base_fields, file_hash
from ..schemas.params import Params
from ..schemas.provenance import Provenance
from . import runs
from .judges import Panel
from .resume import ResumableJsonl, _read_rows, row_key
from .signals import compile_signals, score_text
from .stimuli import judge_prompt

#: fields copied from a completion row into its score row
CARRIED = ("stimulus_id", "bank", "sub_category", "difficulty", "substrate", "condition", "seed")
#: carried when present (rows of older evals have no repeats)
OPTIONAL = {"repeat": 0, "sampling_seed": None}
KEY = ("stimulus_id", "repeat")


@dataclass
class ScoreResult:
    scores: Path
    provenance: Path
    total: int
    scored: int
    reused: int
    judge_failures: int


def score_run(params: Params, run_dir: str | Path, *, params_path: str | Path = "params.yaml",
              root: str | Path = ".", env: Mapping[str, str] | None = None,
              sleep: Callable[[float], None] = time.sleep, backoff_s: float = 1.0,
              progress: bool = True) -> ScoreResult:
    """Write ``scores.jsonl`` for the completions in ``run_dir``."""
    run_dir = Path(run_dir)
    comp_path = run_dir / runs.COMPLETIONS
    if not comp_path.is_file():
        raise InputError("completions not found (run: babyctl eval first)", path=comp_path)
    completions = _read_rows(comp_path, repair_tail=False)
    for i, row in enumerate(completions, start=1):
        missing = [k for k in (*CARRIED, "completion") if k not in row]
        if missing:
            raise InputError(f"completion row lacks {', '.join(missing)}", path=comp_path, line=i)
    signals = compile_signals(params.eval.signals, params_path)
    panel = Panel.from_params(params.eval.judges, env=env, sleep=sleep, backoff_s=backoff_s,
                              stimuli_dir=Path(root) / params.stimuli_dir)
    config = {"signals": {s.name: s.pattern for s in signals},
              "judges": panel.describe() if panel else []}
    fingerprint = sha256_bytes(json.dumps(config, sort_keys=True).encode())[:16]
    for c in completions:
        for k, default in OPTIONAL.items():
            c.setdefault(k, default)
    store = ResumableJsonl(run_dir / runs.SCORES, key=KEY, fingerprint=fingerprint)
    done = store.load_done()
    for c in completions:  # a changed completion invalidates its old score
        old = done.get(row_key(c, KEY))
        if old is not None and old.get("completion_sha256") != _text_sha(c["completion"]):
            del done[row_key(c, KEY)]
    todo = [c for c in completions if row_key(c, KEY) not in done]
    failures = 0
    try:
        from .generate import _progress

        with _progress(len(todo), "score") as bar:
            task = bar.add_task(f"score {run_dir}", total=len(completions),
                                completed=len(completions) - len(todo))
            for c in todo:
                row = {k: c[k] for k in (*CARRIED, *OPTIONAL)}
                row["completion_sha256"] = _text_sha(c["completion"])
                row["signals"] = score_text(c["completion"], signals)
                row["judge"] = None
                if panel is not None:
                    row["judge"] = panel.judge(c["bank"], judge_prompt(c), c["completion"],
                                               c.get("trap"))
                    failures += sum(v["verdict"] is None for v in row["judge"]["votes"])
                row["fingerprint"] = fingerprint
                store.append([row])
                done[row_key(row, KEY)] = row
                bar.advance(task)
    finally:
        if panel is not None:
            panel.close()
    final = store.finish([done[row_key(c, KEY)] for c in completions])
    prov_path = run_dir / runs.SCORES_PROVENANCE
    prov = Provenance(**base_fields("babyctl eval (scoring)", root),
                      inputs=[_hash(comp_path, Path(root))],
                      params={"signals": config["signals"], "judges": config["judges"],
                              "scores_sha256": sha256_file(final)})
    atomic_write_json(prov_path, prov.model_dump(mode="json"))
    return ScoreResult(final, prov_path, len(completions), len(todo), len(completions) - len(todo),
                       failures)


def _hash(path: Path, root: Path):
    try:
        return file_hash(path, root) if path.resolve().is_relative_to(root.resolve()) else file_hash(path)
    except ValueError:
        return file_hash(path)


def _text_sha(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))
