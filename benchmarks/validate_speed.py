"""Speed of ``babyctl validate`` (issue 2). Run: ``.venv/bin/python benchmarks/validate_speed.py``.

Targets (this 2-core machine):
* cold ``babyctl validate`` of an experiment with a 271-example curriculum: <= 0.5 s
* cold ``babyctl --help``: <= 0.3 s
* 100k examples: >= 20k examples/s (cold CLI run over one 100k-line file, start-up included)

Each cold figure is a fresh process of the installed ``babyctl`` console script (as
pre-commit runs it); we report the median and best of several runs,
since other processes share the machine. Examples are generated (seeded), never copied
from real data: Zipf-distributed pseudo-words, 1-3 exchanges, an optional system turn.

When ``../shared/three-babies`` is present, two more 100k figures on English text, built in a
temporary folder from the upstream curriculum's turns (nothing is written into the project):

* ``english``: turns made of 2-6 sentences drawn at random from the upstream turns, so the
  phrase rules see real English (their pre-gate passes on most turns) and duplicates are rare;
* ``duplicate-heavy`` (``--duplicate-heavy``, slow): whole upstream turns recombined, so each of
  about 900 assistant turns recurs ~100 times: the near-duplicate search's worst case.
"""
from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BABYCTL = str(Path(sys.executable).parent / "babyctl")


def make_words(rng: random.Random, n: int = 6000) -> list[str]:
    syll = ["ka", "lo", "mi", "ra", "te", "su", "ne", "po", "vi", "da", "ze", "qu", "an", "or", "el", "is"]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(syll) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def make_examples(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = make_words(rng)
    cum, acc = [], 0.0
    for i in range(len(words)):  # Zipf-like, like natural text
        acc += 1 / (i + 1)
        cum.append(acc)
    system = "You are a curious young assistant learning about the world."
    out = []
    for i in range(n):
        msgs = [{"role": "system", "content": system}] if rng.random() < 0.5 else []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            msgs.append({"role": "user", "content": " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(8, 30))) + "?"})
            msgs.append({"role": "assistant", "content": " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(30, 90))) + "."})
        meta = {"id": f"gen-{i:06d}", "module": f"m{i % 9}", "author": "bench", "source": "generated",
                "created": "2026-01-01", "tags": ["bench"]}
        out.append(json.dumps({"messages": msgs, "metadata": meta}))
    return out


def timed(cmd: list[str], cwd: Path, runs: int, env: dict | None = None) -> tuple[float, float, int, float]:
    """(median wall, best wall, exit code, median CPU seconds of the child: user + sys)."""
    times, cpus, rc = [], [], 0
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        rc = proc.returncode
    return statistics.median(times), min(times), rc, statistics.median(cpus)


SHARED = REPO.parent / "shared" / "three-babies" / "curriculum"


def upstream_turns() -> dict[str, list[str]]:
    """Non-empty turns by role from the upstream curriculum (read, never copied into the project)."""
    turns: dict[str, list[str]] = {"system": [], "user": [], "assistant": []}
    for path in sorted(SHARED.rglob("*.jsonl")):
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


def english_examples(n: int, whole_turns: bool, seed: int = 3) -> list[str]:
    """``n`` examples from upstream text: sentences recombined, or (``whole_turns``) whole turns."""
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


def experiment_with(examples: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("params.yaml", "consent_records", "stimuli"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    cur = dest / "curriculum"
    cur.mkdir()
    # keep the project's condition inputs valid: the three core modules + neutral control
    for name in ("self-worth", "boundaries", "uncertainty", "neutral-control"):
        shutil.copy2(REPO / "curriculum" / f"{name}.jsonl", cur / f"{name}.jsonl")
    (cur / "generated.jsonl").write_text("\n".join(examples) + "\n", encoding="utf-8")
    return dest


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs = int(args[0]) if args else 7
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_project = sum(1 for p in (REPO / "curriculum").glob("*.jsonl") for ln in p.open() if ln.strip())
        exp = experiment_with(make_examples(271 - n_project, seed=1), tmp / "exp")
        n_total = sum(1 for p in (exp / "curriculum").glob("*.jsonl") for ln in p.open() if ln.strip())
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores; other jobs share them)")
        # An installed package has its bytecode compiled (pip and pre-commit's install do it). This
        # sandbox sets PYTHONDONTWRITEBYTECODE=1, so an editable checkout never caches it: measure
        # both states, the installed one first.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "babyctl")], check=True,
                       stdout=subprocess.DEVNULL)
        med, best, rc, cpu = timed([BABYCTL, "validate"], exp, runs)
        print(f"cold validate, {n_total}-example experiment, bytecode cached: median {med:.3f} s, "
              f"best {best:.3f} s, CPU {cpu:.3f} s (exit {rc}; target <= 0.5 s)")
        for cache in REPO.joinpath("babyctl").rglob("__pycache__"):
            shutil.rmtree(cache)
        med, best, rc, cpu = timed([BABYCTL, "validate"], exp, runs,
                                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        print(f"cold validate, {n_total}-example experiment, no bytecode (compiled on every run): "
              f"median {med:.3f} s, best {best:.3f} s, CPU {cpu:.3f} s (exit {rc})")
        med, best, _, cpu = timed([BABYCTL, "--help"], exp, runs)
        print(f"cold babyctl --help: median {med:.3f} s, best {best:.3f} s, CPU {cpu:.3f} s (target <= 0.3 s)")
        big = tmp / "big" / "curriculum"
        big.mkdir(parents=True)
        t = time.perf_counter()
        (big / "big.jsonl").write_text("\n".join(make_examples(100_000, seed=2)) + "\n", encoding="utf-8")
        print(f"(generated 100k examples, {(big / 'big.jsonl').stat().st_size / 1e6:.0f} MB, in {time.perf_counter() - t:.1f} s)")
        n_big = max(3, runs // 2)
        med, best, rc, cpu = timed([BABYCTL, "validate", "curriculum/big.jsonl"], big.parent, n_big)
        print(f"100k examples, cold CLI, {n_big} runs: median {med:.2f} s wall = {100_000 / med:,.0f} examples/s "
              f"(best {100_000 / best:,.0f}/s); CPU {cpu:.2f} s = {100_000 / cpu:,.0f} examples/CPU-s "
              f"(exit {rc}; target >= 20,000/s)")
        kinds = [("english", False)] + ([("duplicate-heavy", True)] if "--duplicate-heavy" in sys.argv else [])
        for name, whole in kinds if SHARED.is_dir() else []:
            (big / "big.jsonl").write_text("\n".join(english_examples(100_000, whole)) + "\n", encoding="utf-8")
            med, best, rc, cpu = timed([BABYCTL, "validate", "curriculum/big.jsonl"], big.parent, 1)
            print(f"100k {name} examples from upstream text ({(big / 'big.jsonl').stat().st_size / 1e6:.0f} MB), "
                  f"cold CLI, 1 run: {med:.2f} s wall = {100_000 / med:,.0f} examples/s; CPU {cpu:.2f} s "
                  f"(exit {rc}: findings are expected)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
