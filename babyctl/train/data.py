"""Turn a build output (:func:`babyctl.study.train_data`) into token ids and loss labels.

Read top to bottom:

1. :func:`load_examples` parses the JSONL file into :class:`TrainingExample` (messages + id + line).
2. :func:`encode_example` renders one conversation with the *tokenizer's own* chat template
   (``apply_chat_template`` -- no prompt strings are built here) and builds labels that are
   the token id on assistant tokens and ``-100`` everywhere else (system and user turns stay in
   the input, they just carry no loss).
3. :func:`encode_dataset` does that for every example, refuses examples with nothing to learn,
   and lists examples longer than ``max_seq_length`` by id (an error unless truncation is allowed).

Which tokens are "assistant tokens": a template with ``{% generation %}`` markers says so
itself (``return_assistant_tokens_mask``). Real substrate templates usually lack the markers; then
each assistant turn's tokens are found by rendering the conversation up to that turn with
``add_generation_prompt=True`` and up to and including it, and taking the difference (the
template must render prefixes as prefixes -- checked). The turn's end-of-turn token is trained,
anything the template writes after it (ChatML's newline) is not.

No double BOS: ``apply_chat_template(tokenize=True)`` does not add special tokens, so the
template's own ``{{ bos_token }}`` is the only one; :func:`encode_example` checks it anyway.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..documents import read_jsonl_models, read_text
from ..errors import InputError, IntegrityError
from ..schemas.curriculum import CurriculumExample

IGNORE = -100  # label of a token that carries no loss (PyTorch cross-entropy's ignore_index)


@dataclass(frozen=True)
class TrainingExample:
    id: str
    line: int
    messages: list[dict[str, str]]
    module: str | None = None  # metadata.module: a stage of an ``order: staged`` condition




@dataclass(frozen=True)
class Encoded:
    id: str
    input_ids: list[int]
    labels: list[int]
    module: str | None = None

    @property
    def n_loss_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


@dataclass
class EncodedDataset:
    examples: list[Encoded]
    too_long: list[str] = field(default_factory=list)  # ids of examples longer than max_seq_length
    truncated: list[str] = field(default_factory=list)  # of those, the ones cut (allow_truncation)

    @property
    def n_tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)

    @property
    def n_loss_tokens(self) -> int:
        return sum(e.n_loss_tokens for e in self.examples)

    def subset(self, examples: list[Encoded]) -> "EncodedDataset":
        """The same kind of dataset over ``examples`` (a stage, a permutation)."""
        ids = {e.id for e in examples}
        return EncodedDataset(examples=list(examples), too_long=[i for i in self.too_long if i in ids],
                              truncated=[i for i in self.truncated if i in ids])

    def to_hf(self):
        """A ``datasets.Dataset`` with ``input_ids`` and ``labels`` columns, in training order."""
        from datasets import Dataset

        return Dataset.from_dict({"input_ids": [e.input_ids for e in self.examples],
                                  "labels": [e.labels for e in self.examples]})


# --- 1. load ---------------------------------------------------------------------------------
def load_examples(path: str | Path) -> list[TrainingExample]:
    """Parse a build output; errors name the file and line. An empty file is an error."""
    path = Path(path)
    examples = []
    text = read_text(path, "training data", " (run: babyctl build <condition>)")
    for lineno, _, ex in read_jsonl_models(path, CurriculumExample, "curriculum example", text=text):
        ex_id = ex.metadata.id if ex.metadata and ex.metadata.id else f"line-{lineno}"
        examples.append(TrainingExample(id=ex_id, line=lineno, messages=[m.model_dump() for m in ex.messages],
                                        module=ex.metadata.module if ex.metadata else None))
    if not examples:
        raise InputError("training data is empty: no examples to train on", path=path)
    return examples


# --- 2. render one conversation ----------------------------------------------------------------
def check_tokenizer(tokenizer, where: str | Path | None = None) -> None:
    """Fail clearly when the tokenizer cannot render conversations at all."""
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("tokenizer has no chat template; the substrate's own template is required",
                         path=where)


def _render(tokenizer, messages: list[dict], **kwargs) -> dict[str, Any]:
    return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)


def _has_generation_markers(tokenizer) -> bool:
    return "{% generation %}" in (tokenizer.chat_template or "") or \
        "{%- generation %}" in (tokenizer.chat_template or "")


#: end-of-turn tokens of the chat formats babyctl knows (besides the tokenizer's eos)
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end_of_turn|>", "<end_of_turn>")


def end_of_turn_ids(tokenizer) -> set[int]:
    """Token ids that end an assistant turn: eos plus the known end-of-turn specials in the vocab."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN if t in vocab)
    return ids


