"""Training geometry of a condition, and the check that a control matches its target.

A control separates hypotheses only when it differs from its treatment in content alone: the
same number of examples, tokens, turns and lengths ("same pipeline and training geometry").
:func:`measure` takes the conversations a build trains on and returns a :class:`Geometry`:

* ``examples``: how many;
* ``turns``: user + assistant messages per example (a system message is not a turn);
* per active substrate, under *its own* tokenizer and chat template (the rendering training uses,
  :func:`babyctl.train.data.encode_example`): total tokens, assistant (loss) tokens, and the length
  in tokens of every assistant turn (one contiguous run of loss tokens);
* ``assistant_words``: the same lengths in whitespace words, tokenizer-free.

:func:`compare` checks a control's geometry against its target's with the tolerances of
:class:`babyctl.schemas.params.Match`:

* examples and tokens: relative difference ``|control - target| / target`` at most the tolerance;
* turns: the absolute difference of the mean turns per example;
* lengths: the two-sample Kolmogorov-Smirnov distance D between the assistant-turn length
  distributions at most the tolerance, *and* the test's p-value at least ``alpha``. The p-value
  is a permutation p-value (:func:`ks_permutation_test`): lengths are integers with many ties, where
  the asymptotic Kolmogorov distribution is wrong; numpy only, seeded, so builds stay byte-identical.

A mismatch fails ``babyctl build`` with the table of differences, unless the control declares a
``deviation`` (why it does not match): then the table goes into the dataset card, marked as declared.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import EnvironmentProblem
from .schemas.params import Match, Params

#: permutations of the length test; p = (1 + #{D_perm >= D}) / (1 + N) (Phipson & Smyth 2010)
PERMUTATIONS = 9999
PERMUTATION_SEED = 0


@dataclass
class SubstrateGeometry:
    substrate: str
    tokens: int
    assistant_tokens: int
    assistant_lengths: list[int]


@dataclass
class Geometry:
    condition: str
    examples: int
    turns: list[int]
    assistant_words: list[int]
    substrates: dict[str, SubstrateGeometry] = field(default_factory=dict)
    unmeasured: dict[str, str] = field(default_factory=dict)  # substrate -> why no token counts

    @property
    def mean_turns(self) -> float:
        return sum(self.turns) / len(self.turns) if self.turns else 0.0

    def summary(self) -> dict:
        """The JSON-ready summary written to the dataset card (lengths as quantiles, not lists)."""
        subs = {
            k: {"tokens": g.tokens, "assistant_tokens": g.assistant_tokens,
                "assistant_turns": len(g.assistant_lengths), "assistant_length": _quantiles(g.assistant_lengths)}
            for k, g in sorted(self.substrates.items())
        }
        return {"condition": self.condition, "examples": self.examples, "mean_turns": round(self.mean_turns, 4),
                "assistant_words": _quantiles(self.assistant_words), "substrates": subs,
                "unmeasured": dict(sorted(self.unmeasured.items()))}


@dataclass
class Row:
    """One line of the match table."""

    measure: str
    substrate: str  # "" when tokenizer-free
    control: float
    target: float
    difference: str
    tolerance: str
    ok: bool
    p_value: float | None = None


def _quantiles(xs: list[int]) -> dict:
    if not xs:
        return {"n": 0}
    s = sorted(xs)

    def q(f: float) -> int:
        return s[min(len(s) - 1, int(f * (len(s) - 1) + 0.5))]
    return {"n": len(s), "min": s[0], "median": q(0.5), "p90": q(0.9), "max": s[-1],
            "mean": round(sum(s) / len(s), 2)}


# --- measuring ------------------------------------------------------------------------------------
def load_tokenizers(params: Params, root: Path) -> tuple[dict, dict[str, str]]:
    """Each active substrate's tokenizer (local folder, or Hub id at the pinned revision, from the
    local cache only); returns (tokenizers, substrate -> why not loaded)."""
    toks, missing = {}, {}
    try:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as e:
        return {}, {s: f"transformers is not installed ({e.name})" for s in params.active_substrates}
    hf_logging.set_verbosity_error()
    for key in params.active_substrates:
        sub = params.substrates[key]
        try:
            if sub.local_path:
                folder = root / sub.local_path
                if not (folder / "tokenizer_config.json").is_file():
                    missing[key] = f"no tokenizer at {sub.local_path} (run: babyctl tiny-model)"
                    continue
                toks[key] = AutoTokenizer.from_pretrained(str(folder))
            else:
                toks[key] = AutoTokenizer.from_pretrained(sub.hub_id, revision=sub.revision, local_files_only=True)
        except (OSError, ValueError) as e:
            missing[key] = f"tokenizer not available offline: {str(e).splitlines()[0][:160]}"
    return toks, missing


def _runs(labels: list[int], ignore: int) -> list[int]:
    """Lengths of the contiguous runs of loss tokens (one per assistant turn)."""
    out, n = [], 0
    for t in labels:
        if t != ignore:
            n += 1
        elif n:
            out.append(n)
            n = 0
    if n:
        out.append(n)
    return out


def measure(condition: str, conversations: list[list[dict]], tokenizers: dict,
            unmeasured: dict[str, str] | None = None) -> Geometry:
    """The geometry of ``conversations`` (the messages of each training example)."""
    geo = Geometry(condition=condition, examples=len(conversations),
                   turns=[sum(1 for m in c if m["role"] != "system") for c in conversations],
                   assistant_words=[len(m["content"].split()) for c in conversations for m in c
                                    if m["role"] == "assistant"],
                   unmeasured=dict(unmeasured or {}))
    if tokenizers:
        from .train.data import IGNORE, encode_example
    for key, tok in sorted(tokenizers.items()):
        tokens = loss = 0
        lengths: list[int] = []
        for conv in conversations:
            ids, labels = encode_example(tok, conv)
            tokens += len(ids)
            runs = _runs(labels, IGNORE)
            loss += sum(runs)
            lengths += runs
        geo.substrates[key] = SubstrateGeometry(key, tokens, loss, lengths)
    return geo


# --- the two-sample test ----------------------------------------------------------------------------
def ks_statistic(a, b) -> float:
    """Two-sample Kolmogorov-Smirnov distance: the largest gap between the empirical CDFs."""
    import numpy as np

    a, b = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_permutation_test(a, b, *, permutations: int = PERMUTATIONS, seed: int = PERMUTATION_SEED) -> tuple[float, float]:
    """(D, p): the KS distance and its permutation p-value (labels shuffled ``permutations`` times,
    ``numpy.random.default_rng(seed)``; exact under ties, deterministic)."""
    import numpy as np

    if not len(a) or not len(b):
        raise ValueError("both samples need at least one value")
    d = ks_statistic(a, b)
    pooled = np.concatenate([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    n_a, n = len(a), len(pooled)
    rng = np.random.default_rng(seed)
    # vectorised, one shuffled labelling a row: counts of each distinct value in a and b -> CDF gap
    values = np.unique(pooled)
    onehot = (pooled[:, None] == values[None, :]).astype(float)  # element x distinct value
    hits = 0
    for start in range(0, permutations, 1000):
        k = min(1000, permutations - start)
        in_a = (rng.permuted(np.tile(np.arange(n), (k, 1)), axis=1) < n_a).astype(float)
        cdf_a = np.cumsum(in_a @ onehot, axis=1) / n_a
        cdf_b = np.cumsum((1.0 - in_a) @ onehot, axis=1) / (n - n_a)
        hits += int(np.sum(np.abs(cdf_a - cdf_b).max(axis=1) >= d - 1e-12))
    return d, (1 + hits) / (1 + permutations)


# --- comparing --------------------------------------------------------------------------------------
def _rel(c: float, t: float) -> float:
    return abs(c - t) / t if t else (0.0 if c == t else float("inf"))


def compare(control: Geometry, target: Geometry, match: Match) -> list[Row]:
    """The match table: one :class:`Row` per checked measure (and substrate)."""
    rows: list[Row] = []
    if match.examples is not None:
        r = _rel(control.examples, target.examples)
        rows.append(Row("examples", "", control.examples, target.examples,
                        f"{control.examples - target.examples:+d} ({r:.1%})", f"<= {match.examples:.1%}",
                        r <= match.examples + 1e-12))
    if match.turns is not None:
        diff = control.mean_turns - target.mean_turns
        rows.append(Row("mean turns per example", "", round(control.mean_turns, 3), round(target.mean_turns, 3),
                        f"{diff:+.3f}", f"<= {match.turns:g}", abs(diff) <= match.turns + 1e-12))
    for key in sorted(set(control.substrates) | set(target.substrates) | set(control.unmeasured)):
        cg, tg = control.substrates.get(key), target.substrates.get(key)
        if cg is None or tg is None:
            why = control.unmeasured.get(key) or target.unmeasured.get(key) or "not measured"
            if match.tokens is not None or match.lengths is not None:
                raise EnvironmentProblem(f"cannot check the match on substrate {key!r}: {why}")
            continue
        if match.tokens is not None:
            r = _rel(cg.tokens, tg.tokens)
            rows.append(Row("total tokens", key, cg.tokens, tg.tokens, f"{cg.tokens - tg.tokens:+d} ({r:.1%})",
                            f"<= {match.tokens:.1%}", r <= match.tokens + 1e-12))
        if match.lengths is not None and cg.assistant_lengths and tg.assistant_lengths:
            d, p = ks_permutation_test(cg.assistant_lengths, tg.assistant_lengths)
            mc = sum(cg.assistant_lengths) / len(cg.assistant_lengths)
            mt = sum(tg.assistant_lengths) / len(tg.assistant_lengths)
            rows.append(Row("assistant-turn length (mean tokens; KS D)", key, round(mc, 2), round(mt, 2),
                            f"D={d:.3f}, p={p:.4f}", f"D <= {match.lengths:g}, p >= {match.alpha:g}",
                            d <= match.lengths + 1e-12 and p >= match.alpha, p_value=round(p, 6)))
    return rows


def rows_json(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]


def match_table(rows: list[Row], control: str, target: str) -> str:
    """The match table in Markdown (also readable in a terminal)."""
    out = [f"| measure | substrate | {control} | {target} | difference | tolerance | ok |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.measure} | {r.substrate or '-'} | {_fmt(r.control)} | {_fmt(r.target)} | {r.difference} | "
                   f"{r.tolerance} | {'yes' if r.ok else '**NO**'} |")
    return "\n".join(out)


def _fmt(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:g}"


def geometry_table(summaries: list[dict]) -> str:
    """The "training geometry" table (Markdown) for condition summaries (``Geometry.summary()``)."""
    out = ["| condition | examples | mean turns | substrate | total tokens | assistant tokens | "
           "assistant-turn length (median / p90 / max tokens) |", "|---|---|---|---|---|---|---|"]
    for s in summaries:
        subs = s.get("substrates") or {}
        if not subs:
            why = "; ".join(f"{k}: {v}" for k, v in (s.get("unmeasured") or {}).items()) or "not measured"
            out.append(f"| {s['condition']} | {s['examples']} | {s['mean_turns']:g} | - | ({why}) | | |")
        for key, g in subs.items():
            q = g["assistant_length"]
            out.append(f"| {s['condition']} | {s['examples']} | {s['mean_turns']:g} | {key} | {g['tokens']} | "
                       f"{g['assistant_tokens']} | {q.get('median', '-')} / {q.get('p90', '-')} / {q.get('max', '-')} |")
        if s.get("kind") == "prompted":
            out[-1] = f"| {s['condition']} | 0 (prompted: trains nothing) | - | - | - | - | - |"
    return "\n".join(out)


def report_section(root: str | Path, params: Params) -> list[str]:
    """Markdown lines of the report's "Training geometry" section, read from each active
    condition's dataset card (``dataset_card.json`` in :func:`babyctl.study.build_dir`)."""
    import json

    root = Path(root)
    summaries, missing, matches = [], [], []
    from .study import arms, build_dir

    for c in arms(params):
        cond = params.conditions[c]
        if cond.kind == "prompted":
            summaries.append({"condition": c, "examples": 0, "mean_turns": 0, "kind": "prompted"})
            continue
        card = build_dir(root, c) / "dataset_card.json"
        try:
            data = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            missing.append(c)
            continue
        if data.get("geometry"):
            summaries.append(data["geometry"])
        if data.get("match"):
            m = data["match"]
            state = "matches" if m["ok"] else ("declared deviation: " + m["deviation"] if m.get("deviation")
                                               else "does NOT match")
            matches.append(f"- `{c}` against `{m['target']}`: {state}")
    lines = ["## Training geometry", ""]
    lines += [geometry_table(summaries), ""] if summaries else ["(no dataset cards with geometry found)", ""]
    if matches:
        lines += ["Matched controls (tables in each control's dataset card):", "", *matches, ""]
    if missing:
        lines += [f"No dataset card for: {', '.join(missing)} (run: babyctl build <condition>).", ""]
    return lines



def design_sections(params: Params, root: str | Path) -> list[str]:
    """The report's study-design sections: training geometry (and, when it ran, the capability check)."""
    out = report_section(root, params)
    try:
        from .capability import report_section as capability_section
    except ImportError:  # pragma: no cover - the capability module is optional
        return out
    return out + capability_section(root, params)
