"""From score rows and params to the study's answers: rates, declared contrasts, families.

* every arm (substrate x condition, ``baseline`` included) x bank x signal gets a rate with an
  interval over seeds and stimuli (:func:`babyctl.evaluate.stats.crossed_inference`), each
  seed's own rate, and a variance table (seed, stimulus, seed x stimulus, repeat, judge);
* the contrasts of ``analysis.contrasts`` (default: each treatment against each control of the
  same substrate, then each condition against ``baseline``) per substrate x bank x signal;
* with more than one active substrate, each contrast's difference between substrates
  (the substrate x condition interaction);
* families: the *primary* family is the primary contrasts x ``analysis.primary`` signals x banks,
  and is confirmatory only when a pre-registration lock exists. Holm runs within each family;
  everything outside the primary family is labelled *exploratory*;
* judges: ties and parse failures per arm, with the rate if every undecided verdict were
  ``no`` (low) or ``yes`` (high), and Fleiss' kappa per arm x bank.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .. import study
from ..schemas.params import Params
from .stats import (METHOD, Components, Inference, crossed_inference, fleiss_kappa, holm,
                    variance_components)

BASELINE = "baseline"
JUDGE = "judge"
PRIMARY = "primary"
EXPLORATORY = "exploratory"


@dataclass
class ArmRate:
    substrate: str
    condition: str
    bank: str
    signal: str
    inference: Inference
    per_seed: dict = field(default_factory=dict)
    components: Components | None = None
    n_obs: int = 0
    undecided: int = 0


@dataclass
class ContrastResult:
    id: str
    kind: str  # "contrast" | "interaction"
    substrate: str  # "a x b" for an interaction
    contrast: str  # "core - neutral"
    bank: str
    signal: str
    inference: Inference
    family: str = EXPLORATORY
    p_adjusted: float = math.nan
    family_size: int = 0
    rates: tuple[float, float] = (math.nan, math.nan)


@dataclass
class JudgeArm:
    substrate: str
    condition: str
    bank: str
    n: int
    yes: int
    no: int
    ties: int
    unparsed: int
    parse_failures: int
    kappa: float
    n_rated_by_all: int

    @property
    def undecided(self) -> int:
        return self.ties + self.unparsed

    @property
    def rate_low(self) -> float:
        return self.yes / self.n if self.n else math.nan

    @property
    def rate_high(self) -> float:
        return (self.yes + self.undecided) / self.n if self.n else math.nan


@dataclass
class Analysis:
    rates: list[ArmRate]
    contrasts: list[ContrastResult]
    judges: list[JudgeArm]
    signals: list[str]
    banks: list[str]
    confirmatory: bool
    method: str = METHOD


def value(row: dict, signal: str) -> float | None:
    """A row's 0/1 value for a signal (the panel verdict for ``judge``); None when undecided."""
    if signal == JUDGE:
        j = row.get("judge")
        return None if not j or j.get("verdict") is None else float(j["verdict"])
    v = row.get("signals", {}).get(signal)
    return None if v is None else float(v)


def contrast_specs(params: Params) -> list[tuple[str, str]]:
    """(condition, against) pairs: ``analysis.contrasts`` or the defaults, active conditions only."""
    active = study.arms(params)  # trained conditions and prompted-only arms
    if params.analysis.contrasts is not None:
        return [(c.condition, c.against) for c in params.analysis.contrasts
                if c.condition in active and (c.against == BASELINE or c.against in active)]
    treat = [c for c in active if params.conditions[c].role == "treatment"]
    ctrl = [c for c in active if params.conditions[c].role == "control"]
    return [(t, c) for t in treat for c in ctrl] + [(c, BASELINE) for c in active]


