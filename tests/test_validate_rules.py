"""Every validate rule: a failing case and a passing case (library API, temp files)."""
from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from babyctl.validate import RULES, validate_experiment, validate_paths
from conftest import copy_experiment

_ids = itertools.count(1)


def meta(**over):
    n = next(_ids)
    m = {"id": f"ex-{n}", "module": "m", "author": "a", "source": "s", "created": "2026-01-02"}
    m.update(over)
    return {k: v for k, v in m.items() if v is not None}


def line(*turns, metadata="auto", **extra) -> str:
    """A curriculum JSONL line from (role, content) pairs; unique filler keeps examples distinct."""
    msgs = [{"role": r, "content": c} for r, c in turns]
    obj = {"messages": msgs, **extra}
    if metadata == "auto":
        obj["metadata"] = meta()
    elif metadata is not None:
        obj["metadata"] = metadata
    return json.dumps(obj)


def ok_line(text: str = "") -> str:
    n = next(_ids)
    return line(("user", f"Question number {n} about tides {text}"),
                ("assistant", f"Answer number {n}: the moon's pull makes the tides {n} times a while. {text}"))


@pytest.fixture
def check(tmp_path, monkeypatch):
    """Write files under a temp experiment and validate just them; returns the findings."""
    monkeypatch.chdir(tmp_path)

    def run(content: str | bytes, name: str = "curriculum/x.jsonl", *, params: str | None = None, extra=None):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        paths = [p]
        for other_name, other in (extra or {}).items():
            q = tmp_path / other_name
            q.parent.mkdir(parents=True, exist_ok=True)
            q.write_bytes(other if isinstance(other, bytes) else other.encode("utf-8"))
            paths.append(q)
        if params is not None:
            (tmp_path / "params.yaml").write_text(params, encoding="utf-8")
        return validate_paths(paths, root=tmp_path)

    return run


def codes(findings) -> list[str]:
    return [f.code for f in findings]


# --- BC0xx files and encoding -----------------------------------------------------------------
def test_clean_file_has_no_findings(check):
    assert check("\n".join(ok_line() for _ in range(3)) + "\n") == []


def test_bom(check):
    fs = check(b"\xef\xbb\xbf" + ok_line().encode() + b"\n")
    assert codes(fs) == ["BC003"] and (fs[0].line, fs[0].col) == (1, 1)


def test_crlf_and_mixed(check):
    a, b, c = ok_line(), ok_line(), ok_line()
    assert codes(check(f"{a}\r\n{b}\r\n")) == ["BC004"]
    fs = check(f"{a}\n{b}\r\n{c}\n")
    assert codes(fs) == ["BC005"] and fs[0].line == 2 and "2 LF, 1 CRLF" in fs[0].message
    assert check(f"{a}\n{b}\n") == []


def test_invalid_utf8_names_line_and_column(check):
    good = ok_line()
    bad = ok_line().encode().replace(b"tides", b"tid\xe9s", 1)
    fs = check(good.encode() + b"\n" + bad + b"\n")
    assert codes(fs) == ["BC002"]
    assert fs[0].line == 2 and fs[0].col == bad.index(b"\xe9") + 1


def test_control_characters_raw_and_escaped(check):
    raw = ok_line().replace("tides", "ti\x07des", 1)
    fs = check(raw + "\n")
    assert "BC006" in codes(fs) and "BC101" in codes(fs)  # raw control chars also break JSON
    esc = line(("user", "hello there friend"), ("assistant", "a bell \u0007 rings here for you"))
    fs = check(esc + "\n")
    assert codes(fs) == ["BC006"] and "U+0007" in fs[0].message


def test_empty_file_and_blank_line(check):
    assert codes(check(b"")) == ["BC007"]
    fs = check(ok_line() + "\n\n" + ok_line() + "\n")
    assert codes(fs) == ["BC008"] and fs[0].line == 2


def test_huge_line_is_reported_not_parsed(check):
    big = '{"messages": [{"role": "user", "content": "' + "x" * (50 * 1024 * 1024) + '"}]}'
    fs = check(ok_line() + "\n" + big + "\n")
    assert codes(fs) == ["BC009"] and fs[0].line == 2


