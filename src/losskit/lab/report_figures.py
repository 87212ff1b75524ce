"""The report's figures, each a matplotlib Figure from :func:`losskit.lab._extras.figure` (drawn by Agg, text shown
literally). Every function returns the Figure, so its axes can be read back; ``None`` when the figure does not
apply (a confusion matrix for regression, ROC curves for more than two classes).

Runs: every row of the result has one run per split, and run ``k`` tested on ``splits[k]``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import stats
from ._extras import figure
from .data import Prepared
from .metrics import HIGHER_IS_BETTER
from .report_data import (
    axis_limits,
    baseline_and_best,
    epoch_bands,
    mean_confusion,
    paired,
    pr_curve,
    reliability,
    roc_curve,
)
from .runner import CompareResult, LossSummary

__all__ = ["plot_calibration", "plot_confusion", "plot_curves", "plot_gains", "plot_metrics", "plot_predicted",
           "plot_residuals", "plot_roc_pr", "plot_validation_metric"]

BOUNDED = {"accuracy", "balanced_accuracy", "macro_f1", "minority_recall", "roc_auc", "pr_auc", "brier", "ece",
           "map", "micro_f1", "map_at_r", "recall_at_1", "recall_at_5"}
"""Metrics in [0, 1]: their axes stay near that range."""
CLASSIFICATION = ("binary", "multiclass")


def _trained(result: CompareResult) -> list[LossSummary]:
    return [s for s in result.summaries if s.kind == "loss"]


def _color(result: CompareResult, s: LossSummary) -> str:
    if s.name == result.winner:
        return "tab:green"
    if s.baseline:
        return "dimgray"
    return {"threshold": "tab:orange", "reference": "tab:purple"}.get(s.kind, "tab:blue")


def _grid(n: int, cols: int, width: float, height: float) -> tuple[Any, int, int]:
    cols = max(1, min(n, cols))
    rows = max(1, math.ceil(n / cols))
    return figure(figsize=(width * cols, height * rows)), rows, cols


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _classes(s: LossSummary) -> int:
    """The number of classes of a row's probabilities."""
    return int(np.asarray(s.runs[0].probabilities).shape[1])


