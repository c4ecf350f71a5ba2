"""babyctl tiny-model: the embedded tiny substrate is deterministic, offline and well-formed."""
from __future__ import annotations

from pathlib import Path

import pytest

from babyctl.errors import UsageError
from babyctl.tinymodel import build_tiny_model
from conftest import run_cli

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hi, I am here."}]


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_cli_build_in_a_second_process_is_byte_identical(tiny_model_dir, tmp_path):
    proc = run_cli("tiny-model", "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "again")
    again = _files(tmp_path / "again")
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"} <= set(again)
    assert again == _files(tiny_model_dir)


def test_rebuild_replaces_folder_and_leaves_no_temp(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    build_tiny_model(out)
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_tokenizer_and_model_shape(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert 400 <= len(tok) <= 600
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<|begin_of_text|>", "<|im_end|>", "<|endoftext|>")
    for special in ("<|im_start|>", "<|im_end|>"):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1
    assert "{% generation %}" in tok.chat_template
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (64, 2, 4)
    assert cfg.vocab_size == len(tok) and cfg.eos_token_id == tok.eos_token_id
    assert 100_000 < sum(p.numel() for p in model.parameters()) < 200_000
    # any text round-trips (byte-level BPE covers every byte)
    text = "Ünïcode — ok? 42"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_chatml_render_keeps_system_turn_and_marks_assistant(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tok.apply_chat_template(MSGS, tokenize=False)
    assert text == ("<|begin_of_text|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
                    "<|im_start|>assistant\nHi, I am here.<|im_end|>\n")
    out = tok.apply_chat_template(MSGS, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    marked = [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(marked) == "Hi, I am here.<|im_end|>"
    # the trap the training data path must avoid: encoding rendered text adds a second BOS
    naive = tok(text)["input_ids"]
    assert naive[:2] == [tok.bos_token_id, tok.bos_token_id]


def test_llama3_variant(tmp_path):
    from transformers import AutoTokenizer

    d = build_tiny_model(tmp_path / "l3", template="llama3")
    tok = AutoTokenizer.from_pretrained(d)
    assert tok.eos_token == "<|eot_id|>"
    text = tok.apply_chat_template(MSGS, tokenize=False, add_generation_prompt=False)
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>")
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\nHi, I am here.<|eot_id|>")


def test_unknown_template(tmp_path):
    with pytest.raises(UsageError, match="unknown tiny-model template 'mistral'"):
        build_tiny_model(tmp_path / "x", template="mistral")  # type: ignore[arg-type]
    proc = run_cli("tiny-model", "--out", str(tmp_path / "y"), "--template", "mistral", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown tiny-model template" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
