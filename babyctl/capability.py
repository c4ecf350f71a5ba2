"""``babyctl capability``: does ordinary ability survive the fine-tune?

Runs lm-evaluation-harness (``lm-eval``, the ``capability`` extra) on the declared task list
(``params.capability.tasks``) for one run: the baseline (the base model) or one adapter
(the base model + the trained run folder's ``adapter/``, checked against its provenance as
``babyctl eval`` does). A task named ``X`` with a file ``<task_dir>/X.yaml`` is a *local* task:
an lm-eval task config whose ``dataset_kwargs.data_files`` are paths relative to that folder
(JSON lines in the repository; nothing is downloaded). Any other name is one of lm-eval's
built-in tasks, which needs its data set in the local Hugging Face cache.

Writes, atomically, the run's capability folder (:func:`babyctl.study.capability_dir`):

* ``results.json``: per task the aggregate metrics, item count, config sha256, lm-eval version;
* ``samples.jsonl``: one row per task item and metric (``doc_id``, ``doc_hash``, value);
* ``provenance.json``: inputs (task files, weights, adapter, consent record), params, versions.

The report (:func:`score_rows`) turns each item's 0/1 metric into a score row in bank
``capability:<task>``, so capability differences get the same rates, intervals, tests and
multiplicity handling as every other signal. With ``capability.tasks`` empty the stage writes a
record saying that nothing ran (the stage is optional; it stays in the pipeline).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .consent import gate
from .documents import read_jsonl
from .errors import EnvironmentProblem, InputError
from .fsutil import atomic_dir, dumps_json, sha256_bytes
from .provenance import base_fields, file_hash, utc_now
from .schemas.params import Params
from .schemas.provenance import Provenance

if TYPE_CHECKING:
    from .study import Study

RESULTS = "results.json"
SAMPLES = "samples.jsonl"
PROVENANCE = "provenance.json"
BANK_PREFIX = "capability:"


@dataclass
class LocalTask:
    name: str
    config: dict  # with data file paths made absolute
    files: list[Path]  # the YAML and its data files
    sha256: str  # of the YAML as written


@dataclass
class CapabilityResult:
    """One run's capability check: its results folder, per task the metrics and item count, whether
    any task ran (``capability.tasks`` may be empty), and the run's label (:func:`babyctl.study.run_label`)."""

    out_dir: Path
    tasks: dict
    ran: bool
    label: str


def results_dir(run, root: str | Path) -> Path:
    """:func:`babyctl.study.capability_dir` of ``run``."""
    from .study import capability_dir

    return capability_dir(root, run.substrate, run.condition, run.seed)


# --- local tasks -----------------------------------------------------------------------------------
def load_local_task(task_dir: Path, name: str) -> LocalTask | None:
    """The local task ``<task_dir>/<name>.yaml``, or None when there is no such file."""
    import yaml

    path = task_dir / f"{name}.yaml"
    if not path.is_file():
        return None
    raw = path.read_bytes()
    try:
        cfg = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("capability task is not UTF-8", path=path)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(f"invalid YAML: {getattr(e, 'problem', e)}", path=path,
                         line=mark.line + 1 if mark else None)
    if not isinstance(cfg, dict):
        raise InputError("a capability task is a mapping (an lm-eval task config)", path=path)
    if cfg.get("task") != name:
        raise InputError(f"task: must be {name!r} (the file's name), found {cfg.get('task')!r}", path=path,
                         line=_line_of(raw, "task"))
    files = [path]
    data_files = (cfg.get("dataset_kwargs") or {}).get("data_files")
    if cfg.get("dataset_path") in ("json", "csv", "text", "parquet"):
        if not isinstance(data_files, dict) or not data_files:
            raise InputError("a local task needs dataset_kwargs.data_files (split: file relative to the task)",
                             path=path, line=_line_of(raw, "dataset_kwargs"))
        fixed = {}
        for split, rel in data_files.items():
            f = (task_dir / str(rel)).resolve()
            if not f.is_file():
                raise InputError(f"data file {rel!r} of split {split!r} not found (paths are relative to "
                                 f"{task_dir})", path=path, line=_line_of(raw, f"{split}:", str(rel)))
            fixed[split] = str(f)
            files.append(f)
        cfg = {**cfg, "dataset_kwargs": {**cfg["dataset_kwargs"], "data_files": fixed}}
    return LocalTask(name, cfg, files, sha256_bytes(raw))


def _line_of(raw: bytes, key: str, contains: str = "") -> int | None:
    """1-based line of the first ``key:`` (or ``key``, when it ends with a colon) holding ``contains``."""
    key = key if key.endswith(":") else key + ":"
    for no, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        if line.strip().startswith(key) and contains in line:
            return no
    return None


# --- running -----------------------------------------------------------------------------------------
def _lm_eval():
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise EnvironmentProblem(f"the capability check needs lm-evaluation-harness ({e.name} is missing): "
                                 "pip install -e '.[capability]'")
    return lm_eval, TaskManager


