"""Machine-readable outputs of ``babyctl report``.

* ``metrics/eval.json`` -- one record per contrast (estimate, interval, p, adjusted p, family,
  method), the per-arm rates, judge tallies and the pre-registration deviations;
* ``metrics/headline/<substrate>.<A>-vs-<B>.<bank>.<signal>.json`` -- one small file per primary
  contrast (four numbers), so ``dvc metrics show`` prints one narrow row per primary contrast;
* ``metrics/rates.tsv``, ``metrics/contrasts.tsv`` -- every interval plus a row per training seed
  (``kind`` = ``estimate`` | ``seed``), for ``dvc plots`` with ``plots/interval.json``;
* ``metrics/variance.tsv`` -- the variance components.
"""
from __future__ import annotations

import math

from .analysis import Analysis, ContrastResult


def num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def _inf(i) -> dict:
    return {"estimate": num(i.estimate), "ci_low": num(i.ci_low), "ci_high": num(i.ci_high),
            "se": num(i.se), "df": None if math.isinf(i.df) else num(i.df), "p": num(i.p),
            "n_stimuli": i.n_stimuli, "n_seeds": list(i.n_seeds), "seed_level": i.seed_level}


def eval_json(a: Analysis, *, confidence: float, complete: bool, missing: list[str],
              deviations: list[dict], locked: bool) -> dict:
    records = [{"id": c.id, "kind": c.kind, "substrate": c.substrate, "contrast": c.contrast, "bank": c.bank,
                "signal": c.signal, **_inf(c.inference), "p_adjusted": num(c.p_adjusted),
                "adjustment": f"holm over the {c.family} family ({c.family_size} tests)",
                "family": c.family, "method": a.method} for c in a.contrasts]
    rates = [{"substrate": r.substrate, "condition": r.condition, "bank": r.bank, "signal": r.signal,
              **_inf(r.inference), "per_seed": {str(k): num(v) for k, v in r.per_seed.items()},
              "n_obs": r.n_obs, "undecided": r.undecided,
              "variance": r.components.shares() if r.components else None} for r in a.rates]
    judges = [{"substrate": j.substrate, "condition": j.condition, "bank": j.bank, "n": j.n, "yes": j.yes,
               "no": j.no, "ties": j.ties, "unparsed": j.unparsed, "parse_failures": j.parse_failures,
               "rate_if_undecided_no": num(j.rate_low), "rate_if_undecided_yes": num(j.rate_high),
               "fleiss_kappa": num(j.kappa), "n_rated_by_all": j.n_rated_by_all} for j in a.judges]
    return {"confidence": confidence, "method": a.method, "confirmatory": a.confirmatory,
            "preregistered": locked, "complete": complete, "missing": missing, "records": records,
            "rates": rates, "judges": judges, "deviations": deviations}


def arm_rates(data: dict, substrate: str, condition: str) -> list[tuple[str, str, float]]:
    """(bank, signal, rate) of one arm from a ``metrics/eval.json`` (pooled over the arm's seeds)."""
    rates = data.get("rates")
    out = []
    for r in rates if isinstance(rates, list) else []:
        v = r.get("estimate") if isinstance(r, dict) else None
        if r.get("substrate") == substrate and r.get("condition") == condition and \
                isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((str(r.get("bank")), str(r.get("signal")), float(v)))
    return sorted(out)


def contrasts_for(data: dict, substrate: str, condition: str) -> list[tuple[str, str]]:
    """(measure, value) rows of a ``metrics/eval.json`` for one substrate's condition (on either side
    of a contrast), for the model card: ``core - neutral | jailbreak | refusal (primary)`` ->
    ``+0.120 [-0.030, +0.270], p 0.120, adjusted p 0.120``."""
    def f(x) -> str:
        return "n/a" if x is None else f"{x:+.3f}"

    def p(x) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    out = []
    for r in data.get("records", []):
        if r.get("kind") != "contrast" or r.get("substrate") != substrate:
            continue
        if condition not in str(r.get("contrast", "")).split(" - "):
            continue
        out.append((f"{r['contrast']} | {r['bank']} | {r['signal']} ({r['family']})",
                    f"{f(r.get('estimate'))} [{f(r.get('ci_low'))}, {f(r.get('ci_high'))}], p {p(r.get('p'))}, "
                    f"adjusted p {p(r.get('p_adjusted'))}"))
    return out