def _log_axis(ax: Any) -> None:
    """A log y axis labelled ``0.01``, ``0.1``, ``1`` (the default labels are mathtext, drawn literally here)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _label(metric: str) -> str:
    arrow = " ↑" if HIGHER_IS_BETTER.get(metric, True) else " ↓"
    return metric.replace("_", " ") + arrow


def plot_metrics(result: CompareResult) -> Any:
    """One panel per test metric: every run's value as a dot, the mean as a black diamond and its 95% interval
    from the corrected resampled t (Nadeau and Bengio: the variance of the mean times ``1 + J n_test/n_train``, as
    the runs share rows). The axis fits the data with a margin; it does not start at 0."""
    metrics = [result.metric] + [m for m in result.metrics if m != result.metric]
    rows = result.summaries
    fig, nrow, ncol = _grid(len(metrics), 3, 4.2, 0.42 * len(rows) + 1.3)
    n_train, n_test = float(result.config.get("n_train", 4.0)), float(result.config.get("n_test", 1.0))
    jitter = np.linspace(-0.18, 0.18, max(len(rows[0].runs), 1)) if rows else np.zeros(1)
    for k, m in enumerate(metrics):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        seen: list[float] = []
        for i, s in enumerate(rows):
            vals = np.asarray([np.nan if r.metrics.get(m) is None else float(r.metrics[m])  # type: ignore[arg-type]
                               for r in s.runs])
            y = len(rows) - 1 - i
            ax.scatter(vals, y + jitter[: len(vals)], s=18, alpha=0.7, color=_color(result, s), linewidths=0)
            finite = vals[np.isfinite(vals)]
            seen += finite.tolist()
            if finite.size:
                ax.plot(finite.mean(), y, marker="D", color="black", ms=4, zorder=3)
            if finite.size > 1:
                ci = np.asarray(stats.corrected_ttest(finite, n_train=n_train, n_test=n_test).ci)
                if m in BOUNDED:  # an interval past 0 or 1 says nothing more than one reaching it
                    ci = np.clip(ci, 0.0, 1.0)
                ax.plot(ci, [y, y], color="black", lw=1.4, zorder=2)
                seen += ci.tolist()
        ax.set_xlim(*axis_limits(seen, bounds=(0.0, 1.0) if m in BOUNDED else None))
        ax.set_yticks(range(len(rows)), [s.name for s in reversed(rows)], fontsize=7)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_title(_label(m) + (" (primary)" if m == result.metric else ""), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_gains(result: CompareResult) -> Any | None:
    """Each loss against the baseline on the primary metric: the per-run gains (dots), their mean and 95%
    interval from the corrected resampled t-test (the verdict's numbers), 0 and the practical margin marked."""
    c = result.comparison
    if c is None or not c.versus_baseline:
        return None
    pairs = c.versus_baseline
    fig = figure(figsize=(7.0, 0.5 * len(pairs) + 1.4))
    ax = fig.add_subplot(1, 1, 1)
    seen = [0.0, c.margin]
    for i, p in enumerate(pairs):
        y = len(pairs) - 1 - i
        d = np.asarray(p.diffs, dtype=np.float64)
        ax.scatter(d, np.full(d.size, y) + np.linspace(-0.15, 0.15, d.size), s=14, alpha=0.55, color="tab:blue",
                   linewidths=0)
        ax.plot(p.test.mean, y, marker="D", color="black", ms=5, zorder=3)
        if all(math.isfinite(v) for v in p.test.ci):
            ax.plot(p.test.ci, [y, y], color="black", lw=1.6, zorder=2)
            seen += list(p.test.ci)
        seen += d.tolist()
    ax.axvline(0.0, color="gray", lw=1)
    if c.margin > 0:
        ax.axvline(c.margin, color="tab:green", lw=1, ls="--", label=f"margin {c.margin:.3g}")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xlim(*axis_limits(seen))
    ax.set_ylim(-0.6, len(pairs) - 0.4)
    ax.set_yticks(range(len(pairs)), [p.a for p in reversed(pairs)], fontsize=8)
    ax.set_xlabel(f"gain over {c.baseline} on test {c.metric.replace('_', ' ')} (positive: better)", fontsize=8)
    ax.set_title("per-run gains (dots), mean and 95% CI (corrected resampled t)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_curves(result: CompareResult) -> Any:
    """Training (solid) and validation (dashed) loss per epoch, one panel per loss: the mean over the runs that
    reached each epoch with a band of ± one standard deviation; the dotted line is the median best epoch."""
    trained = _trained(result)
    fig, nrow, ncol = _grid(len(trained), 3, 4.3, 3.0)
    for k, s in enumerate(trained):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        for series, style, label in (([r.train_losses for r in s.runs], "-", "train"),
                                     ([r.val_losses for r in s.runs], "--", "validation")):
            ep, mean, std, _ = epoch_bands(series)
            (line,) = ax.plot(ep, mean, ls=style, lw=1.4, label=f"{label} (mean)")
            ax.fill_between(ep, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
        ax.axvline(float(np.median([r.best_epoch for r in s.runs])), color="gray", ls=":", lw=1,
                   label="median best epoch")
        every = [v for r in s.runs for v in (*r.train_losses, *r.val_losses)]
        if every and min(every) > 0 and max(every) > 10 * min(every):  # the first epochs would flatten the rest
            _log_axis(ax)
        ax.set_title(f"{s.name} ({s.loss})", fontsize=9)
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("loss (its own scale)" + (", log axis" if ax.get_yscale() == "log" else ""), fontsize=8)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_validation_metric(result: CompareResult) -> Any:
    """The validation metric the checkpoints were chosen by, per epoch: every loss on one axis, the mean over
    the runs that reached each epoch with a band of ± one standard deviation."""
    fig = figure(figsize=(7.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    seen: list[float] = []
    for s in _trained(result):
        ep, mean, std, _ = epoch_bands([r.val_metrics for r in s.runs])
        (line,) = ax.plot(ep, mean, lw=1.4, label=s.name, color=_color(result, s) if s.baseline else None)
        ax.fill_between(ep, mean - std, mean + std, color=line.get_color(), alpha=0.15, lw=0)
        seen += mean[len(mean) // 4 :].tolist()  # the first epochs are far below; fit the part worth reading
    ax.set_ylim(*axis_limits(seen, bounds=(0.0, 1.0) if result.metric in BOUNDED else None, pad=0.3))
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_xlabel("epoch", fontsize=8)
    scaled = " (of the scaled target the loss sees)" if result.task == "regression" else ""
    ax.set_ylabel(f"validation {_label(result.metric)}{scaled}", fontsize=8)
    ax.set_title("validation metric per epoch: mean over runs ± 1 std (axis fitted to the later epochs)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_confusion(result: CompareResult, splits: Sequence[Prepared]) -> Any | None:
    """The confusion matrices of the baseline and the winner (or best by mean): each run's matrix divided by its
    row sums, then averaged over the runs; rows are the true classes and sum to 1."""
    if result.task not in CLASSIFICATION:
        return None
    shown = baseline_and_best(result)
    C = len(result.class_names) if result.class_names else (splits[0].num_classes or 2)
    labels = result.class_names or [str(i) for i in range(C)]
    side = min(6.0, 3.6 + 0.25 * C)
    fig = figure(figsize=(side * len(shown), side))
    for k, (name, role) in enumerate(shown):
        s = result.summary(name)
        pairs = paired(s, splits)
        m = mean_confusion(pairs, C)
        ax = fig.add_subplot(1, len(shown), k + 1)
        ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(C), labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(C), labels, fontsize=7)
        if C <= 20:
            for i in range(C):
                for j in range(C):
                    if np.isfinite(m[i, j]) and (m[i, j] >= 0.005 or i == j):
                        ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6 if C > 8 else 8,
                                color="white" if m[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true class (test)", fontsize=8)
        ax.set_title(f"{name}\n{role}\nrow-normalised, mean over {len(pairs)} run(s)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_calibration(result: CompareResult, splits: Sequence[Prepared]) -> Any | None:
    """Reliability diagram per row with class probabilities: the share of correct top-class predictions against
    the mean top-class confidence in 15 equal-width bins (the lab's ECE bins), every run's test rows pooled; the
    marker area follows the bin's row count; the diagonal is perfect calibration."""
    if result.task not in CLASSIFICATION:
        return None
    rows = [s for s in result.summaries if s.kind != "threshold" and s.runs and s.runs[0].probabilities is not None]
    if not rows:
        return None
    fig, nrow, ncol = _grid(len(rows), 3, 3.6, 3.4)
    for k, s in enumerate(rows):
        rel = reliability(paired(s, splits))
        ax = fig.add_subplot(nrow, ncol, k + 1)
        ax.plot([0, 1], [0, 1], color="gray", lw=1, ls="--")
        ax.plot(rel.confidence, rel.accuracy, color=_color(result, s), lw=1.2)
        ax.scatter(rel.confidence, rel.accuracy, s=8 + 120 * rel.count / rel.count.max(), color=_color(result, s),
                   alpha=0.7, linewidths=0)
        low = 1.0 / max(_classes(s), 2)  # the top-class confidence is at least 1/C
        ax.set_xlim(max(0.0, low - 0.03), 1.01)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{s.name}: pooled ECE {rel.ece:.3f}\n({len(s.runs)} runs, {rel.rows} test rows)", fontsize=8)
        ax.set_xlabel("top-class confidence", fontsize=8)
        ax.set_ylabel("share correct", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_roc_pr(result: CompareResult, splits: Sequence[Prepared]) -> Any | None:
    """Two classes: ROC and precision-recall curves of P(class 1), one curve per row with probabilities, the test
    rows of every run pooled into one curve; the legend gives the mean over runs of the per-run AUC / average
    precision (the table's numbers)."""
    if result.task != "binary":
        return None
    rows = [s for s in result.summaries if s.kind != "threshold" and s.runs and s.runs[0].probabilities is not None]
    fig = figure(figsize=(10.0, 4.2))
    roc, pr = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    base_rate = []
    for s in rows:
        pairs = paired(s, splits)
        positive = np.concatenate([y == 1 for _, y in pairs])
        score = np.concatenate([np.asarray(r.probabilities)[:, 1] for r, _ in pairs])
        base_rate.append(positive.mean())
        fpr, tpr = roc_curve(positive, score)
        rec, prec = pr_curve(positive, score)
        color = _color(result, s)
        roc.plot(fpr, tpr, lw=1.3, color=color if color != "tab:blue" else None,
                 label=f"{s.name} (AUC {s.mean.get('roc_auc', math.nan):.3f})")
        pr.step(rec, prec, where="post", lw=1.3, color=color if color != "tab:blue" else None,
                label=f"{s.name} (AP {s.mean.get('pr_auc', math.nan):.3f})")
    roc.plot([0, 1], [0, 1], color="gray", ls="--", lw=1)
    if base_rate:
        pr.axhline(float(np.mean(base_rate)), color="gray", ls="--", lw=1, label="chance (positive rate)")
    for ax, (x, y), title in ((roc, ("false positive rate", "true positive rate"), "ROC"),
                              (pr, ("recall", "precision"), "precision-recall")):
        ax.set_xlabel(x, fontsize=8)
        ax.set_ylabel(y, fontsize=8)
        ax.set_title(f"{title}: test rows of all runs pooled", fontsize=9)
        ax.legend(fontsize=7, loc="lower right" if ax is roc else "lower left")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def _pooled(s: LossSummary, splits: Sequence[Prepared]) -> tuple[np.ndarray, np.ndarray]:
    pairs = paired(s, splits)
    y = np.concatenate([y.astype(np.float64) for _, y in pairs])
    p = np.concatenate([np.asarray(r.predictions, dtype=np.float64).reshape(-1) for r, _ in pairs])
    return y, p


def plot_predicted(result: CompareResult, splits: Sequence[Prepared]) -> Any | None:
    """Regression: predicted against actual test targets for the baseline and the best loss, every run's test
    rows pooled, with the identity line."""
    if result.task != "regression":
        return None
    shown = baseline_and_best(result)
    fig = figure(figsize=(4.6 * len(shown), 4.4))
    for k, (name, role) in enumerate(shown):
        y, p = _pooled(result.summary(name), splits)
        ax = fig.add_subplot(1, len(shown), k + 1)
        ax.scatter(y, p, s=7, alpha=0.35, linewidths=0, color="dimgray" if role.startswith("baseline") else "tab:green")
        lo, hi = axis_limits(np.r_[y, p], pad=0.04)
        ax.plot([lo, hi], [lo, hi], color="black", lw=1)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("actual (test)", fontsize=8)
        ax.set_ylabel("predicted", fontsize=8)
        runs = len(result.summary(name).runs)
        ax.set_title(f"{name} ({role})\ntest rows of {runs} run(s) pooled, MAE {np.abs(p - y).mean():.4g}", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_residuals(result: CompareResult, splits: Sequence[Prepared]) -> Any | None:
    """Regression: histograms of the residuals (predicted - actual) of the baseline and the best loss on shared
    bins, every run's test rows pooled."""
    if result.task != "regression":
        return None
    shown = baseline_and_best(result)
    data = [(name, role, np.subtract(*_pooled(result.summary(name), splits)[::-1])) for name, role in shown]
    every = np.concatenate([d for _, _, d in data])
    lo, hi = np.percentile(every, [0.5, 99.5]) if every.size else (0.0, 1.0)
    bins = np.linspace(lo, hi, 41) if hi > lo else 20
    fig = figure(figsize=(7.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for name, role, d in data:
        ax.hist(np.clip(d, lo, hi), bins=bins, histtype="step", lw=1.5,
                color="dimgray" if role.startswith("baseline") else "tab:green",
                label=f"{name} ({role}): median {np.median(d):+.3g}, MAE {np.abs(d).mean():.3g}")
    ax.axvline(0.0, color="black", lw=1)
    ax.set_xlabel("residual = predicted - actual (target units; the 1% tails folded into the end bins)", fontsize=8)
    ax.set_ylabel("test rows", fontsize=8)
    ax.set_title("residuals, test rows of all runs pooled", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