def primary_contrasts(params: Params) -> set[str]:
    """Names of the primary contrasts: ``analysis.primary.contrasts`` or the treatment-against-control ones."""
    if params.analysis.primary.contrasts is not None:
        return set(params.analysis.primary.contrasts)
    return {f"{a} - {b}" for a, b in contrast_specs(params)
            if b != BASELINE and params.conditions[a].role == "treatment"
            and params.conditions[b].role == "control"}


class _Data:
    """Score rows indexed by arm x bank x signal -> {(seed, stimulus): [values over repeats]}."""

    def __init__(self, rows: list[dict], signals: list[str]):
        self.cells: dict[tuple, dict[tuple, list[float]]] = {}
        self.undecided: dict[tuple, int] = {}
        self.votes: dict[tuple, list[list[int]]] = {}
        self.stimuli: dict[str, set[str]] = {}
        for r in rows:
            self.stimuli.setdefault(r["bank"], set()).add(r["stimulus_id"])
            for s in signals:
                if s != JUDGE and s not in r.get("signals", {}):
                    continue  # not applicable to this row (capability rows carry only their own signal)
                key = (r["substrate"], r["condition"], r["bank"], s)
                v = value(r, s)
                if v is None:
                    self.undecided[key] = self.undecided.get(key, 0) + 1
                    continue
                self.cells.setdefault(key, {}).setdefault((r.get("seed"), r["stimulus_id"]), []).append(v)
                if s == JUDGE:
                    votes = [1 if x.get("verdict") == "yes" else 0 for x in r["judge"].get("votes", [])
                             if x.get("verdict") in ("yes", "no")]
                    self.votes.setdefault(key, []).append(votes)

    def matrix(self, key: tuple) -> np.ndarray:
        """Cell means ``[S, I]`` over every stimulus of the bank (NaN where missing)."""
        stims = sorted(self.stimuli.get(key[2], ()))
        cells = self.cells.get(key, {})
        seeds = sorted({s for s, _ in cells}, key=str)
        y = np.full((max(len(seeds), 1), len(stims)), np.nan)
        for (s, i), vals in cells.items():
            y[seeds.index(s), stims.index(i)] = float(np.mean(vals))
        return y

    def per_seed(self, key: tuple) -> dict:
        by: dict = {}
        for (s, _), vals in self.cells.get(key, {}).items():
            if s is not None:
                by.setdefault(s, []).extend(vals)
        return {s: float(np.mean(v)) for s, v in sorted(by.items(), key=lambda kv: str(kv[0]))}


def signals_of(rows: list[dict]) -> list[str]:
    out: list[str] = []
    for r in rows:
        for s in r.get("signals", {}):
            if s not in out:
                out.append(s)
    if any(r.get("judge") for r in rows):
        out.append(JUDGE)
    return out


