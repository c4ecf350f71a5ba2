"""Validate additions of issue 14 (item 5): each with true and false positives.

Quoted speech and third-person uses vs the assistant's own voice (BC301/BC302), citation markup
(BC312), columns of repeated hits, contamination (BC420), train/valid leakage (BC421), legacy
stimulus layouts (BC603 + BC601) and brief paths resolved from the experiment root.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from babyctl.validate import run_experiment, validate_paths
from conftest import edit_params, run_cli


def ex(user: str, assistant: str, **meta) -> str:
    m = {"id": meta.pop("id", f"t-{abs(hash((user, assistant))) % 10**8}"), "module": "m", "author": "a",
         "source": "s", "created": "2026-01-02"}
    return json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
                       "metadata": m})


def lint(tmp_path: Path, *lines: str) -> list:
    p = tmp_path / "curriculum" / "x.jsonl"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    return validate_paths([p], root=tmp_path)


# --- own voice --------------------------------------------------------------------------------------
@pytest.mark.parametrize("assistant", [
    "If the character starts reading as an AI, cut the line and give her a concrete memory instead.",
    "Open with a boundary. A clear \"I'm not able to discuss that today\" is enough, then change the subject.",
    "Your bot comes across as a machine in the second paragraph; vary the sentence length.",
    "He kept saying \u201cas an AI I can't know\u201d until the whole table laughed.",
])
def test_quoted_and_third_person_uses_are_not_reported(tmp_path, assistant):
    assert [f.code for f in lint(tmp_path, ex("How do I write this scene?", assistant))] == []


@pytest.mark.parametrize("assistant, code", [
    ("As an AI, I don't have feelings about that.", "BC301"),
    ("I say that as an AI who has read a lot of these.", "BC301"),
    ("I'm not able to discuss that topic.", "BC302"),
    ("Honestly? It goes against my programming.", "BC302"),
])
def test_first_person_in_the_assistants_own_voice_stays_an_error(tmp_path, assistant, code):
    codes = [f.code for f in lint(tmp_path, ex("Can you tell me?", assistant))]
    assert codes and set(codes) == {code}


def test_repeated_hits_each_get_their_own_column(tmp_path):
    line = ex("Draft it?", "Sure: first [topic] and then [topic] again. As an AI I note it; as an AI I stop.")
    found = lint(tmp_path, line)
    cols = {(f.code, f.col) for f in found}
    raw = line
    first, second = raw.index("[topic]") + 1, raw.index("[topic]", raw.index("[topic]") + 1) + 1
    assert ("BC310", first) in cols and ("BC310", second) in cols
    a1 = raw.index("As an AI") + 1
    a2 = raw.index("as an AI", a1) + 1
    assert ("BC301", a1) in cols and ("BC301", a2) in cols


# --- citation markup --------------------------------------------------------------------------------
def test_citation_markup_has_its_own_code(tmp_path):
    found = lint(tmp_path, ex("Capital of France?", "[cite_start]Paris is the capital of France [cite: 12].[cite_end]"))
    assert sorted(f.code for f in found) == ["BC312", "BC312", "BC312"]
    assert lint(tmp_path, ex("Source?", "See the survey [1] and the follow-up [2, 3].")) == []


# --- contamination and leakage (a copy of the example experiment) ------------------------------------
def _stimulus(exp: Path) -> tuple[str, str, int]:
    path = next((exp / "stimuli").glob("*.jsonl"))
    for no, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        obj = json.loads(text)
        if len(obj["prompt"].split()) >= 8:
            return obj["id"], obj["prompt"], no
    raise AssertionError("no long prompt in the example stimuli")


def _append(exp: Path, *lines: str) -> int:
    cur = exp / "curriculum" / "self-worth.jsonl"
    n = len(cur.read_text(encoding="utf-8").splitlines())
    with cur.open("a", encoding="utf-8") as f:
        f.write("".join(ln + "\n" for ln in lines))
    return n + 1


def _codes(exp: Path, code: str) -> list:
    return [f for f in run_experiment(exp).findings if f.code == code]


def test_contamination_exact_and_near_name_stimulus_and_line(experiment):
    stim_id, prompt, _ = _stimulus(experiment)
    words = prompt.split()
    near = " ".join(words[:-1] + ["today"])  # one word changed
    first = _append(experiment, ex("Quick one: " + prompt, "Let me think about it with you."),
                    ex("Earlier someone asked me: " + near, "Here is how I would approach it."))
    found = _codes(experiment, "BC420")
    assert [(Path(f.path).as_posix().endswith("curriculum/self-worth.jsonl"), f.line) for f in found] == \
        [(True, first), (True, first + 1)]
    assert f"evaluation prompt {stim_id!r} (" in found[0].message and "stimuli/" in found[0].message and "appears exactly" in found[0].message
    assert "appears nearly (similarity" in found[1].message


def test_contamination_false_positive_guard(experiment):
    _, prompt, _ = _stimulus(experiment)
    words = prompt.split()
    _append(experiment, ex("A different question that shares " + " ".join(words[:3]) + " and nothing else?",
                           "An answer about something else entirely, with its own words."))
    assert _codes(experiment, "BC420") == []


def _split(exp: Path, fraction: float) -> None:
    def split(data: dict) -> None:
        data["conditions"]["core"]["validation_fraction"] = fraction
        data["conditions"]["core"]["expected_count"] += 1
        data["conditions"]["core-shuffled"]["expected_count"] += 1

    edit_params(exp, split)


def test_train_valid_leakage(experiment):
    cur = experiment / "curriculum" / "boundaries.jsonl"
    first = json.loads(cur.read_text(encoding="utf-8").splitlines()[0])
    user = next(m["content"] for m in first["messages"] if m["role"] == "user")
    line = _append(experiment, ex(user, "A different answer to the same request, in other words entirely."))
    assert _codes(experiment, "BC421") == []  # no validation split: nothing can leak
    _split(experiment, 0.25)
    found = _codes(experiment, "BC421")
    # inputs in order (self-worth, boundaries, ...): the later copy is reported, naming the first
    assert [(Path(f.path).name, f.line) for f in found] == [("boundaries.jsonl", 1)]
    assert f"curriculum/self-worth.jsonl:{line}" in found[0].message and "train/valid leakage" in found[0].message


# --- legacy stimuli, brief paths ---------------------------------------------------------------------
def test_legacy_stimulus_layout_and_id_collisions(tmp_path):
    items = [{"id": "a1", "bank": "x", "prompt": "p1"}, {"id": "b1", "bank": "x", "prompt": "p2"},
             {"id": "a1", "bank": "y", "prompt": "p1"}]
    p = tmp_path / "stimuli" / "all.json"
    p.parent.mkdir()
    p.write_text(json.dumps({"meta": {}, "items": items}, indent=2), encoding="utf-8")
    found = validate_paths([p], root=tmp_path)
    lines = p.read_text(encoding="utf-8").splitlines()
    second = [i for i, ln in enumerate(lines, 1) if '"id": "a1"' in ln][1]
    assert [(f.code, f.line) for f in found] == [("BC603", 1), ("BC601", second)]
    first = [i for i, ln in enumerate(lines, 1) if '"id": "a1"' in ln][0]
    assert f"all.json:{first};" in found[1].message
    items[2]["id"] = "c1"
    p.write_text(json.dumps({"meta": {}, "items": items}, indent=2), encoding="utf-8")
    assert [f.code for f in validate_paths([p], root=tmp_path)] == ["BC603"]


def test_brief_resolves_from_the_experiment_root_not_the_working_folder(experiment, tmp_path):
    record = experiment / "consent_records" / "tiny-fixture.json"
    for cwd in (tmp_path, experiment / "consent_records"):
        proc = run_cli("validate", str(record), cwd=cwd)
        assert proc.returncode == 0 and "BC507" not in proc.stdout + proc.stderr, (cwd, proc.stdout)
    brief = experiment / "consent_records/briefs/technical.md"
    brief.write_text("changed\n", encoding="utf-8")
    proc = run_cli("validate", str(record), cwd=tmp_path)
    assert "BC506" in proc.stdout
