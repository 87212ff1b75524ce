"""The shared checks and statistics of the segmentation losses (:mod:`losskit.functional.segmentation` states
the conventions; the losses live in ``segmentation.py``, ``segmentation_lovasz.py``, ``segmentation_compound.py``
and ``segmentation_distance.py``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .. import _validation as V
from .. import distributed as _dist
from .._reduction import reduce_loss

MODES = ("binary", "multiclass", "multilabel")

# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def check_options(
    name: str,
    *,
    mode: str,
    eps: float = 1.0,
    smooth: float = 0.0,
    per_image: bool = False,
    global_batch: bool = False,
    class_weights: Tensor | None = None,
) -> None:
    """The option checks shared by the functions and the Modules (no tensor values read)."""
    V.check_choice(
        name, "mode", mode, MODES,
        fix="binary: one foreground channel (N, 1, *); multiclass: class indices (N, *); "
        "multilabel: one mask per class (N, C, *)",
    )
    V.check_positive(name, "eps", eps)
    V.check_positive(name, "smooth", smooth, allow_zero=True)
    if per_image and global_batch:
        raise V.LossOptionError(
            f"{name}: global_batch=True sums the statistics over the whole (global) batch, but got "
            "per_image=True as well, which computes them per image; pass one of them"
        )
    if mode == "binary" and class_weights is not None:
        raise V.LossOptionError(
            f"{name}: class_weights must be None with mode='binary' (one channel), but got a tensor of shape "
            f"{V.shape_str(class_weights) if isinstance(class_weights, Tensor) else type(class_weights).__name__}; "
            "drop it, or use mode='multilabel' for several channels"
        )


def check_lovasz_options(name: str, *, mode: str, from_logits: bool) -> None:
    """The Lovász hinge (binary, multilabel) needs logits."""
    if mode != "multiclass" and not from_logits:
        raise V.LossOptionError(
            f"{name}: from_logits must be True with mode={mode!r} (the Lovász hinge works on logits), but got "
            "from_logits=False; pass the logits, e.g. torch.logit(probabilities.clamp(1e-6, 1 - 1e-6))"
        )


def _check_inputs(
    name: str,
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None,
    *,
    mode: str,
    from_logits: bool,
    ignore_index: int | None,
    hard_targets: bool = False,
) -> None:
    """Metadata checks on every call, value checks when :func:`V.values_due` says so."""
    if not V.enabled():
        return
    V.check_tensor(name, "input", input)
    V.check_tensor(name, "target", target)
    V.check_floating(name, "input", input, role="logits" if from_logits else "probabilities")
    if input.dim() < 2:
        raise V.LossShapeError(
            f"{name}: input must have shape (N, C, *) with classes along dim 1, but got {V.shape_str(input)}; "
            "add the channel dimension with input.unsqueeze(1)"
        )
    num_classes = input.shape[1]
    if mode == "binary" and num_classes != 1:
        raise V.LossShapeError(
            f"{name}: input must have one channel (N, 1, *) with mode='binary', but got {V.shape_str(input)}; "
            f"use mode='multilabel' for {num_classes} independent masks or mode='multiclass' for class scores"
        )
    if mode == "multiclass":
        if num_classes < 2:
            raise V.LossShapeError(
                f"{name}: input must have at least 2 classes along dim 1 with mode='multiclass', but got "
                f"{V.shape_str(input)}; use mode='binary' for one foreground channel"
            )
        if tuple(target.shape) == tuple(input.shape):
            raise V.LossShapeError(
                f"{name}: target must hold class indices of shape {V.shape_str((input.shape[0], *input.shape[2:]))} "
                f"with mode='multiclass', but got {V.shape_str(target)} like input; use target.argmax(1) for "
                "one-hot targets, or mode='multilabel' for one mask per class"
            )
        if target.dim() == input.dim() and target.shape[1] == 1:
            raise V.LossShapeError(
                f"{name}: target must have shape {V.shape_str((input.shape[0], *input.shape[2:]))} of class "
                f"indices for input {V.shape_str(input)}, but got {V.shape_str(target)}; use target.squeeze(1)"
            )
        V.check_class_target(name, input, target)
    else:
        fix = "use target.unsqueeze(1)" if target.dim() == input.dim() - 1 else None
        V.check_same_shape(name, input, target, fix=fix)
    if class_weights is not None:
        V.check_vector(name, "class_weights", class_weights, num_classes)
    if target.device != input.device or (class_weights is not None and class_weights.device != input.device):
        V.check_same_device(name, input=input, target=target, class_weights=class_weights)
    if V.values_due(name, input, target, class_weights):
        V.check_finite(name, "input", input)
        V.check_finite(name, "class_weights", class_weights)
        V.check_nonnegative(name, "class_weights", class_weights)
        if not from_logits:
            V.check_unit_range(
                name, "input", input,
                fix="pass logits with from_logits=True, or apply sigmoid/softmax before the loss",
            )
        elif mode == "multiclass":
            V.warn_if_probabilities(name, input)
        if mode == "multiclass":
            V.check_class_range(name, target, num_classes, ignore_index)
        else:
            _check_mask_values(name, target, ignore_index, hard=hard_targets)
    elif mode == "multiclass" and V.every_call_due(target):
        V.check_class_range_every_call(name, target, num_classes, ignore_index)


def _check_mask_values(name: str, target: Tensor, ignore_index: int | None, *, hard: bool) -> None:
    """Binary / multilabel masks hold values in [0, 1] ({0, 1} if ``hard``) or ``ignore_index``."""
    if target.numel() == 0:
        return
    values = target if ignore_index is None else target[target != ignore_index]
    if values.numel() == 0:
        return
    V.check_finite(name, "target", values)
    values = values.detach().double()
    bad = ((values != 0) & (values != 1)) if hard else ((values < 0) | (values > 1))
    count = int(bad.sum())
    if count:
        lo, hi = (float(v) for v in torch.aminmax(values))
        ign = f" (ignore_index={ignore_index})" if ignore_index is not None else ""
        want = "0 or 1" if hard else "values in [0, 1]"
        raise V.LossValueError(
            f"{name}: target masks must hold {want} or ignore_index{ign}, but got {count} other value(s) in "
            f"[{lo:g}, {hi:g}]; threshold soft masks with (target > 0.5), use mode='multiclass' for class "
            "indices, or set ignore_index for the value to skip"
        )


# --------------------------------------------------------------------------------------------
# shared math
# --------------------------------------------------------------------------------------------
def _flatten(
    input: Tensor, target: Tensor, *, mode: str, ignore_index: int | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``input`` as (N, C, S), the one-hot target as (N, C, S) in input's dtype (0 where ignored) and the
    valid mask, broadcastable to (N, C, S), or None without ``ignore_index``."""
    n, c = input.shape[0], input.shape[1]
    s = math.prod(input.shape[2:])
    x = input.reshape(n, c, s)
    if mode == "multiclass":
        labels = target.reshape(n, 1, s)
        valid = None if ignore_index is None else labels != ignore_index
        classes = torch.arange(c, device=input.device).view(1, c, 1)
        onehot = (labels == classes).to(input.dtype)
    else:
        labels = target.reshape(n, c, s)
        valid = None if ignore_index is None else labels != ignore_index
        onehot = labels.to(input.dtype)
    if valid is not None:
        onehot = torch.where(valid, onehot, torch.zeros_like(onehot))
    return x, onehot, valid


