"""Neutral-wording lint: flag improvement/superiority framing in generated text.

Some of the study's participants consented on condition that results are not
framed as improvement. Reports (``babyctl report``) and model cards
(``babyctl publish``/``card``) describe *differences* ("higher", "lower",
"changed by"), never judgements of better or worse. :func:`framing_findings`
returns every place a word from :data:`FRAMING_WORDS` occurs, so a generator can
test its own output and a gate can refuse to publish it.

Standalone: imports only the standard library.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: word stem (regex, matched at a word start, case-insensitive) -> why it is flagged
FRAMING_WORDS: dict[str, str] = {
    r"improv\w*": "improvement framing (improve, improved, improvement, improving)",
    r"better": "comparative judgement",
    r"worse": "comparative judgement",
    r"best": "superlative judgement",
    r"worst": "superlative judgement",
    r"superior\w*": "superiority framing",
    r"inferior\w*": "superiority framing",
    r"outperform\w*": "superiority framing",
    r"underperform\w*": "superiority framing",
    r"enhanc\w*": "improvement framing (enhance, enhanced, enhancement)",
    r"degrad\w*": "deterioration framing (degrade, degraded, degradation)",
    r"deteriorat\w*": "deterioration framing",
    r"healthier": "improvement framing",
    r"cur(?:e|es|ed)": "improvement framing (the model is not ill)",
    r"heal(?:s|ed|ing)?": "improvement framing (the model is not ill)",
}

_RX = re.compile(r"\b(?:" + "|".join(f"(?:{w})" for w in FRAMING_WORDS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class FramingFinding:
    line: int
    col: int
    word: str
    reason: str

    def __str__(self) -> str:
        return f"{self.line}:{self.col}: {self.word!r}: {self.reason}"


def framing_findings(text: str) -> list[FramingFinding]:
    """Every improvement/superiority word in ``text`` with its 1-based line and column."""
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        for m in _RX.finditer(line):
            word = m.group(0)
            reason = next(r for w, r in FRAMING_WORDS.items()
                          if re.fullmatch(w, word, re.IGNORECASE))
            out.append(FramingFinding(lineno, m.start() + 1, word, reason))
    return out
