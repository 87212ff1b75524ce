"""Task types of the lab's Dataset path (:mod:`losskit.lab.train_torch`): per task, how the model's output and the
targets become a loss call, the metrics, and the checkpoint criterion.

=============  ========================  =====================================  ===============================
task           target per item           model output per batch                 metrics (primary first)
=============  ========================  =====================================  ===============================
binary         int 0/1 scalar            ``(N,)``, ``(N, 1)`` or ``(N, 2)``     balanced accuracy, ... (as the
multiclass     int class index           ``(N, C)`` logits                      tabular lab)
regression     float scalar or vector    the target's shape per row             MAE, RMSE, R²
multilabel     ``(L,)`` 0/1 vector       ``(N, L)`` logits                      mAP, micro/macro F1, ROC AUC
retrieval      int class index           ``(N, D)`` embeddings                  MAP@R, Recall@1, Recall@5
=============  ========================  =====================================  ===============================

A loss of the advisor's menu (:data:`losskit.advisor.LOSS_MENU`) gets what its ``head`` expects: for two classes a
``"sigmoid"`` loss sees the logit ``z_1 - z_0`` of a two-logit model, and a ``"logits"`` loss sees ``[0, z]`` of a
one-logit model (the same probabilities either way: ``softmax([z_0, z_1])_1 = sigmoid(z_1 - z_0)``). A loss of your
own gets the model's output as it is (float32) and the target in its canonical form: class indices (int64) for
binary and multiclass, float32 for regression and multilabel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._extras import LabError
from .metrics import balanced_accuracy, classification_metrics, multilabel_metrics, regression_metrics

__all__ = ["TASKS", "Task", "get_task", "infer_task"]

FEW_VALIDATION_ROWS = 10
"""Below this many validation rows in some class, checkpoints are chosen by the class-balanced log-loss."""


def _shape(t: Tensor | np.ndarray) -> str:
    return "(" + ", ".join(str(int(s)) for s in t.shape) + ")"


def _balanced_log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    nll = -np.log(np.clip(probs[np.arange(y.size), y], 1e-15, 1.0))
    return float(np.mean([nll[y == k].mean() for k in np.unique(y)]))


@dataclass(frozen=True)
class Task:
    """One task type: what a loss sees, the metrics and the checkpoint criterion."""

    name: str
    metrics: tuple[str, ...]
    """Every scalar test metric (``results.json``), the primary one first."""
    table: tuple[str, ...]
    """The terminal table's columns."""

    @property
    def primary(self) -> str:
        return self.metrics[0]

    @property
    def classification(self) -> bool:
        return self.name in ("binary", "multiclass")

    def for_head(self, head: str) -> Task:
        """The task as it measures a loss of ``head`` (retrieval: the loss's distance); here itself."""
        return self

    # ---- the loss call
    def target(self, y: Tensor) -> Tensor:
        """The canonical target of a batch (what a custom loss gets)."""
        if self.classification:
            return y.reshape(-1).long()
        return y.float()

    def check_output(self, out: Tensor, y: Tensor, num_classes: int | None, where: str) -> None:
        """One-line :class:`LabError` when the model's output cannot serve this task's targets."""
        n = y.shape[0]
        if self.name == "multiclass":
            ok = out.ndim == 2 and out.shape == (n, num_classes)
            want = f"({n}, {num_classes}) logits for {num_classes} classes"
        elif self.name == "binary":
            ok = out.shape in ((n,), (n, 1), (n, 2))
            want = f"({n},), ({n}, 1) or ({n}, 2) logits for two classes"
        elif self.name == "multilabel":
            ok = out.shape == y.shape
            want = f"{_shape(y)} logits, one per label"
        else:
            ok = out.numel() == y.numel() and out.shape[0] == n
            want = f"{_shape(y)} values like the target"
        if not ok:
            raise LabError(f"{where}: the model's output must be {want}, but got {_shape(out)}; make the model's "
                           "last layer output that")

    def loss_input(self, head: str, out: Tensor) -> Tensor:
        """The model's output as a loss of ``head`` wants it (``"custom"``: as it is)."""
        out = out.float()
        if head == "custom":
            return out
        if self.name == "binary":
            if head == "sigmoid":
                return out[:, 1] - out[:, 0] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(-1)
            if out.ndim == 1 or out.shape[1] == 1:
                z = out.reshape(-1, 1)
                return torch.cat([torch.zeros_like(z), z], 1)
            return out
        if self.name == "regression":
            return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
        return out

    def loss_target(self, head: str, y: Tensor, out: Tensor) -> Tensor:
        """The target as a loss of ``head`` wants it."""
        t = self.target(y)
        if head == "sigmoid" and self.name == "binary":
            return t.float()
        if self.name == "regression":
            return t.reshape(self.loss_input(head, out).shape)
        return t

    # ---- probabilities and metrics
    def probabilities(self, out: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, C)`` (classification) or label probabilities ``(N, L)`` (multilabel)."""
        z = torch.as_tensor(out, dtype=torch.float32)
        if self.name == "multilabel":
            return torch.sigmoid(z).numpy()
        if z.ndim == 1 or z.shape[1] == 1:
            p = torch.sigmoid(z.reshape(-1)).numpy()
            return np.stack([1.0 - p, p], 1)
        return torch.softmax(z, 1).numpy()

    def scores(self, y: np.ndarray, out: np.ndarray, train_counts: Sequence[int] | None
               ) -> tuple[dict[str, object], np.ndarray, np.ndarray | None]:
        """``(metrics, predictions, probabilities)`` of the test outputs ``out``."""
        if self.name == "regression":
            pred = np.asarray(out, dtype=np.float64).reshape(np.shape(y))
            return dict(regression_metrics(y, pred)), pred, None
        probs = self.probabilities(out)
        if self.name == "multilabel":
            return multilabel_metrics(y, probs), (probs >= 0.5).astype(np.int64), probs
        metrics = classification_metrics(y, probs)
        counts = np.asarray(train_counts)
        rare = int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
        metrics["minority_recall"] = metrics["per_class_recall"][rare]  # type: ignore[index]
        return metrics, probs.argmax(1), probs

    def criterion(self, y_val: np.ndarray, num_classes: int | None) -> str:
        """``"balanced_log_loss"`` when some class has fewer than :data:`FEW_VALIDATION_ROWS` validation rows (a
        balanced accuracy over a handful of rows picks lucky epochs), else ``"metric"``."""
        if not self.classification:
            return "metric"
        counts = np.bincount(np.asarray(y_val, dtype=np.int64), minlength=num_classes or 0)
        return "balanced_log_loss" if counts.min() < FEW_VALIDATION_ROWS else "metric"

    def validation(self, y: np.ndarray, out: np.ndarray, criterion: str, num_classes: int | None
                   ) -> tuple[float, float, float]:
        """``(metric, score, tie)``: the validation metric for the curves; the checkpoint is the epoch with the
        highest ``(score, tie)``."""
        if self.name == "regression":
            mae = float(np.abs(np.asarray(out, dtype=np.float64).reshape(np.shape(y)) - y).mean())
            return mae, -mae, 0.0
        probs = self.probabilities(out)
        if self.name == "multilabel":
            m = multilabel_metrics(y, probs)
            p = np.clip(probs, 1e-7, 1 - 1e-7)
            bce = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
            return float(m["map"]), float(m["map"]), -bce  # type: ignore[arg-type]
        metric = balanced_accuracy(y, probs.argmax(1), probs.shape[1])
        smooth = -_balanced_log_loss(y, probs)
        return metric, (metric if criterion == "metric" else smooth), smooth


CLASSIFICATION = ("balanced_accuracy", "accuracy", "macro_f1", "minority_recall", "roc_auc", "pr_auc", "log_loss",
                  "brier", "ece")
TASKS = {
    "binary": Task("binary", CLASSIFICATION, ("balanced_accuracy", "minority_recall", "macro_f1", "roc_auc",
                                              "pr_auc", "log_loss", "brier", "ece")),
    "multiclass": Task("multiclass", CLASSIFICATION, ("balanced_accuracy", "minority_recall", "macro_f1",
                                                      "roc_auc", "pr_auc", "log_loss", "brier", "ece")),
    "regression": Task("regression", ("mae", "rmse", "r2"), ("mae", "rmse", "r2")),
    "multilabel": Task("multilabel", ("map", "micro_f1", "macro_f1", "roc_auc", "log_loss"),
                       ("map", "micro_f1", "macro_f1", "roc_auc", "log_loss")),
}
"""The task types of the Dataset path, by name."""
from .task_segmentation import SEGMENTATION, infer_segmentation  # noqa: E402  (it subclasses Task)

TASKS["segmentation"] = SEGMENTATION
from .task_retrieval import RETRIEVAL  # noqa: E402  (it subclasses Task)

TASKS["retrieval"] = RETRIEVAL


def get_task(name: str, where: str = "compare") -> Task:
    if name not in TASKS:
        raise LabError(f"{where}: task must be one of {', '.join(TASKS)}, but got {name!r}; drop --task to infer it "
                       "from the targets")
    return TASKS[name]


def infer_task(y: np.ndarray) -> tuple[str, str]:
    """The task of the training targets ``y`` (one row per item) and why: integer or bool scalars are classes
    (two values 0/1: binary), float scalars are regression, ``(L,)`` 0/1 vectors are multi-label, other float
    vectors multi-output regression; ``(H, W)`` integer masks segmentation (:mod:`losskit.lab.task_segmentation`)."""
    if y.ndim >= 3 and (seg := infer_segmentation(y)) is not None:
        return seg
    if y.ndim == 1:
        if y.dtype.kind in "biu":
            values = np.unique(y)
            if values.size <= 2 and np.isin(values, (0, 1)).all():
                return "binary", "integer targets 0/1: a binary task"
            return "multiclass", f"integer targets with {values.size} distinct values: class indices, multi-class"
        return "regression", "float scalar targets: a regression task"
    if np.isin(np.unique(y), (0, 1)).all():
        return "multilabel", f"0/1 target vectors of {y.shape[1]} labels: a multi-label task"
    return "regression", f"real-valued target vectors of shape {_shape(y[0])}: multi-output regression"
