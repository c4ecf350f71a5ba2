"""PNG plots for the report (matplotlib, Agg backend, imported inside the functions)."""
from __future__ import annotations

import math
from pathlib import Path

from .stats import BASELINE, JUDGE, Summary

_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _runs(summary: Summary) -> list[tuple[str, str]]:
    """(substrate, condition) pairs, baseline first within each substrate."""
    pairs = sorted({(c.substrate, c.condition) for c in summary.cells},
                   key=lambda p: (p[0], p[1] != BASELINE, p[1]))
    return pairs


def plot_signal(summary: Summary, signal: str, path: Path, *, confidence: float = 0.95) -> Path:
    """One panel per bank: the rate of ``signal`` per substrate x condition, with CI error bars
    and each fine-tuning seed's own rate as a dot."""
    plt = _plt()
    runs = _runs(summary)
    conditions = sorted({c for _, c in runs}, key=lambda c: (c != BASELINE, c))
    color = {c: _COLORS[i % len(_COLORS)] for i, c in enumerate(conditions)}
    banks = summary.banks
    width = max(4.0, 1.0 + 0.75 * len(runs))
    fig, axes = plt.subplots(1, len(banks), figsize=(width * len(banks), 4.6), sharey=True,
                             squeeze=False)
    cells = {(c.substrate, c.condition, c.bank, c.signal): c for c in summary.cells}
    for ax, bank in zip(axes[0], banks):
        for x, (sub, cond) in enumerate(runs):
            cell = cells.get((sub, cond, bank, signal))
            if cell is None or math.isnan(cell.estimate.rate):
                ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=9, color="#555555")
                continue
            e = cell.estimate
            ax.bar(x, e.rate, width=0.7, color=color[cond], alpha=0.85)
            ax.errorbar(x, e.rate, yerr=[[e.rate - e.ci_low], [e.ci_high - e.rate]], fmt="none",
                        ecolor="black", elinewidth=1.2, capsize=5)
            if len(cell.per_seed) > 1:
                ax.scatter([x] * len(cell.per_seed), list(cell.per_seed.values()), s=18,
                           color="white", edgecolors="black", zorder=3, linewidths=0.8)
            top = max([e.ci_high, *cell.per_seed.values()])
            ax.text(x, min(top + 0.03, 1.03), f"{e.rate:.0%}", ha="center", va="bottom", fontsize=9)
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels([f"{s}\n{c}" for s, c in runs], fontsize=9)
        ax.set_title(f"bank: {bank}", fontsize=11)
        ax.set_ylim(0, 1.12)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_yticklabels(["0%", "25%", "50%", "75%", "100%"])
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_xlabel("substrate / condition")
    axes[0][0].set_ylabel("share of 'yes' panel verdicts" if signal == JUDGE
                          else f"share of completions with '{signal}'")
    fig.suptitle(f"Signal '{signal}': rate per substrate and condition\n"
                 f"(bars: rate; error bars: {confidence:.0%} cluster-bootstrap CI over stimuli; "
                 "dots: single fine-tuning seeds)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_differences(summary: Summary, substrate: str, path: Path, *,
                     confidence: float = 0.95) -> Path | None:
    """One panel per signal: trained minus baseline (percentage points) per condition x bank,
    with CIs; filled markers where the Holm-adjusted p is below 0.05."""
    comps = [c for c in summary.comparisons
             if c.substrate == substrate and not math.isnan(c.difference.diff)]
    if not comps:
        return None
    plt = _plt()
    signals = [s for s in summary.signals if any(c.signal == s for c in comps)]
    rows = sorted({(c.condition, c.bank) for c in comps})
    conditions = sorted({c for c, _ in rows})
    color = {c: _COLORS[(i + 1) % len(_COLORS)] for i, c in enumerate(conditions)}
    lim = max(5.0, max(100 * max(abs(c.difference.ci_low), abs(c.difference.ci_high)) for c in comps))
    fig, axes = plt.subplots(1, len(signals), figsize=(2.0 + 2.6 * len(signals), max(3.2, 1.8 + 0.38 * len(rows))),
                             sharey=True, squeeze=False)
    ys = {r: len(rows) - 1 - i for i, r in enumerate(rows)}
    by_key = {(c.condition, c.bank, c.signal): c for c in comps}
    for ax, sig in zip(axes[0], signals):
        for (cond, bank), y in ys.items():
            c = by_key.get((cond, bank, sig))
            if c is None:
                continue
            d = c.difference
            filled = not math.isnan(c.p_holm) and c.p_holm < 0.05
            ax.errorbar(100 * d.diff, y, xerr=[[100 * (d.diff - d.ci_low)], [100 * (d.ci_high - d.diff)]],
                        fmt="o", color=color[cond], ecolor=color[cond], capsize=3, markersize=6,
                        markerfacecolor=color[cond] if filled else "white")
        ax.axvline(0, color="#888888", linewidth=1, linestyle="--")
        ax.set_xlim(-lim * 1.1, lim * 1.1)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title(sig, fontsize=10)
        ax.set_xlabel("difference (pp)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(list(ys.values()))
    axes[0][0].set_yticklabels([f"{cond} | {bank}" for cond, bank in ys], fontsize=9)
    axes[0][0].set_ylabel("condition | bank")
    fig.suptitle(f"Substrate '{substrate}': trained minus baseline rate, percentage points\n"
                 f"({confidence:.0%} bootstrap CI over stimuli; filled: Holm-adjusted p < 0.05)",
                 fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path