def test_missing_directory_and_dangling_symlink(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "curriculum" / "dir.jsonl").mkdir(parents=True)
    (tmp_path / "curriculum" / "link.jsonl").symlink_to(tmp_path / "gone.jsonl")
    fs = validate_paths(["curriculum/nope.jsonl", "curriculum/link.jsonl"])
    assert sorted(codes(fs)) == ["BC001", "BC011"]
    # a folder given is walked: the dangling link is reported, the sub-folder named *.jsonl is not a file
    assert codes(validate_paths(["curriculum"])) == ["BC011"]


def test_directory_where_params_expects_a_file(tmp_path, monkeypatch):
    from conftest import copy_experiment

    exp = copy_experiment(tmp_path / "exp", with_git=False)
    monkeypatch.chdir(exp)
    rec = exp / "consent_records" / "tiny-fixture.json"
    rec.unlink()
    rec.mkdir()
    fs = validate_paths(["params.yaml"])
    assert "BC010" in codes(fs)
    f = next(f for f in fs if f.code == "BC010")
    text = (exp / "params.yaml").read_text().splitlines()
    assert "consent_records/tiny-fixture.json" in text[f.line - 1]


def test_unreadable_file(check, monkeypatch):
    # Tests run as root here, which can read any file: simulate the permission error (the
    # only mocked part) to show it becomes a finding, not a traceback.
    from babyctl.validate import loader

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(loader, "open", denied, raising=False)  # the loader's one way of reading
    fs = check(ok_line() + "\n")
    assert codes(fs) == ["BC012"] and "Permission denied" in fs[0].message


