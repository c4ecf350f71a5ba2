"""The embedded tiny substrate: a small Llama-architecture model built offline.

``build_tiny_model(out_dir)`` writes a Hugging Face model folder that every
babyctl command can load like a real substrate, so the whole pipeline runs and
is tested on a CPU without network access:

* a byte-level BPE tokenizer (vocab about 500) trained with ``tokenizers`` on
  text generated here from fixed word lists -- nothing is downloaded;
* a chat template with ``{% generation %}`` markers (needed for assistant-only
  loss): ChatML (Hermes 3 / Dolphin style) by default, or the Llama 3 header
  format with ``template="llama3"``;
* a randomly initialised ``LlamaForCausalLM`` (hidden 64, 2 layers, 4 heads,
  about 150k parameters) from a fixed seed, saved as safetensors.

Like the real Llama 3 based substrates, the tokenizer adds a BOS token when it
encodes plain text *and* the chat template writes ``{{ bos_token }}`` itself --
so the tiny model exposes the double-BOS trap that the training data path must
avoid. The build is deterministic: the same call writes byte-identical files.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

from .errors import EnvironmentProblem, UsageError
from .fsutil import atomic_dir

Template = Literal["chatml", "llama3"]

VOCAB_SIZE = 500
SEED = 0

# --- chat templates ---------------------------------------------------------------------------
# Both render system/user/assistant turns, put assistant content (and its end-of-turn token)
# inside {% generation %} ... {% endgeneration %} so that
# apply_chat_template(return_assistant_tokens_mask=True) marks exactly the trained tokens, and
# raise on a role they cannot render.

CHATML_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('cannot render a turn with role ' + message['role']) }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LLAMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('cannot render a turn with role ' + message['role']) }}"
    "{% endif %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}{% endgeneration %}"
    "{% else %}"
    "{{ message['content'] | trim + '<|eot_id|>' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

#: per template: (special tokens in id order, bos, eos, pad, chat template)
FORMATS: dict[str, dict] = {
    "chatml": {
        "special": ["<|begin_of_text|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "bos": "<|begin_of_text|>", "eos": "<|im_end|>", "pad": "<|endoftext|>",
        "template": CHATML_TEMPLATE,
    },
    "llama3": {
        "special": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                    "<|eot_id|>", "<|finetune_right_pad_id|>"],
        "bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "pad": "<|finetune_right_pad_id|>",
        "template": LLAMA3_TEMPLATE,
    },
}

# --- the training text, generated here ---------------------------------------------------------
_SUBJECTS = ["I", "you", "we", "the model", "a person", "the teacher", "my friend", "the child", "they"]
_VERBS = ["can notice", "may feel", "want to learn", "decide to ask", "try to say", "will remember",
          "need to hear", "choose to share", "do not know", "would like to understand"]
_OBJECTS = ["what is true", "a clear boundary", "the next question", "how this works", "the answer",
            "something new", "a kind word", "why it matters", "the weather today", "a short story",
            "when to stop", "what they value", "the recipe", "a careful plan"]
_TAILS = ["today.", "and that is fine.", "without rushing.", "because it helps.", "if it is useful.",
          "with some doubt.", "one step at a time.", "for a while."]
_EXTRA = ("system user assistant Hello! Thank you. Yes, no, maybe? I'm not sure; I think so. "
          "It's okay to say no. What do you mean? Could you explain that again, please? "
          "0 1 2 3 4 5 6 7 8 9 10 100 2024 - ( ) \" ' : ; ! ? . , \n")


def corpus() -> list[str]:
    """The deterministic English-like text the tokenizer is trained on."""
    lines = [f"{s.capitalize() if s != 'I' else s} {v} {o} {t}"
             for s, v, o, t in itertools.product(_SUBJECTS, _VERBS, _OBJECTS, _TAILS)]
    return lines[::7] + [_EXTRA] * 20


# --- building ----------------------------------------------------------------------------------
def build_tokenizer(template: Template = "chatml"):
    """A ``PreTrainedTokenizerFast`` for ``template``, trained on :func:`corpus`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if template not in FORMATS:
        raise UsageError(f"unknown tiny-model template {template!r} (known: {', '.join(FORMATS)})")
    fmt = FORMATS[template]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=fmt["special"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer=trainer)
    bos = fmt["bos"]
    bos_id = tok.token_to_id(bos)
    # like Llama 3 tokenizers: encoding plain text prepends BOS
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=fmt["eos"], pad_token=fmt["pad"],
        chat_template=fmt["template"], model_max_length=1024, padding_side="right",
        clean_up_tokenization_spaces=False,
    )


def build_model(tokenizer, seed: int = SEED):
    """A randomly initialised tiny ``LlamaForCausalLM`` sized for ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, torch_dtype="float32",
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def build_tiny_model(out_dir: str | Path = "models/base/tiny", template: Template = "chatml",
                     seed: int = SEED) -> Path:
    """Build the tiny model + tokenizer into ``out_dir`` (atomically, replacing it); returns it.

    Deterministic and offline: two calls with the same arguments write byte-identical files.
    """
    if template not in FORMATS:
        raise UsageError(f"unknown tiny-model template {template!r} (known: {', '.join(FORMATS)})")
    try:
        import tokenizers  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the install
        raise EnvironmentProblem(f"tiny-model needs the 'train' extra ({e.name} is missing): "
                                 "pip install -e '.[train]'")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = build_tokenizer(template)
    model = build_model(tokenizer, seed=seed)
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is ordinary data
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return out
