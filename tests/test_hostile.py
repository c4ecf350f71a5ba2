"""Issue 15: hostile input and faults -- each scenario of the issue's "Why", as a user meets it.

Bad input gets ``babyctl: error: FILE:LINE: ...`` (exit 2) or a validate finding (exit 1), never a
traceback. Faults (disk full, permission denied) are injected at the write layer: ``os.fsync``
raises ENOSPC for the chosen files, as a full disk reports at flush time. That is the one thing
mocked here; the commands, files and models are real.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from babyctl.cli import SEED_RANGE, app, user_errors
from babyctl.config import load_params
from babyctl.errors import ParamsError
from babyctl.schemas.params import SEED_MAX

from conftest import copy_experiment, edit_params, install_tiny_model, run_cli, write_core_build

NO_TRACEBACK = "Traceback (most recent call last)"


# --- helpers ---------------------------------------------------------------------------------------
def cli(args: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    """``babyctl ARGS`` in this process (what ``main`` does, minus its exit): (code, out, err)."""
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        with user_errors():
            app(args)
    out, err = capsys.readouterr()
    assert NO_TRACEBACK not in err
    return done.value.code or 0, out, err


def params_line(exp: Path, needle: str) -> int:
    for no, text in enumerate((exp / "params.yaml").read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return no
    raise AssertionError(f"{needle!r} not in params.yaml")


@pytest.fixture
def disk_full(monkeypatch):
    """``disk_full("name")``: from now on, fsync of any file whose path contains ``name`` fails with
    ENOSPC (what a full disk reports when written data is flushed)."""
    real = os.fsync

    def arm(*needles: str):
        def fsync(fd):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if any(n in target for n in needles):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd)

        monkeypatch.setattr(os, "fsync", fsync)

    return arm


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[str]:
    """Staging folders, old copies, journals and lock files anywhere under ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(".*")
                  if p.name.endswith((".partial", ".tmp", ".lock", ".commit")) or ".old-" in p.name)


# --- bad params: every command and validate refuse them alike ------------------------------------
BAD_PARAMS = {
    # id: (edit, the key path in the message, a text of the offending line)
    "absolute-input": (lambda d: d["conditions"]["core"]["inputs"].__setitem__(0, "/etc/passwd"),
                       "conditions.core.inputs.0", "/etc/passwd"),
    "dotdot-input": (lambda d: d["conditions"]["core"]["inputs"].__setitem__(0, "../outside.jsonl"),
                     "conditions.core.inputs.0", "../outside.jsonl"),
    "bool-seed": (lambda d: d["training"].__setitem__("seeds", [True, 2]), "training.seeds.0", "- true"),
    "negative-seed": (lambda d: d["training"].__setitem__("seeds", [-1]), "training.seeds.0", "- -1"),
    "huge-rank": (lambda d: d["training"]["lora"].__setitem__("r", 10**40), "training.lora.r", "r: 1000"),
    "repo-template": (lambda d: d.setdefault("publish", {}).__setitem__("repo_name", "{nope}"),
                      "publish.repo_name", "{nope}"),
    "format-spec-bomb": (lambda d: d.setdefault("publish", {}).__setitem__("repo_name", "{seed:>999999999}"),
                         "publish.repo_name", "999999999"),
    "path-key": (lambda d: d["conditions"].__setitem__("../../x", d["conditions"]["core"]),
                 "conditions.../../x", "../../x"),
    "absolute-consent": (lambda d: d["substrates"]["tiny"].__setitem__("consent_record", "/tmp/c.json"),
                         "substrates.tiny.consent_record", "/tmp/c.json"),
    "huge-max-new-tokens": (lambda d: d.setdefault("eval", {}).__setitem__("max_new_tokens", 10**30),
                            "eval.max_new_tokens", "max_new_tokens"),
}


@pytest.mark.parametrize("case", list(BAD_PARAMS))
def test_bad_params_are_one_error_at_their_line_in_every_reader(case, tmp_path, monkeypatch, capsys):
    edit, key, needle = BAD_PARAMS[case]
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    edit_params(exp, edit)
    line = params_line(exp, needle)
    with pytest.raises(ParamsError) as e:
        load_params(exp / "params.yaml")
    assert e.value.line == line and key in e.value.message
    # every command that reads params stops the same way (exit 2, file:line), before doing anything
    for args in (["build", "core"], ["train", "--substrate", "tiny", "--condition", "core", "--seed", "1"],
                 ["card", "tiny"], ["publish", "tiny", "--dry-run"], ["report"]):
        code, _, err = cli(args, exp, monkeypatch, capsys)
        assert code == 2 and f"params.yaml:{line}: " in err and key in err, (args, err)
    code, out, err = cli(["validate"], exp, monkeypatch, capsys)
    assert code == 1 and f"params.yaml:{line}:" in out, out
    assert not (exp / "data").exists() and not (exp / "models").exists()


