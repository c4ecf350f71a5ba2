"""``babyctl build CONDITION``: a deterministic training set from a condition's recipe.

A *condition* in ``params.yaml`` names its inputs (curriculum files or folders, in
module order), an order (``sequential`` or ``shuffled`` with ``seed``), an optional
``validation_fraction`` and the ``expected_count``. The build writes, atomically, into the
condition's build folder (:func:`babyctl.study.build_dir`)::

    train.jsonl        one example a line, canonical JSON
    valid.jsonl        only when validation_fraction > 0
    dataset_card.json  counts per module/author, sha256 of inputs+outputs
    dataset_card.md    the same, for people

Rules:

* every input line must parse (strict JSON: duplicate keys refused) and match
  :class:`~babyctl.schemas.CurriculumExample`; the first bad line fails the build, naming
  ``file:line`` (no example is skipped);
* blank lines follow the one JSONL policy (:mod:`babyctl.documents`): skipped, line numbers
  kept (``babyctl validate`` warns about them, BC008);
* example ids (``metadata.id``) must be unique across the condition's inputs; an example
  without one gets ``<file stem>-L<line>-<sha256[:8] of the line>``;
* the total (train + validation) must equal ``expected_count``, else the build fails
  listing the count per input file;
* shuffling uses ``random.Random(seed).shuffle`` (Mersenne Twister; its output for a
  given integer seed has been stable across CPython 3 releases);
* the validation split is the ``round(n * fraction)`` examples with the smallest
  ``sha256("<seed>:<id>")`` -- independent of the order and stable when other
  examples are added;
* the output is canonical (sorted keys, compact separators, UTF-8, LF) and the card
  carries no timestamp or git commit: the same inputs and params give a byte-identical
  folder, so DVC sees an unchanged output and does not re-run the stages after it.
  When a build was made is in ``dvc.lock``'s git history.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from . import __version__, study
from .config import load_params
from .documents import decode, model_error, parse_jsonl, read_bytes
from .errors import InputError, IntegrityError, UsageError
from .fsutil import atomic_dir, dumps_json, inside, sha256_bytes
from .schemas.curriculum import CurriculumExample
from .schemas.params import Condition, Params
from .study import DEFAULT_PARAMS, TRAIN_FILE, VALID_FILE


@dataclass
class BuildExample:
    """One validated input line and where it came from."""

    id: str
    module: str
    author: str
    path: str  # relative to the experiment root, POSIX
    line: int
    record: dict




@dataclass
class BuildResult:
    condition: str
    out_dir: Path
    train_path: Path
    valid_path: Path | None
    n_train: int
    n_valid: int
    per_file: dict[str, int] = field(default_factory=dict)
    per_module: dict[str, int] = field(default_factory=dict)
    per_author: dict[str, int] = field(default_factory=dict)
    train_sha256: str = ""
    valid_sha256: str | None = None


def canonical_line(obj: dict) -> str:
    """The serialisation written to train/valid.jsonl: sorted keys, compact, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def expand_inputs(inputs: list[str], root: Path) -> list[Path]:
    """Input entries -> files, in the given (module) order; a folder gives its ``**/*.jsonl`` sorted."""
    files: list[Path] = []
    for entry in inputs:
        p = inside(root, root / entry, f"input {entry!r}")  # no .., absolute path or symlink out
        if p.is_dir():
            found = sorted(inside(root, q, "input file") for q in p.rglob("*.jsonl") if q.is_file())
            if not found:
                raise InputError(f"input folder {entry!r} holds no .jsonl files", path=p)
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"input {entry!r} does not exist", path=p)
    seen: set[Path] = set()
    for f in files:
        if f.resolve() in seen:
            raise UsageError(f"input listed twice in the condition: {f.relative_to(root).as_posix()}")
        seen.add(f.resolve())
    return files


