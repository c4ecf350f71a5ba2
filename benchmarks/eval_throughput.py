"""Eval throughput: greedy generation over the stimulus banks with hf ``generate`` and with vLLM.

    .venv/bin/python benchmarks/eval_throughput.py                      # tiny model, CPU: hf only
    .venv/bin/python benchmarks/eval_throughput.py --model NousResearch/Hermes-3-Llama-3.1-8B \\
        --revision 67bf4aca9f4243e275f402f3708eed3aa8a9038c --adapter models/hermes/core/seed-1/adapter \\
        --adapter models/hermes/core/seed-2/adapter --max-new-tokens 512 --json eval.json   # 8B, GPU

Both halves generate, for the base model and each ``--adapter``, one greedy completion per
stimulus (the repo's stimuli/*.jsonl, ``--repeat`` times over), with the prompt rendered exactly
as ``babyctl eval`` renders it (:func:`babyctl.evaluate.backends.prompt_ids`):

* ``hf``: :func:`babyctl.evaluate.generate._generate_batch` in batches of ``--batch-size``, the
  base model loaded once and each adapter applied with peft in turn (what ``--backend hf`` does);
* ``vllm``: one ``LLM(enable_lora=True)`` engine, every adapter a ``LoRARequest`` and all
  prompts of all adapters submitted at once (what ``--backend vllm --all`` does).

Reported per backend, each in its own subprocess: generated tokens/s, wall time, peak GPU memory
(hf: ``torch.cuda.max_memory_allocated``; vLLM pre-allocates ``gpu_memory_utilization`` of the
card, so its figure is the card's used memory at the end), decode MFU (``2 * N * tokens/s`` over
the dense bf16 peak, attention ignored), and how many completions are identical between the two.
vLLM needs a CUDA GPU and the ``eval-vllm`` extra; without them only the hf half runs and the
output says so.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


def _prompts(repeat: int) -> list[str]:
    rows = [json.loads(line) for f in sorted((REPO / "stimuli").glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["prompt"] for r in rows] * repeat


def _worker(args) -> None:
    import torch
    from transformers import AutoTokenizer

    from babyctl.evaluate.backends import completion_row, prompt_ids

    prompts = _prompts(args.repeat)
    kw = {"revision": args.revision} if args.revision else {}
    tok = AutoTokenizer.from_pretrained(args.model, **kw)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    adapters = [None, *args.adapter]
    cuda = torch.cuda.is_available()
    completions: list[str] = []
    n_tokens = 0
    if args.worker == "hf":
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        from babyctl.evaluate.generate import _generate_batch

        base = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16 if cuda else torch.float32,
                                                    **kw).to("cuda" if cuda else "cpu").eval()
        n_params = base.num_parameters()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for a in adapters:
            model = PeftModel.from_pretrained(base, a).eval() if a else base
            for i in range(0, len(prompts), args.batch_size):
                for row in _generate_batch(model, tok, prompts[i:i + args.batch_size], args.max_new_tokens):
                    completions.append(row["completion"])
                    n_tokens += row["n_output_tokens"]
            if a:
                base = model.unload()
        wall = time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated() if cuda else None
    else:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest

        llm = LLM(model=args.model, revision=args.revision, enable_lora=bool(args.adapter),
                  max_loras=max(1, len(args.adapter)), max_lora_rank=64, dtype="bfloat16", seed=0)
        n_params = None
        ids = prompt_ids(tok, prompts)
        sp = SamplingParams(temperature=0.0, max_tokens=args.max_new_tokens, skip_special_tokens=True)
        t0 = time.perf_counter()
        reqs, loras = [], []
        for k, a in enumerate(adapters):
            lora = LoRARequest(f"adapter-{k}", k, str(Path(a).resolve())) if a else None
            reqs += [{"prompt_token_ids": x} for x in ids]
            loras += [lora] * len(ids)
        outs = llm.generate(reqs, sp, lora_request=loras, use_tqdm=False)
        wall = time.perf_counter() - t0
        for o, r in zip(outs, reqs):
            row = completion_row(tok, list(o.outputs[0].token_ids), len(r["prompt_token_ids"]))
            completions.append(row["completion"])
            n_tokens += row["n_output_tokens"]
        free, total = torch.cuda.mem_get_info()
        peak = total - free
    print(json.dumps({"backend": args.worker, "device": "cuda" if cuda else "cpu",
                      "gpu": torch.cuda.get_device_name() if cuda else None, "n_params": n_params,
                      "completions": len(completions), "generated_tokens": n_tokens, "wall_s": wall,
                      "tokens_per_s": n_tokens / wall if wall else None, "peak_gpu_memory_bytes": peak,
                      "texts": completions}))


def _run(backend: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", backend, "--model", args.model, "--max-new-tokens",
           str(args.max_new_tokens), "--batch-size", str(args.batch_size), "--repeat", str(args.repeat)]
    if args.revision:
        cmd += ["--revision", args.revision]
    for a in args.adapter:
        cmd += ["--adapter", a]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if proc.returncode != 0:
        raise SystemExit(f"{backend} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="Local folder or Hub id (default: a freshly built tiny model)")
    ap.add_argument("--revision")
    ap.add_argument("--adapter", action="append", default=[], help="LoRA adapter folder (repeatable)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8, help="hf batch size (params eval.batch_size)")
    ap.add_argument("--repeat", type=int, default=1, help="Each stimulus this many times")
    ap.add_argument("--peak-tflops", type=float, help="The GPU's dense bf16 peak, for MFU")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", choices=["hf", "vllm"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker(args)
    import tempfile

    import torch

    from train_throughput import peak_tflops

    with tempfile.TemporaryDirectory(prefix="babyctl-evalbench-") as tmp:
        name = args.model or "tiny (babyctl tiny-model)"
        if not args.model:
            from babyctl.tinymodel import build_tiny_model

            args.model = str(build_tiny_model(Path(tmp) / "tiny"))
        runs = {"hf": _run("hf", args)}
        note = None
        if torch.cuda.is_available():
            try:
                runs["vllm"] = _run("vllm", args)
            except SystemExit as e:
                note = f"vllm half failed: {e}"
        else:
            note = "no CUDA GPU in this session: only the hf half ran (vLLM needs a GPU); no GPU figures"
    n_params = runs["hf"]["n_params"]
    peak = args.peak_tflops or (peak_tflops(runs["hf"]["gpu"]) if runs["hf"]["gpu"] else None)
    for r in runs.values():
        r["mfu"] = 2 * n_params * r["tokens_per_s"] / (peak * 1e12) if (peak and r["tokens_per_s"]) else None
    result = {"model": name, "revision": args.revision, "adapters": args.adapter,
              "max_new_tokens": args.max_new_tokens, "prompts_per_model": len(_prompts(args.repeat)),
              "host": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count()},
              "runs": {k: {kk: vv for kk, vv in v.items() if kk != "texts"} for k, v in runs.items()}, "note": note}
    if "vllm" in runs:
        same = sum(a == b for a, b in zip(runs["hf"]["texts"], runs["vllm"]["texts"]))
        result["identical_completions"] = f"{same}/{len(runs['hf']['texts'])}"
    for k, r in result["runs"].items():
        mem = f"{r['peak_gpu_memory_bytes'] / 2**30:.2f} GiB" if r["peak_gpu_memory_bytes"] else "n/a"
        mfu = "n/a" if r["mfu"] is None else f"{r['mfu']:.1%}"
        print(f"{k:5s} {r['device']:5s} {r['completions']} completions  {r['generated_tokens']} tokens  "
              f"{r['wall_s']:.2f} s  {r['tokens_per_s']:.0f} tokens/s  peak GPU memory {mem}  MFU {mfu}")
    if "identical_completions" in result:
        print(f"identical completions hf vs vllm: {result['identical_completions']}")
    if note:
        print(note)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
