"""Statistics for eval scores, in numpy + math only.

* :func:`cluster_bootstrap` -- a rate with a percentile CI from resampling *clusters*
  (stimuli): every observation of one stimulus (several fine-tuning seeds, several
  judges) stays together, because they are not independent.
* :func:`seed_variation` -- between-seed SD and range of per-seed rates, reported
  separately from the CI over stimuli.
* :func:`paired_difference` -- trained minus baseline over the stimuli both saw:
  a cluster-bootstrap CI and a two-sided paired sign-flip permutation p-value
  (exact enumeration for up to :data:`EXACT_MAX` non-zero differences).
* :func:`holm` -- Holm-Bonferroni adjusted p-values.
* :func:`fleiss_kappa` -- agreement of a fixed number of raters (Fleiss 1971).
* :func:`summarise` -- all of the above over score rows, per substrate x condition x bank x signal.
"""
from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

#: largest number of non-zero paired differences for which the permutation test enumerates
EXACT_MAX = 16
BASELINE = "baseline"
JUDGE = "judge"


# --- primitives ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    rate: float
    ci_low: float
    ci_high: float
    n_clusters: int
    n_obs: int


def _rng(seed: int, *key: object) -> np.random.Generator:
    """A generator seeded by ``seed`` and a stable hash of ``key`` (reproducible per cell)."""
    salt = zlib.crc32("\x1f".join(map(str, key)).encode())
    return np.random.default_rng([seed, salt])


def cluster_bootstrap(clusters: Sequence[Sequence[float]], *, n_resamples: int = 2000,
                      confidence: float = 0.95, rng: np.random.Generator | None = None) -> Estimate:
    """Mean of all observations with a percentile CI from resampling whole clusters.

    ``clusters`` holds each cluster's observations (0/1 values for a rate). The
    estimate is the ratio sum/count, recomputed on each resample of clusters drawn
    with replacement. Empty clusters are ignored; no observations gives NaNs.
    """
    clusters = [list(c) for c in clusters if len(c)]
    k = len(clusters)
    if k == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, 0)
    sums = np.array([sum(c) for c in clusters], dtype=float)
    counts = np.array([len(c) for c in clusters], dtype=float)
    rate = float(sums.sum() / counts.sum())
    rng = rng or np.random.default_rng(0)
    idx = rng.integers(0, k, size=(n_resamples, k))
    boot = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return Estimate(rate, float(lo), float(hi), k, int(counts.sum()))


def seed_variation(per_seed: dict[int, float]) -> dict:
    """Between-seed spread of per-seed rates: n, mean, SD (ddof 1; None for one seed), min, max, range."""
    vals = [v for v in per_seed.values() if not math.isnan(v)]
    if not vals:
        return {"n_seeds": 0, "mean": None, "sd": None, "min": None, "max": None, "range": None}
    arr = np.array(vals, dtype=float)
    return {"n_seeds": len(vals), "mean": float(arr.mean()),
            "sd": float(arr.std(ddof=1)) if len(vals) > 1 else None,
            "min": float(arr.min()), "max": float(arr.max()), "range": float(arr.max() - arr.min())}


def sign_flip_pvalue(diffs: Sequence[float], *, n_resamples: int = 2000,
                     rng: np.random.Generator | None = None) -> float:
    """Two-sided paired permutation p-value for mean(diffs) == 0 (signs flipped at random).

    Zero differences carry no sign and are dropped. With up to :data:`EXACT_MAX`
    non-zero differences every sign pattern is enumerated (exact); beyond that a
    Monte Carlo estimate ``(1 + hits) / (1 + n_resamples)`` is returned.
    """
    d = np.array([x for x in diffs if x != 0], dtype=float)
    n = len(d)
    if n == 0:
        return 1.0
    observed = abs(d.sum())
    tol = 1e-12 * max(1.0, observed)
    if n <= EXACT_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        stats = np.abs(signs @ d)
        return float(np.mean(stats >= observed - tol))
    rng = rng or np.random.default_rng(0)
    signs = rng.choice((1.0, -1.0), size=(n_resamples, n))
    hits = int(np.sum(np.abs(signs @ d) >= observed - tol))
    return (1 + hits) / (1 + n_resamples)


@dataclass(frozen=True)
class Difference:
    diff: float
    ci_low: float
    ci_high: float
    p: float
    n_stimuli: int


