"""``report.html``: one self-contained page (no JavaScript, no external file; the figures inlined as base64 PNGs)
with a table of contents and a section per question a reader asks: where it came from, what won and how sure,
how each loss did per metric and per class, calibration, curves, and the run-by-run details."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import Prepared
from .metrics import HIGHER_IS_BETTER
from .report_data import baseline_and_best, paired, per_class
from .report_segmentation import per_class_dice_html
from .runner import CompareResult

__all__ = ["Figure", "render"]

e = html.escape


@dataclass
class Figure:
    """One PNG of the report: its file name, the PNG bytes and the caption that says what is pooled or averaged."""

    name: str
    png: bytes
    caption: str


def _g(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3g}"


def _img(fig: Figure | None) -> str:
    if fig is None:
        return ""
    data = base64.b64encode(fig.png).decode()
    return (f"<figure><img alt='{e(fig.name)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{e(fig.caption)}</figcaption></figure>")


def _provenance(p: Mapping[str, Any], result: CompareResult) -> str:
    if not p:
        return "<p>No provenance recorded.</p>"
    v, mach, data = p.get("versions", {}), p.get("machine", {}), p.get("data", {})
    versions = " · ".join(f"{k} {val}" for k, val in v.items() if val is not None)
    missing = [k for k, val in v.items() if val is None]
    if missing:
        versions += f" (not installed: {', '.join(missing)})"
    splits, seeds = p.get("splits", []), p.get("seeds", [])
    classes = f", {data['classes']} classes" if data.get("classes") else ""
    rows = [
        ("versions", versions),
        ("command line", f"<code>{e(p.get('command', ''))}</code>"),
        ("Python call", f"<code>{e(p.get('call', ''))}</code>"),
        ("started (UTC)", e(str(p.get("started_utc", "")))),
        ("duration", f"{result.seconds:.1f} s"),
        ("machine", e(f"{mach.get('platform')} ({mach.get('machine')}); {mach.get('cpu_count')} CPUs, "
                      f"{mach.get('cpus_usable')} usable; torch threads {mach.get('torch_threads')}, training on "
                      f"{mach.get('training_threads')} thread(s) × {mach.get('processes', 1)} process(es); "
                      f"OMP_NUM_THREADS={mach.get('omp_num_threads') or 'unset'}")),
        ("data set", e(f"{data.get('name')}: {data.get('task')}, {data.get('rows')} rows, {data.get('features')} "
                       f"features{classes}; per run {data.get('train_rows'):g} train / {data.get('validation_rows'):g}"
                       f" validation / {data.get('test_rows'):g} test rows (mean over runs)")),
        ("runs", e(f"{p.get('runs')} paired runs: run r uses split {_span(splits)} (split seed + r) and seed "
                   f"{_span(seeds)} (r), the same for every loss")),
    ]
    return "<table class='kv'>" + "".join(f"<tr><th>{k}</th><td>{val}</td></tr>" for k, val in rows) + "</table>"


def _span(xs: Sequence[int]) -> str:
    return f"{xs[0]}–{xs[-1]}" if len(xs) > 1 else (str(xs[0]) if xs else "–")


def _judged(p: Any, alpha: float, margin: float) -> str:
    if p.test.runs < 2:
        return "one run, nothing to judge by"
    word = p.better(alpha, margin)
    if word == p.a:
        return "better"
    if word == p.b:
        return "worse"
    return "different, but by less than the margin" if p.p_holm < alpha else "no clear difference"


def _verdict(result: CompareResult, gains: Figure | None) -> str:
    c = result.comparison
    if c is None:
        return "<p>Nothing to compare (the sentence above says why).</p>"
    level = f"{100 * (1 - c.alpha):g}%"
    rows = "".join(
        f"<tr><td><b>{e(p.a)}</b></td><td>{p.test.mean:+.3g}</td><td>[{_g(p.test.ci[0])}, {_g(p.test.ci[1])}]</td>"
        f"<td>{_g(p.test.p_value)}</td><td>{_g(p.p_holm)}</td><td>{e(_judged(p, c.alpha, c.margin))}</td></tr>"
        for p in c.versus_baseline)
    table = (f"<table><tr><th>loss</th><th>gain over {e(str(c.baseline))}</th><th>{level} CI</th><th>p</th>"
             f"<th>p (Holm over {len(c.versus_baseline)})</th><th>judged</th></tr>{rows}</table>") if rows else ""
    pairs = "".join(
        f"<tr><td>{e(p.a)}</td><td>{e(p.b)}</td><td>{p.test.mean:+.3g}</td><td>[{_g(p.test.ci[0])}, "
        f"{_g(p.test.ci[1])}]</td><td>{_g(p.test.p_value)}</td><td>{_g(p.p_holm)}</td><td class='small'>"
        f"{e(' '.join(f'{d:+.3g}' for d in p.diffs))}</td></tr>" for p in c.pairs)
    test = (f"Nadeau and Bengio's corrected resampled t-test over {c.runs} runs (variance × (1/J + n_test/n_train), "
            f"n_test/n_train = {c.n_test:.0f}/{c.n_train:.0f})" if math.isfinite(c.n_train) else
            f"the paired t-test over {c.runs} seeds on one fixed split (variance × 1/J: the runs share the split, "
            "so there is no overlap of test sets to correct for, and the verdict holds for this test set only)")
    return (f"<p>Each loss against the baseline on test {e(c.metric.replace('_', ' '))}: the mean of the paired "
            f"per-run differences (positive: better), its {level} interval and p-value from {e(test)}, and the "
            f"p-value Holm-adjusted over these comparisons; margin "
            f"{c.margin:.3g}, alpha {c.alpha:g}.</p>{table}{_img(gains)}"
            f"<details><summary>Every pair ({len(c.pairs)}, Holm over all of them: the winner rule)</summary>"
            f"<table><tr><th>a</th><th>b</th><th>gain of a</th><th>{level} CI</th><th>p</th><th>p (Holm)</th>"
            f"<th>per-run gains</th></tr>{pairs}</table></details>")


def _results(result: CompareResult) -> str:
    cols = [result.metric] + [m for m in result.metrics if m != result.metric]
    head = "".join(f"<th>{e(c.replace('_', ' '))} {'↑' if HIGHER_IS_BETTER.get(c, True) else '↓'}</th>"
                   for c in cols)
    rows = []
    for s in result.summaries:
        cells = "".join(f"<td>{e(s.cell(c))}</td>" for c in cols)
        mark = " class='win'" if s.name == result.winner else ""
        tag = " (baseline)" if s.baseline else {"threshold": " (tuned threshold)", "reference": " (reference)"}.get(
            s.kind, "")
        rows.append(f"<tr{mark}><td><b>{e(s.name)}</b>{tag}<br><code>{e(s.code)}</code></td>{cells}</tr>")
    return f"<table><tr><th>loss</th>{head}</tr>{''.join(rows)}</table>"


def _per_class(result: CompareResult, splits: Sequence[Prepared]) -> str:
    C = len(result.class_names) if result.class_names else (splits[0].num_classes or 2)
    names = result.class_names or [str(i) for i in range(C)]
    counts: Sequence[int | None] = result.train_counts or [None] * C
    opened = {n for n, _ in baseline_and_best(result)}
    out = []
    for s in result.summaries:
        pc = per_class(paired(s, splits), C)
        body = "".join(
            f"<tr><td>{e(str(n))}</td><td>{'' if t is None else t}</td>"
            + "".join(f"<td>{m[k]:.3f} ± {sd[k]:.3f}</td>" for m, sd in (
                (pc.precision, pc.precision_std), (pc.recall, pc.recall_std), (pc.f1, pc.f1_std)))
            + f"<td>{pc.support[k]:g} ± {pc.support_std[k]:.2g}</td></tr>"
            for k, (n, t) in enumerate(zip(names, counts)))
        total = (f"<tr class='total'><td>macro mean</td><td></td><td>{pc.precision.mean():.3f}</td>"
                 f"<td>{pc.recall.mean():.3f}</td><td>{pc.f1.mean():.3f}</td><td>{pc.support.sum():g}</td></tr>")
        role = " (baseline)" if s.baseline else {"threshold": " (tuned threshold)", "reference": " (reference)"}.get(
            s.kind, "")
        out.append(f"<details{' open' if s.name in opened else ''}><summary><b>{e(s.name)}</b>{role}: macro F1 "
                   f"{pc.f1.mean():.3f}, over {pc.runs} run(s)</summary><table class='num'><tr><th>class</th>"
                   f"<th>train rows (run 0)</th><th>precision</th><th>recall</th><th>F1</th><th>support (test rows)"
                   f"</th></tr>{body}{total}</table></details>")
    return ("<p>On each run's test split, then the mean ± sample standard deviation over the runs (precision and F1 "
            "are 0 for a class never predicted, as scikit-learn's <code>zero_division=0</code>); support is the "
            "class's test rows, so it sums to the test-set size.</p>" + "".join(out))


def _per_label(result: CompareResult) -> str:
    """Multi-label: each label's test ROC AUC, mean ± standard deviation over the runs (``per_label_auc``)."""
    losses = [s for s in result.summaries if s.kind == "loss"]
    labels = result.class_names or [str(k) for k in range(len(losses[0].runs[0].metrics["per_label_auc"]))]  # type: ignore[arg-type]
    body = []
    for s in losses:
        table = np.asarray([[np.nan if v is None else v for v in r.metrics["per_label_auc"]] for r in s.runs],  # type: ignore[attr-defined]
                           dtype=np.float64)
        cells = []
        for col in table.T:
            col = col[np.isfinite(col)]
            spread = float(col.std(ddof=1)) if col.size > 1 else 0.0
            cells.append(f"<td>{_g(float(col.mean()))} ± {_g(spread)}</td>" if col.size else "<td>–</td>")
        body.append(f"<tr><td>{e(s.name)}</td>{''.join(cells)}</tr>")
    head = "".join(f"<th>{e(str(n))}</th>" for n in labels)
    return ("<p>Test ROC AUC of each label, mean ± sample standard deviation over the runs (– where a test split "
            f"holds one class of the label).</p><table class='num'><tr><th>loss</th>{head}</tr>{''.join(body)}</table>")


