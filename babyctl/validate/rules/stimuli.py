"""BC601/BC602: stimulus ids unique across banks; ``bank`` equals the file's stem. BC604: a prefill
that ends in whitespace."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..example import Hit


@dataclass
class StimulusIndex:
    _ids: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (display path, line)

    def add(self, path: Path, display: str, line: int, stim) -> list[Hit]:
        """Hits for one validated :class:`~babyctl.schemas.Stimulus`."""
        hits = []
        first = self._ids.get(stim.id)
        if first is not None:
            hits.append(Hit("BC601", ("id",), f"duplicate stimulus id {stim.id!r} (first at {first[0]}:{first[1]})"))
        else:
            self._ids[stim.id] = (display, line)
        stem = path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.stem
        if stim.bank != stem:
            hits.append(Hit("BC602", ("bank",), f"bank {stim.bank!r} differs from the file's stem {stem!r}"))
        if stim.prefill and stim.prefill != stim.prefill.rstrip():
            hits.append(Hit("BC604", ("prefill",), "prefill ends in whitespace: the model would continue from a "
                            "bare space token; end the prefill on the word (tokenizers attach the space to the next one)"))
        return hits