def paired_difference(baseline: dict[str, list[float]], trained: dict[str, list[float]], *,
                      n_resamples: int = 2000, confidence: float = 0.95,
                      rng: np.random.Generator | None = None) -> Difference:
    """Trained minus baseline rate over the stimuli both have observations for.

    Per stimulus ``d_i = mean(trained_i) - mean(baseline_i)`` (the seeds of one stimulus
    stay together); the difference is ``mean(d)``, its CI a bootstrap over stimuli and
    its p-value :func:`sign_flip_pvalue`.
    """
    common = sorted(k for k in baseline if k in trained and baseline[k] and trained[k])
    if not common:
        return Difference(math.nan, math.nan, math.nan, math.nan, 0)
    d = np.array([np.mean(trained[k]) - np.mean(baseline[k]) for k in common], dtype=float)
    rng = rng or np.random.default_rng(0)
    idx = rng.integers(0, len(d), size=(n_resamples, len(d)))
    boot = d[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    p = sign_flip_pvalue(d, n_resamples=n_resamples, rng=rng)
    return Difference(float(d.mean()), float(lo), float(hi), p, len(d))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (NaNs stay NaN, not counted).

    Sorted ascending, ``p_(i)`` becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``.
    """
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(idx)
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa for an N x k table of counts (subjects x categories), each row summing
    to the same number of raters n >= 2. NaN when agreement by chance is perfect."""
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] == 0:
        return math.nan
    n = t.sum(axis=1)
    if not np.all(n == n[0]) or n[0] < 2:
        raise ValueError("every subject needs the same number (>= 2) of ratings")
    n = n[0]
    p_j = t.sum(axis=0) / t.sum()
    p_i = (np.sum(t * t, axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), np.sum(p_j ** 2)
    if p_e == 1:
        return math.nan
    return float((p_bar - p_e) / (1 - p_e))


# --- over score rows ----------------------------------------------------------------------------------
@dataclass
class Cell:
    substrate: str
    condition: str
    bank: str
    signal: str
    estimate: Estimate
    seeds: dict = field(default_factory=dict)
    per_seed: dict = field(default_factory=dict)
    undecided: int = 0


@dataclass
class Comparison:
    substrate: str
    condition: str
    bank: str
    signal: str
    baseline_rate: float
    trained_rate: float
    difference: Difference
    p_holm: float = math.nan


@dataclass
class Summary:
    cells: list[Cell]
    comparisons: list[Comparison]
    kappa: dict[tuple[str, str], dict]
    signals: list[str]
    banks: list[str]


def _value(row: dict, signal: str) -> float | None:
    if signal == JUDGE:
        j = row.get("judge")
        return None if not j or j.get("verdict") is None else float(j["verdict"])
    v = row.get("signals", {}).get(signal)
    return None if v is None else float(v)


def summarise(rows: Iterable[dict], *, n_resamples: int = 2000, seed: int = 0,
              confidence: float = 0.95) -> Summary:
    """Rates per substrate x condition x bank x signal, seed spread, baseline-vs-trained
    comparisons (Holm-adjusted over all of them) and per-substrate x condition Fleiss' kappa."""
    rows = list(rows)
    signals: list[str] = []
    for r in rows:
        for s in r.get("signals", {}):
            if s not in signals:
                signals.append(s)
    if any(r.get("judge") for r in rows):
        signals.append(JUDGE)
    banks = sorted({r["bank"] for r in rows})
    # (substrate, condition, bank, signal) -> stimulus -> [values]; and per seed
    obs: dict[tuple, dict[str, list[float]]] = {}
    per_seed: dict[tuple, dict[int, list[float]]] = {}
    undecided: dict[tuple, int] = {}
    for r in rows:
        for s in signals:
            key = (r["substrate"], r["condition"], r["bank"], s)
            v = _value(r, s)
            if v is None:
                undecided[key] = undecided.get(key, 0) + 1
                continue
            obs.setdefault(key, {}).setdefault(r["stimulus_id"], []).append(v)
            if r.get("seed") is not None:
                per_seed.setdefault(key, {}).setdefault(r["seed"], []).append(v)
    keys = sorted(set(obs) | set(undecided))
    cells = []
    for key in keys:
        clusters = obs.get(key, {})
        est = cluster_bootstrap(list(clusters.values()), n_resamples=n_resamples,
                                confidence=confidence, rng=_rng(seed, *key))
        seed_rates = {sd: float(np.mean(v)) for sd, v in sorted(per_seed.get(key, {}).items())}
        cells.append(Cell(*key, estimate=est, seeds=seed_variation(seed_rates) if seed_rates else {},
                          per_seed=seed_rates, undecided=undecided.get(key, 0)))
    comparisons = []
    for (sub, cond, bank, sig) in keys:
        if cond == BASELINE:
            continue
        base_key = (sub, BASELINE, bank, sig)
        if base_key not in obs:
            continue
        diff = paired_difference(obs[base_key], obs.get((sub, cond, bank, sig), {}),
                                 n_resamples=n_resamples, confidence=confidence,
                                 rng=_rng(seed, "diff", sub, cond, bank, sig))
        b = next(c for c in cells if (c.substrate, c.condition, c.bank, c.signal) == base_key)
        t = next(c for c in cells if (c.substrate, c.condition, c.bank, c.signal) == (sub, cond, bank, sig))
        comparisons.append(Comparison(sub, cond, bank, sig, b.estimate.rate, t.estimate.rate, diff))
    for c, p in zip(comparisons, holm([c.difference.p for c in comparisons])):
        c.p_holm = p
    return Summary(cells, comparisons, judge_agreement(rows), signals, banks)


def judge_agreement(rows: Iterable[dict]) -> dict[tuple[str, str], dict]:
    """Fleiss' kappa of the judges per (substrate, condition), over completions every judge rated."""
    tables: dict[tuple[str, str], list[list[int]]] = {}
    totals: dict[tuple[str, str], int] = {}
    for r in rows:
        j = r.get("judge")
        if not j or not j.get("votes"):
            continue
        key = (r["substrate"], r["condition"])
        totals[key] = totals.get(key, 0) + 1
        verdicts = [v.get("verdict") for v in j["votes"]]
        if len(verdicts) < 2 or any(v is None for v in verdicts):
            continue
        tables.setdefault(key, []).append([verdicts.count("yes"), verdicts.count("no")])
    out = {}
    for key, total in totals.items():
        table = tables.get(key, [])
        kappa = math.nan
        if table and len({sum(r) for r in table}) == 1:
            kappa = fleiss_kappa(table)
        out[key] = {"kappa": kappa, "n_rated_by_all": len(table), "n_completions": total}
    return out
