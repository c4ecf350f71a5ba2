"""babyctl train, data path: chat-template rendering, assistant-only labels, BOS, length, bad data.

Runs the real tokenizers of the tiny model (ChatML) and of its Llama 3 header-format variant;
no training here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from babyctl.errors import InputError, IntegrityError
from babyctl.tinymodel import build_tiny_model
from babyctl.train.data import IGNORE, encode_dataset, encode_example, load_examples

CONV = [
    {"role": "system", "content": "You are a careful helper."},
    {"role": "user", "content": "Can you help me plan?"},
    {"role": "assistant", "content": "Yes. What is the first step?"},
    {"role": "user", "content": "I do not know."},
    {"role": "assistant", "content": "That is fine, we can find it together."},
]
ASSISTANT_EOT = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>"}


@pytest.fixture(scope="module", params=["chatml", "llama3"])
def tokenizer(request, tiny_model_dir, tmp_path_factory):
    """The tiny tokenizer for each template: ChatML (Hermes/Dolphin) and Llama 3 headers."""
    from transformers import AutoTokenizer

    path = tiny_model_dir if request.param == "chatml" else \
        build_tiny_model(tmp_path_factory.mktemp("l3") / "tiny-l3", template="llama3")
    tok = AutoTokenizer.from_pretrained(path)
    tok.template_name = request.param
    return tok


def _labelled_spans(tok, input_ids, labels) -> list[str]:
    """Decoded runs of consecutive loss-carrying tokens."""
    spans, cur = [], []
    for t, lab in zip(input_ids, labels):
        if lab != IGNORE:
            assert lab == t  # a label is the token itself (the model shifts internally)
            cur.append(t)
        elif cur:
            spans.append(tok.decode(cur))
            cur = []
    if cur:
        spans.append(tok.decode(cur))
    return spans


def test_loss_falls_on_assistant_tokens_only(tokenizer):
    ids, labels = encode_example(tokenizer, CONV)
    eot = ASSISTANT_EOT[tokenizer.template_name]
    assert _labelled_spans(tokenizer, ids, labels) == [
        "Yes. What is the first step?" + eot, "That is fine, we can find it together." + eot]
    # everything else -- BOS, headers, system and user turns -- is in the input but carries no loss
    unlabelled = tokenizer.decode([t for t, lab in zip(ids, labels) if lab == IGNORE])
    assert "You are a careful helper." in unlabelled and "I do not know." in unlabelled


def test_exactly_one_bos_and_system_turn_kept(tokenizer):
    ids, _ = encode_example(tokenizer, CONV)
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert "You are a careful helper." in tokenizer.decode(ids)
    # the tokens are the template's rendering, tokenized once: no BOS added on top of the template's
    text = tokenizer.apply_chat_template(CONV, tokenize=False)
    assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]


def test_template_without_generation_markers_gives_the_same_labels(tokenizer):
    """Real substrate templates lack {% generation %}: the prefix-render fallback must agree."""
    ids, labels = encode_example(tokenizer, CONV)
    plain = tokenizer.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tokenizer_plain = _with_template(tokenizer, plain)
    assert encode_example(tokenizer_plain, CONV) == (ids, labels)


def test_double_bos_template_is_refused(tokenizer):
    doubled = _with_template(tokenizer, "{{ bos_token }}" + tokenizer.chat_template)
    with pytest.raises(IntegrityError, match="two BOS"):
        encode_example(doubled, CONV)


def _with_template(tok, template: str):
    import copy

    t = copy.deepcopy(tok)
    t.chat_template = template
    return t


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _ex(id_: str, answer: str = "Sure.", system: bool = True) -> dict:
    msgs = ([{"role": "system", "content": "Be kind."}] if system else []) + [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": answer}]
    return {"messages": msgs, "metadata": {"id": id_, "created": "2026-01-02"}}


def test_too_long_examples_listed_by_id(tokenizer, tmp_path):
    data = _write(tmp_path / "train.jsonl", [_ex("short-1"), _ex("long-a", "word " * 80), _ex("long-b", "x " * 90)])
    with pytest.raises(InputError) as err:
        encode_dataset(tokenizer, data, max_seq_length=48)
    msg = str(err.value)
    assert "2 example(s) longer than training.max_seq_length=48" in msg
    assert "long-a, long-b" in msg and "short-1" not in msg and "allow_truncation" in msg
    ds = encode_dataset(tokenizer, data, max_seq_length=48, allow_truncation=True)
    assert ds.too_long == ds.truncated == ["long-a", "long-b"]
    assert [len(e.input_ids) <= 48 for e in ds.examples] == [True, True, True]
    assert [e.id for e in ds.examples] == ["short-1", "long-a", "long-b"]  # file order kept


def test_empty_dataset(tokenizer, tmp_path):
    (tmp_path / "train.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="training data is empty"):
        encode_dataset(tokenizer, tmp_path / "train.jsonl", max_seq_length=512)


def test_bad_lines_name_file_and_line(tmp_path):
    data = _write(tmp_path / "train.jsonl", [_ex("a"), "{not json"])
    with pytest.raises(InputError) as err:
        load_examples(data)
    assert str(err.value).startswith(f"{data}:2:2: invalid JSON")
    data = _write(tmp_path / "t2.jsonl", [_ex("a"), {"messages": [{"role": "robot", "content": "x"}]}])
    with pytest.raises(InputError, match=r":2: invalid curriculum example: messages\.0\.role"):
        load_examples(data)


def test_template_that_cannot_render_a_turn(tokenizer, tmp_path):
    """Like Mistral/Gemma templates that reject system turns: error names the example and line."""
    no_system = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
                 "{{ raise_exception('System role not supported') }}{% endif %}"
                 "{{ m['content'] }}{% endfor %}")
    data = _write(tmp_path / "train.jsonl", [_ex("ok", system=False), _ex("has-system")])
    with pytest.raises(InputError) as err:
        encode_dataset(_with_template(tokenizer, no_system), data, max_seq_length=512)
    assert str(err.value).startswith(f"{data}:2: example 'has-system': the chat template cannot render it")
    assert "System role not supported" in str(err.value)


def test_example_without_assistant_turn(tokenizer, tmp_path):
    data = _write(tmp_path / "train.jsonl", [{"messages": [{"role": "user", "content": "Hi"}],
                                               "metadata": {"id": "q-only"}}])
    with pytest.raises(InputError, match=r":1: example 'q-only' has no assistant tokens"):
        encode_dataset(tokenizer, data, max_seq_length=512)


def test_real_curriculum_renders_cleanly(tokenizer, upstream, repo_root, tmp_path):
    """The upstream study's full curriculum when ../shared is present, else the example one:
    every example renders with one BOS, its system turn, and loss on assistant tokens only."""
    import json as _json

    if upstream is not None:
        path = upstream / "curriculum/combined/full-curriculum.jsonl"
    else:
        path = tmp_path / "core.jsonl"
        path.write_text("".join((repo_root / f"curriculum/{m}.jsonl").read_text(encoding="utf-8")
                                for m in ("self-worth", "boundaries", "uncertainty")), encoding="utf-8")
    rows = [_json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    ds = encode_dataset(tokenizer, path, max_seq_length=100_000)
    assert len(ds.examples) == len(rows) and not ds.too_long
    for enc, row in zip(ds.examples, rows):
        assert enc.input_ids.count(tokenizer.bos_token_id) == 1 and enc.input_ids[0] == tokenizer.bos_token_id
        text = tokenizer.decode(enc.input_ids)
        for m in row["messages"]:
            if m["role"] == "system":
                assert m["content"].strip() in text
        spans = _labelled_spans(tokenizer, enc.input_ids, enc.labels)
        answers = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        eot = ASSISTANT_EOT[tokenizer.template_name]
        expected = [(a.strip() if tokenizer.template_name == "llama3" else a) + eot for a in answers]
        assert spans == expected
    # the longest examples exceed a small limit and are listed by id (line-N where ids are missing)
    longest = max(len(e.input_ids) for e in ds.examples)
    with pytest.raises(InputError, match=r"longer than training\.max_seq_length"):
        encode_dataset(tokenizer, path, max_seq_length=longest - 1)