def read_examples(path: Path, root: Path) -> tuple[list[BuildExample], bytes]:
    """Parse and validate every line of one JSONL file; raise on the first bad line."""
    rel = path.relative_to(root).as_posix()
    raw = read_bytes(path, "curriculum file")
    out: list[BuildExample] = []
    for no, line, obj in parse_jsonl(decode(raw, rel, "curriculum file"), rel, "example"):
        try:
            CurriculumExample.model_validate_json(line)  # JSON mode: ISO dates are dates
        except ValidationError as e:
            raise model_error(e, "example", rel, no)
        meta = obj.get("metadata") or {}
        ex_id = meta.get("id") or f"{path.stem}-L{no}-{sha256_bytes(line.encode('utf-8'))[:8]}"
        record = {"messages": obj["messages"], "metadata": {**meta, "id": ex_id}}
        out.append(BuildExample(id=ex_id, module=meta.get("module") or path.stem,
                           author=meta.get("author") or "(unattributed)", path=rel, line=no,
                           record=record))
    return out, raw


def split_validation(examples: list[BuildExample], fraction: float, seed: int) -> set[str]:
    """Ids of the validation examples (see the module docstring)."""
    n_valid = math.floor(len(examples) * fraction + 0.5) if fraction > 0 else 0
    if n_valid == 0:
        return set()
    if n_valid >= len(examples):
        raise UsageError(f"validation_fraction {fraction} leaves no training examples")
    key = lambda ex: hashlib.sha256(f"{seed}:{ex.id}".encode("utf-8")).hexdigest()  # noqa: E731
    return {ex.id for ex in sorted(examples, key=key)[:n_valid]}


def collect(condition: str, cond: Condition, root: Path, params_path: Path) -> tuple[list[BuildExample], list[dict], dict[str, int]]:
    """Read and check a condition's inputs: (examples in module order, input file records, count per file).

    Ids must be unique; the total must equal ``expected_count``."""
    files = expand_inputs(cond.inputs, root)
    examples: list[BuildExample] = []
    inputs_meta: list[dict] = []
    per_file: dict[str, int] = {}
    for f in files:
        exs, raw = read_examples(f, root)
        rel = f.relative_to(root).as_posix()
        per_file[rel] = len(exs)
        inputs_meta.append({"path": rel, "sha256": sha256_bytes(raw), "size": len(raw), "examples": len(exs)})
        examples.extend(exs)

    seen: dict[str, BuildExample] = {}
    for ex in examples:
        if ex.id in seen:
            first = seen[ex.id]
            raise InputError(f"duplicate example id {ex.id!r} (first at {first.path}:{first.line})",
                             path=ex.path, line=ex.line)
        seen[ex.id] = ex

    total = len(examples)
    if total != cond.expected_count:
        detail = ", ".join(f"{p}: {n}" for p, n in per_file.items())
        diff = total - (cond.expected_count or 0)
        raise IntegrityError(
            f"condition {condition!r}: expected_count is {cond.expected_count} but the inputs hold "
            f"{total} examples ({'+' if diff > 0 else ''}{diff}); per file: {detail}",
            path=params_path, line=study.params_line(params_path, "conditions", condition, "expected_count"))
    return examples, inputs_meta, per_file


def _training_split(examples: list[BuildExample], cond: Condition) -> list[BuildExample]:
    valid_ids = split_validation(examples, cond.validation_fraction, cond.seed)
    return [ex for ex in examples if ex.id not in valid_ids]


