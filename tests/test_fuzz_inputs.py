"""Issue 15: a fuzz suite -- hostile JSON, YAML, bytes and paths into every reader and the main commands.

Properties, for every generated input:

* a reader returns a value or raises a :class:`~babyctl.errors.BabyctlError` (never another
  exception: that would be a traceback for the user);
* a command (run in this process, as ``main`` runs it) exits 0, 1 or 2 and prints no traceback;
* nothing is written outside the experiment folder, whatever paths params.yaml names.

The budget: ``BABYCTL_FUZZ_EXAMPLES`` examples per property (default 50; CI keeps the default,
about 40 s of CPU in all, 1.5 min wall on a busy 2-core machine). ``deadline=None``: the commands' time varies with the machine.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from babyctl.cli import app, user_errors
from babyctl.errors import BabyctlError
from conftest import REPO, key_paths

EXAMPLES = int(os.environ.get("BABYCTL_FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

EXPERIMENT = ("params.yaml", "curriculum", "consent_records", "reviews", "stimuli", "schemas")
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


# --- hostile values --------------------------------------------------------------------------------
HOSTILE_STRINGS = ["", " ", "..", "../..", "../outside.jsonl", "/", "/etc/passwd", "~", "~/x", "C:\\x",
                   "a\\..\\b", "curriculum/../../x", "curriculum/", "./curriculum", "\x00", "a\x00b",
                   "{nope}", "{seed:>99999999}", "{display_name.__class__}", "{", "}", "{0}", "%s",
                   "\u202e", "\ud7ff", "é" * 300, "x" * 5000, "-1", "1e309", "NaN", "true", "null",
                   "sk-" + "a" * 40, "${item}", "$(touch pwned)", "`id`", "; rm -rf /", "*", "?",
                   "models/tiny/core/seed-1", "params.yaml", ".git/config", "/dev/full", "/proc/self/mem"]
INTS = st.one_of(st.integers(-3, 3), st.integers(-(10**40), 10**40), st.sampled_from([2**31, 2**32, 2**63, -2**63]))
SCALARS = st.one_of(st.none(), st.booleans(), INTS, st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(HOSTILE_STRINGS), st.text(max_size=30))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=8)),
                                                 inner, max_size=4)), max_leaves=12)
YAML_SNIPPETS = ["a: 1\na: 2\n", "&a [*a]\n", "x: !!python/object/apply:os.system ['id']\n", "<<: *nope\n",
                 "? [a, b]\n: 1\n", "\t- tab\n", "%YAML 9.9\n---\n", "a: &x 1\nb: *x\n", "--- 1\n--- 2\n",
                 "study: x\nsubstrates: {}\n", "{" * 200, "[" * 2000, "a: " + "9" * 5000 + "\n",
                 "a: 0x" + "f" * 300 + "\n", "!!binary AAAA\n", "a: !!timestamp 2026-13-40\n", "\ufeffa: 1\n"]


@st.composite
def mutated_params(draw, base: dict = PARAMS) -> dict:
    """The example params with 1-3 values replaced by hostile ones (or keys deleted / added)."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in key_paths(doc) if p]))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(HOSTILE_STRINGS))] = draw(JSON_VALUES)
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return doc


@st.composite
def path_params(draw) -> dict:
    """The example params with every path it names replaced by a hostile path."""
    doc = copy.deepcopy(PARAMS)
    hostile = st.sampled_from(HOSTILE_STRINGS + ["{outside}/escape.jsonl", "{outside}", "curriculum/link.jsonl"])
    doc["conditions"]["core"]["inputs"] = draw(st.lists(hostile, min_size=1, max_size=3))
    doc["substrates"]["tiny"]["consent_record"] = draw(hostile)
    doc["substrates"]["tiny"]["local_path"] = draw(hostile)
    for key in ("curriculum_dir", "consent_dir", "stimuli_dir", "reviews_dir"):
        if draw(st.booleans()):
            doc[key] = draw(hostile)
    return doc


# --- running commands in this process --------------------------------------------------------------
@contextlib.contextmanager
def experiment():
    """A fresh copy of the example experiment inside a private folder; yields (exp, outside)."""
    with tempfile.TemporaryDirectory(prefix="babyctl-fuzz-") as base:
        base = Path(base)
        exp = base / "study" / "exp"  # two levels down: ".." and "../.." stay inside this private folder
        exp.mkdir(parents=True)
        for name in EXPERIMENT:
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, exp / name)
        outside = base / "outside"
        outside.mkdir()
        (outside / "escape.jsonl").write_bytes((REPO / "curriculum" / "neutral-control.jsonl").read_bytes())
        (exp / "curriculum" / "link.jsonl").symlink_to(outside / "escape.jsonl")
        yield exp, outside


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


HANG_S = 120


class Hung(Exception):
    pass


def _hung(signum, frame):
    raise Hung(f"a command ran for more than {HANG_S} s")


