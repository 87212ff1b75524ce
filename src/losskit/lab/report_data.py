"""The numbers behind the report's tables and figures, in numpy: per-class precision/recall/F1/support over runs,
row-normalised confusion matrices averaged over runs, reliability bins, ROC and PR curves, mean curves with a band,
and axis limits fitted to the data.

Run ``k`` of every row of a :class:`~losskit.lab.runner.CompareResult` tested on split ``k``, so its test targets
are ``splits[k].y_test``; :func:`paired` pairs them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data import Prepared
from .metrics import HIGHER_IS_BETTER, confusion_matrix
from .runner import CompareResult, LossSummary
from .train import RunResult

__all__ = ["PerClass", "Reliability", "axis_limits", "baseline_and_best", "epoch_bands", "mean_confusion",
           "paired", "per_class", "pr_curve", "reliability", "roc_curve", "shown_best"]

RELIABILITY_BINS = 15
"""As the ECE of :mod:`losskit.lab.metrics`."""


def paired(s: LossSummary, splits: Sequence[Prepared]) -> list[tuple[RunResult, np.ndarray]]:
    """``(run, y_test)`` for the runs of ``s`` whose split is in ``splits`` (run ``k`` tested on ``splits[k]``)."""
    return [(r, np.asarray(p.y_test)) for r, p in zip(s.runs, splits)]


def shown_best(result: CompareResult) -> str:
    """The winner, or the trained loss with the best mean on the primary metric when no winner is named."""
    if result.winner:
        return result.winner
    losses = [s for s in result.summaries if s.kind == "loss"]
    if result.comparison is not None and result.comparison.best in {s.name for s in losses}:
        return result.comparison.best
    sign = 1.0 if HIGHER_IS_BETTER.get(result.metric, True) else -1.0
    finite = [s for s in losses if math.isfinite(s.mean[result.metric])] or losses
    return max(finite, key=lambda s: sign * s.mean[result.metric]).name


def baseline_and_best(result: CompareResult) -> list[tuple[str, str]]:
    """``[(name, role)]``: the baseline and the winner (or best by mean), once when they are the same loss."""
    best = shown_best(result)
    base = result.config.get("baseline") or next((s.name for s in result.summaries if s.baseline), best)
    tag = "winner" if result.winner else "best by mean, no clear winner"
    if base == best:
        return [(best, f"baseline and {tag}")]
    return [(base, "baseline"), (best, tag)]


@dataclass
class PerClass:
    """Per class over runs: the mean and the sample std (0 with one run) of precision, recall, F1 and support."""

    runs: int
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    precision_std: np.ndarray
    recall_std: np.ndarray
    f1_std: np.ndarray
    support_std: np.ndarray


def per_class(pairs: Sequence[tuple[RunResult, np.ndarray]], num_classes: int) -> PerClass:
    """Precision, recall, F1 (0 where undefined, as scikit-learn's ``zero_division=0``) and support of each class on
    each run's test split, then the mean and std over runs."""
    rows = []
    for run, y in pairs:
        m = confusion_matrix(y, run.predictions, num_classes).astype(np.float64)
        tp, support, predicted = np.diag(m), m.sum(1), m.sum(0)
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                       where=precision + recall > 0)
        rows.append(np.stack([precision, recall, f1, support]))
    table = np.asarray(rows)  # (runs, 4, C)
    mean = table.mean(0)
    std = table.std(0, ddof=1) if len(rows) > 1 else np.zeros_like(mean)
    return PerClass(len(rows), *mean, *std)


def mean_confusion(pairs: Sequence[tuple[RunResult, np.ndarray]], num_classes: int) -> np.ndarray:
    """Each run's confusion matrix divided by its row sums (``M[i, j]``: the share of class ``i`` predicted as
    ``j``), averaged over the runs; a class absent from a run's test split is left out of that row's mean."""
    mats = []
    for run, y in pairs:
        m = confusion_matrix(y, run.predictions, num_classes).astype(np.float64)
        total = m.sum(1, keepdims=True)
        mats.append(np.divide(m, total, out=np.full_like(m, np.nan), where=total > 0))
    stacked = np.asarray(mats)
    seen = ~np.isnan(stacked)
    return np.where(seen.any(0), np.nansum(stacked, 0) / np.maximum(seen.sum(0), 1), np.nan)