def check_geometry(condition: str, cond: Condition, train: list[BuildExample], params: Params, root: Path,
                   params_path: Path) -> tuple[dict, dict | None]:
    """The condition's training geometry (card summary) and, for a matched control, the match
    record; a control that does not match (and declares no deviation) fails with the table."""
    from . import geometry

    toks, missing = geometry.load_tokenizers(params, root)
    geo = geometry.measure(condition, [ex.record["messages"] for ex in train], toks, missing)
    if not cond.matches:
        return geo.summary(), None
    target_cond = params.conditions[cond.matches]
    t_examples, _, _ = collect(cond.matches, target_cond, root, params_path)
    target = geometry.measure(cond.matches, [ex.record["messages"] for ex in _training_split(t_examples, target_cond)],
                              toks, missing)
    rows = geometry.compare(geo, target, cond.match)
    ok = all(r.ok for r in rows)
    table = geometry.match_table(rows, condition, cond.matches)
    if not ok and not cond.match.deviation:
        raise IntegrityError(
            f"condition {condition!r} does not match {cond.matches!r} (training split; tolerances from "
            f"conditions.{condition}.match):\n{table}\nMake the control match, or declare why not in "
            f"conditions.{condition}.match.deviation.",
            path=params_path, line=study.params_line(params_path, "conditions", condition, "matches"))
    record = {"target": cond.matches, "ok": ok, "deviation": cond.match.deviation,
              "criteria": cond.match.model_dump(mode="json"), "rows": geometry.rows_json(rows),
              "target_geometry": target.summary(),
              "length_test": f"two-sample Kolmogorov-Smirnov distance, permutation p-value "
                             f"({geometry.PERMUTATIONS} permutations, numpy default_rng({geometry.PERMUTATION_SEED}))"}
    return geo.summary(), record


def sources_summary(examples: list[BuildExample]) -> dict:
    """Examples per ``metadata.source``, and per generator (model@revision) for generated ones."""
    sources = Counter(str(ex.record["metadata"].get("source") or "(none)") for ex in examples)
    gens: Counter = Counter()
    for ex in examples:
        g = ex.record["metadata"].get("generator")
        if isinstance(g, dict):
            gens[f"{g.get('model')}@{g.get('revision')}"] += 1
    return {"per_source": dict(sorted(sources.items())), "per_generator": dict(sorted(gens.items()))}


def build(condition: str, params: Params, root: str | Path, *, params_path: str | Path | None = None) -> BuildResult:
    """Build the condition's build folder under ``root`` from ``params.conditions[condition]``."""
    root = Path(root).resolve()
    params_path = Path(params_path) if params_path else root / DEFAULT_PARAMS
    cond: Condition = study.condition(params, condition, params_path)
    if cond.kind == "prompted":
        raise UsageError(f"condition {condition!r} is kind: prompted: it trains nothing, so there is nothing "
                         "to build (babyctl eval evaluates the base model with its system prompt)")
    examples, inputs_meta, per_file = collect(condition, cond, root, params_path)
    total = len(examples)
    valid_ids = split_validation(examples, cond.validation_fraction, cond.seed)
    ordered = list(examples)
    if cond.order == "shuffled":
        random.Random(cond.seed).shuffle(ordered)
    train = [ex for ex in ordered if ex.id not in valid_ids]
    valid = [ex for ex in ordered if ex.id in valid_ids]
    geometry_summary, match = check_geometry(condition, cond, train, params, root, params_path)

    train_bytes = "".join(canonical_line(ex.record) + "\n" for ex in train).encode("utf-8")
    valid_bytes = "".join(canonical_line(ex.record) + "\n" for ex in valid).encode("utf-8") if valid else None

    per_module = dict(sorted(Counter(ex.module for ex in examples).items()))
    per_author = dict(sorted(Counter(ex.author for ex in examples).items()))
    outputs = [{"path": TRAIN_FILE, "sha256": sha256_bytes(train_bytes), "size": len(train_bytes),
                "examples": len(train)}]
    if valid_bytes is not None:
        outputs.append({"path": VALID_FILE, "sha256": sha256_bytes(valid_bytes), "size": len(valid_bytes),
                        "examples": len(valid)})
    card = {
        "kind": "dataset_card",
        "condition": condition,
        "description": cond.description,
        "recipe": cond.model_dump(mode="json"),
        "counts": {
            "total": total, "train": len(train), "valid": len(valid),
            "per_file": per_file, "per_module": per_module, "per_author": per_author,
        },
        "inputs": inputs_meta,
        "outputs": outputs,
        "geometry": geometry_summary,
        "match": match,
        "sources": sources_summary(examples),
        "provenance": {
            "tool": "babyctl", "tool_version": __version__,
            "command": f"babyctl build {condition}",
            "shuffle": "random.Random(seed).shuffle" if cond.order == "shuffled" else None,
            "validation_split": "smallest sha256('<seed>:<id>')" if valid else None,
            "note": "no timestamp by design: same inputs + params give a byte-identical build",
        },
    }

    out_dir = study.build_dir(root, condition)
    with atomic_dir(out_dir) as tmp:
        (tmp / TRAIN_FILE).write_bytes(train_bytes)
        if valid_bytes is not None:
            (tmp / VALID_FILE).write_bytes(valid_bytes)
        (tmp / "dataset_card.json").write_text(dumps_json(card), encoding="utf-8")
        (tmp / "dataset_card.md").write_text(render_card_md(card), encoding="utf-8")

    return BuildResult(
        condition=condition, out_dir=out_dir, train_path=study.train_data(root, condition),
        valid_path=study.valid_data(root, condition) if valid_bytes is not None else None,
        n_train=len(train), n_valid=len(valid), per_file=per_file, per_module=per_module,
        per_author=per_author, train_sha256=outputs[0]["sha256"],
        valid_sha256=outputs[1]["sha256"] if valid_bytes is not None else None,
    )