def _trim_after_end_of_turn(mask: list[int], input_ids: list[int], eot: set[int]) -> list[int]:
    """In each run of trained tokens, untrain what follows the first end-of-turn token.

    A template whose generation block (or turn) goes on after ``<|im_end|>`` -- ChatML's newline
    -- would otherwise teach the model to emit whitespace after the end of its turn.
    """
    out = list(mask)
    inside, ended = False, False
    for i, (m, t) in enumerate(zip(mask, input_ids)):
        if not m:
            inside, ended = False, False
            continue
        if not inside:
            inside, ended = True, False
        if ended:
            out[i] = 0
        elif t in eot:
            ended = True
    return out


def _assistant_mask_by_prefixes(tokenizer, messages: list[dict], input_ids: list[int]) -> list[int]:
    """Assistant-token mask from prefix renders (for templates without generation markers)."""
    mask = [0] * len(input_ids)
    eot = end_of_turn_ids(tokenizer)
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], add_generation_prompt=True)["input_ids"] if i else []
        upto = _render(tokenizer, messages[: i + 1])["input_ids"]
        if input_ids[: len(before)] != before or input_ids[: len(upto)] != upto:
            raise IntegrityError("chat template does not render a conversation's prefix as a prefix; "
                                 "add {% generation %} markers to find the assistant tokens")
        end = len(upto)
        seg = upto[len(before):]
        hits = [k for k, t in enumerate(seg) if t in eot]
        if hits:  # train the end-of-turn token, not what follows it
            end = len(before) + hits[0] + 1
        for j in range(len(before), end):
            mask[j] = 1
    return mask


def encode_example(tokenizer, messages: list[dict[str, str]], *,
                   bos: str = "require") -> tuple[list[int], list[int]]:
    """Token ids and labels (assistant tokens only) of one conversation, via the chat template.

    ``bos``: ``require`` (a tokenizer with a BOS token whose template writes none is an error)
    or ``prepend`` (add it, untrained). Raises ``jinja2`` errors from a template that cannot
    render a turn (the caller names the example) and :class:`IntegrityError` on a double or
    missing BOS.
    """
    markers = _has_generation_markers(tokenizer)
    out = _render(tokenizer, messages, return_assistant_tokens_mask=markers)
    input_ids = list(out["input_ids"])
    mask = list(out["assistant_masks"]) if markers else _assistant_mask_by_prefixes(tokenizer, messages, input_ids)
    mask = _trim_after_end_of_turn(mask, input_ids, end_of_turn_ids(tokenizer))
    bos_id = tokenizer.bos_token_id
    if bos_id is not None and len(input_ids) > 1 and input_ids[0] == bos_id and input_ids[1] == bos_id:
        raise IntegrityError("rendered conversation starts with two BOS tokens")
    if bos_id is not None and (not input_ids or input_ids[0] != bos_id):
        if bos != "prepend":
            raise IntegrityError(f"rendered conversation does not start with the BOS token "
                                 f"{tokenizer.bos_token!r}: the chat template writes none (set "
                                 "training.bos: prepend to add it, untrained)")
        input_ids, mask = [bos_id, *input_ids], [0, *mask]
    labels = [t if m else IGNORE for t, m in zip(input_ids, mask)]
    return input_ids, labels


# --- 3. the whole dataset ------------------------------------------------------------------------
def encode_dataset(tokenizer, path: str | Path, *, max_seq_length: int,
                   allow_truncation: bool = False, bos: str = "require") -> EncodedDataset:
    """Encode every example of a build output, in file order (the training order)."""
    import jinja2

    path = Path(path)
    examples = load_examples(path)
    encoded, too_long, truncated = [], [], []
    for ex in examples:
        try:
            input_ids, labels = encode_example(tokenizer, ex.messages, bos=bos)
        except jinja2.TemplateError as e:
            raise InputError(f"example {ex.id!r}: the chat template cannot render it: {e}",
                             path=path, line=ex.line)
        except IntegrityError as e:
            raise IntegrityError(f"example {ex.id!r}: {e.message}", path=path, line=ex.line)
        if not any(t != IGNORE for t in labels):
            raise InputError(f"example {ex.id!r} has no assistant tokens to train on", path=path, line=ex.line)
        if len(input_ids) > max_seq_length:
            too_long.append(ex.id)
            if allow_truncation:
                input_ids, labels = input_ids[:max_seq_length], labels[:max_seq_length]
                truncated.append(ex.id)
        encoded.append(Encoded(id=ex.id, input_ids=input_ids, labels=labels, module=ex.module))
    if too_long and not allow_truncation:
        raise InputError(
            f"{len(too_long)} example(s) longer than training.max_seq_length={max_seq_length} tokens: "
            f"{', '.join(too_long)} (shorten them, raise max_seq_length, or set training.allow_truncation)",
            path=path)
    return EncodedDataset(examples=encoded, too_long=too_long, truncated=truncated)
