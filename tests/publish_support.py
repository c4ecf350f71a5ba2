"""Support for the publish tests: a small experiment whose run folders come from a real ``dvc repro``.

The publish path reads files and hashes; it never loads a model. So the
experiment here replaces training with a stand-in stage (``tools/stand_in_train.py``)
that writes what ``babyctl train`` writes -- a valid safetensors adapter, an
``adapter_config.json`` and an :class:`AdapterProvenance` -- deterministically.
DVC, git, the consent records, params.yaml and the publish code are all real.
(Real training on the tiny model is covered by the ``trained_run`` fixture,
which the dry-run test uses.)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import commit_all, copy_experiment, dvc, init_git

STAND_IN = r'''
"""Stand-in for `babyctl train` (publish tests only): writes adapter + provenance."""
import datetime as dt, json, sys
from pathlib import Path
import numpy as np
from safetensors.numpy import save_file
from babyctl.consent import load_consent
from babyctl.config import load_params
from babyctl.provenance import base_fields, file_hash
from babyctl.schemas.provenance import AdapterProvenance, BaseModelRef, ConsentRef
from babyctl.fsutil import atomic_write_text, sha256_file

substrate, condition, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
params = load_params("params.yaml")
sub = params.substrates[substrate]
run = Path("models") / substrate / condition / f"seed-{seed}"
(run / "adapter").mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(seed)
save_file({"base_model.model.layers.0.self_attn.q_proj.lora_A.weight": rng.standard_normal((8, 64)).astype("float32"),
           "base_model.model.layers.0.self_attn.q_proj.lora_B.weight": np.zeros((64, 8), "float32")},
          str(run / "adapter" / "adapter_model.safetensors"))
cfg = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": "q_proj",
       "base_model_name_or_path": sub.hub_id or "babyctl/tiny-llama-chatml", "task_type": "CAUSAL_LM"}
atomic_write_text(run / "adapter" / "adapter_config.json", json.dumps(cfg, indent=2, sort_keys=True) + "\n")
consent = load_consent(sub.consent_record)
t0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
prov = AdapterProvenance(
    **{**base_fields(f"babyctl train --substrate {substrate} --condition {condition} --seed {seed}"),
       "created_at": t0},
    substrate=substrate, condition=condition, seed=seed,
    params={"lora": {"r": 8, "alpha": 16}, "learning_rate": 0.001, "max_steps": 12},
    base_model=BaseModelRef(substrate=substrate, hub_id=sub.hub_id, local_path=sub.local_path),
    dataset=file_hash(f"data/build/{condition}/train.jsonl", with_md5=True),
    consent=ConsentRef(id=consent.record.id, path=sub.consent_record, sha256=consent.sha256,
                       decision=consent.record.coding.decision),
    backend="hf", device="cpu", started_at=t0, ended_at=t0 + dt.timedelta(minutes=3),
    adapter_files=[file_hash(run / "adapter" / n) for n in ("adapter_config.json", "adapter_model.safetensors")],
)
atomic_write_text(run / "provenance.json", prov.model_dump_json(indent=2) + "\n")
'''

DVC_YAML = """stages:
  build:
    foreach: [core]
    do:
      cmd: PYTHON tools/stand_in_build.py ${item}
      deps:
        - curriculum
        - tools/stand_in_build.py
      outs:
        - data/build/${item}
  train:
    matrix:
      substrate: [tiny, hermes, dolphin]
      condition: [core]
      seed: [1]
    cmd: PYTHON tools/stand_in_train.py ${item.substrate} ${item.condition} ${item.seed}
    deps:
      - data/build/${item.condition}
      - tools/stand_in_train.py
    outs:
      - models/${item.substrate}/${item.condition}/seed-${item.seed}
"""

BUILD = r'''
import sys, yaml
from pathlib import Path
cond = sys.argv[1]
params = yaml.safe_load(open("params.yaml"))
lines = []
for rel in params["conditions"][cond]["inputs"]:
    lines += [ln for ln in Path(rel).read_text().splitlines() if ln.strip()]
out = Path("data/build") / cond / "train.jsonl"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text("\n".join(lines) + "\n")
'''

LICENSE_FIXTURES = {
    "apache-2.0": "Apache License\nVersion 2.0, January 2004\n(test fixture standing in for the verbatim text)\n",
    "llama3.1": "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\n(test fixture standing in for the verbatim text)\n",
    "llama3": "META LLAMA 3 COMMUNITY LICENSE AGREEMENT\n(test fixture standing in for the verbatim text)\n",
}


def hub_env(url: str, exp: Path, token: str) -> dict:
    """Environment for the real huggingface_hub client against a loopback Hub at ``url`` (LFS path:
    the loopback server does not speak Xet); its cache beside the experiment ``exp``."""
    return {"HF_ENDPOINT": url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0", "HF_TOKEN": token,
            "HF_HOME": str(exp.parent / "hf-home"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def make_publish_experiment(dest: Path, *, with_license_texts: bool = True) -> Path:
    """A committed git + DVC experiment with run folders for tiny, hermes and dolphin (core, seed 1)."""
    exp = copy_experiment(dest, with_git=False)
    (exp / "dvc.yaml").write_text(DVC_YAML.replace("PYTHON", sys.executable), encoding="utf-8")
    tools = exp / "tools"
    tools.mkdir()
    (tools / "stand_in_train.py").write_text(STAND_IN, encoding="utf-8")
    (tools / "stand_in_build.py").write_text(BUILD, encoding="utf-8")
    if with_license_texts:
        (exp / "licenses").mkdir()
        for lic, text in LICENSE_FIXTURES.items():
            (exp / "licenses" / f"{lic}.txt").write_text(text, encoding="utf-8")
    (exp / ".gitignore").write_text("/releases/\n", encoding="utf-8")
    init_git(exp)
    dvc(exp, "init", "-q")
    dvc(exp, "config", "core.analytics", "false")
    commit_all(exp, "experiment")
    dvc(exp, "repro", "-q")
    commit_all(exp, "experiment with runs")
    return exp


def add_review(exp: Path, consent_id: str, *, condition: str, artifact_sha256: str | None,
               outcome: str = "approved", reviewed_at: str = "2026-07-01T10:00:00Z") -> Path:
    """Record a review as ``reviews/<id>.json`` (as a reviewer would) and commit it; returns the file."""
    folder = exp / "reviews"
    folder.mkdir(exist_ok=True)
    rid = f"{consent_id}-{condition}-{len(list(folder.glob('*.json'))) + 1}"
    review = {"schema_version": 1, "id": rid, "consent_record": consent_id, "condition": condition,
              "reviewer": "the participant (via the review protocol)", "reviewed_at": reviewed_at,
              "outcome": outcome}
    if artifact_sha256:
        review["artifact_sha256"] = artifact_sha256
    path = folder / f"{rid}.json"
    path.write_text(json.dumps(review, indent=2) + "\n", encoding="utf-8")
    commit_all(exp, "record review")
    return path