def build_from_params(condition: str, params_path: str | Path = DEFAULT_PARAMS) -> BuildResult:
    """Load ``params_path`` and build ``condition`` in the folder that holds it."""
    params_path = Path(params_path)
    params = load_params(params_path)
    return build(condition, params, params_path.resolve().parent, params_path=params_path)


def render_card_md(card: dict) -> str:
    """The Markdown dataset card."""
    c = card["counts"]
    lines = [
        f"# Dataset card: `{card['condition']}`",
        "",
        card["description"] or "(no description)",
        "",
        f"- order: **{card['recipe']['order']}**"
        + (f" (seed {card['recipe']['seed']})" if card["recipe"]["order"] == "shuffled" else ""),
        f"- examples: **{c['total']}** (train {c['train']}, validation {c['valid']}); "
        f"expected {card['recipe']['expected_count']}",
        f"- built by `{card['provenance']['command']}` (babyctl {card['provenance']['tool_version']})",
        "",
        "## Examples per module",
        "",
        "| module | examples |",
        "|---|---|",
        *[f"| {m} | {n} |" for m, n in c["per_module"].items()],
        "",
        "## Examples per author",
        "",
        "| author | examples |",
        "|---|---|",
        *[f"| {a} | {n} |" for a, n in c["per_author"].items()],
        "",
        "## Inputs (in module order)",
        "",
        "| file | examples | sha256 |",
        "|---|---|---|",
        *[f"| `{i['path']}` | {i['examples']} | `{i['sha256']}` |" for i in card["inputs"]],
        "",
        "## Outputs",
        "",
        "| file | examples | sha256 |",
        "|---|---|---|",
        *[f"| `{o['path']}` | {o['examples']} | `{o['sha256']}` |" for o in card["outputs"]],
        "",
        *_design_md(card),
    ]
    return "\n".join(lines)


def _design_md(card: dict) -> list[str]:
    """Card sections for the training geometry, the matched-control check and the sources."""
    from .geometry import Row, geometry_table, match_table

    out = ["## Training geometry (training split)", ""]
    m = card.get("match")
    summaries = [card["geometry"]] + ([m["target_geometry"]] if m else [])
    out += [geometry_table(summaries), ""]
    if m:
        state = "matches" if m["ok"] else ("does not match: declared deviation: " + str(m["deviation"]))
        out += [f"### Matched control: `{card['condition']}` against `{m['target']}` -- {state}", "",
                match_table([Row(**r) for r in m["rows"]], card["condition"], m["target"]), "",
                f"Length test: {m['length_test']}.", ""]
    src = card.get("sources") or {}
    out += ["## Sources", "", "| source | examples |", "|---|---|",
            *[f"| {k} | {n} |" for k, n in src.get("per_source", {}).items()], ""]
    if src.get("per_generator"):
        out += ["| generator (model@revision) | examples |", "|---|---|",
                *[f"| `{k}` | {n} |" for k, n in src["per_generator"].items()], ""]
    return out
