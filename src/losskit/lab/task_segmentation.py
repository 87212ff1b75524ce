"""The segmentation task of the lab's Dataset path (:mod:`losskit.lab.tasks`): per-pixel classes.

=========  ==============================  ===============================  =========================================
mode       target per item                 model output per batch           the losses are called as
=========  ==============================  ===============================  =========================================
multiclass ``(H, W)`` integer class mask   ``(N, C, H, W)`` logits          ``mode="multiclass"``: softmax over C
binary     ``(1, H, W)`` 0/1 mask          ``(N, 1, H, W)`` logits          ``mode="binary"``: a sigmoid per pixel
=========  ==============================  ===============================  =========================================

The mode is read from the targets: an ``(H, W)`` mask per item is multi-class (two classes 0/1 included: the model
then outputs two channels), a ``(1, H, W)`` mask is binary. A 2-D integer target per item is inferred as
segmentation; a ``(1, H, W)`` integer 0/1 target too; anything else needs ``task="segmentation"``.

Metrics, over the whole test split (every pixel of every test image pooled into one confusion matrix, so a class
is scored once, not once per image; binary masks count as the two classes background and foreground):

* ``mean_iou`` (primary): the mean over classes of ``TP / (TP + FP + FN)``; a class absent from both the truth and
  the prediction has no IoU and is left out of the mean;
* ``mean_dice`` and ``per_class_dice``: ``2 TP / (2 TP + FP + FN)`` per class (``per_class_iou`` likewise);
* ``pixel_accuracy``: the share of pixels whose class is right;
* ``interior_pixel_accuracy``: the same, leaving out a 1-pixel band around every class boundary of the ground truth
  (the pixels whose 3x3 neighbourhood holds another class: one pixel on each side of a boundary; the image border
  is not a boundary). Annotators disagree by about a pixel at edges; this metric does not reward or punish that.

Candidates (:data:`MENU`), each configured for the mode: cross-entropy (the baseline; BCE with logits for binary
masks), Dice, Dice + CE, focal, Jaccard, Lovász and Tversky. ``losses="auto"`` ranks them from the statistics of
the training masks (:func:`mask_stats`, :func:`plan`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from .. import advisor
from ._extras import LabError
from .tasks import Task, _shape

if TYPE_CHECKING:
    from .byo import LossSpec

__all__ = ["MENU", "SEGMENTATION", "MaskStats", "SegmentationTask", "boundary_band", "infer_segmentation",
           "mask_stats", "num_classes", "plan", "preview_inputs", "resolve_losses", "segmentation_metrics"]

SMALL_FOREGROUND = 0.2
"""Below this share of foreground pixels (class > 0), the overlap losses rank before Lovász and Jaccard."""
MANY_EMPTY = 0.25
"""From this share of masks without foreground on, focal and Dice + CE rank before the pure overlap losses."""
PREVIEW = 4
"""Test images kept for the report's picture of predictions."""


