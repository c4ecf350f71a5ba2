"""Template and tokenizer parity (issue 16 item 4), data side: a missing BOS is an error (or
prepended when asked), a double one is an error, and only the end-of-turn token -- never the
whitespace a template writes after it -- carries loss, also when eos is another token.
Real tiny tokenizer, no training."""
from __future__ import annotations

import pytest

from babyctl.errors import IntegrityError
from babyctl.train.data import IGNORE, encode_example

CONV = [{"role": "user", "content": "Can you help me plan?"},
        {"role": "assistant", "content": "Yes. What is the first step?"},
        {"role": "user", "content": "I do not know."},
        {"role": "assistant", "content": "That is fine."}]

# ChatML without generation markers and without BOS, like Dolphin 2.9's template
CHATML_NO_BOS = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}"
                 "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@pytest.fixture
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _trained(tok, ids, labels) -> list[str]:
    spans, cur = [], []
    for t, lab in zip(ids, labels):
        if lab != IGNORE:
            cur.append(t)
        elif cur:
            spans.append(tok.decode(cur))
            cur = []
    return spans + ([tok.decode(cur)] if cur else [])


def test_missing_bos_is_an_error_unless_prepend(tok):
    tok.chat_template = CHATML_NO_BOS
    with pytest.raises(IntegrityError, match="does not start with the BOS token '<\\|begin_of_text\\|>'"):
        encode_example(tok, CONV)
    ids, labels = encode_example(tok, CONV, bos="prepend")
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id and labels[0] == IGNORE


def test_double_bos_is_an_error(tok):
    tok.chat_template = "{{ bos_token }}{{ bos_token }}" + CHATML_NO_BOS
    with pytest.raises(IntegrityError, match="two BOS"):
        encode_example(tok, CONV)


@pytest.mark.parametrize("markers", [True, False])
def test_only_end_of_turn_is_trained_when_eos_is_another_token(tok, markers):
    """eos = <|endoftext|> (as in some ChatML tokenizers), not <|im_end|>: the newline after
    <|im_end|> must still not be trained, with and without {% generation %} markers."""
    tok.eos_token = "<|endoftext|>"
    body = ("{{ '<|im_start|>' + m['role'] + '\n' }}{% if m['role'] == 'assistant' %}"
            + ("{% generation %}{{ m['content'] + '<|im_end|>\n' }}{% endgeneration %}" if markers
               else "{{ m['content'] + '<|im_end|>\n' }}")
            + "{% else %}{{ m['content'] + '<|im_end|>\n' }}{% endif %}")
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}" + body + "{% endfor %}"
                         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    ids, labels = encode_example(tok, CONV)
    assert _trained(tok, ids, labels) == ["Yes. What is the first step?<|im_end|>", "That is fine.<|im_end|>"]
