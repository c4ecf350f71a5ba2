"""Statistics: each method against a textbook result or a known distribution (fixed seeds)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from babyctl.evaluate.stats import (cluster_bootstrap, fleiss_kappa, holm, paired_difference,
                                    seed_variation, sign_flip_pvalue, summarise)

#: Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters,
#: 5 categories; P-bar = 0.378, P_e = 0.213, kappa = 0.210.
FLEISS_TABLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def test_fleiss_kappa_worked_example():
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.210, abs=0.0005)


def test_fleiss_kappa_limits():
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)  # perfect agreement
    # every subject split 1:1 between two raters: agreement below chance
    assert fleiss_kappa([[1, 1], [1, 1], [1, 1]]) == pytest.approx(-1.0)
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))  # one category only: chance agreement is 1
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 1], [1, 1]])  # unequal numbers of raters


def test_holm_textbook_example():
    # Wikipedia "Holm-Bonferroni method" example: four hypotheses, alpha 0.05
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p < 0.05 for p in adjusted] == [True, False, False, True]  # H1 and H4 rejected


def test_holm_caps_at_one_keeps_order_and_nans():
    out = holm([0.6, float("nan"), 0.7, 0.01])  # m = 3: 0.03, min(1, 1.2), max(1.0, 0.7)
    assert out[0] == 1.0 and out[2] == 1.0 and out[3] == pytest.approx(0.03)
    assert holm([0.5, 0.4, 0.001]) == pytest.approx([0.8, 0.8, 0.003])  # monotone step-down
    assert math.isnan(out[1])


def test_exact_sign_flip_pvalues():
    # all n differences positive: only the all-plus and all-minus patterns are as extreme
    assert sign_flip_pvalue([1, 1, 1, 1, 1]) == pytest.approx(2 / 32)
    assert sign_flip_pvalue([1] * 10) == pytest.approx(2 / 1024)
    assert sign_flip_pvalue([0, 0, 1, 0, 1]) == pytest.approx(2 / 4)  # zeros carry no sign
    assert sign_flip_pvalue([1, -1]) == 1.0 and sign_flip_pvalue([0, 0]) == 1.0


def test_sign_flip_is_calibrated_under_the_null():
    """Under H0 (symmetric differences) about 5% of tests reject at 0.05."""
    rng = np.random.default_rng(11)
    ps = [sign_flip_pvalue(rng.choice([-1, 0, 1], size=40), n_resamples=400, rng=rng) for _ in range(400)]
    rejected = np.mean(np.array(ps) < 0.05)
    assert 0.02 <= rejected <= 0.09
    # and it has power against a clear shift
    ps = [sign_flip_pvalue(rng.choice([-1, 1], p=[0.2, 0.8], size=40), n_resamples=400, rng=rng)
          for _ in range(50)]
    assert np.mean(np.array(ps) < 0.05) > 0.9


def test_bootstrap_ci_covers_a_binomial_rate_near_nominal():
    rng = np.random.default_rng(2024)
    p, n, reps = 0.3, 120, 300
    covered = 0
    for _ in range(reps):
        data = rng.random(n) < p
        est = cluster_bootstrap([[float(x)] for x in data], n_resamples=1000, rng=rng)
        covered += est.ci_low <= p <= est.ci_high
    assert 0.91 <= covered / reps <= 0.98


def test_cluster_bootstrap_is_wider_than_naive_when_clusters_are_correlated():
    rng = np.random.default_rng(5)
    # 60 stimuli x 5 seeds; every seed of a stimulus gives the same answer (perfect correlation)
    clusters = [[float(rng.random() < 0.4)] * 5 for _ in range(60)]
    cl = cluster_bootstrap(clusters, rng=np.random.default_rng(1))
    naive = cluster_bootstrap([[x] for c in clusters for x in c], rng=np.random.default_rng(1))
    assert cl.rate == pytest.approx(naive.rate)
    ratio = (cl.ci_high - cl.ci_low) / (naive.ci_high - naive.ci_low)
    assert 1.8 < ratio < 2.8  # ~ sqrt(5) = 2.24 (design effect of 5 for perfect correlation)
    assert (cl.n_clusters, cl.n_obs) == (60, 300)


def test_cluster_bootstrap_edge_cases():
    est = cluster_bootstrap([[1.0], [1.0], [1.0]])
    assert (est.rate, est.ci_low, est.ci_high) == (1.0, 1.0, 1.0)
    assert math.isnan(cluster_bootstrap([]).rate)


def test_seed_variation():
    v = seed_variation({1: 0.2, 2: 0.4, 3: 0.6})
    assert v["sd"] == pytest.approx(0.2) and v["range"] == pytest.approx(0.4) and v["n_seeds"] == 3
    assert seed_variation({1: 0.5})["sd"] is None


def test_paired_difference_ci_and_p():
    base = {f"s{i}": [0.0] for i in range(30)}
    trained = {f"s{i}": [1.0, 1.0] if i < 15 else [0.0, 0.0] for i in range(30)}
    d = paired_difference(base, trained, rng=np.random.default_rng(0))
    assert d.diff == pytest.approx(0.5) and d.n_stimuli == 30
    assert 0.28 <= d.ci_low <= 0.36 and 0.64 <= d.ci_high <= 0.72  # normal approx: 0.5 +- 0.18
    assert d.p == pytest.approx(2 / 2 ** 15)  # 15 non-zero differences, exact enumeration
    same = paired_difference(base, {k: [0.0] for k in base})
    assert same.diff == 0 and same.p == 1.0


def _row(sub, cond, seed, sid, bank, refusal, votes=None):
    judge = None
    if votes is not None:
        yes, no = votes.count("yes"), votes.count("no")
        judge = {"verdict": None if yes == no else int(yes > no),
                 "votes": [{"verdict": v} for v in votes]}
    return {"substrate": sub, "condition": cond, "seed": seed, "stimulus_id": sid, "bank": bank,
            "signals": {"refusal": refusal}, "judge": judge}


def test_summarise_cells_seeds_comparisons_and_kappa():
    rows = []
    for i in range(20):
        rows.append(_row("s", "baseline", None, f"q{i}", "b", 0, ["yes", "yes", "no"]))
        for seed in (1, 2):
            rows.append(_row("s", "core", seed, f"q{i}", "b", int(i < (10 if seed == 1 else 6)),
                             ["yes", "yes", "yes"] if i % 2 else
                             ["no", "no", "no"] if i % 4 == 0 else ["no", None, "no"]))
    s = summarise(rows, n_resamples=500)
    assert s.signals == ["refusal", "judge"] and s.banks == ["b"]
    cell = {(c.condition, c.signal): c for c in s.cells}
    core = cell[("core", "refusal")]
    assert core.estimate.rate == pytest.approx(16 / 40) and core.estimate.n_clusters == 20
    assert core.per_seed == {1: 0.5, 2: 0.3} and core.seeds["range"] == pytest.approx(0.2)
    assert cell[("baseline", "refusal")].seeds == {}
    assert cell[("core", "judge")].undecided == 0 and cell[("baseline", "judge")].estimate.rate == 1.0
    comp = {c.signal: c for c in s.comparisons}
    assert comp["refusal"].difference.diff == pytest.approx(0.4)
    assert all(c.p_holm >= c.difference.p for c in s.comparisons)
    k = s.kappa[("s", "core")]
    assert k["n_rated_by_all"] == 30 and k["n_completions"] == 40  # the votes with None are left out
    assert k["kappa"] == pytest.approx(1.0)
    assert s.kappa[("s", "baseline")]["kappa"] < 0  # 2:1 split on every stimulus


def test_summarise_is_reproducible():
    rows = [_row("s", "baseline", None, f"q{i}", "b", i % 3 == 0) for i in range(30)]
    a, b = summarise(rows, seed=3), summarise(rows, seed=3)
    assert a.cells[0].estimate == b.cells[0].estimate
