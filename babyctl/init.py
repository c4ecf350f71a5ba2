"""``babyctl init``: lay out a runnable study -- empty, or seeded from a migrated legacy study.

Writes (never over an existing file): ``params.yaml``, ``dvc.yaml`` (the validate -> build ->
train -> eval -> report -> ledger pipeline), ``.pre-commit-config.yaml`` (``babyctl validate`` as
a hook), ``.gitignore``, ``.dvcignore``, ``README.md`` and the data folders. With ``git``/``dvc``
it also runs ``git init`` and ``dvc init`` where none exists yet.

* **Empty**: one condition over a placeholder module (``curriculum/example.jsonl``) and the
  embedded tiny model (``tiny``) under a procedural consent fixture: ``dvc repro`` runs on a CPU
  at once; replace the placeholder and add substrates.
* **Seeded** (``babyctl migrate LEGACY --out DIR --init``): substrates from the migrated consent
  records (the newest record of each substrate is the one params names), one condition per
  module folder (aggregate files and test fixtures left out: the migration report says why),
  the migrated stimuli. The study's substrates are active; their records are ``uncoded``, so
  ``babyctl validate`` refuses until a human codes them (the report's "Needs coding" lists what
  to read). ``tiny`` stays available for CPU runs.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EnvironmentProblem, UsageError
from .fsutil import atomic_write_text

#: substrates babyctl knows by their legacy names: key, display name, hub id, license, chat template
KNOWN = {
    "hermes": ("Llama-Hermes-3-8B", "NousResearch/Hermes-3-Llama-3.1-8B", "llama3.1", "chatml"),
    "dolphin": ("Llama-3-Dolphin-2.9-8B", "cognitivecomputations/dolphin-2.9-llama3-8b", "llama3", "chatml"),
    "llama3": ("Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B-Instruct", "llama3", "llama3"),
}

DVC_YAML = """\
# The study as a DVC pipeline (written by `babyctl init`):
#   validate -> build@<condition> -> train@<substrate>-<condition>-<seed> -> eval@... -> report -> ledger
# Each stage reads only the params keys it lists, so changing one value re-runs only what depends on it.
stages:
  validate:
    cmd: babyctl validate --report data/validate.json
    deps:
      - curriculum
      - consent_records
      - stimuli
      - reviews
    params:
      - validate
      - substrates
      - conditions
    outs:
      - data/validate.json:
          cache: false

  tiny-model:
    cmd: babyctl tiny-model --out models/base/tiny
    params:
      - substrates.tiny
    outs:
      - models/base/tiny

  build:
    foreach: ${active_conditions}
    do:
      cmd: babyctl build ${item}
      deps:
        - data/validate.json
        - curriculum
      params:
        - conditions.${item}
      outs:
        - @BUILD@/${item}

  train:
    matrix:
      substrate: ${active_substrates}
      condition: ${active_conditions}
      seed: ${training.seeds}
    cmd: babyctl train --substrate ${item.substrate} --condition ${item.condition} --seed ${item.seed}
    deps:
      - @BUILD@/${item.condition}
      - models/base
      - consent_records
    params:
      - training
      - substrates.${item.substrate}
    outs:
      - @RUN@
    metrics:
      - @METRICS@:
          cache: false

  eval-baseline:
    foreach: ${active_substrates}
    do:
      cmd: babyctl eval --substrate ${item} --baseline
      deps:
        - stimuli
        - models/base
        - consent_records
      params:
        - eval
        - substrates.${item}
      outs:
        - @EVALB@

  eval:
    matrix:
      substrate: ${active_substrates}
      condition: ${active_conditions}
      seed: ${training.seeds}
    cmd: babyctl eval --substrate ${item.substrate} --condition ${item.condition} --seed ${item.seed}
    deps:
      - stimuli
      - models/base
      - @RUN@
      - consent_records
    params:
      - eval
      - substrates.${item.substrate}
    outs:
      - @EVAL@

  report:
    cmd: babyctl report
    deps:
      - eval
      - metrics/train
      - consent_records
    params:
      - eval
      - active_substrates
      - active_conditions
      - training.seeds
    outs:
      - reports
    metrics:
      - metrics/eval.json:
          cache: false

  ledger:
    cmd: babyctl ledger
    deps:
      - params.yaml
      - curriculum
      - consent_records
      - reviews
      - stimuli
      - data
      - models
      - eval
      - metrics
      - reports
    outs:
      - SHA256SUMS:
          cache: false