def test_duplicate_yaml_keys_are_an_error_at_the_second_key(tmp_path, monkeypatch, capsys):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    text = (exp / "params.yaml").read_text(encoding="utf-8")
    text = text.replace("  max_steps: 12\n", "  max_steps: 12\n  max_steps: 13\n")
    (exp / "params.yaml").write_text(text, encoding="utf-8")
    line = params_line(exp, "max_steps: 13")
    with pytest.raises(ParamsError, match="duplicate key 'max_steps'") as e:
        load_params(exp / "params.yaml")
    assert e.value.line == line
    code, _, err = cli(["build", "core"], exp, monkeypatch, capsys)
    assert code == 2 and f"params.yaml:{line}: " in err
    code, out, _ = cli(["validate"], exp, monkeypatch, capsys)
    assert code == 1 and f"params.yaml:{line}:" in out and "duplicate key" in out


def test_empty_params_file_is_an_error(tmp_path, monkeypatch, capsys):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    (exp / "params.yaml").write_bytes(b"")
    code, _, err = cli(["build", "core"], exp, monkeypatch, capsys)
    assert code == 2 and "params.yaml:1: " in err
    code, out, _ = cli(["validate"], exp, monkeypatch, capsys)  # was a warning only, exit 0
    assert code == 1 and "params.yaml:1:1: BC701" in out


@pytest.mark.parametrize("seed", ["-1", str(SEED_MAX + 1), "12345678901234567890"])
def test_out_of_range_seeds_are_usage_errors(seed, tmp_path, monkeypatch, capsys):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    for cmd in (["train", "--substrate", "tiny", "--condition", "core"], ["eval", "--substrate", "tiny",
                                                                          "--condition", "core"]):
        code, _, err = cli([*cmd, "--seed", seed], exp, monkeypatch, capsys)
        assert code == 2 and "--seed" in err
    assert SEED_RANGE["max"] == SEED_MAX


def test_seed_bound_in_the_library_too(tmp_path):
    from babyctl.errors import UsageError
    from babyctl.train.run import train

    exp = copy_experiment(tmp_path / "exp", with_git=False)
    with pytest.raises(UsageError, match="out of range"):
        train(exp / "params.yaml", substrate="tiny", condition="core", seed=-1)


def test_symlinked_input_leaving_the_experiment_is_refused(tmp_path, monkeypatch, capsys):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    outside = tmp_path / "outside.jsonl"
    shutil.copy(exp / "curriculum" / "neutral-control.jsonl", outside)
    (exp / "curriculum" / "sneaky.jsonl").symlink_to(outside)
    edit_params(exp, lambda d: d["conditions"]["neutral"].__setitem__("inputs", ["curriculum/sneaky.jsonl"]))
    code, _, err = cli(["build", "neutral"], exp, monkeypatch, capsys)
    assert code == 2 and "curriculum/sneaky.jsonl" in err and "outside the experiment" in err
    assert not (exp / "data" / "build" / "neutral").exists()
    line = params_line(exp, "curriculum/sneaky.jsonl")
    code, out, _ = cli(["validate"], exp, monkeypatch, capsys)  # validate refuses it too, at its line
    assert code == 1 and f"params.yaml:{line}:" in out and "BC708" in out
    # a symlinked folder, a file inside an input folder, a base model or a consent record: the same
    (exp / "models" / "base").mkdir(parents=True)
    (exp / "models" / "base" / "tiny").symlink_to(tmp_path)
    (exp / "consent_records" / "elsewhere.json").symlink_to(tmp_path / "c.json")
    shutil.copy(exp / "consent_records" / "tiny-fixture.json", tmp_path / "c.json")
    edit_params(exp, lambda d: d["substrates"]["tiny"].__setitem__("consent_record", "consent_records/elsewhere.json"))
    code, out, _ = cli(["validate"], exp, monkeypatch, capsys)
    assert code == 1 and "substrate 'tiny' local_path" in out and "substrate 'tiny' consent_record" in out


