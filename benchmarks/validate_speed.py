"""Speed and memory of ``babyctl validate`` against references measured in the same run.
Run: ``.venv/bin/python benchmarks/validate_speed.py [RUNS]`` (needs ``../shared/three-babies``).

Targets (issue 12):

* cold ``babyctl validate`` of the real upstream curriculum (``../shared/three-babies/curriculum``)
  <= 0.5 s, reported with its ratio to a cold bare ``json.loads`` loop over the same files;
* >= 5,000 examples/s on 100k English-like examples, recombined from the upstream turns'
  sentences (built in a temporary folder: no upstream text enters the project);
* peak memory at 100k examples <= 150 MiB (the process tree: validate and any workers,
  sampled every 20 ms; RSS summed, and PSS, which counts pages the workers share once).

Other jobs may share the machine: the load average is printed, and each figure comes with a
reference (a ``json.loads`` loop) timed the same way in the same run.
"""
from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BABYCTL = str(Path(sys.executable).parent / "babyctl")
UPSTREAM = REPO.parent / "shared" / "three-babies" / "curriculum"
JSON_LOOP = ("import json, sys\n"
             "for p in sys.argv[1:]:\n"
             "    with open(p, 'rb') as f:\n"
             "        for line in f:\n"
             "            if line.strip():\n"
             "                json.loads(line)\n")


def _tree(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                stack += [int(c) for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            pass
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` and its descendants, in KiB."""
    rss = pss = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def run(cmd: list[str], cwd: Path | None = None) -> tuple[float, int, int, int, float]:
    """(wall seconds, exit code, peak RSS KiB, peak PSS KiB, CPU seconds) of ``cmd`` and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = [0, 0]

    def sample() -> None:
        while proc.poll() is None:
            rss, pss = _memory(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - t
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, code, peak[0], peak[1], cpu


def upstream_turns() -> dict[str, list[str]]:
    """Non-empty turns by role from the upstream curriculum (read, never copied into the project)."""
    turns: dict[str, list[str]] = {"system": [], "user": [], "assistant": []}
    for path in sorted(UPSTREAM.rglob("*.jsonl")):
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            for m in obj.get("messages", []) if isinstance(obj, dict) else []:
                if isinstance(m, dict) and m.get("role") in turns and isinstance(m.get("content"), str) \
                        and m["content"].strip():
                    turns[m["role"]].append(m["content"])
    return turns


def english_examples(n: int, whole_turns: bool = False, seed: int = 3) -> list[str]:
    """``n`` examples from upstream text: 2-6 sentences recombined per turn, or (``whole_turns``)
    whole turns (duplicate-heavy), 1-3 exchanges, a system turn half the time."""
    rng = random.Random(seed)
    turns = upstream_turns()
    if whole_turns:
        pick = {role: (lambda pool=pool: rng.choice(pool)) for role, pool in turns.items()}
    else:
        pools = {role: [s.strip() for t in pool for s in t.replace("\n", " ").split(". ") if s.strip()]
                 for role, pool in turns.items()}
        pick = {role: (lambda pool=pool: ". ".join(rng.choices(pool, k=rng.randint(2, 6))) + ".")
                for role, pool in pools.items()}
    out = []
    for i in range(n):
        msgs = [{"role": "system", "content": pick["system"]()}] if rng.random() < 0.5 else []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            msgs.append({"role": "user", "content": pick["user"]()})
            msgs.append({"role": "assistant", "content": pick["assistant"]()})
        meta = {"id": f"en-{i:06d}", "module": f"m{i % 9}", "author": "bench", "source": "recombined",
                "created": "2026-01-01", "tags": ["bench"]}
        out.append(json.dumps({"messages": msgs, "metadata": meta}))
    return out


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    if not UPSTREAM.is_dir():
        sys.exit(f"{UPSTREAM} not found: these targets are defined on the upstream curriculum")
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores; other jobs may share them)")
    files = sorted(str(p) for p in UPSTREAM.rglob("*.jsonl"))
    n_up = sum(1 for p in files for line in open(p, "rb") if line.strip())
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "babyctl")], check=True,
                   stdout=subprocess.DEVNULL)  # an installed package has its bytecode compiled
    walls, refs = [], []
    for _ in range(runs):  # interleaved, so that other jobs weigh on both alike
        walls.append(run([BABYCTL, "validate", str(UPSTREAM)]))
        refs.append(run([sys.executable, "-c", JSON_LOOP, *files]))
    v, r = statistics.median(w[0] for w in walls), statistics.median(w[0] for w in refs)
    vc = statistics.median(w[4] for w in walls)
    print(f"upstream curriculum ({len(files)} files, {n_up} examples), cold, median of {runs}: "
          f"babyctl validate {v:.3f} s (CPU {vc:.3f} s; target <= 0.5 s); json.loads loop {r:.3f} s; "
          f"ratio {v / r:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "curriculum" / "english.jsonl"
        big.parent.mkdir()
        big.write_text("\n".join(english_examples(100_000)) + "\n", encoding="utf-8")
        size = big.stat().st_size / 2**20
        wall, code, rss, pss, cpu = run([BABYCTL, "validate", str(big)], cwd=Path(tmp))
        ref, _, _, _, ref_cpu = run([sys.executable, "-c", JSON_LOOP, str(big)])
        print(f"100k English-like examples ({size:.0f} MiB), cold CLI: {wall:.1f} s = {100_000 / wall:,.0f} examples/s "
              f"(target >= 5,000/s; exit {code}: findings expected); CPU {cpu:.1f} s = {100_000 / cpu:,.0f} "
              f"examples/CPU-s; json.loads loop {ref:.2f} s wall, {ref_cpu:.2f} s CPU; ratios {wall / ref:.0f} "
              f"(wall), {cpu / ref_cpu:.0f} (CPU)")
        print(f"  peak memory, validate and its workers: RSS {rss / 1024:.0f} MiB summed, PSS {pss / 1024:.0f} MiB "
              f"(target <= 150 MiB)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
