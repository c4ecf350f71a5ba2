"""babyctl build: deterministic, count-checked, nothing skipped, atomic."""
from __future__ import annotations

import hashlib
import json
import re
import random
from pathlib import Path

import pytest
import yaml

from babyctl.build import build, build_from_params, canonical_line
from babyctl.config import load_params
from babyctl.errors import InputError, IntegrityError, UsageError
from conftest import copy_experiment, edit_params, install_tiny_model, run_cli


def set_condition(exp: Path, name: str, **fields) -> None:
    edit_params(exp, lambda data: data["conditions"].setdefault(name, {}).update(fields))


def input_lines(exp: Path, condition: str) -> list[dict]:
    params = yaml.safe_load((exp / "params.yaml").read_text(encoding="utf-8"))
    out = []
    for rel in params["conditions"][condition]["inputs"]:
        out += [json.loads(ln) for ln in (exp / rel).read_text(encoding="utf-8").splitlines() if ln.strip()]
    return out


def test_sequential_build_keeps_module_order_and_every_example(experiment):
    result = build_from_params("core", experiment / "params.yaml")
    lines = result.train_path.read_text(encoding="utf-8").splitlines()
    expected = input_lines(experiment, "core")
    assert len(lines) == len(expected) == 24
    assert [json.loads(ln)["metadata"]["id"] for ln in lines] == [e["metadata"]["id"] for e in expected]
    assert [json.loads(ln)["messages"] for ln in lines] == [e["messages"] for e in expected]
    assert result.valid_path is None and not (result.out_dir / "valid.jsonl").exists()


def test_same_inputs_and_params_give_byte_identical_output(tmp_path, tiny_model_dir):
    a = copy_experiment(tmp_path / "a", with_git=False)
    b = copy_experiment(tmp_path / "b", with_git=False)
    for exp in (a, b):  # neutral is a matched control: its tokens are counted under the tiny tokenizer
        install_tiny_model(exp, tiny_model_dir)
    for cond in ("core", "core-shuffled", "neutral"):
        ra = build_from_params(cond, a / "params.yaml")
        rb = build_from_params(cond, b / "params.yaml")
        for name in ("train.jsonl", "dataset_card.json", "dataset_card.md"):
            assert (ra.out_dir / name).read_bytes() == (rb.out_dir / name).read_bytes(), (cond, name)
    # and rebuilding in place does not change a byte either
    before = (a / "data/build/core-shuffled/train.jsonl").read_bytes()
    build_from_params("core-shuffled", a / "params.yaml")
    assert (a / "data/build/core-shuffled/train.jsonl").read_bytes() == before


def test_output_is_canonical_json(experiment, tiny_model_dir):
    install_tiny_model(experiment, tiny_model_dir)
    result = build_from_params("neutral", experiment / "params.yaml")
    raw = result.train_path.read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw
    for line in raw.decode("utf-8").splitlines():
        assert line == canonical_line(json.loads(line))
    card = json.loads((result.out_dir / "dataset_card.json").read_text(encoding="utf-8"))
    assert card["outputs"][0]["sha256"] == hashlib.sha256(raw).hexdigest()


def test_shuffled_order_is_random_Random_seed_shuffle(experiment, tiny_model_dir):
    install_tiny_model(experiment, tiny_model_dir)  # core-shuffled is matched to core: tokens are counted
    result = build_from_params("core-shuffled", experiment / "params.yaml")
    ids = [json.loads(ln)["metadata"]["id"] for ln in result.train_path.read_text(encoding="utf-8").splitlines()]
    expected = [e["metadata"]["id"] for e in input_lines(experiment, "core-shuffled")]
    random.Random(7).shuffle(expected)
    assert ids == expected
    assert sorted(ids) == sorted(e["metadata"]["id"] for e in input_lines(experiment, "core"))
    set_condition(experiment, "core-shuffled", seed=8)
    other = build_from_params("core-shuffled", experiment / "params.yaml")
    assert other.train_path.read_bytes() != b"" and [
        json.loads(ln)["metadata"]["id"] for ln in other.train_path.read_text(encoding="utf-8").splitlines()] != ids


def test_validation_split_is_deterministic_and_disjoint(experiment):
    set_condition(experiment, "core", validation_fraction=0.25, seed=3)
    r1 = build_from_params("core", experiment / "params.yaml")
    train1, valid1 = r1.train_path.read_bytes(), r1.valid_path.read_bytes()
    r2 = build_from_params("core", experiment / "params.yaml")
    assert (r2.train_path.read_bytes(), r2.valid_path.read_bytes()) == (train1, valid1)
    t_ids = [json.loads(ln)["metadata"]["id"] for ln in train1.decode().splitlines()]
    v_ids = [json.loads(ln)["metadata"]["id"] for ln in valid1.decode().splitlines()]
    assert (len(t_ids), len(v_ids)) == (18, 6) and not set(t_ids) & set(v_ids)
    want = sorted((e["metadata"]["id"] for e in input_lines(experiment, "core")),
                  key=lambda i: hashlib.sha256(f"3:{i}".encode()).hexdigest())[:6]
    assert sorted(v_ids) == sorted(want)
    card = json.loads((r1.out_dir / "dataset_card.json").read_text(encoding="utf-8"))
    assert card["counts"]["train"] == 18 and card["counts"]["valid"] == 6