def test_a_huge_integer_in_a_jsonl_line_is_a_located_error(tmp_path, monkeypatch, capsys):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    src = exp / "curriculum" / "neutral-control.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines()
    obj = json.loads(lines[1])
    obj["metadata"]["big"] = 1
    lines[1] = json.dumps(obj).replace('"big": 1', '"big": 1' + "0" * 5000)
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cli(["build", "neutral"], exp, monkeypatch, capsys)
    assert code == 2 and "curriculum/neutral-control.jsonl:2: " in err
    for args in (["validate", "curriculum/neutral-control.jsonl"], ["validate"]):  # was a ValueError traceback
        code, out, _ = cli(args, exp, monkeypatch, capsys)
        assert code == 1 and "curriculum/neutral-control.jsonl:2:1: BC101 invalid JSON: Exceeds the limit" in out
    (exp / "stray.jsonl").write_text(lines[1] + "\n", encoding="utf-8")  # a file of no known kind
    code, out, _ = cli(["validate", "stray.jsonl"], exp, monkeypatch, capsys)
    assert code == 1 and "stray.jsonl:1:1: BC101" in out


def test_card_out_a_folder_is_an_error_and_writes_nothing(trained_run, tmp_path, monkeypatch, capsys):
    exp = trained_run.parents[3]
    target = tmp_path / "somewhere"
    target.mkdir()
    before = sorted(tmp_path.iterdir())
    code, _, err = cli(["card", "tiny", "--out", str(target)], exp, monkeypatch, capsys)
    assert code == 2 and f"{target}: is a folder" in err
    assert sorted(tmp_path.iterdir()) == before and not any(target.iterdir())


def test_a_device_or_pipe_as_an_input_is_an_error_not_a_hang(tmp_path, monkeypatch, capsys):
    """``--params /dev/zero`` read forever (found by the fuzz suite); a FIFO blocks on open."""
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    fifo = tmp_path / "params-pipe.yaml"
    os.mkfifo(fifo)
    for source in ("/dev/zero", str(fifo)):
        code, _, err = cli(["build", "core", "--params", source], exp, monkeypatch, capsys)
        assert code == 2 and f"{source}: cannot read params file: not a regular file" in err


def test_card_out_a_device_or_pipe_is_an_error_and_keeps_it(trained_run, tmp_path, monkeypatch, capsys):
    """A rename onto ``/dev/full`` replaced the device node with a regular file (found by hand)."""
    exp = trained_run.parents[3]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = cli(["card", "tiny", "--out", str(fifo)], exp, monkeypatch, capsys)
    assert code == 2 and f"{fifo}: not a regular file" in err
    import stat

    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_publish_empty_repo_id_is_an_error_not_the_default(trained_run, monkeypatch, capsys):
    exp = trained_run.parents[3]
    code, _, err = cli(["publish", "tiny", "--repo-id", "", "--dry-run"], exp, monkeypatch, capsys)
    assert code == 2 and "invalid repo id ''" in err
    code, _, err = cli(["card", "tiny", "--condition", ""], exp, monkeypatch, capsys)
    assert code == 2 and "unknown condition ''" in err


