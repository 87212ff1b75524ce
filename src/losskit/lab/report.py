"""The lab's outputs: ``results.json``, ``curves.csv``, the PNG plots and a self-contained ``report.html``."""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import json
import os
from typing import Any

import numpy as np

from .._validation import LossValueError
from ._extras import figure
from .data import Prepared
from .metrics import HIGHER_IS_BETTER, confusion_matrix
from .runner import CompareResult

__all__ = ["plot_curves", "plot_metrics", "plot_winner", "write_outputs"]

PLOTS = ("curves.png", "metrics.png", "winner.png")


def _shown_best(result: CompareResult) -> str:
    """The winner, or the best loss by mean when no winner is named."""
    if result.winner:
        return result.winner
    higher = HIGHER_IS_BETTER[result.metric]
    losses = [s for s in result.summaries if s.kind == "loss"]
    return sorted(losses, key=lambda s: s.mean[result.metric], reverse=higher)[0].name


def _trained(result: CompareResult) -> list:
    """The rows with training curves (the losses; not the tuned threshold or the reference)."""
    return [s for s in result.summaries if s.kind == "loss"]


def plot_curves(result: CompareResult) -> Any:
    """Training (solid) and validation (dashed) loss per epoch, one panel per loss, one line pair per run."""
    trained = _trained(result)
    n = len(trained)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = figure(figsize=(4.4 * cols, 3.1 * rows))
    for k, s in enumerate(trained):
        ax = fig.add_subplot(rows, cols, k + 1)
        for r in s.runs:
            ep = np.arange(1, len(r.train_losses) + 1)
            (line,) = ax.plot(ep, r.train_losses, lw=1.2, label=f"train, run {r.seed}")
            ax.plot(ep, r.val_losses, lw=1.2, ls="--", color=line.get_color(), label=f"validation, run {r.seed}")
            ax.axvline(r.best_epoch, color=line.get_color(), alpha=0.3, lw=0.8)
        ax.set_title(f"{s.name} ({s.loss})", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (its own scale)")
        if k == 0:
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_metrics(result: CompareResult) -> Any:
    """Each test metric side by side: mean over runs with the standard deviation as error bars."""
    metrics = list(result.metrics)
    fig = figure(figsize=(3.0 * len(metrics), 3.2))
    names = [s.name for s in result.summaries]
    x = np.arange(len(names))
    for k, m in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), k + 1)
        means = [s.mean[m] for s in result.summaries]
        stds = [s.std[m] for s in result.summaries]
        colors = ["tab:green" if n == result.winner else "tab:gray" if s.baseline else "tab:blue"
                  for n, s in zip(names, result.summaries)]
        ax.bar(x, np.nan_to_num(means), yerr=stds, color=colors, capsize=3)
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=7)
        ax.set_title(m.replace("_", " ") + (" ↑" if HIGHER_IS_BETTER[m] else " ↓"), fontsize=9)
    fig.tight_layout()
    return fig