def test_card_counts_per_module_and_author_and_input_hashes(experiment):
    result = build_from_params("core", experiment / "params.yaml")
    card = json.loads((result.out_dir / "dataset_card.json").read_text(encoding="utf-8"))
    examples = input_lines(experiment, "core")
    modules, authors = {}, {}
    for e in examples:
        modules[e["metadata"]["module"]] = modules.get(e["metadata"]["module"], 0) + 1
        authors[e["metadata"]["author"]] = authors.get(e["metadata"]["author"], 0) + 1
    assert card["counts"]["per_module"] == modules
    assert card["counts"]["per_author"] == authors
    for inp in card["inputs"]:
        assert inp["sha256"] == hashlib.sha256((experiment / inp["path"]).read_bytes()).hexdigest()
    md = (result.out_dir / "dataset_card.md").read_text(encoding="utf-8")
    assert card["outputs"][0]["sha256"] in md and "Examples per author" in md


def test_count_mismatch_fails_naming_the_difference_and_files(experiment):
    set_condition(experiment, "core", expected_count=25)
    with pytest.raises(IntegrityError) as e:
        build_from_params("core", experiment / "params.yaml")
    msg = str(e.value)
    assert "expected_count is 25" in msg and "24 examples (-1)" in msg
    assert "curriculum/self-worth.jsonl: 8" in msg and "curriculum/uncertainty.jsonl: 8" in msg
    assert msg.startswith(str(experiment / "params.yaml") + ":")
    assert not (experiment / "data/build/core").exists()


def test_blank_lines_are_skipped_and_line_numbers_kept(experiment):
    """The one JSONL policy (babyctl.documents): blank lines are skipped, numbering counts them."""
    f = experiment / "curriculum/boundaries.jsonl"
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[3:3] = ["", "   \r"]
    lines.insert(6, '{"messages": [{"role": "robot", "content": "hi"}]}')
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_cli("build", "core", cwd=experiment)
    assert proc.returncode == 2 and "curriculum/boundaries.jsonl:7: invalid example: messages.0.role" in proc.stderr
    del lines[6]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_cli("build", "core", cwd=experiment)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("bad, why", [
    ('{"messages": [{"role": "user", "content": "hi"}', "invalid JSON"),
    ('{"messages": [{"role": "robot", "content": "hi"}]}', "invalid example: messages.0.role"),
    ('{"messages": [{"role": "user", "content": "hi"}], "messages": []}', "BC106 duplicate key \"messages\" (first at col 2)"),
])
def test_an_invalid_line_fails_naming_file_and_line(experiment, bad, why):
    f = experiment / "curriculum/boundaries.jsonl"
    lines = f.read_text(encoding="utf-8").splitlines()
    lines.insert(3, bad)
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = f.read_bytes()
    proc = run_cli("build", "core", cwd=experiment)
    assert proc.returncode == 2, proc.stderr
    assert re.search(rf"babyctl: error: curriculum/boundaries\.jsonl:4:(\d+:)? {re.escape(why)}", proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr
    assert f.read_bytes() == before and not (experiment / "data").exists()


def test_duplicate_ids_fail(experiment):
    set_condition(experiment, "dup", inputs=["curriculum/self-worth.jsonl"], expected_count=9)
    f = experiment / "curriculum/self-worth.jsonl"
    first = f.read_text(encoding="utf-8").splitlines()[0]
    f.write_text(f.read_text(encoding="utf-8") + first + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"self-worth.jsonl:9: duplicate example id .*first at curriculum/self-worth.jsonl:1"):
        build_from_params("dup", experiment / "params.yaml")


def test_folder_input_and_missing_ids_get_stable_ids(experiment):
    sub = experiment / "curriculum" / "extra"
    sub.mkdir()
    line = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    (sub / "b.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    (sub / "a.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    set_condition(experiment, "folder", inputs=["curriculum/extra"], expected_count=2)
    r = build_from_params("folder", experiment / "params.yaml")
    ids = [json.loads(ln)["metadata"]["id"] for ln in r.train_path.read_text(encoding="utf-8").splitlines()]
    digest = hashlib.sha256(json.dumps(line).encode()).hexdigest()[:8]
    assert ids == [f"a-L1-{digest}", f"b-L1-{digest}"]  # sorted files inside a folder


def test_failed_build_leaves_the_previous_output_untouched(experiment):
    good = build_from_params("core", experiment / "params.yaml")
    before = {p.name: p.read_bytes() for p in good.out_dir.iterdir()}
    set_condition(experiment, "core", expected_count=3)
    with pytest.raises(IntegrityError):
        build_from_params("core", experiment / "params.yaml")
    assert {p.name: p.read_bytes() for p in good.out_dir.iterdir()} == before
    assert not [p for p in good.out_dir.parent.iterdir() if p.name.startswith(".")]


def test_unknown_condition_and_missing_input(experiment):
    with pytest.raises(UsageError, match="unknown condition 'nope'"):
        build("nope", load_params(experiment / "params.yaml"), experiment)
    set_condition(experiment, "core", inputs=["curriculum/absent.jsonl"])
    proc = run_cli("build", "core", cwd=experiment)
    assert proc.returncode == 2 and "curriculum/absent.jsonl" in proc.stderr and "does not exist" in proc.stderr


def test_cli_prints_the_output_and_hash(experiment, tiny_model_dir):
    install_tiny_model(experiment, tiny_model_dir)
    proc = run_cli("build", "neutral", cwd=experiment)
    assert proc.returncode == 0, proc.stderr
    digest = hashlib.sha256((experiment / "data/build/neutral/train.jsonl").read_bytes()).hexdigest()
    assert "data/build/neutral/train.jsonl: 24 train examples" in proc.stdout and digest in proc.stdout
