"""Audit speed: hashing throughput against coreutils ``sha256sum``, and a whole audit.

    .venv/bin/python benchmarks/audit_speed.py [--mb 256] [--experiment DIR] [--record]

1. Writes ``--mb`` MiB of random data in 16 files to a temp folder, then hashes them with
   ``sha256sum`` and with babyctl's audit hashing (MD5 + SHA-256 in one read, files in
   parallel: ``babyctl.tracked.HashCache``), in the same run. Target: audit >= 70 % of
   sha256sum's MB/s (audit computes two digests per byte, sha256sum one).
2. Times ``babyctl audit`` (the CLI, wall clock) on a reproduced example experiment:
   ``--experiment DIR`` or, without it, a fresh copy with ``dvc repro`` (takes a minute or two).
   Target: <= 2 s.

``--record`` appends the figures to benchmarks/RESULTS.md under "## audit".
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def throughput(mb: int) -> dict:
    from babyctl.tracked import HashCache

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        per = mb // 16
        names = []
        for i in range(16):
            (root / f"f{i:02d}.bin").write_bytes(os.urandom(per << 20))
            names.append(f"f{i:02d}.bin")
        total = 16 * per
        subprocess.run(["sha256sum", *names], cwd=root, capture_output=True, check=True)  # warm the page cache
        t = time.perf_counter()
        subprocess.run(["sha256sum", *names], cwd=root, capture_output=True, check=True)
        t_sum = time.perf_counter() - t
        t = time.perf_counter()
        HashCache(root).prefetch(names)
        t_audit = time.perf_counter() - t
        t = time.perf_counter()
        HashCache(root, workers=1).prefetch(names)
        t_one = time.perf_counter() - t
    return {"mb": total, "sha256sum_mb_s": total / t_sum, "audit_mb_s": total / t_audit,
            "audit_1thread_mb_s": total / t_one, "ratio": t_sum / t_audit}


def experiment_audit(exp: Path | None) -> dict:
    from conftest import PIPELINE_ENV, copy_experiment

    tmp = None
    if exp is None:
        tmp = Path(tempfile.mkdtemp(prefix="audit-bench-"))
        exp = copy_experiment(tmp / "exp", with_dvc=True)
        subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=exp, env=PIPELINE_ENV, check=True)
    try:
        cmd = [str(REPO / ".venv" / "bin" / "babyctl"), "audit"]
        subprocess.run(cmd, cwd=exp, env=PIPELINE_ENV, capture_output=True)  # warm
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            proc = subprocess.run(cmd, cwd=exp, env=PIPELINE_ENV, capture_output=True, text=True)
            runs.append(time.perf_counter() - t)
        return {"seconds": min(runs), "all": runs, "ok": proc.returncode == 0, "exit": proc.returncode}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--experiment", type=Path)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    tp = throughput(args.mb)
    print(f"hashing {tp['mb']} MiB: sha256sum {tp['sha256sum_mb_s']:.0f} MB/s, audit (md5+sha256, "
          f"parallel) {tp['audit_mb_s']:.0f} MB/s, audit 1 thread {tp['audit_1thread_mb_s']:.0f} MB/s -> "
          f"{tp['ratio']:.0%} of sha256sum (target >= 70%)")
    ex = experiment_audit(args.experiment)
    print(f"babyctl audit of the example experiment: {ex['seconds']:.2f} s (best of 3: "
          f"{', '.join(f'{s:.2f}' for s in ex['all'])}; exit {ex['exit']}) (target <= 2 s)")
    if args.record:
        res = REPO / "benchmarks" / "RESULTS.md"
        text = res.read_text(encoding="utf-8") if res.exists() else "# Benchmark results\n"
        entry = (
            f"\n## audit\n\n`benchmarks/audit_speed.py`, {dt.date.today().isoformat()}, {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
            f"{os.getloadavg()[0]:.1f} (other jobs share the machine: wall times vary with it).\n\n"
            f"| measure | result | target |\n|---|---|---|\n"
            f"| sha256sum (coreutils) on {tp['mb']} MiB | {tp['sha256sum_mb_s']:.0f} MB/s | |\n"
            f"| audit hashing (MD5 + SHA-256 per byte, files in parallel) | {tp['audit_mb_s']:.0f} MB/s "
            f"({tp['ratio']:.0%} of sha256sum) | >= 70 % |\n"
            f"| audit hashing, one thread | {tp['audit_1thread_mb_s']:.0f} MB/s | |\n"
            f"| `babyctl audit` of the example experiment (wall, CLI, best of 3) | {ex['seconds']:.2f} s "
            f"(exit {ex['exit']}) | <= 2 s |\n"
        )
        res.write_text(text.rstrip("\n") + "\n" + entry, encoding="utf-8")
        print(f"recorded in {res}")


if __name__ == "__main__":
    main()
