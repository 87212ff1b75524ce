"""Task metrics written with numpy (the tests check them against scikit-learn).

Classification, from the predicted class probabilities ``(N, C)``:

* thresholded (the predicted class is the argmax, or ``y_pred`` when given): accuracy, balanced accuracy (mean
  recall over the classes present in ``y_true``), macro-F1 (over the classes present in ``y_true`` or ``y_pred``,
  as scikit-learn), recall per class;
* threshold-free: ROC AUC and PR-AUC (average precision, scikit-learn's step-wise sum
  ``sum_n (R_n - R_{n-1}) P_n``), of the positive class for two classes and the unweighted mean of one-vs-rest
  over the classes for more;
* proper scores of the probabilities: log-loss ``-mean log p_y`` (probabilities clipped at 1e-15) and the Brier
  score (two classes: ``mean (p_1 - y)^2``; more: ``mean sum_k (p_k - [y = k])^2``, both as scikit-learn's
  ``brier_score_loss``);
* the expected calibration error (15 equal-width bins of the top-class confidence; Guo et al., "On Calibration of
  Modern Neural Networks", 2017).

Multi-label, from the label probabilities ``(N, L)`` and 0/1 targets ``(N, L)`` (:func:`multilabel_metrics`): mAP
(the mean over labels of their average precision), micro- and macro-F1 at probability 0.5, ROC AUC per label and
its mean, and the mean binary log-loss.

Regression: MAE, RMSE and R² of the point prediction; for a loss that predicts the quantiles 0.1, 0.5 and 0.9
(``quantile``), :func:`interval_metrics` of the interval [q0.1, q0.9]: its coverage (nominal 0.8) and mean width.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HIGHER_IS_BETTER", "NOMINAL", "average_precision", "balanced_accuracy", "brier_score",
           "classification_metrics", "confusion_matrix", "expected_calibration_error", "interval_metrics", "log_loss",
           "multilabel_metrics", "regression_metrics", "roc_auc"]

HIGHER_IS_BETTER = {
    "accuracy": True, "balanced_accuracy": True, "macro_f1": True, "minority_recall": True, "ece": False,
    "roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False,
    "mae": False, "rmse": False, "r2": True, "interval_width": False,
    "interval_coverage": True,  # up to its nominal level (NOMINAL): the table shows that level, not an arrow
    "map": True, "micro_f1": True,
    "mean_iou": True, "mean_dice": True, "pixel_accuracy": True, "interior_pixel_accuracy": True,
    "map_at_r": True, "recall_at_1": True, "recall_at_5": True,
}

NOMINAL = {"interval_coverage": 0.8}
"""Metrics judged by their distance to a nominal value: the interval [q0.1, q0.9] should hold 80% of the targets."""


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``M[i, j]`` = rows of class ``i`` predicted as ``j``."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return m


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """``sum_b |B_b|/N * |accuracy(B_b) - confidence(B_b)|`` over equal-width bins of the top-class probability."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Mean recall over the classes present in ``y_true`` (the per-epoch validation metric: no other work)."""
    support = np.bincount(y_true, minlength=num_classes)
    hits = np.bincount(y_true[y_pred == y_true], minlength=num_classes)
    present = support > 0
    return float((hits[present] / support[present]).mean()) if present.any() else 0.0


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + P(tie) / 2 (Mann-Whitney, midranks for ties)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    sorted_scores = score[order]
    ranks = np.empty(score.size, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], score.size]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = 0.5 * (a + b - 1) + 1.0  # midrank of the tied block, ranks from 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _binary_ap(positive: np.ndarray, score: np.ndarray) -> float:
    """Average precision: ``sum_n (R_n - R_{n-1}) P_n`` over the distinct scores, highest first."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort")
    s, hit = score[order], positive[order].astype(np.float64)
    last = np.r_[s[1:] != s[:-1], True]  # the last row of each block of equal scores
    tp = np.cumsum(hit)[last]
    seen = (np.arange(1, s.size + 1))[last]
    precision = tp / seen
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _one_vs_rest(fn, y_true: np.ndarray, probs: np.ndarray) -> float:
    if probs.shape[1] == 2:
        return fn(y_true == 1, probs[:, 1])
    scores = [fn(y_true == k, probs[:, k]) for k in range(probs.shape[1])]
    scores = [v for v in scores if np.isfinite(v)]
    return float(np.mean(scores)) if scores else float("nan")


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC of class 1 (two classes) or the macro mean of one-vs-rest (more; classes with no positive or no
    negative row left out); NaN when no class can be scored."""
    return _one_vs_rest(_binary_auc, np.asarray(y_true, dtype=np.int64), np.asarray(probs, dtype=np.float64))


def average_precision(y_true: np.ndarray, probs: np.ndarray) -> float:
    """PR-AUC as average precision, of class 1 (two classes) or the macro mean of one-vs-rest (more)."""
    return _one_vs_rest(_binary_ap, np.asarray(y_true, dtype=np.int64), np.asarray(probs, dtype=np.float64))


