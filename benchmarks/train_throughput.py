"""Train throughput: the same LoRA job on the hf backend and on Unsloth, compared.

    .venv/bin/python benchmarks/train_throughput.py                     # tiny model, core curriculum
    .venv/bin/python benchmarks/train_throughput.py --model NousResearch/Hermes-3-Llama-3.1-8B \\
        --revision 67bf4aca9f4243e275f402f3708eed3aa8a9038c --steps 30 --profile 8b   # 8B on a GPU

Each backend runs in its own subprocess (importing unsloth patches transformers and trl for the
whole process, which would contaminate the hf half) with the same data (the core condition,
encoded by :mod:`babyctl.train.data`), hyperparameters (params.yaml ``training``, ``--steps``
overriding max_steps) and seed. Reported per backend: tokens/s (non-padding tokens seen / train
time), peak GPU memory (``torch.cuda.max_memory_allocated``), MFU (model FLOPs utilisation:
``4 * N * tokens/s`` over the GPU's dense bf16 peak -- LoRA computes no weight gradients for the
frozen base, so a step costs ~4N FLOPs a token, not 6N; ``--peak-tflops`` overrides the table),
the settings the trainer really used (read back, :func:`babyctl.train.backends.hf.read_back`),
and the loss curve; then the curves' agreement (max |diff|, mean |diff|, Pearson r).
``--profile 8b`` trains with profiles/8b.yaml's settings (QLoRA, r 16, 2048 tokens, 8-bit AdamW).

Without a CUDA GPU only the CPU (hf) half runs, and the output says so. ``--json FILE`` writes
the figures for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _worker(args: argparse.Namespace) -> None:
    """Run one backend; print one JSON line with the figures."""
    if args.worker == "unsloth":
        import unsloth  # noqa: F401  (before transformers, as Unsloth requires)
    import torch

    from babyctl.config import load_params
    from babyctl.train.backends import ModelSource
    from babyctl.train.data import encode_dataset
    from babyctl.train.select import backend_module

    params = load_params(REPO / "params.yaml")
    training = params.training
    if args.profile:
        import yaml

        from babyctl.schemas.params import Training

        prof = yaml.safe_load((REPO / "profiles" / f"{args.profile}.yaml").read_text(encoding="utf-8"))
        training = Training.model_validate({**training.model_dump(), **prof.get("training", {}),
                                            "lora": {**training.lora.model_dump(), **prof.get("training", {}).get("lora", {})}})
    training = training.model_copy(update={"max_steps": args.steps})
    if args.load_in_4bit:
        training = training.model_copy(update={"lora": training.lora.model_copy(update={"load_in_4bit": True})})
    impl = backend_module(args.worker)
    source = ModelSource(args.model, revision=args.revision, local=Path(args.model).is_dir())
    model, tok = impl.load_model(source, training, args.seed)
    ds = encode_dataset(tok, args.data, max_seq_length=training.max_seq_length,
                        allow_truncation=training.allow_truncation)
    fit = impl.fit(model, tok, ds, training, args.seed, progress=False)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    n_params = base.num_parameters()
    tps = fit.tokens_seen / fit.runtime_s if fit.runtime_s else None
    peak = args.peak_tflops or (peak_tflops(torch.cuda.get_device_name()) if fit.device == "cuda" else None)
    print(json.dumps({
        "n_params": n_params, "settings_used": fit.settings,
        "mfu": 4 * n_params * tps / (peak * 1e12) if (tps and peak) else None,
        "backend": args.worker, "device": fit.device,
        "gpu": torch.cuda.get_device_name() if fit.device == "cuda" else None,
        "steps": fit.steps, "runtime_s": fit.runtime_s, "tokens_seen": fit.tokens_seen,
        "tokens_per_s": fit.tokens_seen / fit.runtime_s if fit.runtime_s else None,
        "peak_gpu_memory_bytes": fit.peak_memory_bytes,
        "cpu_threads": 1 if fit.device == "cpu" else None,
        "losses": [v for _, v in fit.losses],
    }))


def _run_worker(backend: str, args: argparse.Namespace, data: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", backend, "--model", args.model, "--steps", str(args.steps),
           "--seed", str(args.seed), "--data", str(data)]
    if args.revision:
        cmd += ["--revision", args.revision]
    if args.load_in_4bit:
        cmd.append("--load-in-4bit")
    if args.profile:
        cmd += ["--profile", args.profile]
    if args.peak_tflops:
        cmd += ["--peak-tflops", str(args.peak_tflops)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if proc.returncode != 0:
        raise SystemExit(f"{backend} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: dense bf16 peak TFLOP/s of common training GPUs (vendor data sheets, no sparsity)
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 70.0,
               "RTX 4090": 165.0, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0}


def peak_tflops(device_name: str) -> float | None:
    """The table's peak for a CUDA device name (None when unknown: pass --peak-tflops)."""
    for key, value in PEAK_TFLOPS.items():
        if key.lower() in device_name.lower():
            return value
    return None


