"""How long the pre-commit hook takes on the example study (target: under 1 s).

Runs what the hook runs -- ``babyctl validate --against-study <staged file>`` from the study
root, as a fresh process each time -- for one staged curriculum file, and for every file the
hook's ``files`` pattern selects staged at once. Prints the median and worst of N runs.

    .venv/bin/python benchmarks/hook_speed.py [N]

Recorded (2026-12-04, 2 shared cores, other jobs running): see docs/auditing.md#the-hook.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BABYCTL = Path(sys.executable).parent / "babyctl"


def run(args: list[str], n: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + sys of the child) seconds of ``n`` runs. On a loaded machine the wall
    time is the CPU time stretched by the load; on an idle one they are close."""
    import resource

    wall, cpu = [], []
    for _ in range(n):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([str(BABYCTL), "validate", "--against-study", *args], cwd=ROOT, capture_output=True)
        wall.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        if proc.returncode not in (0, 1):
            raise SystemExit(proc.stderr.decode())
    return wall, cpu


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    everything = sorted(str(p.relative_to(ROOT)) for d in ("curriculum", "consent_records", "stimuli", "reviews")
                        for p in (ROOT / d).rglob("*") if p.suffix in (".json", ".jsonl")) + ["params.yaml"]
    for label, args in (("one staged file", ["curriculum/self-worth.jsonl"]), (f"{len(everything)} staged files", everything)):
        wall, cpu = run(args, n)
        print(f"{label}: wall median {statistics.median(wall):.3f} s (worst {max(wall):.3f} s), "
              f"CPU median {statistics.median(cpu):.3f} s ({n} runs)")


if __name__ == "__main__":
    main()