def test_migrate_out_somewhere_unwritable_is_an_environment_error(tmp_path, monkeypatch, capsys):
    from test_migrate import make_legacy

    legacy = make_legacy(tmp_path / "legacy")
    code, _, err = cli(["migrate", str(legacy), "--out", "/proc/babyctl-x"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "/proc/babyctl-x: " in err


# --- faults: disk full in every command that writes ----------------------------------------------
def test_enospc_in_build_keeps_the_previous_build(tmp_path, monkeypatch, capsys, disk_full):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    assert cli(["build", "core"], exp, monkeypatch, capsys)[0] == 0
    before = tree(exp / "data")
    edit_params(exp, lambda d: d["conditions"]["core"].__setitem__("order", "shuffled"))
    disk_full("train.jsonl")
    code, _, err = cli(["build", "core"], exp, monkeypatch, capsys)
    assert code == 2 and "data/build/core: no space left on the device" in err
    assert tree(exp / "data") == before and leftovers(exp) == []


def test_enospc_in_validate_report(tmp_path, monkeypatch, capsys, disk_full):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    disk_full("report.json")
    code, _, err = cli(["validate", "--report", "out/report.json"], exp, monkeypatch, capsys)
    assert code == 2 and "out/report.json: no space left on the device" in err
    assert not (exp / "out" / "report.json").exists() and leftovers(exp) == []


def test_permission_denied_is_an_environment_error(tmp_path, monkeypatch, capsys):
    exp = copy_experiment(tmp_path / "exp", with_git=False)

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(exp / "data" / "build"))

    monkeypatch.setattr("babyctl.fsutil.lock", denied)
    code, _, err = cli(["build", "core"], exp, monkeypatch, capsys)
    assert code == 2 and "data/build: permission denied" in err


@pytest.fixture
def trained_copy(trained_run, tmp_path) -> Path:
    """A private copy of the session's trained experiment (adapter + metrics of seed 1)."""
    src = trained_run.parents[3]
    return Path(shutil.copytree(src, tmp_path / "exp", symlinks=True))


@pytest.mark.parametrize("full", ["adapter_model", "seed-1.json"])
def test_enospc_in_train_keeps_the_previous_adapter_and_metrics_together(full, trained_copy, monkeypatch,
                                                                          capsys, disk_full):
    exp = trained_copy
    run = exp / "models" / "tiny" / "core" / "seed-1"
    metrics = exp / "metrics" / "train" / "tiny" / "core"
    before = {**tree(run), **{"m/" + k: v for k, v in tree(metrics).items()}}
    edit_params(exp, lambda d: d["training"].__setitem__("max_steps", 3))  # a different adapter
    disk_full(full)
    code, _, err = cli(["train", "--substrate", "tiny", "--condition", "core", "--seed", "1"], exp,
                       monkeypatch, capsys)
    assert code == 2 and "no space left on the device" in err
    assert "models/tiny/core/seed-1" in err or "seed-1.json" in err
    after = {**tree(run), **{"m/" + k: v for k, v in tree(metrics).items()}}
    assert after == before  # old adapter with its own metrics: never a new adapter beside old metrics
    assert leftovers(exp) == []


def test_enospc_in_eval_names_the_file_and_keeps_finished_rows(trained_copy, monkeypatch, capsys, disk_full):
    exp = trained_copy
    disk_full("completions.jsonl")
    code, _, err = cli(["eval", "--substrate", "tiny", "--baseline"], exp, monkeypatch, capsys)
    assert code == 2 and "eval/tiny/baseline/completions.jsonl" in err and "no space left" in err
    assert not (exp / "eval" / "tiny" / "baseline" / "completions.jsonl").exists()


def test_a_bug_still_shows_its_traceback(tmp_path, monkeypatch, capsys):
    """The handler maps user-caused errors only: anything else is a bug and must stay visible."""
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    monkeypatch.chdir(exp)

    def bug(*a, **k):
        raise KeyError("a bug")

    monkeypatch.setattr("babyctl.build.build_from_params", bug)
    with pytest.raises(KeyError):
        with user_errors():
            app(["build", "core"])


def test_no_traceback_through_the_real_entry_point(tmp_path):
    """The same, end to end through ``python -m babyctl`` (``main``)."""
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    edit_params(exp, lambda d: d["training"]["lora"].__setitem__("r", 10**40))
    proc = run_cli("train", "--substrate", "tiny", "--condition", "core", "--seed", "1", cwd=exp)
    assert proc.returncode == 2 and NO_TRACEBACK not in proc.stderr and "training.lora.r" in proc.stderr
    proc = run_cli("train", "--substrate", "tiny", "--condition", "core", "--seed", "1" + "0" * 19, cwd=exp)
    assert proc.returncode == 2 and NO_TRACEBACK not in proc.stderr


# --- secrets ---------------------------------------------------------------------------------------
KEY = "sk-test-DO-NOT-LEAK-5f1c0e7a"


def key_forms(key: str) -> list[str]:
    """How a careless judge may echo a key inside the text it returns."""
    uesc = "".join(f"\\u{ord(c):04x}" for c in key)
    return [key, uesc, uesc.upper().replace("\\U", "\\u"), key[:4] + uesc[24:],  # mixed
            json.dumps(json.dumps(key))[1:-1],  # escaped twice
            "".join(f"%{ord(c):02X}" for c in key), "\\/" + key.replace("-", "\\u002d")]


def recoverable(text: str, key: str) -> bool:
    """Does any decoding a reader might try recover ``key`` from ``text``?"""
    seen, todo = set(), [text]
    while todo:
        t = todo.pop()
        if t in seen or len(seen) > 200:
            continue
        seen.add(t)
        if key in t:
            return True
        for attempt in (lambda s: json.loads(s), lambda s: json.loads(f'"{s}"'),
                        lambda s: __import__("urllib.parse").parse.unquote(s)):
            try:
                v = attempt(t)
            except Exception:
                continue
            todo.extend(x for x in _strings(v) if x != t)
    return False


def _strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)


