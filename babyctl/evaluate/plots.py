"""PNG plots for the report (matplotlib, Agg backend, imported inside the functions).

Every interval is drawn with the training seeds' own values beside it (hollow dots), so a
reader sees at once whether an effect is carried by every seed or by one.
"""
from __future__ import annotations

import math
from pathlib import Path

from .analysis import BASELINE, JUDGE, PRIMARY, Analysis

_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, plt, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_signal(a: Analysis, signal: str, path: Path, *, confidence: float = 0.95) -> Path:
    """One panel per bank: the rate of ``signal`` per substrate x condition with its interval
    (over seeds and stimuli) and each training seed's own rate as a hollow dot."""
    plt = _plt()
    arms = sorted({(r.substrate, r.condition) for r in a.rates}, key=lambda p: (p[0], p[1] != BASELINE, p[1]))
    conds = sorted({c for _, c in arms}, key=lambda c: (c != BASELINE, c))
    color = {c: _COLORS[i % len(_COLORS)] for i, c in enumerate(conds)}
    fig, axes = plt.subplots(1, len(a.banks), figsize=(max(4.0, 1.0 + 0.75 * len(arms)) * len(a.banks), 4.6),
                             sharey=True, squeeze=False)
    cells = {(r.substrate, r.condition, r.bank, r.signal): r for r in a.rates}
    for ax, bank in zip(axes[0], a.banks):
        for x, (sub, cond) in enumerate(arms):
            r = cells.get((sub, cond, bank, signal))
            if r is None or math.isnan(r.inference.estimate):
                ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=9, color="#555555")
                continue
            i = r.inference
            ax.errorbar(x - 0.12, i.estimate, yerr=[[i.estimate - i.ci_low], [i.ci_high - i.estimate]], fmt="o",
                        color=color[cond], ecolor="black", elinewidth=1.2, capsize=5, markersize=7)
            if r.per_seed:
                ax.scatter([x + 0.15] * len(r.per_seed), list(r.per_seed.values()), s=22, color="white",
                           edgecolors=color[cond], zorder=3, linewidths=1.2)
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels([f"{s}\n{c}" for s, c in arms], fontsize=9)
        ax.set_title(f"bank: {bank}", fontsize=11)
        ax.set_ylim(-0.03, 1.05)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_yticklabels(["0%", "25%", "50%", "75%", "100%"])
        ax.grid(axis="y", alpha=0.3)
        ax.set_xlabel("substrate / condition")
    axes[0][0].set_ylabel("share of 'yes' panel verdicts" if signal == JUDGE
                          else f"share of completions with '{signal}'")
    fig.suptitle(f"Signal '{signal}': rate per substrate and condition\n"
                 f"(filled: rate with {confidence:.0%} interval over seeds and stimuli; hollow: single "
                 "training seeds)", fontsize=11)
    return _save(fig, plt, path)


def plot_contrasts(a: Analysis, substrate: str, path: Path, *, confidence: float = 0.95) -> Path | None:
    """One panel per signal: each contrast x bank (percentage points) with its interval, and each
    seed of the first condition minus the second condition's rate as hollow dots; filled markers
    for the primary family."""
    comps = [c for c in a.contrasts if c.kind == "contrast" and c.substrate == substrate
             and not math.isnan(c.inference.estimate)]
    if not comps:
        return None
    plt = _plt()
    rate = {(r.substrate, r.condition, r.bank, r.signal): r for r in a.rates}
    signals = [s for s in a.signals if any(c.signal == s for c in comps)]
    rows = sorted({(c.contrast, c.bank) for c in comps})
    names = sorted({c for c, _ in rows})
    color = {c: _COLORS[(i + 1) % len(_COLORS)] for i, c in enumerate(names)}
    fig, axes = plt.subplots(1, len(signals), figsize=(max(7.5, 2.5 + 2.8 * len(signals)), max(3.4, 2.0 + 0.38 * len(rows))),
                             sharey=True, squeeze=False)
    ys = {r: len(rows) - 1 - i for i, r in enumerate(rows)}
    by = {(c.contrast, c.bank, c.signal): c for c in comps}
    for ax, sig in zip(axes[0], signals):
        for (name, bank), y in ys.items():
            c = by.get((name, bank, sig))
            if c is None:
                continue
            i = c.inference
            ax.errorbar(100 * i.estimate, y, xerr=[[100 * (i.estimate - i.ci_low)], [100 * (i.ci_high - i.estimate)]],
                        fmt="o", color=color[name], ecolor=color[name], capsize=3, markersize=6,
                        markerfacecolor=color[name] if c.family == PRIMARY else "white")
            cond, against = name.split(" - ")
            ra, rb = rate.get((substrate, cond, bank, sig)), rate.get((substrate, against, bank, sig))
            if ra is not None and rb is not None and ra.per_seed:
                xs = [100 * (v - rb.inference.estimate) for v in ra.per_seed.values()]
                ax.scatter(xs, [y - 0.22] * len(xs), s=16, color="white", edgecolors=color[name], zorder=3)
        ax.axvline(0, color="#888888", linewidth=1, linestyle="--")
        ax.set_xlim(-105, 105)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title(sig, fontsize=10)
        ax.set_xlabel("difference (pp)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(list(ys.values()))
    axes[0][0].set_yticklabels([f"{name} | {bank}" for name, bank in ys], fontsize=9)
    fig.suptitle(f"Substrate '{substrate}': contrasts, percentage points\n{confidence:.0%} interval over seeds "
                 "and stimuli; hollow dots: single seeds;\nfilled marker: primary family", fontsize=10)
    return _save(fig, plt, path)
