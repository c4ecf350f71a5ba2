"""BC420 contamination (an evaluation prompt in a training turn, exactly or nearly) and BC421
train/valid leakage (one first user turn twice in a condition with a validation split); the
matching rules are in docs/validate.md ("Contamination and leakage").

BC420: the stimuli's prompts are indexed by word 5-gram; a turn holding at least :data:`NEAR` of a
prompt's 5-grams is compared closely (containment, then the best window's similarity). Prompts
shorter than :data:`MIN_WORDS` words are matched exactly only."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from ..example import Hit

N = 5  #: shingle size (words)
NEAR = 0.6  #: share of a prompt's shingles a turn must hold to be compared closely
RATIO = 0.85  #: similarity of the prompt and the turn's best window for a near match
MIN_WORDS = 6
_WORD = re.compile(r"[a-z0-9']+")


def norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def shingles(words: list[str]) -> set[int]:
    return {hash(tuple(words[i:i + N])) for i in range(max(len(words) - N + 1, 0))}


@dataclass
class Prompt:
    id: str
    where: str  #: display path:line of the stimulus
    text: str  #: normalised
    words: list[str]
    grams: set[int]


@dataclass
class ContaminationIndex:
    prompts: list[Prompt] = field(default_factory=list)
    by_gram: dict[int, list[int]] = field(default_factory=dict)
    short: list[Prompt] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.prompts or self.short)

    def add_prompt(self, stim_id: str, where: str, prompt: str) -> None:
        text = norm(prompt)
        words = text.split()
        if not words:
            return
        p = Prompt(stim_id, where, text, words, shingles(words))
        if len(words) < MIN_WORDS:
            self.short.append(p)
            return
        k = len(self.prompts)
        self.prompts.append(p)
        for g in p.grams:
            self.by_gram.setdefault(g, []).append(k)

    def check(self, turns: list[str]) -> list[Hit]:
        """BC420 hits for one curriculum example's user/assistant turns (each prompt once per example)."""
        hits, done = [], set()
        for i, content in enumerate(turns):
            text = norm(content)
            if not text:
                continue
            padded = f" {text} "
            for p in self.short:
                if p.id not in done and f" {p.text} " in padded:
                    done.add(p.id)
                    hits.append(self._hit(p, i, "exactly"))
            if not self.prompts:
                continue
            words = text.split()
            counts: dict[int, int] = {}
            for g in shingles(words):
                for k in self.by_gram.get(g, ()):
                    counts[k] = counts.get(k, 0) + 1
            for k, n in counts.items():
                p = self.prompts[k]
                if p.id in done or n < NEAR * len(p.grams):
                    continue
                if p.text in text:
                    done.add(p.id)
                    hits.append(self._hit(p, i, "exactly"))
                    continue
                ratio = _best_window(p.words, words)
                if ratio >= RATIO:
                    done.add(p.id)
                    hits.append(self._hit(p, i, f"nearly (similarity {ratio:.2f})"))
        return hits

    @staticmethod
    def _hit(p: Prompt, turn: int, how: str) -> Hit:
        return Hit("BC420", ("messages",),
                   f"evaluation prompt {p.id!r} ({p.where}) appears {how} in turn {turn + 1} (not counting system "
                   "turns) of this training example: the model would be evaluated on what it was trained on")


def _best_window(prompt: list[str], words: list[str]) -> float:
    n = len(prompt)
    if len(words) <= n:
        return SequenceMatcher(None, prompt, words, autojunk=False).ratio()
    best = 0.0
    step = max(1, n // 4)
    for start in range(0, len(words) - n + 1, step):
        best = max(best, SequenceMatcher(None, prompt, words[start:start + n + n // 4], autojunk=False).ratio())
    return best


@dataclass
class LeakageIndex:
    """First user turn (normalised) -> where it was first seen, per curriculum file."""

    first_user: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # display -> [(hash of norm text, line)]

    def add(self, display: str, line: int, first_turn: str) -> None:
        """Record an example's first (non-system) turn, the prompt a split would share."""
        text = norm(first_turn)
        if text:
            self.first_user.setdefault(display, []).append((hash(text), line))

    def check(self, condition: str, displays: list[str]) -> list[tuple[str, int, str]]:
        """(display, line, message) for every repeated first user turn among ``displays``."""
        seen: dict[int, tuple[str, int]] = {}
        out = []
        for d in displays:
            for text, line in self.first_user.get(d, []):
                if text in seen:
                    fd, fl = seen[text]
                    out.append((d, line, f"condition {condition!r} splits off validation examples, and this prompt is "
                                         f"also at {fd}:{fl}: one copy may land in train and the other in valid "
                                         "(train/valid leakage)"))
                else:
                    seen[text] = (d, line)
        return out