def run(args: list[str], cwd: Path) -> tuple[int, str]:
    """``babyctl ARGS`` in ``cwd`` in this process: (exit code, stdout + stderr). Any exception
    other than the exit (a traceback for the user) propagates and fails the property."""
    out = io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    signal.signal(signal.SIGALRM, _hung)
    signal.alarm(HANG_S)  # a command that hangs (reading /dev/zero) fails the property, not the CI job
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                with user_errors():
                    app(args)
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
    finally:
        signal.alarm(0)
        os.chdir(old)
    text = out.getvalue()
    assert code in (0, 1, 2), (args, code, text)
    assert "Traceback (most recent call last)" not in text, text
    return code, text


COMMANDS = [["validate"], ["build", "core"], ["train", "--substrate", "tiny", "--condition", "core", "--seed", "1"],
            ["report"], ["card", "tiny"], ["publish", "tiny", "--dry-run"]]


def write_params(exp: Path, doc, outside: Path) -> None:
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).replace("{outside}", str(outside))
    (exp / "params.yaml").write_text(text, encoding="utf-8")


# --- properties ------------------------------------------------------------------------------------
@FUZZ
@given(doc=mutated_params())
def test_hostile_params_every_command(doc):
    with experiment() as (exp, outside):
        before = snapshot(outside)
        write_params(exp, doc, outside)
        for args in COMMANDS:
            run(args, exp)
        assert snapshot(outside) == before


@FUZZ
@given(doc=path_params())
def test_hostile_paths_in_params_never_leave_the_experiment(doc):
    with experiment() as (exp, outside):
        before = snapshot(outside)
        siblings = sorted(p.name for p in exp.parent.iterdir())
        write_params(exp, doc, outside)
        for args in COMMANDS[:3]:
            code, text = run(args, exp)
            if args[0] == "build" and code == 0:  # a build only ever reads inside the experiment
                card = json.loads((exp / "data" / "build" / "core" / "dataset_card.json").read_text())
                for entry in card["inputs"]:
                    assert (exp / entry["path"]).resolve().is_relative_to(exp.resolve()), entry
        assert snapshot(outside) == before
        assert sorted(p.name for p in exp.parent.iterdir()) == siblings


@FUZZ
@given(text=st.one_of(st.sampled_from(YAML_SNIPPETS), st.text(max_size=200),
                      st.lists(st.sampled_from(YAML_SNIPPETS), min_size=2, max_size=4).map("".join)))
def test_hostile_yaml_text_as_params(text):
    from babyctl.config import load_params

    with experiment() as (exp, _):
        (exp / "params.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(BabyctlError):
            load_params(exp / "params.yaml")
        for args in COMMANDS[:2]:
            run(args, exp)


def _jsonl(values) -> bytes:
    lines = []
    for v in values:
        try:
            lines.append(json.dumps(v, ensure_ascii=False))
        except ValueError:
            lines.append(str(v))
    return ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass")


RAW = st.one_of(st.binary(max_size=300), st.lists(JSON_VALUES, max_size=4).map(_jsonl),
                st.sampled_from([b'{"a": 1' + b"0" * 5000 + b"}\n", b'{"a": 1, "a": 2}\n', b"[" * 5000 + b"\n",
                                 b"\xef\xbb\xbf{}\n", b"{}\r\n{}\n", b"\x00\n", b"", b"\n\n\n", b'"\\ud800"\n',
                                 b'{"messages": [{"role": "user", "content": "\\u0000"}]}\n']))

FILES = ["curriculum/self-worth.jsonl", "curriculum/zz-new.jsonl", "consent_records/tiny-fixture.json",
         "stimuli/zz-new.jsonl", "reviews/zz-new.json"]


@FUZZ
@given(where=st.sampled_from(FILES), data=RAW)
def test_hostile_bytes_in_every_kind_of_input(where, data):
    with experiment() as (exp, _):
        target = exp / where
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        run(["validate", where], exp)
        run(["validate"], exp)
        run(["build", "core"], exp)
        run(["train", "--substrate", "tiny", "--condition", "core", "--seed", "1"], exp)


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_readers_raise_only_babyctl_errors(data, tmp_path_factory):
    """Each document reader on hostile bytes: a value or a BabyctlError, nothing else."""
    from babyctl import documents
    from babyctl.consent import load_consent
    from babyctl.schemas.curriculum import CurriculumExample

    folder = tmp_path_factory.mktemp("readers")
    path = folder / "doc.json"
    path.write_bytes(data)
    readers = [lambda: documents.read_json(path, "document"),
               lambda: documents.read_jsonl(path, "document"),
               lambda: documents.read_jsonl_models(path, CurriculumExample, "example"),
               lambda: load_consent(path)]
    for read in readers:
        with contextlib.suppress(BabyctlError):
            read()


@FUZZ
@given(path=st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40)))
def test_hostile_path_arguments(path):
    with experiment() as (exp, outside):
        before = snapshot(outside)
        for args in (["validate", path], ["validate", "--params", path], ["build", "core", "--params", path],
                     ["train", "--substrate", path, "--condition", "core", "--seed", "1"],
                     ["build", path]):
            if "\x00" in "".join(args):
                continue  # no process can receive a NUL in its arguments
            run(args, exp)
        assert snapshot(outside) == before


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-x", "-q"]))