# ---- metrics
def boundary_band(mask: np.ndarray) -> np.ndarray:
    """``True`` where a pixel's 3x3 neighbourhood in ``mask`` (``(..., H, W)`` class indices) holds another class:
    one pixel on each side of every class boundary. The image border is not a boundary (edge padding)."""
    m = np.asarray(mask)
    pad = [(0, 0)] * (m.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(m, pad, mode="edge")
    H, W = m.shape[-2:]
    band = np.zeros(m.shape, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            band |= p[..., dy : dy + H, dx : dx + W] != m
    return band


def segmentation_metrics(y: np.ndarray, pred: np.ndarray, num_classes: int) -> dict[str, object]:
    """The test metrics of predicted class masks ``pred`` against ``y`` (both ``(N, H, W)`` class indices), every
    pixel of the split pooled: ``mean_iou``, ``mean_dice``, ``pixel_accuracy``, ``interior_pixel_accuracy`` and the
    lists ``per_class_iou``, ``per_class_dice`` (NaN for a class absent from truth and prediction)."""
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    C = int(num_classes)
    conf = np.bincount((C * y + pred).reshape(-1), minlength=C * C).reshape(C, C).astype(np.float64)
    tp = np.diag(conf)
    fp = conf.sum(0) - tp
    fn = conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        dice = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    inner = ~boundary_band(y)
    right = pred == y
    return {
        "mean_iou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "mean_dice": float(np.nanmean(dice)) if np.isfinite(dice).any() else float("nan"),
        "pixel_accuracy": float(right.mean()),
        "interior_pixel_accuracy": float(right[inner].mean()) if inner.any() else float("nan"),
        "per_class_iou": [float(v) for v in iou],
        "per_class_dice": [float(v) for v in dice],
    }


# ---- the task
def _binary(y: Tensor | np.ndarray) -> bool:
    """Binary masks ``(N, 1, H, W)``; multi-class masks are ``(N, H, W)``."""
    return y.ndim == 4


@dataclass(frozen=True)
class SegmentationTask(Task):
    """Per-pixel classes: ``(N, C, H, W)`` logits against ``(N, H, W)`` class masks, or ``(N, 1, H, W)`` logits
    against ``(N, 1, H, W)`` 0/1 masks."""

    def target(self, y: Tensor) -> Tensor:
        return y.float() if _binary(y) else y.long()

    def check_output(self, out: Tensor, y: Tensor, num_classes: int | None, where: str) -> None:
        n, hw = y.shape[0], tuple(y.shape[-2:])
        if _binary(y):
            ok = tuple(out.shape) == (n, 1, *hw)
            want = f"{_shape(y)} logits, one channel for the 0/1 masks"
        else:
            C = int(num_classes or 2)
            ok = out.ndim == 4 and out.shape[0] == n and tuple(out.shape[2:]) == hw and out.shape[1] >= C
            want = f"({n}, {C}, {hw[0]}, {hw[1]}) logits, one channel per class of the masks"
        if not ok:
            raise LabError(f"{where}: the model's output must be {want}, but got {_shape(out)}; make the model's "
                           "last layer a convolution with that many channels at the masks' size")

    def loss_input(self, head: str, out: Tensor) -> Tensor:
        return out.float()

    def loss_target(self, head: str, y: Tensor, out: Tensor) -> Tensor:
        return self.target(y)

    def probabilities(self, out: np.ndarray) -> np.ndarray:
        z = torch.as_tensor(out, dtype=torch.float32)
        return (torch.sigmoid(z) if z.shape[1] == 1 else torch.softmax(z, 1)).numpy()

    def predict(self, out: np.ndarray) -> np.ndarray:
        """Class masks ``(N, H, W)``: the argmax over channels, or logit >= 0 for one channel."""
        z = np.asarray(out)
        return (z[:, 0] >= 0).astype(np.int64) if z.shape[1] == 1 else z.argmax(1)

    def _classes(self, y: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, int]:
        if _binary(y):
            return np.asarray(y)[:, 0].astype(np.int64), 2
        return np.asarray(y, dtype=np.int64), int(np.asarray(out).shape[1])

    def scores(self, y: np.ndarray, out: np.ndarray, train_counts: Sequence[int] | None
               ) -> tuple[dict[str, object], np.ndarray, np.ndarray | None]:
        truth, C = self._classes(y, out)
        pred = self.predict(out)
        return segmentation_metrics(truth, pred, C), pred, None

    def criterion(self, y_val: np.ndarray, num_classes: int | None) -> str:
        return "metric"

    def validation(self, y: np.ndarray, out: np.ndarray, criterion: str, num_classes: int | None
                   ) -> tuple[float, float, float]:
        """Mean IoU chooses the checkpoint; pixel accuracy breaks ties."""
        truth, C = self._classes(y, out)
        m = segmentation_metrics(truth, self.predict(out), C)
        miou = float(m["mean_iou"])  # type: ignore[arg-type]
        return miou, miou, float(m["pixel_accuracy"])  # type: ignore[arg-type]


METRICS = ("mean_iou", "mean_dice", "pixel_accuracy", "interior_pixel_accuracy")
SEGMENTATION: SegmentationTask = SegmentationTask("segmentation", METRICS, METRICS)
"""The task, registered in :data:`losskit.lab.tasks.TASKS`."""


def infer_segmentation(y: np.ndarray) -> tuple[str, str] | None:
    """``("segmentation", why)`` for ``(N, H, W)`` integer masks or ``(N, 1, H, W)`` integer 0/1 masks, else
    ``None``."""
    if y.dtype.kind not in "biu":
        return None
    if y.ndim == 3:
        return "segmentation", (f"integer {y.shape[1]}x{y.shape[2]} targets with {np.unique(y).size} distinct "
                                "values: class masks, a segmentation task")
    if y.ndim == 4 and y.shape[1] == 1 and np.isin(np.unique(y), (0, 1)).all():
        return "segmentation", f"0/1 targets of shape {_shape(y[0])}: binary masks, a segmentation task"
    return None


def num_classes(ys: Sequence[np.ndarray]) -> int:
    """The classes of the masks: the largest index + 1 (binary masks: 1, the one logit channel)."""
    if _binary(ys[0]):
        return 1
    return int(max(int(np.max(y)) for y in ys)) + 1


def check_masks(y: np.ndarray, where: str) -> None:
    """One-line :class:`LabError` for targets that are not class masks."""
    if y.ndim not in (3, 4) or (y.ndim == 4 and y.shape[1] != 1):
        raise LabError(f"{where}: segmentation targets must be (H, W) class masks or (1, H, W) 0/1 masks per item, "
                       f"but got {_shape(y[0])} per item; return masks of one of those shapes")
    values = np.unique(y)
    if _binary(y) and not np.isin(values, (0, 1)).all():
        raise LabError(f"{where}: (1, H, W) segmentation masks must hold 0/1, but got values {values[:6].tolist()}; "
                       "pass (H, W) class-index masks for more classes")
    if not _binary(y) and (y.dtype.kind not in "biu" or values.min() < 0):
        raise LabError(f"{where}: (H, W) segmentation masks must hold class indices 0..C-1, but got values "
                       f"{values[:6].tolist()} ({y.dtype}); return integer masks")


def preview_inputs(test: Any, k: int = PREVIEW) -> np.ndarray:
    """The first ``k`` test inputs ``(k, channels, H, W)`` as float32, for the report's picture."""
    tensors = getattr(test, "tensors", None)
    if isinstance(tensors, tuple) and tensors:
        return tensors[0][:k].detach().cpu().float().numpy()
    if isinstance(test, torch.utils.data.DataLoader):
        xs = torch.cat([torch.as_tensor(x) for x, _ in [next(iter(test))]])
        return xs[:k].detach().cpu().float().numpy()
    items = [torch.as_tensor(test[i][0]).float() for i in range(min(k, len(test)))]
    return torch.stack(items).detach().cpu().numpy()


# ---- the candidate losses and the ranking from the masks
@dataclass(frozen=True)
class MaskStats:
    """What the ranking reads from the training masks."""

    num_classes: int
    binary: bool
    foreground_fraction: float
    """Share of pixels of a class > 0."""
    empty_share: float
    """Share of masks without any foreground pixel."""
    class_share: tuple[float, ...]
    """Share of pixels of each class."""


def mask_stats(y: np.ndarray) -> MaskStats:
    binary = _binary(y)
    m = np.asarray(y)[:, 0] if binary else np.asarray(y)
    C = 2 if binary else num_classes([m])
    share = np.bincount(m.reshape(-1).astype(np.int64), minlength=C) / max(m.size, 1)
    empty = float((m.reshape(len(m), -1).max(1) == 0).mean()) if len(m) else 0.0
    return MaskStats(C, binary, float(1.0 - share[0]), empty, tuple(float(s) for s in share))


@dataclass(frozen=True)
class MenuItem:
    loss: str
    """The losskit Module."""
    summary: str
    options: Callable[[str], dict[str, Any]] = lambda mode: {"mode": mode}


MENU: dict[str, MenuItem] = {
    "ce": MenuItem("CrossEntropyLoss", "per-pixel cross-entropy (BCE with logits for binary masks)",
                   lambda mode: {}),
    "dice": MenuItem("DiceLoss", "soft Dice over the batch, every class averaged (insensitive to class size)"),
    "dice-ce": MenuItem("DiceCELoss", "Dice + cross-entropy, weights 1 and 1 (nnU-Net's default)"),
    "focal": MenuItem("SegmentationFocalLoss", "per-pixel focal loss, gamma=2 (down-weights the easy pixels)",
                      lambda mode: {"mode": mode, "gamma": 2.0}),
    "jaccard": MenuItem("JaccardLoss", "soft Jaccard (IoU) over the batch"),
    "lovasz": MenuItem("LovaszLoss", "Lovász extension of the IoU (Berman et al., 2018): optimises IoU directly"),
    "tversky": MenuItem("TverskyLoss", "Tversky, alpha=0.3, beta=0.7 (misses cost more than false alarms)",
                        lambda mode: {"mode": mode, "alpha": 0.3, "beta": 0.7}),
}
"""The segmentation candidates by short name (``losses="dice,lovasz"``)."""


def plan(s: MaskStats) -> tuple[list[tuple[str, str]], list[str]]:
    """The candidates in order with the reason for each, and the reasons read from the masks."""
    fg, empty = s.foreground_fraction, s.empty_share
    what = "binary masks" if s.binary else f"{s.num_classes} classes"
    reasons = [f"{what}; foreground (class > 0) is {fg:.1%} of the training pixels; {empty:.0%} of the masks are "
               "empty"]
    why = {
        "ce": "the baseline: calibrated per-pixel probabilities, but the background's many pixels dominate it",
        "dice-ce": "cross-entropy's steady gradients plus Dice's balance between large and small classes",
        "dice": "scores each class by overlap, whatever its size",
        "tversky": "weights missed pixels more than false alarms, for small structures",
        "focal": "down-weights the many easy background pixels",
        "lovasz": "optimises the IoU (the primary metric) directly",
        "jaccard": "a soft IoU, close to Dice",
    }
    if fg < SMALL_FOREGROUND:
        order = ["ce", "dice-ce", "dice", "tversky", "focal", "lovasz", "jaccard"]
        reasons.append(f"foreground below {SMALL_FOREGROUND:.0%} of the pixels: the overlap losses (Dice, Tversky) "
                       "come first, the background does not swamp them")
    else:
        order = ["ce", "dice-ce", "lovasz", "dice", "focal", "jaccard", "tversky"]
        reasons.append(f"foreground at least {SMALL_FOREGROUND:.0%} of the pixels: IoU-driven Lovász ranks high")
    if empty >= MANY_EMPTY:
        order = [n for n in order if n in ("ce", "dice-ce", "focal")] + [n for n in order if n not in
                                                                         ("ce", "dice-ce", "focal")]
        reasons.append(f"{empty:.0%} of the masks are empty: focal and Dice + CE first (an overlap loss alone "
                       "gives an empty image no signal but its false positives)")
    return [(n, why[n]) for n in order], reasons


def _code(loss: str, options: Mapping[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return f"loss_fn = losskit.{loss}({args})"


def _spec(name: str, rank: int, mode: str, reasons: list[str], label: str | None = None) -> LossSpec:
    from .byo import LossSpec

    item = MENU[name]
    options = item.options(mode)
    loss = "BCEWithLogitsLoss" if name == "ce" and mode == "binary" else item.loss
    cand = advisor.Candidate(rank, label or name, loss, options, reasons, _code(loss, options),
                             baseline=name == "ce" and label in (None, name))
    return LossSpec(cand, "segmentation", cand.build(), menu=name)


def resolve_losses(losses: Any, y_train: np.ndarray, candidates: int, where: str = "compare"
                   ) -> tuple[list[LossSpec], list[str]]:
    """The segmentation losses to train and the reasons (:func:`losskit.lab.byo.resolve_losses` for the other
    tasks): ``"auto"`` (the first ``candidates`` of :func:`plan`, CE among them), names of :data:`MENU`, or a
    list / mapping mixing names with loss Modules and callables of your own (called on the model's output and the
    masks: long ``(N, H, W)`` or float ``(N, 1, H, W)``). Checks the masks first."""
    from .byo import _own

    check_masks(y_train, where)
    s = mask_stats(y_train)
    mode = "binary" if s.binary else "multiclass"
    order, reasons = plan(s)
    if isinstance(losses, str) and losses.strip().lower() == "auto":
        chosen = order[: max(1, candidates)]
        if all(n != "ce" for n, _ in chosen):
            chosen = [*chosen[:-1], order[0]]
        auto = [_spec(n, k + 1, mode, [why]) for k, (n, why) in enumerate(chosen)]
        return auto, reasons + [f"{n}: {MENU[n].summary}; {why}" for n, why in chosen]
    if isinstance(losses, Mapping):
        items: list[tuple[str | None, Any]] = [(str(k), v) for k, v in losses.items()]
    elif isinstance(losses, str):
        items = [(None, n.strip()) for n in losses.split(",") if n.strip()]
    elif isinstance(losses, Sequence):
        items = [(None, v) for v in losses]
    else:
        items = [(None, losses)]
    if not items:
        raise LabError(f"{where}: losses must name at least one loss, but got {losses!r}; pass e.g. losses='auto'")
    why = dict(order)
    specs: list[LossSpec] = []
    for label, value in items:
        if isinstance(value, str):
            name = value.strip().lower().replace("_", "-")
            if name not in MENU:
                raise LabError(f"{where}: segmentation losses are {', '.join(MENU)} or your own, but got {value!r}; "
                               "pass e.g. losses='ce,dice-ce,lovasz'")
            specs.append(_spec(name, len(specs) + 1, mode, [MENU[name].summary, why[name]], label))
        else:
            specs.append(_own(value, label, len(specs) + 1, where))
    seen: dict[str, int] = {}
    for sp in specs:
        seen[sp.name] = seen.get(sp.name, 0) + 1
        if seen[sp.name] > 1:
            sp.candidate = dataclasses.replace(sp.candidate, name=f"{sp.name}-{seen[sp.name]}", baseline=False)
    return specs, reasons
