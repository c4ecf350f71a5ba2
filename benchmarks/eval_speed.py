"""Speed of ``babyctl eval`` and ``babyctl report`` on the tiny model (issue 5).

Run: ``.venv/bin/python benchmarks/eval_speed.py``

Target (2-core CPU machine): ``babyctl eval --substrate tiny --baseline`` over the example
stimuli (>= 30 prompts, ``max_new_tokens`` 24) in a few seconds, cold (a fresh process,
imports included); a resumed run with nothing left to do, and ``babyctl report``, faster still.
Each figure is the median of 3 fresh processes in a temp copy of the example experiment.
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BABYCTL = str(Path(sys.executable).parent / "babyctl")


def timed(args: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run([BABYCTL, *args], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    from babyctl.tinymodel import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "exp"
        exp.mkdir()
        for name in ("params.yaml", "stimuli", "consent_records", "curriculum"):
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, exp / name)
        build_tiny_model(exp / "models" / "base" / "tiny")
        n = sum(1 for f in (exp / "stimuli").glob("*.jsonl") for line in f.read_text().splitlines() if line.strip())
        cold, resumed, report = [], [], []
        for _ in range(3):
            shutil.rmtree(exp / "eval", ignore_errors=True)
            cold.append(timed(["eval", "--substrate", "tiny", "--baseline"], exp))
            resumed.append(timed(["eval", "--substrate", "tiny", "--baseline"], exp))
            report.append(timed(["report"], exp))
        print(f"stimuli: {n}")
        for name, xs in [("eval cold", cold), ("eval resumed (nothing to do)", resumed), ("report", report)]:
            print(f"{name:30s} median {statistics.median(xs):5.2f} s  best {min(xs):5.2f} s")


if __name__ == "__main__":
    main()