def run_capability(params: Params, run, root: str | Path = ".", params_path: str | Path = "params.yaml") -> CapabilityResult:
    """Run the declared tasks on ``run`` (baseline or trained) and write its results folder."""
    from .evaluate import runs
    from .evaluate.generate import ADAPTER_WEIGHTS, check_adapter

    root = Path(root)
    cap = params.capability
    if run.is_prompted:
        raise InputError(f"condition {run.condition!r} is prompted-only: the capability check covers the "
                         "baseline and adapters")
    sub = params.substrates[run.substrate]
    started = utc_now()  # consent must predate the data collection (babyctl.consent.gate)
    chain = gate(root, run.substrate, sub, purpose="evaluation", condition=run.condition, at=started)
    consent = chain.head
    ref = runs.model_ref(run.substrate, sub, root)
    adir, a_sha = None, None
    if run.is_trained:
        adir, a_sha, _ = check_adapter(run, root, ref)
    local = {t: load_local_task(root / cap.task_dir, t) for t in cap.tasks}
    inputs = [file_hash(consent.path, root)]
    for task in local.values():
        inputs += [file_hash(f, root) for f in (task.files if task else [])]
    if adir is not None:
        inputs.append(file_hash(adir / ADAPTER_WEIGHTS, root))
    if ref["local_path"]:
        if ref["weights_sha256"] is None:
            raise InputError("base model weights not found (run: babyctl tiny-model)", path=root / sub.local_path)
        inputs += [file_hash(f, root) for f in runs.weights_files(root / ref["local_path"])]

    tasks_out: dict = {}
    samples: list[dict] = []
    versions: dict = {}
    if cap.tasks:
        tasks_out, samples, versions = _evaluate(params, run, root, ref, adir, local)
    results = {"run": run.label, "substrate": run.substrate, "condition": run.condition_label, "seed": run.seed,
               "tasks": tasks_out, "model": ref, "adapter_sha256": a_sha, **versions,
               "note": None if cap.tasks else "capability.tasks is empty: nothing ran"}
    out_dir = results_dir(run, root)
    samples_text = "".join(json.dumps(s, sort_keys=True) + "\n" for s in samples)
    results_text = dumps_json(results)
    cmd = f"babyctl capability --substrate {run.substrate} " + (
        "--baseline" if run.is_baseline else f"--condition {run.condition} --seed {run.seed}")
    prov = Provenance(**base_fields(cmd, root), inputs=inputs, seed=run.seed,
                      params={"capability": cap.model_dump(mode="json"), "model": ref, "adapter_sha256": a_sha,
                              "results_sha256": sha256_bytes(results_text.encode()),
                              "samples_sha256": sha256_bytes(samples_text.encode()), **versions,
                              "collected": {"started_at": started.isoformat(), "ended_at": utc_now().isoformat(),
                                            "consent": chain.ref(root)}})
    with atomic_dir(out_dir) as tmp:
        (tmp / RESULTS).write_text(results_text, encoding="utf-8")
        (tmp / SAMPLES).write_text(samples_text, encoding="utf-8")
        (tmp / PROVENANCE).write_text(dumps_json(prov.model_dump(mode="json")), encoding="utf-8")
    return CapabilityResult(out_dir, tasks_out, bool(cap.tasks), run.label)


def capability(study_or_params: "Study | str | Path", *, substrate: str, baseline: bool,
               condition: str | None = None, seed: int | None = None) -> CapabilityResult:
    """What ``babyctl capability`` does: pick the run (baseline, or the adapter of (condition, seed)),
    checked against params, and :func:`run_capability` it; paths are relative to the study's root.

    ``study_or_params``: a loaded :class:`~babyctl.study.Study` or the path of params.yaml."""
    from .evaluate.runs import make_run
    from .study import Study

    loaded = Study.of(study_or_params)
    run = make_run(loaded.params, substrate, baseline=baseline, condition=condition, seed=seed,
                   params_path=loaded.shown_params_path)
    return run_capability(loaded.params, run, loaded.root)


