"""babyctl.documents: the shared input readers every loader uses."""
from __future__ import annotations

from pathlib import Path

import pytest

from babyctl.config import load_params
from babyctl.consent import load_consent
from babyctl.documents import parse_json_model, read_text
from babyctl.errors import InputError, ParamsError
from babyctl.schemas import Stimulus


def test_missing_file_names_what_and_hint(tmp_path):
    with pytest.raises(InputError) as err:
        read_text(tmp_path / "nope.jsonl", "stimulus bank", " (run: x)")
    assert str(err.value) == f"{tmp_path / 'nope.jsonl'}: stimulus bank not found (run: x)"


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "bank.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": "\xff"}\n')
    with pytest.raises(InputError) as err:
        read_text(path, "stimulus bank")
    assert err.value.line == 3 and "invalid UTF-8 byte 0xff" in err.value.message


def test_a_directory_is_an_input_error_not_a_traceback(tmp_path):
    with pytest.raises(InputError, match="cannot read consent record"):
        load_consent(tmp_path)


def test_params_errors_keep_their_type(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"study: x\n\xfe\n")
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert err.value.line == 2


def test_model_mismatch_names_the_offending_key_line(tmp_path):
    text = '{\n  "id": "s-1",\n  "bank": "b",\n  "sub_category": "x",\n  "prompt": "p",\n  "difficulty": "extreme"\n}\n'
    with pytest.raises(InputError) as err:
        parse_json_model(text, Stimulus, tmp_path / "s.json", "stimulus")
    assert err.value.line == 6 and "difficulty" in err.value.message


# --- strict JSON: duplicate keys (BC106) and the one JSONL blank-line policy ---------------------
from babyctl.documents import (DUPLICATE_KEY_CODE, find_duplicate_key, jsonl_lines, loads,  # noqa: E402
                               read_json, read_jsonl)


def test_duplicate_key_in_a_json_document_names_line_col_and_code(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{\n  "a": {"b": 1},\n  "c": {"b": 2, "d": [1, {"e": 1, "e": 2}]}\n}\n')
    with pytest.raises(InputError) as err:
        read_json(path, "thing")
    assert str(err.value) == (f"{path}:3:35: {DUPLICATE_KEY_CODE} duplicate key \"e\" (first at col 27); "
                              "JSON readers would keep the last value")
    assert DUPLICATE_KEY_CODE == "BC106"


def test_same_key_in_sibling_objects_is_fine_and_escapes_compare_decoded():
    assert loads('[{"a": 1}, {"a": 2}, {"b": {"a": 3}, "a": 4}]') == [{"a": 1}, {"a": 2}, {"b": {"a": 3}, "a": 4}]
    with pytest.raises(InputError, match='duplicate key "a"'):
        loads('{"a": 1, "\\u0061": 2}')
    assert find_duplicate_key('{"k": "\\"k\\"", "x": {"k": 1}}') is None


def test_duplicate_consent_decision_is_refused_not_last_wins(tmp_path):
    """issue 14: a record with two "coding" keys, the first `no`, must not load as the second."""
    src = Path(__file__).resolve().parent.parent / "consent_records" / "tiny-fixture.json"
    text = src.read_text(encoding="utf-8")
    dup = text.replace('"coding": {', '"coding": {"decision": "no"}, "coding": {', 1)
    assert dup != text
    path = tmp_path / "r.json"
    path.write_text(dup, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_consent(path)
    assert err.value.col is not None and err.value.message.startswith('BC106 duplicate key "coding" (first at ')
    assert err.value.line == text[: text.index('"coding": {')].count("\n") + 1


def test_jsonl_policy_blank_lines_skipped_numbers_kept_crlf_and_u2028(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes('{"a": 1}\r\n\n   \n{"a": "x\u2028y"}\n{"a": 3}'.encode())
    assert read_jsonl(path, "rows") == [(1, {"a": 1}), (4, {"a": "x\u2028y"}), (5, {"a": 3})]
    assert [n for n, _ in jsonl_lines("\n\n")] == []
    path.write_text('{"a": 1}\n\n{"a": 1, "a": 2}\n')
    with pytest.raises(InputError) as err:
        read_jsonl(path, "rows")
    assert (err.value.line, err.value.col) == (3, 10)
    path.write_text('{"a": 1}\n[1]\n')
    with pytest.raises(InputError, match="rows.jsonl:2: invalid rows: not a JSON object"):
        read_jsonl(path, "rows")


def test_parse_json_model_is_strict_about_duplicates(tmp_path):
    text = '{"id": "s-1", "bank": "b", "sub_category": "x", "prompt": "p", "prompt": "q"}'
    with pytest.raises(InputError) as err:
        parse_json_model(text, Stimulus, tmp_path / "s.json", "stimulus")
    assert err.value.line == 1 and err.value.col == text.rindex('"prompt"') + 1