def _probabilities(x: Tensor, *, mode: str, from_logits: bool) -> Tensor:
    if not from_logits:
        return x
    return torch.softmax(x, dim=1) if mode == "multiclass" else torch.sigmoid(x)


def _safe_pow(base: Tensor, gamma: float) -> Tensor:
    """``base ** gamma`` for base > 0, 0 elsewhere, with a finite (zero) gradient at 0 even for gamma < 1."""
    positive = base > 0
    safe = torch.where(positive, base, torch.ones_like(base))
    return torch.where(positive, safe**gamma, torch.zeros_like(base))


def _weights(class_weights: Tensor | None, like: Tensor) -> Tensor | None:
    return None if class_weights is None else class_weights.to(like.dtype)




# --------------------------------------------------------------------------------------------
# the options of the second round: scored classes, smoothing, absent classes, statistics
# --------------------------------------------------------------------------------------------
EMPTY_CLASS = ("zero", "score")
AVERAGES = ("macro", "micro")


def check_classes(
    name: str, *, mode: str, classes: Sequence[int] | None, include_background: bool
) -> tuple[int, ...] | None:
    """``classes`` (smp) and ``include_background`` (MONAI), checked without the input: a tuple of distinct
    class indices >= 0, or None for every class; ``include_background=False`` alone means "all but class 0"
    (resolved at the call, :func:`scored_classes`, when C is known)."""
    if not isinstance(include_background, bool):
        raise V.LossOptionError(
            f"{name}: include_background must be True or False, but got {include_background!r}; "
            "pass include_background=False to leave class (channel) 0 out of the score"
        )
    if mode == "binary" and (classes is not None or not include_background):
        what = f"classes={classes!r}" if classes is not None else "include_background=False"
        raise V.LossOptionError(
            f"{name}: {what} selects channels, but mode='binary' has one (the foreground); drop it, or use "
            "mode='multilabel' or 'multiclass' for several classes"
        )
    if classes is None:
        return None
    if classes is not None and not include_background:
        raise V.LossOptionError(
            f"{name}: pass either classes or include_background=False, but got classes={classes!r} and "
            "include_background=False; list the classes to score without 0, e.g. classes=[1, 2]"
        )
    ok = isinstance(classes, Sequence) and not isinstance(classes, str) and len(classes) > 0 and all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in classes
    )
    if not ok or len(set(classes)) != len(classes):
        raise V.LossOptionError(
            f"{name}: classes must be a non-empty list of distinct class indices >= 0, but got {classes!r}; "
            "pass e.g. classes=[1, 2] (None scores every class)"
        )
    return tuple(int(c) for c in classes)