def log_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    """``-mean log p_y``, probabilities clipped to ``[1e-15, 1]``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    p = np.clip(np.asarray(probs, dtype=np.float64)[np.arange(y_true.size), y_true], 1e-15, 1.0)
    return float(-np.log(p).mean())


def brier_score(y_true: np.ndarray, probs: np.ndarray) -> float:
    """``mean (p_1 - y)^2`` for two classes, ``mean sum_k (p_k - [y = k])^2`` for more (as scikit-learn)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[1] == 2:
        return float(((probs[:, 1] - (y_true == 1)) ** 2).mean())
    onehot = np.eye(probs.shape[1])[y_true]
    return float(((probs - onehot) ** 2).sum(1).mean())


def classification_metrics(y_true: np.ndarray, probs: np.ndarray,
                           y_pred: np.ndarray | None = None) -> dict[str, object]:
    """Metrics from class probabilities ``(N, C)`` (and the predicted classes ``y_pred``, default the argmax);
    ``per_class_recall`` holds ``None`` for absent classes."""
    y_true = np.asarray(y_true, dtype=np.int64)
    num_classes = probs.shape[1]
    y_pred = probs.argmax(1) if y_pred is None else np.asarray(y_pred, dtype=np.int64)
    m = confusion_matrix(y_true, y_pred, num_classes)
    support = m.sum(1)
    predicted = m.sum(0)
    tp = np.diag(m).astype(np.float64)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    labels = present | (predicted > 0)
    return {
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[labels].mean()) if labels.any() else 0.0,
        "roc_auc": roc_auc(y_true, probs),
        "pr_auc": average_precision(y_true, probs),
        "log_loss": log_loss(y_true, probs),
        "brier": brier_score(y_true, probs),
        "ece": expected_calibration_error(y_true, probs),
        "per_class_recall": [float(r) if s else None for r, s in zip(recall, support)],
    }


def multilabel_metrics(y_true: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict[str, object]:
    """Multi-label metrics of 0/1 targets ``(N, L)`` and label probabilities ``(N, L)``; a label is predicted when its
    probability is at least ``threshold``.

    * ``map``: the mean over labels with a positive row of their average precision (scikit-learn's
      ``average_precision_score(average="macro")`` on those labels);
    * ``micro_f1`` (F1 of all the label decisions pooled) and ``macro_f1`` (the mean of the per-label F1, a label
      with no positive and no predicted positive counting 0, as scikit-learn's ``zero_division=0``);
    * ``per_label_auc`` (``None`` for a label with only one class in ``y_true``) and ``roc_auc``, their mean;
    * ``log_loss``: the mean binary cross-entropy over all entries (probabilities clipped to ``[1e-15, 1 - 1e-15]``).
    """
    y = np.asarray(y_true, dtype=np.int64).reshape(len(y_true), -1)
    p = np.asarray(probs, dtype=np.float64).reshape(y.shape)
    pred = p >= threshold
    pos = y == 1
    tp = (pred & pos).sum(0).astype(np.float64)
    fp = (pred & ~pos).sum(0).astype(np.float64)
    fn = (~pred & pos).sum(0).astype(np.float64)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    micro = 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1.0)
    aps = [_binary_ap(pos[:, k], p[:, k]) for k in range(y.shape[1])]
    aucs = [_binary_auc(pos[:, k], p[:, k]) for k in range(y.shape[1])]
    aps = [a for a in aps if np.isfinite(a)]
    scored = [a for a in aucs if np.isfinite(a)]
    q = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "map": float(np.mean(aps)) if aps else float("nan"),
        "micro_f1": float(micro),
        "macro_f1": float(f1.mean()),
        "roc_auc": float(np.mean(scored)) if scored else float("nan"),
        "log_loss": float(-(y * np.log(q) + (1 - y) * np.log(1 - q)).mean()),
        "per_label_auc": [float(a) if np.isfinite(a) else None for a in aucs],
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² (``1 - SS_res / SS_tot``; 0 when the targets are constant)."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    err = y_pred - y_true
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1.0 - (err**2).sum() / ss_tot) if ss_tot > 0 else 0.0,
    }


def interval_metrics(y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, float]:
    """``interval_coverage``: the share of targets with ``lower <= y <= upper``; ``interval_width``: the mean of
    ``upper - lower`` (target units). For the quantiles 0.1 and 0.9 the nominal coverage is 0.8: far below, the
    intervals are too narrow (over-confident); far above, too wide."""
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    lo = np.asarray(lower, dtype=np.float64).reshape(-1)
    hi = np.asarray(upper, dtype=np.float64).reshape(-1)
    return {
        "interval_coverage": float(((lo <= y) & (y <= hi)).mean()) if y.size else float("nan"),
        "interval_width": float((hi - lo).mean()) if y.size else float("nan"),
    }
