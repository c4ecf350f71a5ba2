"""babyctl.study: the one home of a study's layout, identity and look-ups."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from babyctl import study
from babyctl.config import load_params
from babyctl.errors import UsageError
from babyctl.evaluate import runs
from babyctl.train.run import lookup

ROOT = Path(__file__).resolve().parent.parent


def test_paths():
    r = Path("/x")
    assert study.run_dir(r, "tiny", "core", 2) == Path("/x/models/tiny/core/seed-2")
    assert study.parse_run_dir("models/tiny/core/seed-2") == ("tiny", "core", 2)
    assert study.parse_run_dir("models/tiny/core/seed-2/adapter") is None
    assert study.train_data(r, "core") == Path("/x/data/build/core/train.jsonl")
    assert study.train_data_rel("core") == "data/build/core/train.jsonl"
    assert study.valid_data(r, "core") == Path("/x/data/build/core/valid.jsonl")
    assert study.eval_dir(r, "tiny") == Path("/x/eval/tiny/baseline")
    assert study.eval_dir(r, "tiny", "core", 1) == Path("/x/eval/tiny/core/seed-1")
    assert study.train_metrics_paths(r, "tiny", "core", 1) == (Path("/x/metrics/train/tiny/core/seed-1.json"),
                                                                Path("/x/metrics/train/tiny/core/seed-1.loss.tsv"))
    assert study.release_dir(r, "tiny", "core", 1) == Path("/x/releases/tiny/core/seed-1")
    assert runs.RunSpec("tiny", "core", 1).eval_dir(r) == study.eval_dir(r, "tiny", "core", 1)
    assert runs.RunSpec("tiny", "core", 1).model_dir(r) == study.run_dir(r, "tiny", "core", 1)


def test_unknown_names_have_one_wording_everywhere():
    params_path = ROOT / "params.yaml"
    params = load_params(params_path)
    line = next(i for i, ln in enumerate(params_path.read_text().splitlines(), 1) if ln.startswith("substrates:"))
    want = "unknown substrate 'gpt5' (params.yaml defines: tiny, hermes, dolphin, llama3)"
    for call in (lambda: study.substrate(params, "gpt5", params_path),
                 lambda: lookup(params, params_path, "gpt5", "core"),
                 lambda: runs.make_run(params, "gpt5", baseline=True, condition=None, seed=None,
                                       params_path=params_path)):
        with pytest.raises(UsageError) as err:
            call()
        assert err.value.message == want and err.value.line == line
    with pytest.raises(UsageError, match=r"unknown condition 'x' \(params.yaml defines: core, core-shuffled, neutral, core-prompted\)"):
        study.Study.load(params_path).condition("x")


def test_weights_rule_safetensors_else_bin(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"bin")
    assert study.weights_files(tmp_path) == [tmp_path / "pytorch_model.bin"]
    (tmp_path / "b.safetensors").write_bytes(b"b")
    (tmp_path / "a.safetensors").write_bytes(b"a")
    files = study.weights_files(tmp_path)
    assert [p.name for p in files] == ["a.safetensors", "b.safetensors"]
    import hashlib

    h = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    assert study.weights_sha256(files) == h(f"{h(b'a')}  a.safetensors\n{h(b'b')}  b.safetensors\n".encode())
    assert runs.local_weights_sha256(tmp_path) == study.weights_sha256(files)  # eval uses the same rule
    assert study.weights_sha256([]) is None


def test_study_of_a_params_object_needs_a_root(tmp_path):
    params = load_params(ROOT / "params.yaml")
    with pytest.raises(UsageError, match="needs root="):
        study.Study.of(params)
    s = study.Study.of(params, root=ROOT)
    assert s.root == ROOT and s.params_path == ROOT / "params.yaml"
    assert study.Study.of(s) is s


def test_no_run_folder_path_is_spelled_out_outside_study():
    """issue 12: the layout has one home (help texts for people in cli.py excepted)."""
    out = subprocess.run(["git", "grep", "-n", "-e", "seed-", "-e", "data/build", "--", "babyctl"],
                         cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    offenders = [ln for ln in out if not ln.startswith(("babyctl/study.py:", "babyctl/cli.py:"))]
    assert offenders == []
