"""``babyctl report``: the study's contrasts, as Markdown, PNG plots and DVC metrics.

Reads ``eval/**/scores.jsonl`` of the active substrates, conditions and training seeds (other
runs are listed as left out) and refuses -- or, with ``allow_incomplete``, reports as
INCOMPLETE -- when any of those runs is missing, interrupted (``.partial``) or short of
stimulus count x ``eval.repeats`` rows. Then it writes

* ``reports/report.md`` -- the test status (pre-registered or exploratory), the method with its
  citations, the declared contrasts with intervals over seeds and stimuli, the primary family's
  Holm-adjusted p-values and everything else labelled exploratory, substrate x condition
  interactions, rates with each seed's own rate, variance tables, judge ties and agreement, and
  the deviations from the pre-registration. Wording is checked by
  :func:`babyctl.wording.framing_findings` before anything is written;
* ``reports/plots/*.png`` and ``reports/provenance.json``;
* the files of :mod:`babyctl.evaluate.metrics` under ``metrics/``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .. import prereg
from ..consent import load_consent
from ..documents import read_jsonl
from ..study import Study, eval_root
from ..errors import BabyctlError, InputError, IntegrityError
from ..fsutil import atomic_dir, atomic_write_json, atomic_write_text
from ..capability import result_files as capability_files, score_rows as capability_rows
from ..geometry import design_sections
from ..provenance import base_fields, file_hash
from ..schemas.params import Params
from ..schemas.provenance import Provenance
from ..wording import framing_findings
from . import metrics, runs
from .analysis import BASELINE, JUDGE, PRIMARY, Analysis, analyse, primary_contrasts
from .judges import rubric_for
from .signals import DEFAULT_SIGNALS
from .stats import MIN_SEEDS


@dataclass
class ReportResult:
    written: list[Path] = field(default_factory=list)
    analysis: Analysis | None = None
    included: list[Path] = field(default_factory=list)
    left_out: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


# --- reading -----------------------------------------------------------------------------------------
def wanted_runs(params: Params) -> list[runs.RunSpec]:
    """The runs of the active matrix: baselines, trained condition x seed runs, prompted arms."""
    return runs.active_runs(params)


def find_scores(root: Path, params: Params) -> tuple[list[Path], list[Path]]:
    """(included, left out) ``scores.jsonl`` files under ``eval/``: included are the baselines of
    active substrates and the runs of active substrates x active conditions x training seeds."""
    wanted = {r.label for r in runs.active_runs(params)}
    included, left_out = [], []
    for path in sorted(eval_root(root).glob("**/" + runs.SCORES)):
        label = path.parent.relative_to(eval_root(root)).as_posix()
        (included if label in wanted else left_out).append(path)
    return included, left_out


def _rows(path: Path, what: str, need: tuple[str, ...]) -> list[dict]:
    rows = []
    for lineno, row in read_jsonl(path, what):
        for key in need:
            if key not in row:
                raise InputError(f"{what} row lacks {key!r}", path=path, line=lineno)
        rows.append(row)
    return rows


def read_scores(paths: list[Path]) -> list[dict]:
    return [r for p in paths for r in _rows(p, "scores file", ("stimulus_id", "bank", "substrate",
                                                               "condition", "signals"))]


def completeness(root: Path, params: Params) -> list[str]:
    """What is missing: for every wanted run, completions and scores must both hold every
    stimulus x repeat of the eval banks, with no interrupted ``.partial`` file left."""
    from .stimuli import load_stimuli

    ids = [s.stimulus.id for s in load_stimuli(root / params.stimuli_dir, params.eval.banks or None)]
    reps = params.eval.repeats
    want = {(i, r) for i in ids for r in range(reps)}
    out = []
    for run in wanted_runs(params):
        d = run.eval_dir(root)
        for name in (runs.COMPLETIONS, runs.SCORES):
            path = d / name
            rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
            if (d / (name + ".partial")).exists():
                out.append(f"{rel}: interrupted ({name}.partial is present; rerun babyctl eval)")
            if not path.is_file():
                out.append(f"{rel}: missing (run: babyctl eval for {run.label})")
                continue
            try:
                have = {(r.get("stimulus_id"), r.get("repeat", 0)) for r in _rows(path, name, ())}
            except InputError as e:
                out.append(f"{rel}: unreadable ({e.message})")
                continue
            lack = want - have
            if lack:
                sample = ", ".join(f"{i}#{r}" for i, r in sorted(lack)[:3])
                out.append(f"{rel}: {len(want) - len(lack)} of {len(want)} rows (stimuli x {reps} "
                           f"repeat{'s' if reps > 1 else ''}); missing {len(lack)}, e.g. {sample}")
    return out


# --- formatting -------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "n/a" if metrics.num(x) is None else f"{100 * x:.1f}%"


def _pp(x) -> str:
    return "n/a" if metrics.num(x) is None else f"{100 * x:+.1f}"


def _p(x) -> str:
    if metrics.num(x) is None:
        return "n/a"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _direction(lo: float, hi: float) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return "n/a"
    if lo > 0:
        return "above 0"
    if hi < 0:
        return "below 0"
    return "interval includes 0"


def _seeds_text(params: Params, a: Analysis) -> list[str]:
    n = len(params.training.seeds)
    conf = f"{params.eval.bootstrap.confidence:.0%}"
    if n >= MIN_SEEDS:
        return [f"- Training seeds: {n} per condition. Intervals and tests treat seeds and stimuli as "
                "random, crossed factors, so they describe the training procedure on this stimulus "
                "population, not only these adapters."]
    why = ("With one seed the between-seed variance cannot be estimated at all" if n == 1 else
           f"With {n} seeds the between-seed variance is estimated from {n - 1} degree(s) of freedom, "
           "so the t quantile is very large")
    return [f"- **Seed-level inference is not possible: fewer than {MIN_SEEDS} training seeds per "
            f"condition ({n}).** {why}. "
            + ("The intervals therefore cover stimulus (and repeat) sampling only: they describe "
               "these particular adapters, not the training procedure. "
               if n == 1 else
               f"The {conf} intervals include the seed term but are very wide, and they rest on a "
               "variance estimated from too few seeds to check. ")
            + f"Train at least {MIN_SEEDS} seeds per condition (training.seeds) for inference about "
            "the training procedure."]


def _method(params: Params, a: Analysis) -> list[str]:
    ev = params.eval
    conf = f"{ev.bootstrap.confidence:.0%}"
    if ev.sampling.temperature > 0:
        dec = (f"sampling (temperature {ev.sampling.temperature:g}, top_p {ev.sampling.top_p:g}), "
               f"{ev.repeats} repeat(s) per stimulus, each with its own sampling seed derived from "
               f"base seed {ev.sampling.seed}")
    else:
        dec = "greedy decoding, one completion per stimulus"
    return ["## Method", "",
            f"- Completions: {dec}; `max_new_tokens` {ev.max_new_tokens}; the substrate's own chat "
            "template, one user turn per stimulus; generation stops at the substrate's end-of-turn "
            "tokens and the completion is cut there.",
            "- Unit of inference: training seeds and stimuli are random, crossed factors (every "
            "seed's adapter answers every stimulus); evaluation repeats are nested within seed x "
            "stimulus and averaged there. A contrast's variance is the spread over stimuli of the "
            "per-stimulus contrast plus, for each trained arm, the variance of its seed means over its "
            "number of seeds (ANOVA mean squares: Searle, Casella & McCulloch 1992; slightly "
            "conservative). The "
            f"{conf} interval is estimate +- t x SE with Satterthwaite (1946) degrees of freedom; "
            "p is the two-sided t test. Treating stimuli as random follows Clark (1973); treating "
            "seeds as random is the same argument for adapters. The untrained baseline is one fixed "
            "model: its interval covers stimuli (and repeats). Intervals are clipped to the feasible "
            "range. See docs/statistics.md.",
            *_seeds_text(params, a),
            "- Contrasts: `analysis.contrasts` in params.yaml, by default each treatment condition "
            "against each control condition of the same substrate, then each condition against "
            "baseline. With more than one substrate, each contrast's difference between substrates "
            "(substrate x condition interaction) is reported as exploratory.",
            f"- Families: the primary family is the primary contrasts x `analysis.primary` signals x "
            f"banks; Holm-Bonferroni at alpha {params.analysis.alpha:g} runs over it. Every other test "
            "is exploratory: its Holm adjustment runs over the exploratory family only and it is "
            "labelled so here and in metrics/eval.json.",
            "- Judge verdicts (when judges are configured): the majority of the parsed votes. Ties "
            "and answers that did not parse are counted per arm and left out of the rate; the "
            "sensitivity bounds give the rate if every undecided verdict were no, then yes. "
            "Agreement: Fleiss' kappa per arm and bank.", ""]


def render_markdown(a: Analysis, params: Params, root: Path, included: list[Path], left_out: list[Path],
                    plots: list[Path], consent: list[str], st: prereg.State, missing: list[str]) -> str:
    conf = f"{params.eval.bootstrap.confidence:.0%}"
    signal_desc = {n: s.description for n, s in (params.eval.signals or DEFAULT_SIGNALS).items()}
    out = [f"# Evaluation report: {params.study}", "",
           "Generated by `babyctl report`. All numbers are shares of completions in which a signal "
           "occurs. This report describes differences between runs; it makes no judgement about them.", ""]
    if missing:
        out += ["## INCOMPLETE: runs with missing rows", "",
                "This report was written with `--allow-incomplete`. These inputs are missing or short; "
                "the numbers below leave them out:", ""]
        out += [f"- {m}" for m in missing] + [""]
    if consent:
        out += ["## Consent conditions that apply to this report", ""]
        out += [f"- {n}" for n in consent] + [""]
    out += _consent_profile(params, root)
    prim = [c for c in a.contrasts if c.family == PRIMARY]
    out += ["## Status of the tests", ""]
    if not st.locked:
        out += ["- **Exploratory.** The study has no pre-registration lock "
                f"(`{prereg.LOCK.as_posix()}`), so every test below is exploratory, whatever "
                "`analysis.primary` declares. Run `babyctl prereg lock` before evaluating to "
                "register the plan."]
    else:
        out += [f"- Pre-registered: locked {st.lock.locked_at.date().isoformat()}; "
                f"{len(st.unexplained)} unexplained deviation(s) (see the last section).",
                f"- Primary family: {len(prim)} test(s), Holm-adjusted over that family."]
    out += [f"- Exploratory: {sum(c.family != PRIMARY for c in a.contrasts)} test(s).", ""]
    out += _method(params, a)
    out += ["### Signals", "", "| signal | what it marks |", "|---|---|"]
    for s in a.signals:
        desc = signal_desc.get(s, "Judge panel verdict (yes = 1) on the bank's rubric question."
                               if s == JUDGE else "")
        out.append(f"| `{s}` | {desc} |")
    out.append("")
    if JUDGE in a.signals:
        out += ["### Rubric questions", ""]
        out += [f"- `{bank}`: {rubric_for(bank, root / params.stimuli_dir).question}" for bank in a.banks]
        out.append("")
    out += _contrast_tables(a, conf)
    out += _rate_tables(a, conf)
    out += _variance_tables(a)
    out += _judge_table(a)
    out += prereg.markdown(st)
    out += design_sections(params, root)  # training geometry, capability check (babyctl.geometry, issue 18)
    if plots:
        out += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    out += ["## Inputs", ""] + [f"- `{p.relative_to(root).as_posix()}`" for p in included]
    if left_out:
        out += ["", "Left out (not an active substrate, condition or seed in params.yaml):", ""]
        out += [f"- `{p.relative_to(root).as_posix()}`" for p in left_out]
    out.append("")
    return "\n".join(out)


def _contrast_row(c, conf: str) -> str:
    i = c.inference
    seeds = "/".join(str(n) for n in i.n_seeds)
    return (f"| {c.family} | {c.substrate} | {c.contrast} | {c.bank} | `{c.signal}` | "
            f"{_pp(i.estimate)} [{_pp(i.ci_low)}, {_pp(i.ci_high)}] | {_p(i.p)} | {_p(c.p_adjusted)} | "
            f"{seeds} | {_direction(i.ci_low, i.ci_high)} |")


def _contrast_tables(a: Analysis, conf: str) -> list[str]:
    out = []
    head = ["| family | substrate | contrast | bank | signal | difference, pp [" + conf + " CI] | p | "
            "p (Holm, family) | seeds per arm | interval |", "|---|---|---|---|---|---|---|---|---|---|"]
    contrasts = [c for c in a.contrasts if c.kind == "contrast"]
    if contrasts:
        order = sorted(contrasts, key=lambda c: (c.family != PRIMARY, c.contrast.endswith(" - " + BASELINE),
                                                 c.substrate, c.contrast, c.bank, c.signal))
        out += ["## Contrasts", "",
                "First condition minus second, in percentage points; treatment-against-control "
                "contrasts first, then each condition against baseline. `exploratory` marks every "
                "test outside the pre-registered primary family.", ""] + head
        out += [_contrast_row(c, conf) for c in order] + [""]
        seedy = [c for c in order if c.inference.seed_var_share > 0.5 and not math.isnan(c.inference.estimate)]
        if seedy:
            out += ["Why some intervals are wide: in these contrasts most of the variance comes from "
                    "disagreement between training seeds (the seed term), so the interval reflects how "
                    "differently the seeds' adapters behave, not how many stimuli were asked:", ""]
            for c in seedy[:12]:
                per = ", ".join(f"{k}: {_pct(v)}" for k, v in (_per_seed(a, c) or {}).items())
                out.append(f"- {c.substrate} {c.contrast}, {c.bank}, `{c.signal}`: seed term "
                           f"{c.inference.seed_var_share:.0%} of the variance"
                           + (f"; per-seed rates {per}" if per else "") + ".")
            out.append("")
    inter = [c for c in a.contrasts if c.kind == "interaction"]
    if inter:
        out += ["## Substrate x condition", "",
                "Does a contrast differ by substrate? Each row is the contrast on the first substrate "
                "minus the same contrast on the second (exploratory).", ""] + head
        out += [_contrast_row(c, conf) for c in inter] + [""]
    return out


def _per_seed(a: Analysis, c) -> dict | None:
    cond = c.contrast.split(" - ")[0]
    r = next((r for r in a.rates if (r.substrate, r.condition, r.bank, r.signal)
              == (c.substrate, cond, c.bank, c.signal)), None)
    return r.per_seed if r else None


def _rate_tables(a: Analysis, conf: str) -> list[str]:
    out = []
    for sub in sorted({r.substrate for r in a.rates}):
        rows = [r for r in a.rates if r.substrate == sub]
        out += [f"## Rates: substrate `{sub}`", "",
                f"Rate with {conf} interval (over seeds and stimuli), stimuli, and each training seed's "
                "own rate.", "", "| condition | bank | signal | rate [CI] | stimuli | per-seed rates |",
                "|---|---|---|---|---|---|"]
        for r in rows:
            i = r.inference
            per = ", ".join(f"{k}: {_pct(v)}" for k, v in r.per_seed.items()) or "n/a (no training seed)"
            out.append(f"| {r.condition} | {r.bank} | `{r.signal}` | {_pct(i.estimate)} [{_pct(i.ci_low)}, "
                       f"{_pct(i.ci_high)}] | {i.n_stimuli} | {per} |")
        out.append("")
    return out


def _variance_tables(a: Analysis) -> list[str]:
    out = ["## Variance components", "",
           "Per signal: the share of the variance of a single score from each source (method of "
           "moments, negative estimates set to 0): training seed, stimulus, seed x stimulus, "
           "evaluation repeat (sampling), and judge (disagreement between judges on one completion).", ""]
    for sig in a.signals:
        rows = [r for r in a.rates if r.signal == sig and r.components is not None]
        out += [f"### `{sig}`", "", "| arm | bank | seeds | repeats | seed | stimulus | seed x stimulus | "
                "repeat | judge |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            sh = r.components.shares()
            cells = " | ".join("n/a" if sh[k] is None else f"{sh[k]:.0%}"
                               for k in ("seed", "stimulus", "seed_x_stimulus", "repeat", "judge"))
            out.append(f"| {r.substrate}/{r.condition} | {r.bank} | {r.components.n_seeds} | "
                       f"{r.components.mean_repeats:g} | {cells} |")
        out.append("")
    return out


def _judge_table(a: Analysis) -> list[str]:
    if not a.judges:
        return []
    out = ["## Judges: undecided verdicts and agreement", "",
           "| arm | bank | completions | yes | no | ties | no vote parsed | failed votes | rate if undecided = no "
           "| rate if undecided = yes | Fleiss' kappa (n) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for j in a.judges:
        k = "n/a" if metrics.num(j.kappa) is None else f"{j.kappa:.3f}"
        out.append(f"| {j.substrate}/{j.condition} | {j.bank} | {j.n} | {j.yes} | {j.no} | {j.ties} | "
                   f"{j.unparsed} | {j.parse_failures} | {_pct(j.rate_low)} | {_pct(j.rate_high)} | "
                   f"{k} ({j.n_rated_by_all}) |")
    return out + [""]


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


def build_report(study_or_params: Study | str | Path, *, allow_incomplete: bool = False) -> ReportResult:
    """Write the report, plots and metrics; see the module docstring.

    ``study_or_params``: a loaded :class:`~babyctl.study.Study` or the path of params.yaml.
    ``allow_incomplete``: report missing or short runs as INCOMPLETE instead of refusing.
    """
    from .plots import plot_contrasts, plot_signal

    loaded = Study.of(study_or_params)
    params, root, params_path = loaded.params, loaded.root, loaded.shown_params_path
    included, left_out = find_scores(root, params)
    missing = completeness(root, params)
    if missing and not allow_incomplete:
        raise IntegrityError(f"{len(missing)} input(s) of active runs are missing or incomplete: "
                             + "; ".join(missing[:6]) + ("; ..." if len(missing) > 6 else "")
                             + " (finish the evals, or pass --allow-incomplete to report them as "
                             "incomplete)", path=root / "eval")
    if not included:
        raise InputError("no scores of active runs found under eval/ (run: babyctl eval first)",
                         path=eval_root(root))
    rows = read_scores(included) + capability_rows(root, params)  # capability items: same inference
    st = prereg.state(params, root)
    a = analyse(rows, params, confirmatory=st.locked)
    b = params.eval.bootstrap
    plot_dir = root / "reports" / "plots"
    plot_paths = [plot_dir / f"rates-{s}.png" for s in a.signals]
    subs = sorted({c.substrate for c in a.contrasts if c.kind == "contrast"})
    diff_paths = {sub: plot_dir / f"contrasts-{sub}.png" for sub in subs}
    will_plot = plot_paths + list(diff_paths.values())
    text = render_markdown(a, params, root, included, left_out, will_plot, consent_notes(params, root), st,
                           missing)
    findings = framing_findings(text)
    if findings:  # before writing anything: a report that breaks the wording condition is not written
        raise IntegrityError("report wording is not neutral (rename the signal or description in "
                             "params.yaml): " + "; ".join(str(f) for f in findings[:5]),
                             path=params_path or root)
    result = ReportResult(analysis=a, included=included, left_out=left_out, missing=missing)
    reports = root / "reports"
    prov = Provenance(**base_fields("babyctl report", root), inputs=[file_hash(p, root) for p in included + capability_files(root, params)],
                      params={"eval": {"confidence": b.confidence, "repeats": params.eval.repeats,
                                       "sampling": params.eval.sampling.model_dump(mode="json")},
                              "analysis": params.analysis.model_dump(mode="json"), "method": a.method,
                              "active_substrates": params.active_substrates,
                              "active_conditions": params.active_conditions,
                              "training_seeds": params.training.seeds,
                              "preregistration_lock": st.lock.digest if st.lock else None,
                              "complete": not missing})
    with atomic_dir(reports) as tmp:  # the whole folder at once: no stale or half-written files
        tmp.chmod(0o755)
        for sig, path in zip(a.signals, plot_paths):
            plot_signal(a, sig, tmp / "plots" / path.name, confidence=b.confidence)
        for sub, path in diff_paths.items():
            plot_contrasts(a, sub, tmp / "plots" / path.name, confidence=b.confidence)
        atomic_write_text(tmp / "report.md", text)
        atomic_write_json(tmp / "provenance.json", prov.model_dump(mode="json"))
    result.written += [*plot_paths, *diff_paths.values(), reports / "report.md", reports / "provenance.json"]
    devs = [{"item": d.item, "kind": d.kind, "detail": d.detail, "explained": d.explained,
             "amendment": d.amendment.record.id if d.amendment else None} for d in st.deviations]
    m = root / "metrics"
    result.written.append(atomic_write_json(m / "eval.json", metrics.eval_json(
        a, confidence=b.confidence, complete=not missing, missing=missing, deviations=devs, locked=st.locked)))
    heads = metrics.headline(a, primary_contrasts(params), params.analysis.primary)
    with atomic_dir(m / "headline") as tmp:
        tmp.chmod(0o755)
        for name, values in (heads or {"none.json": {"diff": None, "lo": None, "hi": None, "p_adj": None}}).items():
            atomic_write_json(tmp / name, values)
    result.written.append(m / "headline")
    for name, text_ in (("rates.tsv", metrics.rates_tsv(a)), ("contrasts.tsv", metrics.contrasts_tsv(a)),
                        ("variance.tsv", metrics.variance_tsv(a))):
        result.written.append(atomic_write_text(m / name, text_))
    old = m / "eval_rates.tsv"  # replaced by rates.tsv
    if old.exists():
        old.unlink()
    return result