def scored_classes(
    name: str, classes: tuple[int, ...] | None, include_background: bool, num_classes: int
) -> tuple[int, ...] | None:
    """The classes a call scores, checked against C (metadata only); None for all of them."""
    if classes is None:
        if include_background:
            return None
        if num_classes < 2:
            raise V.LossShapeError(
                f"{name}: include_background=False leaves no class to score with {num_classes} channel; "
                "keep include_background=True"
            )
        return tuple(range(1, num_classes))
    if max(classes) >= num_classes:
        raise V.LossValueError(
            f"{name}: classes must lie in [0, {num_classes}) for input with {num_classes} classes, but got "
            f"{list(classes)}; drop the classes the model does not predict"
        )
    return classes


def select(t: Tensor, classes: tuple[int, ...] | None, dim: int = 1) -> Tensor:
    """``t`` restricted to ``classes`` along ``dim`` (a view when they are a contiguous range)."""
    if classes is None:
        return t
    first, n = classes[0], len(classes)
    if classes == tuple(range(first, first + n)):
        return t.narrow(dim, first, n)
    return t.index_select(dim, torch.tensor(classes, device=t.device))


def check_smoothing(
    name: str, smooth: float, smooth_nr: float | None, smooth_dr: float | None
) -> tuple[float, float]:
    """``smooth`` (both terms) or MONAI's separate ``smooth_nr`` / ``smooth_dr``; returns (nr, dr)."""
    V.check_positive(name, "smooth", smooth, allow_zero=True)
    if smooth and (smooth_nr is not None or smooth_dr is not None):
        raise V.LossOptionError(
            f"{name}: smooth={smooth!r} sets both terms, but got smooth_nr={smooth_nr!r} and smooth_dr={smooth_dr!r} "
            "as well; pass either smooth or smooth_nr/smooth_dr"
        )
    nr = float(smooth) if smooth_nr is None else V.check_positive(name, "smooth_nr", smooth_nr, allow_zero=True)
    dr = float(smooth) if smooth_dr is None else V.check_positive(name, "smooth_dr", smooth_dr, allow_zero=True)
    return nr, dr