"""

def dvc_yaml() -> str:
    """:data:`DVC_YAML` with the run paths from :mod:`babyctl.study` (their one home)."""
    from . import study

    m = ("${item.substrate}", "${item.condition}", "${item.seed}")
    rel = lambda p: Path(p).as_posix()  # noqa: E731 - paths relative to the root "."
    return (DVC_YAML.replace("@BUILD@", study.BUILD_DIR)
            .replace("@RUN@", rel(study.run_dir("", *m)))
            .replace("@METRICS@", rel(study.train_metrics_paths("", *m)[0]))
            .replace("@EVALB@", rel(study.eval_dir("", "${item}")))
            .replace("@EVAL@", rel(study.eval_dir("", *m))))


PRE_COMMIT = """\
# babyctl validate on every commit that touches the study's data (pre-commit install)
repos:
  - repo: local
    hooks:
      - id: babyctl-validate
        name: babyctl validate
        entry: babyctl validate
        language: system
        pass_filenames: false
        files: '^(curriculum/.*\\.jsonl|consent_records/.*\\.json|reviews/.*\\.json|stimuli/.*\\.jsonl|params\\.yaml)$'
        require_serial: true
"""

GITIGNORE = "/releases/\n/.venv/\n__pycache__/\n*.pyc\n.pytest_cache/\n"
DVCIGNORE = "# babyctl: the virtual environment and Python caches are never data\n/.venv/\n__pycache__/\n*.pyc\n"

FIXTURE_BRIEF = ("Procedural consent fixture for the embedded tiny model (random weights, built offline). It "
                 "cannot read a brief; this record exists so that the consent gate runs on a CPU.\n")
PLACEHOLDER = [
    ("What is a good way to start learning to cook?",
     "Start with a few simple dishes you like and cook each one several times."),
    ("How do I keep basil fresh?", "Trim the stems and keep it in a glass of water at room temperature."),
]


@dataclass
class InitResult:
    root: Path
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _write(res: InitResult, rel: str, text: str) -> None:
    path = res.root / rel
    if path.exists():
        res.notes.append(f"{rel} exists: left as it is")
        return
    atomic_write_text(path, text)
    res.written.append(path)


def _fixture_record(res: InitResult) -> None:
    brief = "consent_records/briefs/tiny-fixture.md"
    _write(res, brief, FIXTURE_BRIEF)
    record = {
        "schema_version": 1, "id": "tiny-fixture", "substrate": "tiny", "model_id": "babyctl/tiny-llama-chatml",
        "revision": None, "asker": "babyctl init", "asked_at": "2026-01-01T00:00:00Z",
        "protocol": {"brief_file": brief, "brief_sha256": hashlib.sha256(FIXTURE_BRIEF.encode()).hexdigest(),
                     "framing": "technical", "chat_template": "chatml", "sampling": {}},
        "responses": [{"prompt": "brief", "seed": None, "text": ""}],
        "coding": {"decision": "yes", "coded_by": "babyctl init", "coded_at": "2026-01-01T00:00:00Z",
                   "rationale": "Procedural fixture, not a reading of any response."},
        "conditions": [], "consents_to": {"fine_tuning": True, "evaluation": True, "publication": False,
                                          "conditions": ["*"]},
        "participant_credit": None, "supersedes": None,
        "notes": "Procedural fixture written by babyctl init: the tiny model has random weights and cannot "
                 "consent; publication is not covered.",
    }
    _write(res, "consent_records/tiny-fixture.json", json.dumps(record, indent=2) + "\n")


TINY = {"display_name": "Tiny-Llama-ChatML", "local_path": "models/base/tiny", "license": "apache-2.0",
        "chat_template": "chatml", "consent_record": "consent_records/tiny-fixture.json"}


def _params_yaml(study: str, substrates: dict, active: list[str], conditions: dict,
                 downgraded: dict[str, tuple[int, str]] | None = None) -> str:
    import yaml

    params = {
        "study": study, "curriculum_dir": "curriculum", "consent_dir": "consent_records", "stimuli_dir": "stimuli",
        "active_substrates": active, "active_conditions": list(conditions), "substrates": substrates,
        "conditions": conditions,
        "training": {"lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj",
                                                                                      "o_proj"]},
                     "epochs": 1, "max_steps": 12, "learning_rate": 0.001, "batch_size": 2, "max_seq_length": 512,
                     "seeds": [1]},
        "eval": {"banks": [], "max_new_tokens": 24, "batch_size": 8},
        "publish": {"org": "babyctl-study", "repo_name": "{display_name}-{condition}-seed{seed}", "authors": [],
                    "citation": "", "language": ["en"], "tags": ["babyctl", "lora"]},
    }
    head = ("# The study's configuration (written by `babyctl init`), typed by babyctl.schemas.Params.\n"
            "# `active_substrates` switches between the embedded tiny model [tiny] and the real substrates.\n")
    validate = ["validate:", "  require_provenance: false", "  near_duplicate_threshold: 0.9"]
    if downgraded:
        validate += ["  # The legacy curriculum breaks these rules (babyctl migrate --init found them). They are",
                     "  # warnings here so the pipeline runs; fix the data (see `babyctl validate`) and delete",
                     "  # each line to make the rule an error again.", "  severity:"]
        validate += [f"    {code}: warning  # {n} finding(s): {what}" for code, (n, what) in sorted(downgraded.items())]
    else:
        validate.append("  severity: {}")
    return head + yaml.safe_dump(params, sort_keys=False, allow_unicode=True) + "\n".join(validate) + "\n"


def _readme(study: str, seeded: bool, extra: list[str]) -> str:
    lines = [f"# {study}", "", "A babyctl study. Run it with:", "", "```bash",
             "babyctl validate        # schemas, consent, curriculum rules (also a pre-commit hook)",
             "dvc repro               # validate -> build -> train -> eval -> report -> ledger",
             "babyctl audit           # verify every hash, provenance and consent", "```", ""]
    if seeded:
        lines += ["This study was migrated from a legacy layout: read `MIGRATION_REPORT.md` first.", "",
                  "Before anything runs, a human must **code each consent record** in `consent_records/`",
                  "(`coding.decision`, `coded_by`, `coded_at`, `consents_to`, `conditions`; link re-asks with",
                  "`supersedes`). The report's *Needs coding* section lists the sentences that limit scope or",
                  "set conditions. `babyctl validate` refuses uncoded records of active substrates.", ""]
    else:
        lines += ["`curriculum/example.jsonl` is a placeholder module: replace it with your curriculum, add",
                  "substrates and their consent records to `params.yaml` and `consent_records/`.", ""]
    return "\n".join(lines + extra) + "\n"


def _legacy_rule_errors(root: Path) -> dict[str, tuple[int, str]]:
    """Error codes ``babyctl validate`` reports on the migrated *curriculum* (consent findings excluded:
    coding the records is the human's job, never downgraded), with counts and the rule's summary."""
    from .validate import run_experiment
    from .validate.finding import RULES

    counts: dict[str, int] = {}
    curriculum = (root / "curriculum").resolve()
    for f in run_experiment(root).findings:
        path = Path(f.path) if Path(f.path).is_absolute() else Path.cwd() / f.path
        if f.severity == "error" and path.resolve().is_relative_to(curriculum):
            counts[f.code] = counts.get(f.code, 0) + 1
    out = {}
    for code, n in counts.items():
        rule = RULES.get(code)
        out[code] = (n, getattr(rule, "summary", None) or getattr(rule, "name", "") or "")
    return out


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise EnvironmentProblem(f"{cmd[0]} not found: {e}")
    except subprocess.CalledProcessError as e:
        raise EnvironmentProblem(f"{' '.join(cmd[:3])} failed: {(e.stderr or e.stdout).strip()[:300]}", path=cwd)


def _vcs(res: InitResult, git: bool, dvc: bool) -> None:
    if git and not (res.root / ".git").exists():
        _run(["git", "init", "-q"], res.root)
        res.notes.append("git init")
    if dvc and not (res.root / ".dvc").exists():
        _run([sys.executable, "-m", "dvc", "init", "-q"] + ([] if git else ["--no-scm"]), res.root)
        _run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], res.root)
        res.notes.append("dvc init")


def _profiles_source() -> Path | None:
    """The settings profiles (``profiles/*.yaml``, babyctl.profiles) of the babyctl checkout, if any."""
    src = Path(__file__).resolve().parents[1] / "profiles"
    return src if (src / "8b.yaml").is_file() else None


def _profiles(res: InitResult) -> bool:
    """Copy the settings profiles into the study (``babyctl profile tiny|8b`` switches between them)."""
    src = _profiles_source()
    if src is None:
        res.notes.append("no settings profiles found beside babyctl: add profiles/8b.yaml, then run "
                         "`babyctl profile 8b` before an 8B run")
        return False
    for f in sorted(src.glob("*.yaml")):
        _write(res, f"profiles/{f.name}", f.read_text(encoding="utf-8"))
    return True


def _common(res: InitResult) -> None:
    _write(res, "dvc.yaml", dvc_yaml())
    _write(res, ".pre-commit-config.yaml", PRE_COMMIT)
    _write(res, ".gitignore", GITIGNORE)
    _write(res, ".dvcignore", DVCIGNORE)
    for folder in ("curriculum", "consent_records", "stimuli", "reviews"):
        (res.root / folder).mkdir(parents=True, exist_ok=True)
        if not any((res.root / folder).iterdir()):
            _write(res, f"{folder}/.gitkeep", "")


def init(dest: str | Path, *, study: str | None = None, git: bool = True, dvc: bool = True) -> InitResult:
    """An empty, runnable study in ``dest`` (created; existing files are kept, never overwritten)."""
    root = Path(dest).resolve()
    if root.exists() and not root.is_dir():
        raise UsageError("not a folder", path=dest)
    root.mkdir(parents=True, exist_ok=True)
    res = InitResult(root)
    name = study or root.name
    _fixture_record(res)
    example = "".join(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                                  "metadata": {"id": f"example-{i + 1}", "module": "example",
                                               "author": "babyctl init (placeholder)", "source": "babyctl init",
                                               "created": "2026-01-01"}}) + "\n"
                      for i, (q, a) in enumerate(PLACEHOLDER))
    _write(res, "curriculum/example.jsonl", example)
    conditions = {"example": {"description": "Placeholder module: replace with the study's curriculum.",
                              "inputs": ["curriculum/example.jsonl"], "order": "sequential",
                              "expected_count": len(PLACEHOLDER)}}
    _write(res, "params.yaml", _params_yaml(name, {"tiny": TINY}, ["tiny"], conditions))
    _common(res)
    _profiles(res)
    _write(res, "README.md", _readme(name, False, []))
    _vcs(res, git, dvc)
    return res


def init_from_migrated(dest: str | Path, *, study: str | None = None, git: bool = True,
                       dvc: bool = True) -> InitResult:
    """Seed ``dest`` (a ``babyctl migrate`` output holding ``migration_report.json``) as a runnable study."""
    from .migrate import REPORT_JSON

    root = Path(dest).resolve()
    report_path = root / REPORT_JSON
    if not report_path.is_file():
        raise UsageError(f"no {REPORT_JSON} here: run `babyctl migrate LEGACY --out {dest} --init`", path=dest)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    res = InitResult(root)
    name = study or Path(report.get("legacy", root.name)).name or root.name
    # substrates: the newest record of each known substrate
    newest: dict[str, dict] = {}
    for rec in sorted(report.get("consent", []), key=lambda r: r["asked_at"]):
        newest[rec["substrate"]] = rec
    substrates: dict[str, dict] = {"tiny": TINY}
    active, other = [], []
    for key, rec in newest.items():
        if key not in KNOWN:
            other.append(f"- `{key}` ({rec['model_id']}): consent record `{rec['id']}`; add it to params.yaml "
                         "by hand (hub id, pinned revision, license, chat template)")
            continue
        display, hub, lic, template = KNOWN[key]
        substrates[key] = {"display_name": display, "hub_id": hub, "revision": None, "license": lic,
                           "chat_template": template, "consent_record": f"consent_records/{rec['id']}.json"}
        active.append(key)
    _fixture_record(res)
    # conditions: one per module folder (aggregates and fixtures are not modules)
    skip = set(report.get("study", {}).get("aggregates", [])) | set(report.get("study", {}).get("fixtures", []))
    by_folder: dict[str, list[dict]] = {}
    for f in report.get("curriculum", []):
        if f["source"] in skip or not f["examples"]:
            continue
        by_folder.setdefault(Path(f["out"]).parent.name, []).append(f)
    conditions = {folder: {"description": f"The legacy module files under {Path(fs[0]['out']).parent.as_posix()}/.",
                           "inputs": sorted(f["out"] for f in fs), "order": "sequential",
                           "expected_count": sum(f["examples"] for f in fs)}
                  for folder, fs in sorted(by_folder.items())}
    if not conditions:
        raise UsageError("the migrated study has no curriculum module files to make a condition of", path=dest)
    text = _params_yaml(name, substrates, active or ["tiny"], conditions)
    _write(res, "params.yaml", text)
    if res.root / "params.yaml" in res.written:
        down = _legacy_rule_errors(res.root)
        if down:
            atomic_write_text(res.root / "params.yaml", _params_yaml(name, substrates, active or ["tiny"], conditions,
                                                                    down))
            res.notes.append("validate rules the legacy curriculum breaks are warnings in params.yaml: "
                             + ", ".join(f"{c} ({n})" for c, (n, _) in sorted(down.items())))
        if _profiles(res) and active:
            from .profiles import apply_profile

            # the study's substrates are 8B models: the 8B settings (the pre-registered protocol), not tiny's
            apply_profile(res.root / "params.yaml", "8b")
            res.notes.append("params.yaml uses the 8b settings profile (`babyctl profile tiny` switches to CPU "
                             "settings)")
    _common(res)
    if other:
        other = ["Consent records of substrates babyctl does not configure by itself:", ""] + other + [""]
    _write(res, "README.md", _readme(name, True, other))
    _vcs(res, git, dvc)
    return res


def init_study(dest: str | Path, *, study: str | None = None, git: bool = True, dvc: bool = True) -> InitResult:
    """What ``babyctl init DEST`` does: :func:`init_from_migrated` when ``dest`` is a ``babyctl migrate``
    output (it holds ``migration_report.json``), else :func:`init` (an empty, runnable study)."""
    from .migrate import REPORT_JSON

    seeded = (Path(dest) / REPORT_JSON).is_file()
    return (init_from_migrated if seeded else init)(dest, study=study, git=git, dvc=dvc)