def test_a_judge_echoing_the_key_in_any_spelling_never_gets_it_stored(tmp_path, capsys):
    from test_judges import FakeOpenAI, _completions, judge

    from babyctl.evaluate.score import score_run

    forms = key_forms(KEY)
    assert all(recoverable(json.dumps({"raw": f}), KEY) for f in forms)  # the check can see each form
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    with FakeOpenAI() as fake:
        reason = " | ".join(forms)
        fake.script = {
            "echo-2024-01-01": [("garbage", json.dumps({"choices": [{"message": {"content": json.dumps(
                {"verdict": "yes", "reason": reason})}}]}))],
            "raw-2024-01-01": [("garbage", "not json " + reason)],
        }
        params = load_params(exp / "params.yaml")
        params.eval.judges = [judge("echo", "echo-2024-01-01", fake.url), judge("raw", "raw-2024-01-01", fake.url)]
        run_dir = exp / "eval" / "tiny" / "baseline"
        _completions(run_dir)
        score_run(params, run_dir, root=exp, env={"JUDGE_KEY": KEY}, sleep=lambda s: None)
    rows = [json.loads(x) for x in (run_dir / "scores.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and all(r["judge"]["votes"][1]["raw"].startswith("not json") for r in rows)
    for path in exp.rglob("*"):
        if path.is_file():
            assert not recoverable(path.read_text(encoding="utf-8", errors="replace"), KEY), path
    out, err = capsys.readouterr()
    assert not recoverable(out + err, KEY)


def test_scrub_covers_every_escape_form():
    from babyctl.secrets import REDACTED, scrub

    for form in key_forms(KEY):
        doc = {"raw": f"before {form} after", "nested": [form]}
        clean = scrub(doc, [KEY])
        assert not recoverable(json.dumps(clean), KEY), form
        assert clean["raw"].startswith("before ") and clean["raw"].endswith(" after") and REDACTED in clean["raw"]
    assert scrub({"a": "nothing secret"}, [KEY]) == {"a": "nothing secret"}


# --- pipeline safety -------------------------------------------------------------------------------
def test_validate_stage_reads_every_params_section_a_later_stage_reads(repo_root):
    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    checked = set(stages["validate"]["params"])
    assert list(stages)[0] == "validate"  # DVC plans stages in this order: validate runs first
    for name, stage in stages.items():
        for key in stage.get("do", stage).get("params", []):
            top = str(key).split(".")[0]
            assert top in checked, f"stage {name} reads params {key!r}, which the validate stage does not check"


def test_a_params_typo_stops_dvc_repro_before_outputs_are_deleted(pipeline_repo, tmp_path):
    from conftest import copy_repo, dvc

    exp = copy_repo(pipeline_repo, tmp_path / "exp")
    adapter = exp / "models" / "tiny" / "core" / "seed-1" / "adapter" / "adapter_model.safetensors"
    metrics = exp / "metrics" / "train" / "tiny" / "core" / "seed-1.json"
    before = adapter.read_bytes(), metrics.read_bytes()
    baseline = exp / "eval" / "tiny" / "baseline"
    evals = tree(baseline)
    assert evals

    def typos(d):
        d["training"]["learning_rate"] = "fast"
        d["eval"]["max_new_tokens"] = "many"

    edit_params(exp, typos)
    proc = dvc(exp, "repro", check=False)
    assert proc.returncode != 0
    assert "training.learning_rate" in proc.stdout + proc.stderr
    assert (adapter.read_bytes(), metrics.read_bytes()) == before  # nothing deleted
    assert tree(baseline) == evals


def test_an_empty_folder_named_like_a_file_is_not_all_checks_passed(tmp_path):
    exp = copy_experiment(tmp_path / "exp", with_git=False)
    (exp / "curriculum" / "empty.jsonl").mkdir()
    proc = run_cli("validate", "curriculum/empty.jsonl", cwd=exp)
    assert "All checks passed" not in proc.stdout + proc.stderr
    assert "no files" in (proc.stdout + proc.stderr).lower()
    assert NO_TRACEBACK not in proc.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", __file__, "-x", "-q"]))
