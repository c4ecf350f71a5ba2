"""False positives of the phrase and placeholder rules on public chat datasets we did not write.

Usage (the data is read from a local copy; none of its text is committed)::

    python benchmarks/false_positives.py sharegpt  PATH/dummy_conversation.json   # lm-sys/FastChat data/
    python benchmarks/false_positives.py hh-rlhf   PATH/test.jsonl.gz               # anthropics/hh-rlhf

For each dataset: the assistant turns are run through the BC3xx example rules twice, with the
own-voice filter (quoted speech and third-person frames skipped, issue 14) and without it, and
every hit the filter removes or keeps is printed with 100 characters around it, for a human to
label (the labels and figures are recorded in benchmarks/FALSE_POSITIVES.md).
"""
from __future__ import annotations

import gzip
import json
import re
import sys
from collections import Counter
from pathlib import Path
from unittest import mock

from babyctl.validate.example import Example
from babyctl.validate.rules import phrases
from babyctl.validate.settings import Settings


def sharegpt(path: Path) -> list[list[tuple[str, str]]]:
    roles = {"human": "user", "gpt": "assistant", "system": "system"}
    data = json.loads(path.read_text(encoding="utf-8"))
    return [[(roles.get(t["from"], "user"), t["value"]) for t in conv["conversations"]] for conv in data]


def hh_rlhf(path: Path) -> list[list[tuple[str, str]]]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["chosen"]
            parts = re.split(r"\n\n(Human|Assistant): ", text)
            turns = [("user" if parts[i] == "Human" else "assistant", parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
            out.append(turns)
    return out


def hits(convs, settings: Settings, *, filtered: bool) -> list[tuple[int, str, str, str]]:
    found = []
    patch = mock.patch.object(phrases, "own_voice", return_value=True) if not filtered else mock.MagicMock()
    with patch:
        for k, turns in enumerate(convs):
            ex = Example("x", k + 1, "", turns, None, frozenset())
            for h in phrases.check_phrases(ex, settings) + phrases.check_placeholders(ex, settings):
                content = turns[h.loc[1]][1]
                at = content.find(h.needle or "")
                found.append((k + 1, h.code, h.needle or "", content[max(0, at - 100):at + 100].replace("\n", " ")))
    return found


def main(kind: str, path: str) -> None:
    convs = {"sharegpt": sharegpt, "hh-rlhf": hh_rlhf}[kind](Path(path))
    turns = sum(1 for c in convs for r, _ in c if r == "assistant")
    settings = Settings.from_params(None)[0]
    before = hits(convs, settings, filtered=False)
    after = hits(convs, settings, filtered=True)
    print(f"{kind}: {len(convs)} conversations, {turns} assistant turns")
    print("hits without the own-voice filter:", dict(Counter(c for _, c, _, _ in before)))
    print("hits with it:", dict(Counter(c for _, c, _, _ in after)))
    kept = set(after)
    print("\n-- removed by the filter --")
    for h in before:
        if h not in kept:
            print(f"[{h[1]}] #{h[0]} {h[2]!r}: ...{h[3]}...")
    print("\n-- kept --")
    for h in after:
        print(f"[{h[1]}] #{h[0]} {h[2]!r}: ...{h[3]}...")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