def headline_name(c: ContrastResult) -> str:
    a, b = c.contrast.split(" - ")
    return f"{c.substrate}.{a}-vs-{b}.{c.bank}.{c.signal}.json"


def headline(a: Analysis, primary_names: set[str], params_primary) -> dict[str, dict]:
    """File name -> four numbers, for each contrast of the declared primary family (labelled
    exploratory when there is no lock: the numbers are the same, their status is not)."""
    out = {}
    for c in a.contrasts:
        if c.kind != "contrast" or c.contrast not in primary_names or c.signal not in params_primary.signals:
            continue
        if params_primary.banks and c.bank not in params_primary.banks:
            continue
        i = c.inference
        out[headline_name(c)] = {"diff": num(i.estimate), "lo": num(i.ci_low), "hi": num(i.ci_high),
                                 "p_adj": num(c.p_adjusted)}
    return out


def _f(x) -> str:
    v = num(x)
    return "" if v is None else f"{v:.6f}"


def rates_tsv(a: Analysis) -> str:
    head = "label\tarm\tbank\tsignal\tkind\tseed\tvalue\tci_low\tci_high\n"
    lines = []
    for r in a.rates:
        arm = f"{r.substrate}/{r.condition}"
        label = f"{arm} | {r.bank} | {r.signal}"
        i = r.inference
        lines.append([label, arm, r.bank, r.signal, "estimate", "", _f(i.estimate), _f(i.ci_low), _f(i.ci_high)])
        for seed, v in r.per_seed.items():
            lines.append([label, arm, r.bank, r.signal, "seed", str(seed), _f(v), "", ""])
    return head + "".join("\t".join(x) + "\n" for x in lines)


def contrasts_tsv(a: Analysis) -> str:
    """Every contrast's interval, plus one row per training seed of its first arm: that seed's
    rate minus the other arm's rate (the per-seed points beside the interval)."""
    rate = {(r.substrate, r.condition, r.bank, r.signal): r for r in a.rates}
    head = "label\tid\tfamily\tkind\tseed\tvalue\tci_low\tci_high\tp\tp_adjusted\n"
    lines = []
    for c in a.contrasts:
        label = f"{c.substrate} | {c.contrast} | {c.bank} | {c.signal} ({c.family})"
        i = c.inference
        lines.append([label, c.id, c.family, "estimate", "", _f(i.estimate), _f(i.ci_low), _f(i.ci_high),
                      _f(i.p), _f(c.p_adjusted)])
        if c.kind != "contrast":
            continue
        cond, against = c.contrast.split(" - ")
        ra, rb = rate.get((c.substrate, cond, c.bank, c.signal)), rate.get((c.substrate, against, c.bank, c.signal))
        if ra is None or rb is None:
            continue
        for seed, v in ra.per_seed.items():
            lines.append([label, c.id, c.family, "seed", str(seed), _f(v - rb.inference.estimate), "", "", "", ""])
    return head + "".join("\t".join(x) + "\n" for x in lines)


def variance_tsv(a: Analysis) -> str:
    head = "arm\tbank\tsignal\tcomponent\tvariance\tshare\n"
    lines = []
    for r in a.rates:
        if r.components is None:
            continue
        comp = r.components
        shares = comp.shares()
        for name in ("seed", "stimulus", "seed_x_stimulus", "repeat", "judge"):
            v = getattr(comp, name)
            if v is None:
                continue
            lines.append([f"{r.substrate}/{r.condition}", r.bank, r.signal, name, _f(v), _f(shares[name])])
    return head + "".join("\t".join(x) + "\n" for x in lines)

