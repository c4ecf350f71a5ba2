"""babyctl.documents: the shared input readers every loader uses."""
from __future__ import annotations

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