@dataclass
class Reliability:
    """Top-class confidence in equal-width bins, pooled over runs: per non-empty bin the mean confidence, the share
    correct and the row count; ``ece`` is the pooled expected calibration error."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    ece: float
    rows: int


def reliability(pairs: Sequence[tuple[RunResult, np.ndarray]], bins: int = RELIABILITY_BINS) -> Reliability:
    """The reliability diagram's points, from every run's test rows pooled (the bins of the lab's ECE)."""
    probs = np.concatenate([np.asarray(r.probabilities) for r, _ in pairs])
    y = np.concatenate([y for _, y in pairs])
    conf = probs.max(1)
    correct = (probs.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    keep = count > 0
    c_sum = np.bincount(which, weights=conf, minlength=bins)
    a_sum = np.bincount(which, weights=correct, minlength=bins)
    c_mean, a_mean = c_sum[keep] / count[keep], a_sum[keep] / count[keep]
    ece = float(np.sum(count[keep] / conf.size * np.abs(a_mean - c_mean)))
    return Reliability(c_mean, a_mean, count[keep].astype(np.int64), ece, int(conf.size))


def _ranked(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives when predicting 1 for the k highest distinct scores, k = 1, 2, ..."""
    order = np.argsort(-score, kind="mergesort")
    s, hit = score[order], positive[order].astype(np.float64)
    last = np.r_[s[1:] != s[:-1], True]
    return np.cumsum(hit)[last], np.cumsum(1.0 - hit)[last]


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(false positive rate, true positive rate)`` from ``(0, 0)`` to ``(1, 1)``, one point per distinct score."""
    tp, fp = _ranked(np.asarray(positive, dtype=bool), np.asarray(score, dtype=np.float64))
    return np.r_[0.0, fp / max(fp[-1], 1.0)], np.r_[0.0, tp / max(tp[-1], 1.0)]


def pr_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(recall, precision)``, one point per distinct score, starting at recall 0 with the first point's
    precision (as scikit-learn draws it)."""
    tp, fp = _ranked(np.asarray(positive, dtype=bool), np.asarray(score, dtype=np.float64))
    precision = tp / (tp + fp)
    recall = tp / max(tp[-1], 1.0)
    return np.r_[0.0, recall], np.r_[precision[0], precision]


def epoch_bands(series: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(epochs, mean, std, runs)`` over the runs that reached each epoch (early stopping ends runs at different
    epochs); the std is 0 where one run remains."""
    longest = max((len(v) for v in series), default=0)
    table = np.full((len(series), longest), np.nan)
    for k, v in enumerate(series):
        table[k, : len(v)] = np.asarray(v, dtype=np.float64)
    finite = np.isfinite(table)
    count = finite.sum(0)
    total = np.where(finite, table, 0.0).sum(0)
    mean = total / np.maximum(count, 1)
    dev = np.where(finite, table - mean, 0.0)
    std = np.sqrt((dev**2).sum(0) / np.maximum(count - 1, 1))
    std[count < 2] = 0.0
    mean[count == 0] = np.nan
    return np.arange(1, longest + 1), mean, std, count


def axis_limits(values: Sequence[float] | np.ndarray, *, pad: float = 0.12,
                bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """Limits that fit ``values`` with a margin of ``pad`` times their range on each side (not from 0), kept
    within ``bounds`` widened by the same margin (a metric in [0, 1] is not drawn far beyond 1)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (0.0, 1.0) if bounds is None else bounds
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo
    if span <= 1e-12 * max(1.0, abs(hi)):
        span = max(abs(hi) * 0.02, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    if bounds is not None:
        lo, hi = max(lo, bounds[0] - pad * span), min(hi, bounds[1] + pad * span)
    return lo, hi
