"""Statistics for eval scores, in numpy + math only (no scipy).

The unit of inference
---------------------
A study's claim is about a *training procedure* (a condition) and a *population of stimuli*,
not about the particular adapters trained or the particular prompts written. So both training
seeds and stimuli are random factors, and they are **crossed**: every seed's adapter sees every
stimulus. Evaluation repeats (sampled completions) are nested within seed x stimulus.

For a score ``y[k, s, i, r]`` (arm ``k`` = substrate x condition, training seed ``s``, stimulus
``i``, repeat ``r``) we use the linear mixed model

    y = mu_k + a_ks + b_ki + e_ksi + r_ksir

with seed effects ``a`` independent across arms (each arm trains its own adapters), stimulus
effects ``b_ki`` shared and correlated across arms (the same prompts), interaction ``e`` and
repeat noise ``r``. A contrast ``D = sum_k w_k Ybar_k`` (e.g. treatment minus control) then has

    Var(D) = Var(mean_i z_i) + sum_k w_k^2 sigma_a,k^2 / S_k

where ``z_i = sum_k w_k ybar_k.i`` is the contrast at stimulus ``i``. :func:`crossed_inference`
estimates the first term from the spread of ``z_i`` over stimuli (it contains the stimulus,
interaction and repeat variance) and each seed term from the variance of the arm's seed means
over ``S_k``, an ANOVA mean-square estimator (Searle, Casella & McCulloch 1992, *Variance
Components*, ch. 4) that also carries the interaction noise over ``S_k I`` and so errs slightly
on the conservative side (:func:`seed_term`). The interval is ``D +- t * se`` with
Satterthwaite's (1946) degrees of freedom, the same construction as Clark's (1973) treatment of
"the language-as-fixed-effect fallacy": ignoring the seed term is exactly the error of treating
adapters as fixed. With fewer than 2 seeds in a trained arm the seed term cannot be estimated
and the interval covers stimulus (and repeat) sampling only: it describes these adapters, not
the training procedure (:attr:`Inference.seed_level` is False below 3 seeds).

The untrained baseline is one fixed model: it has no seed factor, but its stimuli (and repeats,
with sampling) are random, so it gets an interval too.

* :func:`crossed_inference` -- estimate, interval, p for a contrast of arms.
* :func:`variance_components` -- seed, stimulus, seed x stimulus, repeat, judge components.
* :func:`holm` -- Holm-Bonferroni adjusted p-values over a declared family.
* :func:`fleiss_kappa` -- agreement of a fixed number of raters (Fleiss 1971).
* :func:`t_sf`, :func:`t_ppf` -- Student t tail and quantile (regularised incomplete beta).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

METHOD = ("crossed random effects (training seeds x stimuli, repeats nested): ANOVA "
          "mean-square variance terms, t interval with Satterthwaite df (Clark 1973; Satterthwaite 1946; "
          "Searle, Casella & McCulloch 1992)")
#: fewest seeds per trained arm for inference at the level of training seeds to be reported as such
MIN_SEEDS = 3


# --- Student t without scipy --------------------------------------------------------------------------
def _betacf(a, b, x, iters: int = 300):
    """Continued fraction of the incomplete beta function (modified Lentz), vectorised."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = np.where(np.abs(d) < tiny, tiny, d)
    d = 1.0 / d
    h = d.copy()
    for m in range(1, iters + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        h = h * d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = d * c
        h = h * delta
        if np.all(np.abs(delta - 1.0) < 1e-14):
            break
    return h


def betainc(a, b, x):
    """Regularised incomplete beta I_x(a, b), vectorised over numpy arrays."""
    a, b, x = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float), np.asarray(x, float))
    x = np.clip(x, 0.0, 1.0)
    lbeta = (np.vectorize(math.lgamma)(a + b) - np.vectorize(math.lgamma)(a)
             - np.vectorize(math.lgamma)(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        front = np.exp(lbeta + a * np.log(np.where(x > 0, x, 1)) + b * np.log(np.where(x < 1, 1 - x, 1)))
        flip = x > (a + 1) / (a + b + 2)
        xs = np.where(flip, 1 - x, x)
        direct = front * _betacf(np.where(flip, b, a), np.where(flip, a, b), xs) / np.where(flip, b, a)
        out = np.where(flip, 1 - direct, direct)
    out = np.where(x <= 0, 0.0, np.where(x >= 1, 1.0, out))
    return out


def t_sf(t, df):
    """P(T > t) for Student's t with ``df`` degrees of freedom (``df`` may be inf)."""
    t, df = np.broadcast_arrays(np.asarray(t, float), np.asarray(df, float))
    finite = np.isfinite(df)
    safe_df = np.where(finite, df, 1.0)
    tail = 0.5 * betainc(safe_df / 2, 0.5, safe_df / (safe_df + t * t))
    sf_t = np.where(t > 0, tail, 1 - tail)
    normal = 0.5 * np.vectorize(math.erfc)(t / math.sqrt(2))
    return np.where(finite, sf_t, normal)


def t_ppf(q, df):
    """The ``q`` quantile of Student's t (bisection on :func:`t_sf`), vectorised."""
    q, df = np.broadcast_arrays(np.asarray(q, float), np.asarray(df, float))
    lo, hi = np.full(q.shape, -1e4), np.full(q.shape, 1e4)
    for _ in range(48):  # 2e4 / 2**48: below 1e-10
        mid = (lo + hi) / 2
        below = (1 - t_sf(mid, df)) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


# --- crossed seeds x stimuli -------------------------------------------------------------------------
@dataclass(frozen=True)
class Inference:
    """A contrast (or one arm's rate) with its interval and test."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    df: float
    p: float
    n_stimuli: int
    n_seeds: tuple[int, ...]
    seed_level: bool
    seed_var_share: float = math.nan  # share of Var(D) from the seed term

    @property
    def covers(self) -> str:
        """What the interval covers, in words."""
        if self.seed_level:
            return "training seeds and stimuli (the training procedure on this stimulus population)"
        return "stimulus and repeat sampling only: these particular adapters, not the training procedure"


def _nanvar(x: np.ndarray, axis: int) -> np.ndarray:
    n = np.sum(~np.isnan(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.nanmean(x, axis=axis, keepdims=True)
        return np.where(n > 1, np.nansum((x - m) ** 2, axis=axis) / np.maximum(n - 1, 1), np.nan)


def residual_ms(y: np.ndarray) -> np.ndarray:
    """Residual mean square of the additive seed + stimulus fit of ``y[..., S, I]`` (NaN = missing)."""
    with np.errstate(invalid="ignore"):
        rows = np.nanmean(y, axis=-1, keepdims=True)
        cols = np.nanmean(y, axis=-2, keepdims=True)
        grand = np.nanmean(y, axis=(-2, -1), keepdims=True)
    res = y - rows - cols + grand
    n = np.sum(~np.isnan(y), axis=(-2, -1))
    s = np.sum(np.any(~np.isnan(y), axis=-1), axis=-1)
    i = np.sum(np.any(~np.isnan(y), axis=-2), axis=-1)
    dof = n - s - i + 1
    return np.where(dof > 0, np.nansum(res ** 2, axis=(-2, -1)) / np.maximum(dof, 1), 0.0)


def seed_term(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Var(seed means) / S, S) for one arm's cell means ``y[..., S, I]``: the seed term of
    Var(D). It contains sigma_a^2 / S plus the seed x stimulus noise / (S * I); we keep that small
    second part (not subtracting the residual mean square) because the subtracted, truncated
    estimate gave intervals that were too narrow with 3-8 seeds in simulation (coverage 0.93,
    false positives 0.065), while this one errs on the safe side (0.96, 0.04); see
    tests/test_stats.py and docs/statistics.md."""
    with np.errstate(invalid="ignore"):
        means = np.nanmean(y, axis=-1)
    s = np.sum(~np.isnan(means), axis=-1)
    var_s = _nanvar(means, axis=-1)
    return np.where(s > 1, np.nan_to_num(var_s) / np.maximum(s, 1), 0.0), s


def crossed_arrays(arms: Sequence[tuple[float, np.ndarray]], confidence: float = 0.95):
    """Vectorised core of :func:`crossed_inference`: each ``y`` is ``[..., S_k, I]`` cell means
    over the same stimulus columns (complete). Returns arrays (estimate, se, df, low, high, p,
    seed share of the variance)."""
    z = sum(w * np.nanmean(y, axis=-2) for w, y in arms)
    n_i = z.shape[-1]
    est = z.mean(axis=-1)
    v_stim = z.var(axis=-1, ddof=1) / n_i if n_i > 1 else np.zeros_like(est)
    v = v_stim.copy()
    denom = v_stim ** 2 / max(n_i - 1, 1)
    v_seed = np.zeros_like(est)
    for w, y in arms:
        term, s = seed_term(y)
        term = w * w * term
        v_seed = v_seed + term
        v = v + term
        denom = denom + np.where(s > 1, term ** 2 / np.maximum(s - 1, 1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(denom > 0, v ** 2 / denom, np.inf)
        se = np.sqrt(v)
        tq = t_ppf(0.5 + confidence / 2, df)
        stat = np.where(se > 0, np.abs(est) / np.where(se > 0, se, 1), np.where(est == 0, 0.0, np.inf))
        p = np.where(np.isinf(stat), 0.0, 2 * t_sf(stat, df))
        share = np.where(v > 0, v_seed / np.where(v > 0, v, 1), 0.0)
    return est, se, df, est - tq * se, est + tq * se, np.minimum(p, 1.0), share


def crossed_inference(arms: Sequence[tuple[float, np.ndarray]], *, confidence: float = 0.95,
                      trained: Sequence[bool] | None = None,
                      bounds: tuple[float, float] | None = None) -> Inference:
    """A linear contrast of arms with seeds and stimuli as crossed random factors.

    ``arms`` holds ``(weight, y)`` with ``y[S_k, I]`` the arm's cell means (repeats averaged),
    NaN where a cell is missing; columns are the same stimuli in every arm. Stimuli missing from
    any arm are left out. ``trained`` marks arms that have training seeds (default: all with
    more than one row); ``bounds`` clips the interval to the feasible range (e.g. (0, 1) for a
    rate). See the module docstring for the method.
    """
    arrays = [(float(w), np.asarray(y, dtype=float)) for w, y in arms]
    if not arrays:
        raise ValueError("no arms")
    keep = np.ones(arrays[0][1].shape[1], dtype=bool)
    for _, y in arrays:
        keep &= np.any(~np.isnan(y), axis=0)
    arrays = [(w, y[:, keep]) for w, y in arrays]
    arrays = [(w, y[np.any(~np.isnan(y), axis=1)]) for w, y in arrays]
    n_i = int(keep.sum())
    seeds = tuple(int(y.shape[0]) for _, y in arrays)
    trained = list(trained) if trained is not None else [s > 1 for s in seeds]
    seed_level = all(s >= MIN_SEEDS for s, t in zip(seeds, trained) if t)
    if n_i < 2 or any(s == 0 for s in seeds):
        nan = math.nan
        return Inference(nan, nan, nan, nan, nan, nan, n_i, seeds, False)
    est, se, df, lo, hi, p, share = (float(x) for x in crossed_arrays(arrays, confidence))
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Inference(est, lo, hi, se, df, p, n_i, seeds, seed_level, share)


# --- variance components ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Components:
    """Variance components of one arm x bank x signal (method of moments, floored at 0)."""

    seed: float
    stimulus: float
    seed_x_stimulus: float
    repeat: float
    judge: float | None
    n_seeds: int
    n_stimuli: int
    mean_repeats: float

    def shares(self) -> dict[str, float | None]:
        parts = {"seed": self.seed, "stimulus": self.stimulus, "seed_x_stimulus": self.seed_x_stimulus,
                 "repeat": self.repeat, "judge": self.judge}
        total = sum(v for v in parts.values() if v is not None and not math.isnan(v))
        return {k: (None if v is None or math.isnan(v) or total <= 0 else v / total)
                for k, v in parts.items()}


def variance_components(cells: dict[tuple, list[float]], judge_votes: Sequence[Sequence[int]] = ()
                        ) -> Components:
    """Components from ``{(seed, stimulus): [values over repeats]}``; ``judge_votes`` holds each
    completion's parsed 0/1 judge votes (the judge component is their mean within-completion
    variance; None without votes)."""
    seeds = sorted({k[0] for k in cells}, key=str)
    stims = sorted({k[1] for k in cells})
    y = np.full((len(seeds), len(stims)), np.nan)
    within, reps = [], []
    for (s, i), vals in cells.items():
        if not vals:
            continue
        y[seeds.index(s), stims.index(i)] = float(np.mean(vals))
        reps.append(len(vals))
        if len(vals) > 1:
            within.append(float(np.var(vals, ddof=1)))
    r_bar = float(np.mean(reps)) if reps else math.nan
    repeat = float(np.mean(within)) if within else 0.0
    n_s, n_i = y.shape
    mse = float(residual_ms(y)) if n_s > 1 and n_i > 1 else 0.0
    seed = stim = 0.0
    if n_s > 1:
        seed = max(0.0, float(np.nanvar(np.nanmean(y, axis=1), ddof=1)) - mse / n_i)
    if n_i > 1:
        stim_var = float(np.nanvar(np.nanmean(y, axis=0), ddof=1))
        stim = max(0.0, stim_var - (mse if n_s > 1 else repeat / max(r_bar, 1)) / max(n_s, 1))
    sxi = max(0.0, mse - repeat / max(r_bar, 1)) if n_s > 1 else 0.0
    judge = None
    votes = [v for v in judge_votes if len(v) > 1]
    if votes:
        judge = float(np.mean([np.var(v, ddof=1) for v in votes]))
    return Components(seed, stim, sxi, repeat, judge, n_s, n_i, r_bar)


# --- families ------------------------------------------------------------------------------------------
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