def _doctor(result: CompareResult) -> str:
    rows = "".join(
        f"<tr><td>{e(s.name)}</td><td>{r.seed}</td><td>{len(r.train_losses)}</td><td>{r.best_epoch}</td>"
        f"<td><b>{e(d.verdict.replace('_', ' '))}</b></td><td class='small'>{e('; '.join(d.reasons))}</td></tr>"
        for s in result.summaries if s.kind == "loss" for r, d in zip(s.runs, s.diagnoses))
    verdicts: dict[str, int] = {}
    for s in result.summaries:
        for d in s.diagnoses:
            verdicts[d.verdict] = verdicts.get(d.verdict, 0) + 1
    summary = ", ".join(f"{v.replace('_', ' ')} {n}" for v, n in sorted(verdicts.items(), key=lambda x: -x[1]))
    return (f"<details><summary>The curve doctor on every run's loss curves: {e(summary)}</summary><table><tr>"
            f"<th>loss</th><th>seed</th><th>epochs</th><th>best epoch</th><th>verdict</th><th>reasons</th></tr>"
            f"{rows}</table></details>")


CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1150px;margin:1.5em auto;
padding:0 1em;color:#222;line-height:1.4}h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:1.8em}table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top;font-size:13px}th{background:#f4f4f4}table.kv th{width:9em}table.num td{
text-align:right}table.num td:first-child{text-align:left}tr.win{background:#e6f4e6}tr.total td{font-weight:600;
background:#fafafa}code{font-size:12px;color:#444;word-break:break-all}.small{font-size:11px;color:#555}
img{max-width:100%;height:auto}figure{margin:1em 0}figcaption{font-size:12px;color:#555;max-width:60em}
.verdict{font-size:1.05em;padding:.6em .8em;background:#f4f4f4;border-left:4px solid #4a7}nav{background:#fafafa;
border:1px solid #e4e4e4;padding:.4em 1em;display:inline-block}nav ol{margin:.3em 0;padding-left:1.4em;columns:2;
column-gap:3em}nav li{font-size:14px}details{margin:.4em 0}summary{cursor:pointer}pre{white-space:pre-wrap;
font-size:12px;background:#fafafa;padding:.6em;border:1px solid #eee}"""


def render(result: CompareResult, splits: Sequence[Prepared], figures: Mapping[str, Figure | None]) -> str:
    """The page; ``figures`` by role (``metrics``, ``gains``, ``curves``, ``validation``, ``confusion``,
    ``calibration``, ``roc_pr``, ``predicted``, ``residuals``), ``None`` where one does not apply."""
    f = figures.get
    runs = result.config.get("runs", len(splits))
    sections: list[tuple[str, str, str]] = [
        ("provenance", "How this report was made", _provenance(result.provenance, result)),
        ("verdict", "Verdict", _verdict(result, f("gains"))),
        ("results", "Test metrics", "<p>Mean ± sample standard deviation over the runs, on each run's clean test "
         "split.</p>" + _results(result) + _img(f("metrics"))),
    ]
    if result.task in ("binary", "multiclass"):
        sections.append(("per-class", "Per class", _per_class(result, splits)))
        sections.append(("confusion", "Confusion matrices", _img(f("confusion"))))
        sections.append(("calibration", "Calibration", _img(f("calibration"))))
    if result.task == "multilabel":
        sections.append(("per-label", "Per label", _per_label(result)))
    if f("roc_pr") is not None:
        sections.append(("roc-pr", "ROC and precision-recall", _img(f("roc_pr"))))
    if result.task == "regression":
        sections.append(("predictions", "Predictions and residuals", _img(f("predicted")) + _img(f("residuals"))))
    if result.task == "segmentation":
        sections.append(("segmentation", "Predicted masks and Dice per class",
                         _img(f("segmentation")) + per_class_dice_html(result)))
    if f("projection") is not None:
        sections.append(("projection", "Test embeddings", "<p>Nearest neighbours on the test split, every item a "
                         "query against the others; the distance per loss is in results.json (each run's "
                         "<code>distance</code>).</p>" + _img(f("projection"))))
    sections.append(("curves", "Training curves", _img(f("curves")) + _img(f("validation")) + _doctor(result)))
    data = "".join(f"<li>{e(n)}</li>" for n in result.notices)
    advice = "".join(f"<li>{e(a)}</li>" for a in result.advice)
    sections.append(("data", "Data and the advisor", f"<ul>{data}</ul><h3>Why these losses (the advisor, on the "
                     f"training targets)</h3><ul>{advice}</ul>"))
    sections.append(("configuration", "Configuration", f"<pre>{e(json.dumps(result.config, indent=1))}</pre>"))
    toc = "".join(f"<li><a href='#{sid}'>{e(title)}</a></li>" for sid, title, _ in sections)
    body = "".join(f"<section id='{sid}'><h2>{e(title)}</h2>{content}</section>" for sid, title, content in sections)
    warn = "".join(f"<li><b>warning:</b> {e(w)}</li>" for w in result.warnings)
    classes = f", {len(result.class_names)} classes" if result.class_names else ""
    trained = sum(s.kind == "loss" for s in result.summaries)
    when = str(result.provenance.get("started_utc", "")) if result.provenance else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>losskit compare: {e(result.dataset)}</title><style>{CSS}</style></head><body>
<h1>losskit compare: {e(result.dataset)}</h1>
<p>{e(result.task)} task, {result.num_rows} rows, {result.num_features} features{classes}; {trained} losses ×
{runs} paired run(s); primary metric: test {e(result.metric.replace('_', ' '))}; {e(when)}.</p>
<p class="verdict">{e(result.verdict)}</p>
{f'<ul>{warn}</ul>' if warn else ''}
<nav><b>Contents</b><ol>{toc}</ol></nav>
{body}
</body></html>
"""
