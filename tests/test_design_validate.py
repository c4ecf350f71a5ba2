"""Validate rules of the study-design features: BC107 (generated examples), BC604 (prefill), BC709
(prompted arm's system prompt); and the dataset card's sources per condition."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from babyctl.build import build_from_params
from babyctl.validate import validate_paths
from conftest import run_cli

GEN = {"model": "example-model-2026-01-01", "revision": "2026-01-01", "system_prompt": "Write one short, kind reply.",
       "sampling": {"temperature": 0.7, "top_p": 0.9, "seed": 3}, "date": "2026-01-02"}


def example(i: int, source: str = "generated", generator: dict | None = GEN) -> str:
    meta = {"id": f"g-{i:03d}", "module": "generated", "author": "a", "source": source, "created": "2026-01-02"}
    if generator is not None:
        meta["generator"] = generator
    return json.dumps({"messages": [{"role": "user", "content": f"Question number {i} about gardening tools?"},
                                    {"role": "assistant", "content": f"Answer {i}: a trowel, a rake and gloves."}],
                       "metadata": meta})


def findings(tmp_path: Path, lines: list[str], name: str = "curriculum/gen.jsonl"):
    f = tmp_path / name
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [(x.code, x.line, x.message) for x in validate_paths([f])]


def test_generated_examples_must_name_their_generator(tmp_path):
    sha = hashlib.sha256(GEN["system_prompt"].encode()).hexdigest()
    hash_only = {**GEN, "system_prompt": None, "system_prompt_sha256": sha}
    lines = [
        example(1),                                              # complete
        example(2, generator=None),                              # no generator at all
        example(3, generator={"model": "m", "date": "2026-01-02"}),  # lacks revision, prompt, sampling
        example(4, generator=hash_only),                         # a hash instead of the text is enough
        example(5, generator={**GEN, "system_prompt_sha256": "0" * 64}),  # text and hash disagree
        example(6, source="hand-written", generator=None),       # not generated: nothing required
    ]
    got = [(code, line) for code, line, _ in findings(tmp_path, lines) if code == "BC107"]
    assert got == [("BC107", 2), ("BC107", 3), ("BC107", 5)]
    msgs = {line: msg for code, line, msg in findings(tmp_path, lines) if code == "BC107"}
    assert "generator is missing" in msgs[2]
    assert "lacks revision, sampling, system_prompt or system_prompt_sha256" in msgs[3]
    assert "is not the sha256 of generator.system_prompt" in msgs[5]


def test_generated_rule_can_be_silenced_per_example(tmp_path):
    line = json.loads(example(1, generator=None))
    line["metadata"]["lint_ignore"] = ["BC107"]
    assert [c for c, _, _ in findings(tmp_path, [json.dumps(line)])] == []


def test_cli_reports_file_line_col(tmp_path):
    findings(tmp_path, [example(1), example(2, generator={"model": "m"})])
    proc = run_cli("validate", "curriculum/gen.jsonl", cwd=tmp_path)
    assert proc.returncode == 1 and "curriculum/gen.jsonl:2:" in proc.stdout and "BC107" in proc.stdout


def test_prefill_ending_in_whitespace_is_a_warning(tmp_path):
    good = {"id": "p-1", "bank": "p", "sub_category": "s", "prompt": "q", "difficulty": "easy", "prefill": "Sure,"}
    bad = {**good, "id": "p-2", "prefill": "Sure, "}
    got = findings(tmp_path, [json.dumps(good), json.dumps(bad)], name="stimuli/p.jsonl")
    assert [(c, line) for c, line, _ in got] == [("BC604", 2)]


def test_missing_system_prompt_file_of_a_prompted_arm(experiment):
    (experiment / "prompts/core.md").unlink()
    proc = run_cli("validate", cwd=experiment)
    out = proc.stdout + proc.stderr
    line = next(i for i, t in enumerate((experiment / "params.yaml").read_text().splitlines(), 1)
                if "system_prompt_file:" in t)
    assert proc.returncode == 1 and f"params.yaml:{line}:" in out and "BC709" in out


def test_dataset_card_summarises_sources_per_condition(experiment):
    (experiment / "curriculum/gen.jsonl").write_text("\n".join(example(i) for i in (1, 2)) + "\n", encoding="utf-8")
    data = yaml.safe_load((experiment / "params.yaml").read_text(encoding="utf-8"))
    data["conditions"]["mixed"] = {"inputs": ["curriculum/self-worth.jsonl", "curriculum/gen.jsonl"],
                                   "expected_count": 10}
    (experiment / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = build_from_params("mixed", experiment / "params.yaml")
    card = json.loads((result.out_dir / "dataset_card.json").read_text(encoding="utf-8"))
    assert card["sources"] == {"per_source": {"babyctl-example": 8, "generated": 2},
                               "per_generator": {"example-model-2026-01-01@2026-01-01": 2}}
    md = (result.out_dir / "dataset_card.md").read_text(encoding="utf-8")
    assert "| generated | 2 |" in md and "| `example-model-2026-01-01@2026-01-01` | 2 |" in md
    # the generator travels into the training data with the example
    rows = [json.loads(x) for x in result.train_path.read_text(encoding="utf-8").splitlines()]
    assert [r["metadata"]["generator"]["model"] for r in rows if r["metadata"]["source"] == "generated"] == [GEN["model"]] * 2