def statistics(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    from_logits: bool,
    ignore_index: int | None,
    per_image: bool,
    global_batch: bool,
    classes: tuple[int, ...] | None,
    squared_pred: bool = False,
    soft_label: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(TP, sum p, sum t, target count)`` of each scored class: shape (K,), or (N, K) with ``per_image``.

    ``sum p`` and ``sum t`` are sums of squares with ``squared_pred``; with ``soft_label`` (and not
    ``squared_pred``) TP is :math:`\\sum \\min(p, t)`, else :math:`\\sum p\\,t`.
    """
    x, t, valid = _flatten(input, target, mode=mode, ignore_index=ignore_index)
    p = _probabilities(x, mode=mode, from_logits=from_logits)
    if valid is not None:
        p = torch.where(valid, p, torch.zeros_like(p))
    p, t = select(p, classes), select(t, classes)
    dims = (2,) if per_image else (0, 2)
    tp = (torch.minimum(p, t) if soft_label and not squared_pred else p * t).sum(dims)
    psum = (p * p if squared_pred else p).sum(dims)
    tsum = (t * t if squared_pred else t).sum(dims)
    count = t.sum(dims)
    if global_batch:
        tp, psum, tsum, count = _dist.all_reduce_sum(torch.stack((tp, psum, tsum, count))).unbind(0)
    return tp, psum, tsum, count


def overlap_math(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None,
    *,
    mode: str,
    from_logits: bool,
    smooth_nr: float,
    smooth_dr: float,
    eps: float,
    ignore_index: int | None,
    log_loss: bool,
    per_image: bool,
    global_batch: bool,
    reduction: str,
    k: float,
    alpha: float,
    beta: float,
    gamma: float,
    classes: tuple[int, ...] | None,
    squared_pred: bool,
    soft_label: bool,
    empty_class: str,
    average: str,
) -> Tensor:
    """The one body of Dice, Jaccard and Tversky, options checked and ``classes`` resolved: the score
    ``(k TP + s_nr) / ((k - alpha - beta) TP + alpha sum(p) + beta sum(t) + s_dr)``, which is
    ``(k TP + s_nr) / (k TP + alpha FP + beta FN + s_dr)``."""
    tp, psum, tsum, count = statistics(
        input, target, mode=mode, from_logits=from_logits, ignore_index=ignore_index, per_image=per_image,
        global_batch=global_batch, classes=classes, squared_pred=squared_pred, soft_label=soft_label,
    )
    weight = _weights(class_weights, tp)
    if weight is not None:
        weight = select(weight, classes, 0)
    if average == "micro":  # kornia: one score per image (or batch) over the pooled classes, weights inside
        if weight is not None:
            tp, psum, tsum, count = (v * weight for v in (tp, psum, tsum, count))
        tp, psum, tsum, count = (v.sum(-1) for v in (tp, psum, tsum, count))
        weight = None
    denominator = (k - alpha - beta) * tp + alpha * psum + beta * tsum + smooth_dr
    score = (k * tp + smooth_nr) / denominator.clamp_min(eps)
    loss = -torch.log(score.clamp_min(eps)) if log_loss else 1 - score
    if gamma != 1.0:
        loss = _safe_pow(loss, gamma)
    if empty_class == "zero":
        loss = torch.where(count > 0, loss, torch.zeros_like(loss))
    return reduce_loss(loss, reduction, weight=weight)