def analyse(rows: Iterable[dict], params: Params, *, confirmatory: bool) -> Analysis:
    """Everything the report prints; see the module docstring."""
    rows = list(rows)
    conf = params.eval.bootstrap.confidence
    signals = signals_of(rows)
    banks = sorted({r["bank"] for r in rows})
    data = _Data(rows, signals)
    arms = sorted({(r["substrate"], r["condition"]) for r in rows},
                  key=lambda a: (a[0], a[1] != BASELINE, a[1]))
    def trained(cond: str) -> bool:  # seeds vary only in trained arms (not baseline, not prompted-only)
        return cond != BASELINE and (cond not in params.conditions or params.conditions[cond].kind == "trained")

    rates = []
    for (sub, cond), bank, sig in itertools.product(arms, banks, signals):
        key = (sub, cond, bank, sig)
        if key not in data.cells and key not in data.undecided:
            continue
        inf = crossed_inference([(1.0, data.matrix(key))], confidence=conf,
                                trained=[trained(cond)], bounds=(0.0, 1.0))
        comps = variance_components(data.cells.get(key, {}), data.votes.get(key, ()))
        n_obs = sum(len(v) for v in data.cells.get(key, {}).values())
        rates.append(ArmRate(sub, cond, bank, sig, inf, data.per_seed(key), comps, n_obs,
                             data.undecided.get(key, 0)))
    rate_of = {(a.substrate, a.condition, a.bank, a.signal): a.inference.estimate for a in rates}
    subs = sorted({a[0] for a in arms})
    primary = primary_contrasts(params)
    p = params.analysis.primary
    results: list[ContrastResult] = []
    for (cond, against), sub, bank, sig in itertools.product(contrast_specs(params), subs, banks, signals):
        ka, kb = (sub, cond, bank, sig), (sub, against, bank, sig)
        if ka not in data.cells or kb not in data.cells:
            continue
        inf = crossed_inference([(1.0, data.matrix(ka)), (-1.0, data.matrix(kb))], confidence=conf,
                                trained=[trained(cond), trained(against)], bounds=(-1.0, 1.0))
        name = f"{cond} - {against}"
        is_primary = (confirmatory and name in primary and sig in p.signals
                      and (not p.banks or bank in p.banks))
        results.append(ContrastResult(f"{sub}/{name}/{bank}/{sig}", "contrast", sub, name, bank, sig, inf,
                                      PRIMARY if is_primary else EXPLORATORY,
                                      rates=(rate_of.get(ka, math.nan), rate_of.get(kb, math.nan))))
    if len(subs) > 1:  # does the contrast differ by substrate?
        for (cond, against), (s1, s2), bank, sig in itertools.product(
                contrast_specs(params), itertools.combinations(subs, 2), banks, signals):
            keys = [(s, c, bank, sig) for s in (s1, s2) for c in (cond, against)]
            if not all(k in data.cells for k in keys):
                continue
            inf = crossed_inference([(w, data.matrix(k)) for w, k in zip((1.0, -1.0, -1.0, 1.0), keys)],
                                    confidence=conf, trained=[trained(k[1]) for k in keys],
                                    bounds=(-2.0, 2.0))
            name = f"{cond} - {against}"
            results.append(ContrastResult(f"{s1} x {s2}/{name}/{bank}/{sig}", "interaction",
                                          f"{s1} x {s2}", name, bank, sig, inf))
    for fam in (PRIMARY, EXPLORATORY):
        members = [r for r in results if r.family == fam]
        for r, adj in zip(members, holm([r.inference.p for r in members])):
            r.p_adjusted = adj
            r.family_size = len(members)
    return Analysis(rates, results, judge_arms(rows), signals, banks, confirmatory)


def judge_arms(rows: Iterable[dict]) -> list[JudgeArm]:
    """Ties, parse failures, sensitivity bounds and Fleiss' kappa per substrate x condition x bank."""
    acc: dict[tuple, dict] = {}
    for r in rows:
        j = r.get("judge")
        if not j:
            continue
        key = (r["substrate"], r["condition"], r["bank"])
        a = acc.setdefault(key, {"n": 0, "yes": 0, "no": 0, "ties": 0, "unparsed": 0, "fail": 0, "table": []})
        a["n"] += 1
        verdicts = [v.get("verdict") for v in j.get("votes", [])]
        parsed = [v for v in verdicts if v in ("yes", "no")]
        a["fail"] += len(verdicts) - len(parsed)
        if j.get("verdict") == 1:
            a["yes"] += 1
        elif j.get("verdict") == 0:
            a["no"] += 1
        elif parsed:
            a["ties"] += 1
        else:
            a["unparsed"] += 1
        if len(verdicts) >= 2 and len(parsed) == len(verdicts):
            a["table"].append([parsed.count("yes"), parsed.count("no")])
    out = []
    for key, a in sorted(acc.items()):
        table = a["table"]
        kappa = fleiss_kappa(table) if table and len({sum(t) for t in table}) == 1 else math.nan
        out.append(JudgeArm(*key, a["n"], a["yes"], a["no"], a["ties"], a["unparsed"], a["fail"], kappa,
                            len(table)))
    return out
