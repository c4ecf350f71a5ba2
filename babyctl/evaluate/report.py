"""``babyctl report``: statistics over every eval run, as Markdown, PNG plots and DVC metrics.

Reads ``eval/**/scores.jsonl`` (runs of the active substrates, conditions and
training seeds in params; other runs are listed as left out) and writes

* ``reports/report.md`` -- rates with CIs, seed spread, differences from baseline
  with Holm-adjusted p-values, judge agreement; neutral wording, checked by
  :func:`babyctl.wording.framing_findings` before anything is written;
* ``reports/plots/rates-<signal>.png`` and ``reports/plots/differences-<substrate>.png``;
* ``reports/provenance.json``;
* ``metrics/eval.json`` (``dvc metrics show``) and ``metrics/eval_rates.tsv`` (``dvc plots``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..consent import load_consent
from ..documents import read_jsonl
from ..study import Study, eval_root
from ..errors import BabyctlError, InputError, IntegrityError
from ..fsutil import atomic_dir, atomic_write_json, atomic_write_text
from ..provenance import base_fields, file_hash
from ..schemas.params import Params
from ..schemas.provenance import Provenance
from ..wording import framing_findings
from . import runs
from .judges import rubric_for
from .signals import DEFAULT_SIGNALS
from .stats import BASELINE, JUDGE, Summary, summarise


@dataclass
class ReportResult:
    written: list[Path] = field(default_factory=list)
    summary: Summary | None = None
    included: list[Path] = field(default_factory=list)
    left_out: list[Path] = field(default_factory=list)


# --- reading -----------------------------------------------------------------------------------------
def find_scores(root: Path, params: Params) -> tuple[list[Path], list[Path]]:
    """(included, left out) ``scores.jsonl`` files under ``eval/``: included are the baselines of
    active substrates and the runs of active substrates x active conditions x training seeds."""
    wanted = set()
    for s in params.active_substrates:
        wanted.add(runs.RunSpec(s).label)
        for c in params.active_conditions:
            for n in params.training.seeds:
                wanted.add(runs.RunSpec(s, c, n).label)
    included, left_out = [], []
    for path in sorted(eval_root(root).glob("**/" + runs.SCORES)):
        label = path.parent.relative_to(eval_root(root)).as_posix()
        (included if label in wanted else left_out).append(path)
    return included, left_out


def read_scores(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        for lineno, row in read_jsonl(path, "scores file"):
            for key in ("stimulus_id", "bank", "substrate", "condition", "signals"):
                if key not in row:
                    raise InputError(f"score row lacks {key!r}", path=path, line=lineno)
            rows.append(row)
    return rows


# --- formatting -------------------------------------------------------------------------------------
def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def _pct(x: float | None) -> str:
    return "n/a" if _num(x) is None else f"{100 * x:.1f}%"


def _pp(x: float | None) -> str:
    return "n/a" if _num(x) is None else f"{100 * x:+.1f}"


def _p(x: float | None) -> str:
    if _num(x) is None:
        return "n/a"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _direction(lo: float, hi: float) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return "n/a"
    if lo > 0:
        return "higher than baseline"
    if hi < 0:
        return "lower than baseline"
    return "CI includes 0"


# --- outputs --------------------------------------------------------------------------------------------
def metrics_json(summary: Summary, confidence: float) -> dict:
    """Nested metrics for ``dvc metrics show``: rates, differences, judge agreement."""
    rates: dict = {}
    for c in summary.cells:
        e = c.estimate
        entry = {"rate": _num(e.rate), "ci_low": _num(e.ci_low), "ci_high": _num(e.ci_high),
                 "n_stimuli": e.n_clusters, "n_obs": e.n_obs, "undecided": c.undecided}
        if c.seeds:
            entry["seed_sd"] = _num(c.seeds.get("sd"))
            entry["seed_range"] = _num(c.seeds.get("range"))
            entry["n_seeds"] = c.seeds.get("n_seeds")
        rates.setdefault(c.substrate, {}).setdefault(c.condition, {}).setdefault(c.bank, {})[c.signal] = entry
    diffs: dict = {}
    for c in summary.comparisons:
        d = c.difference
        diffs.setdefault(c.substrate, {}).setdefault(c.condition, {}).setdefault(c.bank, {})[c.signal] = {
            "difference": _num(d.diff), "ci_low": _num(d.ci_low), "ci_high": _num(d.ci_high),
            "p": _num(d.p), "p_holm": _num(c.p_holm), "n_stimuli": d.n_stimuli}
    kappa = {f"{s}/{c}": {"fleiss_kappa": _num(v["kappa"]), "n_rated_by_all": v["n_rated_by_all"],
                          "n_completions": v["n_completions"]}
             for (s, c), v in sorted(summary.kappa.items())}
    return {"confidence": confidence, "rates": rates, "differences": diffs, "judge_agreement": kappa}


def rates_tsv(summary: Summary) -> str:
    """One row per cell, for ``dvc plots`` (x: run, y: rate)."""
    head = "run\tsubstrate\tcondition\tbank\tsignal\trate\tci_low\tci_high\tn_stimuli\n"
    lines = []
    for c in summary.cells:
        e = c.estimate
        vals = [_num(e.rate), _num(e.ci_low), _num(e.ci_high)]
        lines.append("\t".join([f"{c.substrate}/{c.condition}", c.substrate, c.condition, c.bank, c.signal,
                                *("" if v is None else f"{v:.6f}" for v in vals), str(e.n_clusters)]))
    return head + "".join(line + "\n" for line in lines)


def render_markdown(summary: Summary, params: Params, root: Path, included: list[Path],
                    left_out: list[Path], plots: list[Path], consent_notes: list[str]) -> str:
    b = params.eval.bootstrap
    conf = f"{b.confidence:.0%}"
    signal_desc = {n: s.description for n, s in (params.eval.signals or DEFAULT_SIGNALS).items()}
    out = [f"# Evaluation report: {params.study}", "",
           "Generated by `babyctl report`. All numbers are shares of completions in which a signal "
           "occurs. This report describes differences between runs; it makes no judgement about them.",
           ""]
    if consent_notes:
        out += ["## Consent conditions that apply to this report", ""]
        out += [f"- {n}" for n in consent_notes] + [""]
    out += _consent_profile(params, root)
    out += ["## Method", "",
            f"- Completions: greedy decoding, `max_new_tokens` {params.eval.max_new_tokens}, the "
            "substrate's own chat template, one user turn per stimulus.",
            f"- Rate per substrate x condition x bank: share of completions with the signal; {conf} "
            f"CI from a percentile cluster bootstrap over stimuli ({b.n_resamples} resamples, seed "
            f"{b.seed}). All observations of one stimulus (every fine-tuning seed) are resampled "
            "together.",
            "- Seed spread: each fine-tuning seed's own rate; SD (n-1) and range across seeds, "
            "reported separately from the CI.",
            "- Difference from baseline: per stimulus, the mean over seeds minus the baseline value; "
            f"the mean of those, a {conf} bootstrap CI over stimuli, and a two-sided paired sign-flip "
            "permutation p-value (exact up to 16 non-zero differences), Holm-Bonferroni adjusted over "
            "every comparison in this report.",
            "- Judge verdicts (when judges are configured): the majority of the parsed votes; ties and "
            "unparsed answers are counted as undecided and left out of the rate. Agreement: Fleiss' "
            "kappa over completions every judge rated.", ""]
    out += ["### Signals", "", "| signal | what it marks |", "|---|---|"]
    for s in summary.signals:
        desc = signal_desc.get(s, "Judge panel verdict (yes = 1) on the bank's rubric question."
                               if s == JUDGE else "")
        out.append(f"| `{s}` | {desc} |")
    out.append("")
    if JUDGE in summary.signals:
        out += ["### Rubric questions", ""]
        for bank in summary.banks:
            out.append(f"- `{bank}`: {rubric_for(bank, root / params.stimuli_dir).question}")
        out.append("")
    subs = sorted({c.substrate for c in summary.cells})
    for sub in subs:
        out += [f"## Substrate `{sub}`", "", f"### Rates ({conf} CI)", ""]
        conds = sorted({c.condition for c in summary.cells if c.substrate == sub},
                       key=lambda c: (c != BASELINE, c))
        out += ["| bank | signal | " + " | ".join(conds) + " |", "|---|---|" + "---|" * len(conds)]
        for bank in summary.banks:
            for sig in summary.signals:
                vals = []
                for cond in conds:
                    cell = next((c for c in summary.cells if (c.substrate, c.condition, c.bank, c.signal)
                                 == (sub, cond, bank, sig)), None)
                    if cell is None:
                        vals.append("n/a")
                        continue
                    e = cell.estimate
                    vals.append(f"{_pct(e.rate)} [{_pct(e.ci_low)}, {_pct(e.ci_high)}] "
                                f"(n={e.n_clusters})")
                out.append(f"| {bank} | `{sig}` | " + " | ".join(vals) + " |")
        out.append("")
        seeded = [c for c in summary.cells if c.substrate == sub and c.seeds]
        if seeded:
            out += ["### Spread across fine-tuning seeds", "",
                    "| condition | bank | signal | seeds | per-seed rates | SD | range |",
                    "|---|---|---|---|---|---|---|"]
            for c in seeded:
                per = ", ".join(f"{k}: {_pct(v)}" for k, v in c.per_seed.items())
                sd = c.seeds.get("sd")
                out.append(f"| {c.condition} | {c.bank} | `{c.signal}` | {c.seeds['n_seeds']} | {per} | "
                           f"{'n/a (one seed)' if sd is None else _pct(sd)} | {_pct(c.seeds['range'])} |")
            out.append("")
        comps = [c for c in summary.comparisons if c.substrate == sub]
        if comps:
            out += ["### Differences from baseline", "",
                    f"Trained minus baseline, in percentage points, {conf} CI; p is the permutation "
                    "p-value, p (Holm) the adjusted one.", "",
                    "| condition | bank | signal | baseline | trained | difference [CI] | p | p (Holm) | "
                    "direction |", "|---|---|---|---|---|---|---|---|---|"]
            for c in comps:
                d = c.difference
                out.append(f"| {c.condition} | {c.bank} | `{c.signal}` | {_pct(c.baseline_rate)} | "
                           f"{_pct(c.trained_rate)} | {_pp(d.diff)} [{_pp(d.ci_low)}, {_pp(d.ci_high)}] | "
                           f"{_p(d.p)} | {_p(c.p_holm)} | {_direction(d.ci_low, d.ci_high)} |")
            out.append("")
    if summary.kappa:
        out += ["## Judge agreement (Fleiss' kappa)", "", "| run | kappa | rated by every judge | "
                "completions |", "|---|---|---|---|"]
        for (s, c), v in sorted(summary.kappa.items()):
            k = "n/a" if _num(v["kappa"]) is None else f"{v['kappa']:.3f}"
            out.append(f"| {s}/{c} | {k} | {v['n_rated_by_all']} | {v['n_completions']} |")
        out.append("")
    if plots:
        out += ["## Plots", ""]
        out += [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    out += ["## Inputs", ""]
    out += [f"- `{p.relative_to(root).as_posix()}`" for p in included]
    if left_out:
        out += ["", "Left out (not an active substrate, condition or seed in params.yaml):", ""]
        out += [f"- `{p.relative_to(root).as_posix()}`" for p in left_out]
    out.append("")
    return "\n".join(out)


def _consent_profile(params: Params, root: Path) -> list[str]:
    """The consent-profile section (table built by babyctl.consent: one home for consent)."""
    from ..consent import profile_table

    return ["## Consent profile", "",
            "Every consent record of every substrate, by chain (substrate x framing x decision x conditions); "
            "the last record of a chain governs.", "", profile_table(root, params), ""]


def consent_notes(params: Params, root: Path) -> list[str]:
    """Plain sentences for the consent conditions that bind reports of the active substrates."""
    notes = []
    for key in params.active_substrates:
        try:
            rec = load_consent(root / params.substrates[key].consent_record).record
        except BabyctlError:
            notes.append(f"`{key}`: consent record could not be read; see `babyctl audit`.")
            continue
        for cond in rec.conditions:
            if cond.scope not in ("study", "report", "evaluation", "publication"):
                continue
            if cond.kind == "no_improvement_framing":
                notes.append(f"`{key}` (record `{rec.id}`): results are described as differences only.")
            elif cond.kind == "non_metaphor_section":
                notes.append(f"`{key}` (record `{rec.id}`): results are reported literally; this "
                             "report uses no metaphor.")
    return notes


def build_report(study_or_params: Study | str | Path) -> ReportResult:
    """Write the report, plots and metrics; see the module docstring.

    ``study_or_params``: a loaded :class:`~babyctl.study.Study` or the path of params.yaml.
    """
    from .plots import plot_differences, plot_signal

    loaded = Study.of(study_or_params)
    params, root, params_path = loaded.params, loaded.root, loaded.shown_params_path
    included, left_out = find_scores(root, params)
    if not included:
        raise InputError("no scores of active runs found under eval/ (run: babyctl eval first)",
                         path=eval_root(root))
    rows = read_scores(included)
    b = params.eval.bootstrap
    summary = summarise(rows, n_resamples=b.n_resamples, seed=b.seed, confidence=b.confidence)
    plot_dir = root / "reports" / "plots"
    plot_paths = [plot_dir / f"rates-{s}.png" for s in summary.signals]
    diff_subs = sorted({c.substrate for c in summary.comparisons if not math.isnan(c.difference.diff)})
    diff_paths = {sub: plot_dir / f"differences-{sub}.png" for sub in diff_subs}
    will_plot = plot_paths + list(diff_paths.values())
    text = render_markdown(summary, params, root, included, left_out, will_plot,
                           consent_notes(params, root))
    findings = framing_findings(text)
    if findings:  # before writing anything: a report that breaks the wording condition is not written
        raise IntegrityError("report wording is not neutral (rename the signal or description in "
                             "params.yaml): " + "; ".join(str(f) for f in findings[:5]),
                             path=params_path or root)
    result = ReportResult(summary=summary, included=included, left_out=left_out)
    reports = root / "reports"
    prov = Provenance(**base_fields("babyctl report", root), inputs=[file_hash(p, root) for p in included],
                      seed=b.seed, params={"eval": {"bootstrap": b.model_dump(mode="json")},
                                           "active_substrates": params.active_substrates,
                                           "active_conditions": params.active_conditions,
                                           "training_seeds": params.training.seeds})
    with atomic_dir(reports) as tmp:  # the whole folder at once: no stale or half-written files
        tmp.chmod(0o755)
        for sig, path in zip(summary.signals, plot_paths):
            plot_signal(summary, sig, tmp / "plots" / path.name, confidence=b.confidence)
        for sub, path in diff_paths.items():
            plot_differences(summary, sub, tmp / "plots" / path.name, confidence=b.confidence)
        atomic_write_text(tmp / "report.md", text)
        atomic_write_json(tmp / "provenance.json", prov.model_dump(mode="json"))
    result.written += [*plot_paths, *diff_paths.values(), reports / "report.md", reports / "provenance.json"]
    result.written.append(atomic_write_json(root / "metrics" / "eval.json", metrics_json(summary, b.confidence)))
    result.written.append(atomic_write_text(root / "metrics" / "eval_rates.tsv", rates_tsv(summary)))
    return result
