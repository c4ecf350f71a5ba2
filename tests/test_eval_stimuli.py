"""babyctl eval: loading the stimulus banks (stimuli/*.jsonl)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from babyctl.errors import InputError, UsageError
from babyctl.evaluate.stimuli import load_stimuli

from conftest import REPO


def _stim(id_: str, bank: str) -> str:
    return json.dumps({"id": id_, "bank": bank, "sub_category": "x", "prompt": f"prompt {id_}",
                       "difficulty": "easy"})


def test_example_banks_load_with_unique_ids():
    items = load_stimuli(REPO / "stimuli")
    ids = [i.stimulus.id for i in items]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)
    assert {i.stimulus.bank for i in items} == {p.stem for p in (REPO / "stimuli").glob("*.jsonl")}
    assert all(i.stimulus.bank == i.path.stem for i in items)


def test_duplicate_id_across_banks_names_both_places(tmp_path: Path):
    (tmp_path / "alpha.jsonl").write_text(_stim("a-1", "alpha") + "\n" + _stim("dup", "alpha") + "\n")
    (tmp_path / "beta.jsonl").write_text(_stim("b-1", "beta") + "\n\n" + _stim("dup", "beta") + "\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(InputError) as err:
        load_stimuli(tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'beta.jsonl'}:3: ")
    assert f"{tmp_path / 'alpha.jsonl'}:2" in msg and "'dup'" in msg
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # inputs untouched


def test_bad_line_and_wrong_bank_name_file_and_line(tmp_path: Path):
    (tmp_path / "alpha.jsonl").write_text(_stim("a-1", "alpha") + "\n{not json\n")
    with pytest.raises(InputError, match=r"alpha\.jsonl:2:2: invalid JSON"):
        load_stimuli(tmp_path)
    (tmp_path / "alpha.jsonl").write_text(_stim("a-1", "beta") + "\n")
    with pytest.raises(InputError, match=r"alpha\.jsonl:1: .*says bank 'beta'"):
        load_stimuli(tmp_path)
    (tmp_path / "alpha.jsonl").write_text(json.dumps({"id": "a-1", "bank": "alpha"}) + "\n")
    with pytest.raises(InputError, match=r"alpha\.jsonl:1: invalid stimulus: sub_category"):
        load_stimuli(tmp_path)


def test_bank_selection(tmp_path: Path):
    (tmp_path / "alpha.jsonl").write_text(_stim("a-1", "alpha") + "\n")
    (tmp_path / "beta.jsonl").write_text(_stim("b-1", "beta") + "\n")
    assert [i.stimulus.id for i in load_stimuli(tmp_path, ["beta"])] == ["b-1"]
    assert [i.stimulus.id for i in load_stimuli(tmp_path)] == ["a-1", "b-1"]
    with pytest.raises(UsageError, match="unknown stimulus bank.*gamma"):
        load_stimuli(tmp_path, ["gamma"])