def agreement(a: list[float], b: list[float]) -> dict:
    """max/mean absolute difference and Pearson r of two loss curves (over the common steps)."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    diffs = [abs(x - y) for x, y in zip(a, b)]
    ma, mb = sum(a) / n, sum(b) / n
    sa = math.sqrt(sum((x - ma) ** 2 for x in a))
    sb = math.sqrt(sum((y - mb) ** 2 for y in b))
    r = sum((x - ma) * (y - mb) for x, y in zip(a, b)) / (sa * sb) if sa and sb else float("nan")
    return {"steps_compared": n, "max_abs_diff": max(diffs), "mean_abs_diff": sum(diffs) / n, "pearson_r": r}


def _core_data(tmp: Path) -> Path:
    """The core condition's examples, in order (what `babyctl build core` trains on)."""
    from babyctl.config import load_params

    params = load_params(REPO / "params.yaml")
    lines = []  # core is sequential: its inputs concatenated in module order
    for rel in params.conditions["core"].inputs:
        lines += [ln for ln in (REPO / rel).read_text(encoding="utf-8").splitlines() if ln.strip()]
    out = tmp / "train.jsonl"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="Local folder or Hub id (default: a freshly built tiny model)")
    ap.add_argument("--revision", help="Pinned Hub commit for --model")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--load-in-4bit", action="store_true", help="QLoRA (GPU backends only)")
    ap.add_argument("--json", type=Path, help="Also write the figures here")
    ap.add_argument("--profile", help="Train with profiles/NAME.yaml's training settings (e.g. 8b)")
    ap.add_argument("--peak-tflops", type=float, help="The GPU's dense bf16 peak, for MFU")
    ap.add_argument("--worker", choices=["hf", "unsloth"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker(args)

    import torch

    with tempfile.TemporaryDirectory(prefix="babyctl-bench-") as tmp_s:
        tmp = Path(tmp_s)
        model_name = args.model or "tiny (babyctl tiny-model)"
        if not args.model:
            from babyctl.tinymodel import build_tiny_model

            args.model = str(build_tiny_model(tmp / "tiny"))
        data = _core_data(tmp)
        gpu = torch.cuda.is_available()
        runs = {"hf": _run_worker("hf", args, data)}
        note = None
        if gpu:
            try:
                runs["unsloth"] = _run_worker("unsloth", args, data)
            except SystemExit as e:
                note = f"unsloth half failed: {e}"
        else:
            note = "no CUDA GPU in this session: only the CPU (hf) half ran; no Unsloth figures, no GPU memory"
    result = {
        "model": model_name,
        "revision": args.revision, "steps": args.steps, "seed": args.seed, "profile": args.profile,
        "host": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                 "machine": platform.machine()},
        "runs": runs, "note": note,
    }
    if "unsloth" in runs:
        result["agreement"] = agreement(runs["hf"]["losses"], runs["unsloth"]["losses"])
    for name, r in runs.items():
        mem = f"{r['peak_gpu_memory_bytes'] / 2**30:.2f} GiB" if r["peak_gpu_memory_bytes"] else "n/a"
        print(f"{name:8s} {r['device']:5s} {r['gpu'] or '':24s} {r['steps']} steps  {r['runtime_s']:.2f} s  "
              f"{r['tokens_per_s']:.0f} tokens/s  peak GPU memory {mem}  "
              f"MFU {'n/a' if r['mfu'] is None else format(r['mfu'], '.1%')}  "
              f"loss {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f}")
    if "agreement" in result:
        a = result["agreement"]
        print(f"loss curves: max |diff| {a['max_abs_diff']:.4f}, mean |diff| {a['mean_abs_diff']:.4f}, "
              f"Pearson r {a['pearson_r']:.4f} over {a['steps_compared']} steps")
    if note:
        print(note)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
