"""Task metrics written with numpy (the tests check them against scikit-learn).

Classification: accuracy, balanced accuracy (mean recall over the classes present in ``y_true``), macro-F1 (over the
classes present in ``y_true`` or ``y_pred``, as scikit-learn), recall per class, and the expected calibration error
(15 equal-width bins of the top-class confidence; Guo et al., "On Calibration of Modern Neural Networks", 2017).
Regression: MAE, RMSE and R².
"""

from __future__ import annotations

import numpy as np

__all__ = ["HIGHER_IS_BETTER", "classification_metrics", "confusion_matrix", "expected_calibration_error",
           "regression_metrics"]

HIGHER_IS_BETTER = {
    "accuracy": True, "balanced_accuracy": True, "macro_f1": True, "minority_recall": True, "ece": False,
    "mae": False, "rmse": False, "r2": True,
}


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


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, object]:
    """Metrics from class probabilities ``(N, C)``; ``per_class_recall`` holds ``None`` for absent classes."""
    y_true = np.asarray(y_true, dtype=np.int64)
    num_classes = probs.shape[1]
    y_pred = probs.argmax(1)
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
        "ece": expected_calibration_error(y_true, probs),
        "per_class_recall": [float(r) if s else None for r, s in zip(recall, support)],
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