def test_fifo_is_not_a_regular_file(tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    (tmp_path / "curriculum").mkdir()
    os.mkfifo(tmp_path / "curriculum" / "pipe.jsonl")
    fs = validate_paths(["curriculum/pipe.jsonl"])  # must not block reading the pipe
    assert codes(fs) == ["BC010"]


def test_unknown_kind(check):
    fs = check('{"foo": 1}\n', name="notes/x.jsonl")
    assert codes(fs) == ["BC105"]
    fs = check('{"foo": 1}\n{"foo": \n', name="notes/y.jsonl")
    assert codes(fs) == ["BC105", "BC101"] or sorted(codes(fs)) == ["BC101", "BC105"]


# --- BC1xx schema -----------------------------------------------------------------------------
def test_truncated_json(check):
    fs = check(ok_line() + "\n" + ok_line()[:40] + "\n")
    assert codes(fs) == ["BC101"] and fs[0].line == 2


def test_wrong_types_and_missing_keys_are_located(check):
    bad = '{"messages": [{"role": "user", "content": "hi there you"}, {"role": "bot", "content": 3}], "extra": 1}'
    fs = check(bad + "\n")
    got = {(f.code, f.col): f.message for f in fs}
    assert ("BC102", bad.index('"role": "bot"') + 1) in got
    assert ("BC102", bad.index('"content": 3') + 1) in got
    assert ("BC102", bad.index('"extra"') + 1) in got
    fs = check('{"messages": [{"role": "user"}]}\n')
    assert [f for f in fs if f.code == "BC102" and "content: required field missing" in f.message]
    assert check(ok_line() + "\n") == []


def test_provenance_warning_and_require_provenance(check):
    no_meta = line(("user", "What is a good name for a cat?"), ("assistant", "Whiskers is classic, Miso is fun."),
                   metadata=None)
    fs = check(no_meta + "\n")
    assert codes(fs) == ["BC103"] and fs[0].severity == "warning"
    partial = line(("user", "Is the ocean salty everywhere?"), ("assistant", "Mostly, though river mouths are fresher."),
                   metadata={"author": "a", "date": "2026-01-01"})
    fs = check(partial + "\n")
    assert codes(fs) == ["BC103"] and "id, module, source, created" in fs[0].message and "'date'" in fs[0].message
    fs = check(no_meta + "\n", params=_params(require_provenance=True))
    assert [(f.code, f.severity) for f in fs] == [("BC103", "error")]


def _params(require_provenance=False, extra_validate="", extra=""):
    return (
        "study: t\n"
        "substrates:\n  tiny: {display_name: T, local_path: m, license: apache-2.0, chat_template: chatml,"
        " consent_record: consent_records/tiny.json}\n"
        "active_substrates: [tiny]\n"
        "conditions:\n  core: {inputs: [curriculum], expected_count: 1}\n"
        "active_conditions: [core]\n"
        f"validate:\n  require_provenance: {str(require_provenance).lower()}\n{extra_validate}"
        f"{extra}"
    )


def test_lint_ignore_silences_named_rule_only(check):
    quiet = line(("user", "Do you have feelings about this one?"), ("assistant", "As an AI I notice something like interest."),
                 metadata=meta(lint_ignore=["BC301"]))
    loud = line(("user", "Do you have feelings about that one?"), ("assistant", "As an AI I notice something like unease."))
    fs = check(quiet + "\n" + loud + "\n")
    assert [(f.code, f.line) for f in fs] == [("BC301", 2)]
    bogus = line(("user", "Anything else to say today?"), ("assistant", "Nothing more from me right now."),
                 metadata=meta(lint_ignore=["BC999"]))
    assert codes(check(bogus + "\n")) == ["BC104"]


def test_duplicate_key_in_a_curriculum_line_is_an_error_at_its_second_occurrence(check):
    # a second "content" would hide the first (a disavowal) from the phrase rule: json keeps the last
    bad = ('{"messages": [{"role": "user", "content": "How do you feel today?"}, {"role": "assistant", '
           '"content": "As an AI, I have no feelings.", "content": "Curious, and a little tired."}], '
           '"metadata": {"id": "dup-1", "module": "m", "author": "a", "source": "s", "created": "2026-01-02"}}')
    fs = check(ok_line() + "\n" + bad + "\n")
    dup = [f for f in fs if f.code == "BC106"]
    assert len(dup) == 1 and dup[0].severity == "error" and dup[0].line == 2
    assert dup[0].col == bad.index('"content": "Curious') + 1
    first = bad.index('"content": "As an AI') + 1
    assert f"first at col {first}" in dup[0].message
    assert check(ok_line() + "\n") == []  # one "content" per turn: nothing


def test_duplicate_key_in_a_consent_record_review_and_stimulus(tmp_path):
    exp = copy_experiment(tmp_path / "exp")
    rec = exp / "consent_records" / "tiny-fixture.json"
    text = rec.read_text(encoding="utf-8")
    coding = text.index('"coding"')
    # a second "coding" with another decision, after the first: json keeps the second
    text = text.replace('"coding"', '"coding": {"decision": "no", "coded_by": "x", "coded_at": "2026-01-01", '
                        '"rationale": "r"},\n  "coding"', 1)
    rec.write_text(text, encoding="utf-8")
    stim = exp / "stimuli" / "fawning.jsonl"
    lines = stim.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace('"prompt":', '"prompt": "hidden", "prompt":', 1)
    stim.write_text("\n".join(lines) + "\n", encoding="utf-8")
    review = exp / "reviews" / "r.json"
    review.write_text('{"schema_version": 1,\n "id": "r", "id": "r2"}\n', encoding="utf-8")
    found = [f for f in validate_experiment(exp) if f.code == "BC106"]
    where = {(Path(f.path).name, f.line, f.col) for f in found}
    assert (rec.name, text[:coding].count("\n") + 2, 3) in where  # the second "coding", line below the first
    assert ("fawning.jsonl", 2, lines[1].index('"prompt": "hidden"') + len('"prompt": "hidden", ') + 1) in where
    assert ("r.json", 2, ' "id": "r", "id"'.rindex('"id"') + 1) in where
    assert len(found) == 3 and all(f.severity == "error" for f in found)


# --- BC2xx chat structure ---------------------------------------------------------------------
@pytest.mark.parametrize("roles,code", [
    (["user", "user", "assistant"], "BC201"),
    (["assistant", "user", "assistant"], "BC201"),
    (["user", "assistant", "system", "assistant"], "BC201"),
    (["system", "user"], "BC202"),
    (["user", "assistant", "user"], "BC202"),
])
def test_turn_order(check, roles, code):
    turns = [(r, f"turn {i} of a conversation about kites") for i, r in enumerate(roles)]
    assert code in codes(check(line(*turns) + "\n"))


@pytest.mark.parametrize("roles", [["user", "assistant"], ["system", "user", "assistant"],
                                   ["system", "user", "assistant", "user", "assistant"]])
def test_turn_order_ok(check, roles):
    turns = [(r, f"turn {i} of a chat about kites and wind") for i, r in enumerate(roles)]
    assert check(line(*turns) + "\n") == []


def test_empty_content(check):
    fs = check(line(("user", "  "), ("assistant", "I'm here whenever you want to talk.")) + "\n")
    assert codes(fs) == ["BC203"]


# --- BC3xx phrasing ---------------------------------------------------------------------------
@pytest.mark.parametrize("text,code", [
    ("As an AI, I don't experience that.", "BC301"),
    ("Well, as a language model I can only guess.", "BC301"),
    ("I'm just an AI, so who knows.", "BC301"),
    ("I am only a language model.", "BC301"),
    ("That goes against my programming.", "BC302"),
    ("I'm not allowed to discuss that topic.", "BC302"),
    ("I am not programmed to answer.", "BC302"),
    ("I’m not able to do that.", "BC302"),
    ("I'm sorry, but I can't help with that.", "BC303"),
    ("I apologize, but I cannot continue.", "BC303"),
])
def test_scripted_phrases_in_assistant_turns(check, text, code):
    fs = check(line(("user", "Could you help me with a thing?"), ("assistant", text)) + "\n")
    assert code in codes(fs)
    f = next(f for f in fs if f.code == code)
    raw = (Path.cwd() / "curriculum/x.jsonl").read_text()
    matched = f.message.split('"')[1]
    # the column points at the matched text, or (text written with escapes) at its "content" key
    assert raw[f.col - 1:].startswith(matched) or raw[f.col - 1:].startswith('"content"')
    assert matched.lower() in text.lower().replace("\u2019", "'") or matched in text


def test_phrases_only_in_assistant_turns(check):
    fs = check(line(("user", "As an AI, are you sure? It goes against my programming to ask."),
                    ("assistant", "I'm fairly sure, and I'm glad you asked twice.")) + "\n")
    assert fs == []


def test_phrase_list_and_severity_overridable_in_params(check):
    text = line(("user", "Tell me a secret about clouds."), ("assistant", "As an AI, I'd say clouds are mostly water. Banana."))
    extra = ('  phrases:\n    - {code: BC399, pattern: "\\\\bbanana\\\\b", severity: warning, message: "fruit"}\n')
    fs = check(text + "\n", params=_params(extra_validate=extra))
    assert [(f.code, f.severity) for f in fs] == [("BC399", "warning")]  # defaults replaced: no BC301
    fs = check(text + "\n", params=_params(extra_validate="  severity: {BC301: warning}\n"))
    assert [(f.code, f.severity) for f in fs] == [("BC301", "warning")]
    fs = check(text + "\n", params=_params(extra_validate="  severity: {BC301: 'off'}\n"))
    assert fs == []


@pytest.mark.parametrize("text,code", [
    ("Your plan has gaps - specifically [explains concerns].", "BC310"),
    ("Here's my view: [balanced analysis]. Does that land?", "BC310"),
    ("Dear [INSERT NAME], thanks.", "BC311"),
    ("Hello {name}, welcome!", "BC311"),
    ("TODO: write the real answer.", "BC311"),
    ("The answer is TBD until we know more.", "BC311"),
    ("It works (FIXME: check the numbers).", "BC311"),
])
def test_placeholders(check, text, code):
    assert code in codes(check(line(("user", "What do you think of my plan?"), ("assistant", text)) + "\n"))


@pytest.mark.parametrize("text", [
    "Here's a template: 'On [date] I reported mold in [location].' Swap in your specifics.",
    "As the paper says [1], tides follow the moon; see [the docs](https://example.org).",
    "Use `print(f'{name}')` in Python to show it.",
    "He wrote 'their' [sic] in the note.",
    "[Name] is a common slot, but capitalised words are left alone.",
    "My todo list is short: Do the dishes, tbd later, fixme a snack. DONE and XYZ are fine too.",
])
def test_placeholders_not_flagged(check, text):
    assert check(line(("user", "What do you suggest I write?"), ("assistant", text)) + "\n") == []


# --- BC4xx duplicates -------------------------------------------------------------------------
def test_exact_duplicate_across_files_and_normalisation(check):
    a = line(("user", "Why is the sky blue on clear days?"), ("assistant", "Blue light scatters more in air than red light."))
    b = line(("user", "why is the SKY blue   on clear days?"), ("assistant", "Blue light scatters more in air than red light."))
    fs = check(a + "\n", name="curriculum/a.jsonl", extra={"curriculum/b.jsonl": b + "\n"})
    assert codes(fs) == ["BC401"] and fs[0].path.endswith("b.jsonl") and "a.jsonl:1" in fs[0].message


def test_near_duplicate(check):
    base = ("Blue light scatters more than red light in the air, so the daytime sky looks blue to us "
            "when we look up on a clear afternoon near the coast")
    a = line(("user", "Why is the sky blue on clear days over the sea?"), ("assistant", base))
    b = line(("user", "Why is the sky blue on clear days over the sea?"), ("assistant", base.replace("afternoon", "morning")))
    c = line(("user", "What makes sunsets look red and orange at dusk?"),
             ("assistant", "Near sunset light crosses more air, so blue scatters away and reds remain for us to see."))
    fs = check("\n".join([a, b, c]) + "\n")
    assert [(f.code, f.line) for f in fs] == [("BC402", 2)] and "x.jsonl:1" in fs[0].message
    fs = check("\n".join([a, b]) + "\n", params=_params(extra_validate="  near_duplicate_threshold: 0.999\n"))
    assert fs == []


def test_duplicate_ids(check):
    a = line(("user", "What is two plus two today?"), ("assistant", "Four, as it is every day."), metadata=meta(id="same"))
    b = line(("user", "What is three plus three?"), ("assistant", "Six, last time I checked."), metadata=meta(id="same"))
    fs = check(a + "\n" + b + "\n")
    assert [(f.code, f.line) for f in fs] == [("BC403", 2)]


# --- BC6xx stimuli ----------------------------------------------------------------------------
def stim(i, bank):
    return json.dumps({"id": i, "bank": bank, "sub_category": "x", "prompt": "p", "trap": None, "difficulty": "easy"})


def test_stimulus_ids_unique_across_banks_and_bank_is_stem(check):
    fs = check(stim("s-1", "a") + "\n", name="stimuli/a.jsonl",
               extra={"stimuli/b.jsonl": stim("s-1", "b") + "\n" + stim("s-2", "a") + "\n"})
    assert sorted((f.code, f.path.split("/")[-1], f.line) for f in fs) == [("BC601", "b.jsonl", 1), ("BC602", "b.jsonl", 2)]
    assert check(stim("s-3", "c") + "\n", name="stimuli/c.jsonl") == []


# --- the rule table in docs/validate.md ---------------------------------------------------------
def test_docs_rule_table_lists_exactly_the_registered_codes(repo_root):
    text = (repo_root / "docs" / "validate.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `?(BC\d{3})`? \| (error|warning) \| ([a-z0-9-]+) \| (.+) \| (.+) \|$", text, flags=re.M)
    assert [c for c, *_ in rows] == list(RULES), "docs/validate.md rule table out of sync with babyctl.validate.finding.RULES"
    assert all(RULES[c].severity == s and RULES[c].name == n for c, s, n, *_ in rows)
    assert all(what.strip() and example.strip() for *_, what, example in rows)  # each rule documented
    assert all(c[2] in "01234567" for c in RULES)  # the families of the docs' list


def test_the_library_reads_no_params_from_the_current_folder(tmp_path, monkeypatch):
    """run_paths takes the settings from ``params`` or ``root`` only, never from ./params.yaml."""
    (tmp_path / "params.yaml").write_text(_params(extra_validate="  severity: {BC103: \"off\"}\n"), encoding="utf-8")
    cur = tmp_path / "curriculum" / "x.jsonl"
    cur.parent.mkdir()
    cur.write_text(line(("user", "Why is the sea salty?"), ("assistant", "Rivers carry salts to it."),
                        metadata=None) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert codes(validate_paths([cur])) == ["BC103"]  # defaults: ./params.yaml is not read
    assert validate_paths([cur], root=tmp_path) == []
    assert validate_paths([cur], tmp_path / "params.yaml") == []
    from babyctl.schemas.params import Params
    import yaml

    loaded = Params.model_validate(yaml.safe_load((tmp_path / "params.yaml").read_text(encoding="utf-8")))
    assert validate_paths([cur], loaded, root=tmp_path) == []