def plot_winner(result: CompareResult, prepared: Prepared) -> Any:
    """The confusion matrix or predicted-vs-actual plot of the winner (or best by mean) in the first run: the runs
    test on different splits, and ``prepared`` is the first run's."""
    name = _shown_best(result)
    s = result.summary(name)
    s = dataclasses.replace(s, runs=s.runs[:1])
    fig = figure(figsize=(5.2, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    if result.task == "regression":
        y = np.asarray(prepared.y_test)
        for r in s.runs:
            ax.scatter(y, r.predictions, s=8, alpha=0.5, label=f"run {r.seed}")
        lo, hi = float(min(y.min(), min(r.predictions.min() for r in s.runs))), float(
            max(y.max(), max(r.predictions.max() for r in s.runs)))
        ax.plot([lo, hi], [lo, hi], color="black", lw=1)
        ax.set_xlabel("actual (test)")
        ax.set_ylabel("predicted")
        ax.legend(fontsize=7)
    else:
        C = prepared.num_classes or 2
        m = np.sum([confusion_matrix(prepared.y_test, r.predictions, C) for r in s.runs], axis=0)
        ax.imshow(m, cmap="Blues")
        labels = result.class_names or [str(i) for i in range(C)]
        ax.set_xticks(range(C), labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(C), labels, fontsize=7)
        for i in range(C):
            for j in range(C):
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=6,
                        color="white" if m[i, j] > m.max() / 2 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual (test)")
    tag = "winner" if result.winner else "best by mean (no clear winner)"
    ax.set_title(f"{name}: {tag}, first run (split {s.runs[0].split})", fontsize=9)
    fig.tight_layout()
    return fig


def _curves_csv(result: CompareResult, path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["loss", "seed", "epoch", "train_loss", "val_loss", f"val_{result.metric}"])
        for s in _trained(result):
            for r in s.runs:
                for e, (t, v, m) in enumerate(zip(r.train_losses, r.val_losses, r.val_metrics), start=1):
                    w.writerow([s.name, r.seed, e, repr(t), repr(v), repr(m)])


def _fmt(v: object) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3g}"


def _html(result: CompareResult, images: dict[str, bytes]) -> str:
    e = html.escape
    cols = [result.metric] + [m for m in result.metrics if m != result.metric]
    head = "".join(f"<th>{e(c.replace('_', ' '))} {'↑' if HIGHER_IS_BETTER[c] else '↓'}</th>" for c in cols)
    rows = []
    for s in result.summaries:
        cells = "".join(f"<td>{e(s.cell(c))}</td>" for c in cols)
        mark = " class='win'" if s.name == result.winner else ""
        base = " (baseline)" if s.baseline else {"threshold": " (tuned threshold)", "reference": " (reference)"}.get(
            s.kind, "")
        rows.append(f"<tr{mark}><td><b>{e(s.name)}</b>{base}<br><code>{e(s.code)}</code></td>{cells}</tr>")
    recall = ""
    if result.task != "regression" and result.summaries[0].per_class_recall_mean is not None:
        names = result.class_names or [str(i) for i in range(len(result.summaries[0].per_class_recall_mean or []))]
        counts = result.train_counts or [0] * len(names)
        hdr = "".join(f"<th>{e(n)}<br><small>{c} train</small></th>" for n, c in zip(names, counts))
        body = "".join(
            f"<tr><td>{e(s.name)}</td>" + "".join(f"<td>{_fmt(v)}</td>" for v in s.per_class_recall_mean or [])
            + "</tr>" for s in result.summaries
        )
        recall = (f"<h2>Test recall per class (mean over runs)</h2><table><tr><th>loss</th>{hdr}</tr>{body}</table>")
    doctor = "".join(
        f"<tr><td>{e(s.name)}</td><td>{r.seed}</td><td>{len(r.train_losses)}</td><td>{r.best_epoch}</td>"
        f"<td><b>{e(d.verdict.replace('_', ' '))}</b></td><td>{e('; '.join(d.reasons))}</td></tr>"
        for s in _trained(result) for r, d in zip(s.runs, s.diagnoses)
    )
    imgs = "".join(
        f"<h2>{e(title)}</h2><img alt='{e(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
        for (name, data), title in zip(images.items(), ("Loss curves", "Test metrics (mean ± std over runs)",
                                                        "Best loss on the test split"))
    )
    lis = "".join(f"<li>{e(n)}</li>" for n in result.notices)
    vs = "".join(f"<li>{e(n)}</li>" for n in result.versus_baseline)
    warn = "".join(f"<li><b>warning:</b> {e(n)}</li>" for n in result.warnings)
    pairs = ""
    if result.comparison is not None:
        c = result.comparison
        body = "".join(
            f"<tr><td>{e(p.a)}</td><td>{e(p.b)}</td><td>{p.test.mean:+.3g}</td><td>[{p.test.ci[0]:.3g}, "
            f"{p.test.ci[1]:.3g}]</td><td>{p.test.p_value:.3g}</td><td>{p.p_holm:.3g}</td><td>"
            f"{e(' '.join(f'{d:+.3g}' for d in p.diffs))}</td></tr>" for p in c.pairs)
        pairs = (f"<h2>Paired comparisons on test {e(c.metric.replace('_', ' '))}</h2><p>Nadeau and Bengio's corrected "
                 f"resampled t-test over {c.runs} runs (variance × (1/J + n_test/n_train), n_test/n_train = "
                 f"{c.n_test:.0f}/{c.n_train:.0f}), Holm over {len(c.pairs)} pairs, alpha {c.alpha:g}, margin "
                 f"{c.margin:.3g}. A positive gain means the first loss did better.</p><table><tr><th>a</th><th>b</th>"
                 f"<th>gain of a</th><th>{100 * (1 - c.alpha):g}% CI</th><th>p</th><th>p (Holm)</th>"
                 f"<th>per-run gains</th></tr>{body}</table>")
    adv = "".join(f"<li>{e(a)}</li>" for a in result.advice)
    cfg = e(json.dumps(result.config))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>losskit compare: {e(result.dataset)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse;
margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}}
tr.win{{background:#e6f4e6}}code{{font-size:11px;color:#555}}img{{max-width:100%}}.verdict{{font-size:1.1em;
padding:.6em;background:#f4f4f4;border-left:4px solid #4a7}}</style></head><body>
<h1>losskit compare: {e(result.dataset)}</h1>
<p>{e(result.task)} task, {result.num_rows} rows, {result.num_features} features;
{len(_trained(result))} losses × {result.config['runs']} run(s) (split and seed r); primary metric: test
{e(result.metric.replace('_', ' '))}; {result.seconds:.1f} s.</p>
<p class="verdict">{e(result.verdict)}</p>
<ul>{vs}{warn}</ul>
<h2>Results on the test split (mean ± std over runs)</h2>
<table><tr><th>loss</th>{head}</tr>{''.join(rows)}</table>
{pairs}
{recall}
<h2>Data</h2><ul>{lis}</ul>
<h2>Why these losses (the advisor, on the training targets)</h2><ul>{adv}</ul>
{imgs}
<h2>Curve doctor, per run</h2>
<table><tr><th>loss</th><th>seed</th><th>epochs</th><th>best epoch</th><th>verdict</th><th>reasons</th></tr>
{doctor}</table>
<h2>Configuration</h2><p><code>{cfg}</code></p>
</body></html>
"""


def write_outputs(result: CompareResult, prepared: Prepared, folder: str) -> dict[str, str]:
    """Write ``results.json``, ``curves.csv``, the three PNGs and ``report.html`` into ``folder``."""
    if not os.path.isdir(folder):
        raise LossValueError(f"write_outputs: folder must exist, but got {folder!r}; create it first")
    paths = {name: os.path.join(folder, name) for name in ("results.json", "curves.csv", *PLOTS, "report.html")}
    data = {k: _clean(v) for k, v in result.to_dict().items()}  # _clean of the dict, keys kept
    data["files"] = sorted(paths)
    with open(paths["results.json"], "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, allow_nan=False, default=_json_default)
    _curves_csv(result, paths["curves.csv"])
    images: dict[str, bytes] = {}
    for name, fig in (("curves.png", plot_curves(result)), ("metrics.png", plot_metrics(result)),
                      ("winner.png", plot_winner(result, prepared))):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        images[name] = buf.getvalue()
        with open(paths[name], "wb") as fh:
            fh.write(images[name])
    with open(paths["report.html"], "w", encoding="utf-8") as fh:
        fh.write(_html(result, images))
    return paths


def _clean(value: object) -> object:
    """NaN -> None (JSON has no NaN), recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"results.json: cannot store {type(value).__name__}")