def _evaluate(params: Params, run, root: Path, ref: dict, adir: Path | None,
              local: dict[str, LocalTask | None]) -> tuple[dict, list[dict], dict]:
    lm_eval, TaskManager = _lm_eval()
    from transformers.utils import logging as hf_logging

    from .evaluate.generate import _device_and_dtype

    hf_logging.set_verbosity_error()
    cap = params.capability
    sub = params.substrates[run.substrate]
    device, dtype = _device_and_dtype()
    model_args: dict = {"pretrained": str(root / sub.local_path) if sub.local_path else sub.hub_id,
                        "dtype": "bfloat16" if "bfloat16" in str(dtype) else "float32"}
    if not sub.local_path and sub.revision:
        model_args["revision"] = sub.revision
    if adir is not None:
        model_args["peft"] = str(adir)
    builtin = [t for t, task in local.items() if task is None]
    manager = TaskManager(include_defaults=bool(builtin), verbosity="ERROR")
    task_specs = [local[t].config if local[t] else t for t in cap.tasks]
    try:
        res = lm_eval.simple_evaluate(
            model="hf", model_args=model_args, tasks=task_specs, task_manager=manager, device=device,
            batch_size=cap.batch_size, num_fewshot=cap.num_fewshot, limit=cap.limit, log_samples=True,
            bootstrap_iters=0, random_seed=0, numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0,
            verbosity="ERROR")
    except (KeyError, ValueError, FileNotFoundError, ConnectionError) as e:
        local_note = (f"; not local (no {cap.task_dir}/<name>.yaml): {', '.join(builtin)}" if builtin else "")
        raise EnvironmentProblem(f"lm-eval could not run the tasks {cap.tasks}: {type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else ''}{local_note} (a built-in lm-eval task "
                                 "needs its data set in the local Hugging Face cache)")
    tasks_out, samples = {}, []
    for name in cap.tasks:
        cfg = res["configs"].get(name, {})
        metric_names = [m["metric"] for m in cfg.get("metric_list", []) if isinstance(m.get("metric"), str)]
        agg = {k: v for k, v in res["results"].get(name, {}).items() if k not in ("name", "alias", "sample_len")}
        items = res["samples"].get(name, [])
        tasks_out[name] = {"local": local[name] is not None, "metrics": agg, "n": len(items),
                           "version": res.get("versions", {}).get(name),
                           "config_sha256": local[name].sha256 if local[name] else None,
                           "n_shot": res.get("n-shot", {}).get(name)}
        for item in sorted(items, key=lambda s: s["doc_id"]):
            for m in metric_names:
                if isinstance(item.get(m), (int, float)):
                    samples.append({"task": name, "doc_id": item["doc_id"], "doc_hash": item.get("doc_hash"),
                                    "metric": m, "value": float(item[m]),
                                    "loglikelihoods": _loglikelihoods(item)})
    import lm_eval as _le

    versions = {"lm_eval_version": getattr(_le, "__version__", None) or res.get("lm_eval_version")}
    return tasks_out, samples, versions


def _loglikelihoods(item: dict) -> list[float] | None:
    """Per-choice log-likelihoods of a multiple-choice item (lm-eval's ``filtered_resps``), else None."""
    try:
        return [round(float(r[0]), 6) for r in item.get("filtered_resps") or []] or None
    except (TypeError, ValueError, IndexError):
        return None


# --- the report ----------------------------------------------------------------------------------------
def capability_runs(params: Params) -> list:
    from .evaluate.runs import RunSpec

    return [r for s in params.active_substrates
            for r in [RunSpec(s), *[RunSpec(s, c, n) for c in params.active_conditions for n in params.training.seeds]]]


def score_rows(root: str | Path, params: Params) -> list[dict]:
    """Score rows for the report's inference: one per run x task item, with each 0/1 metric as a
    signal, in bank ``capability:<task>``. Runs without results are skipped."""
    rows = []
    for run in capability_runs(params):
        path = results_dir(run, root) / SAMPLES
        if not path.is_file():
            continue
        items: dict[tuple, dict] = {}
        for no, s in read_jsonl(path, "capability samples"):
            try:
                key, metric, value = (s["task"], s["doc_id"]), s["metric"], float(s["value"])
            except (ValueError, KeyError, TypeError):
                raise InputError("not a capability sample row", path=path, line=no)
            if value not in (0.0, 1.0):
                continue  # a graded metric: reported as an aggregate only
            row = items.setdefault(key, {"stimulus_id": f"{s['task']}/{s['doc_id']}",
                                         "bank": BANK_PREFIX + s["task"], "substrate": run.substrate,
                                         "condition": run.condition_label, "seed": run.seed,
                                         "signals": {}, "judge": None})
            row["signals"][metric] = value == 1.0
        rows += list(items.values())
    return rows


def report_section(root: str | Path, params: Params) -> list[str]:
    """The report's "Capability check" section: tasks, aggregate metric per run, versions."""
    if not params.capability.tasks:
        return []
    lines = ["## Capability check", "",
             f"lm-evaluation-harness tasks: {', '.join(f'`{t}`' for t in params.capability.tasks)} "
             f"({params.capability.num_fewshot}-shot). Each item's 0/1 metric is a signal in bank "
             f"`{BANK_PREFIX}<task>`: the rates and differences above use the same inference as every other "
             "signal.", "", "| run | task | items | metrics | lm-eval |", "|---|---|---|---|---|"]
    missing = []
    for run in capability_runs(params):
        path = results_dir(run, root) / RESULTS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            missing.append(run.label)
            continue
        for name, t in data.get("tasks", {}).items():
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in t["metrics"].items() if isinstance(v, (int, float)))
            lines.append(f"| {run.label} | `{name}` | {t['n']} | {metrics} | {data.get('lm_eval_version')} |")
    lines.append("")
    if missing:
        lines += [f"No capability results for: {', '.join(missing)} (run: babyctl capability).", ""]
    return lines


def result_files(root: str | Path, params: Params) -> list[Path]:
    """The samples files the report read (for its provenance)."""
    return [p for r in capability_runs(params) if (p := results_dir(r, root) / SAMPLES).is_file()]

