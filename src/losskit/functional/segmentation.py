r"""Segmentation losses on masks: Dice, Jaccard (IoU), Tversky (and focal Tversky), Lovász.

The conventions of segmentation_models_pytorch (smp), read the same way by every function here:

**Modes** (``mode`` is a required keyword: guessing it wrong gives a plausible but meaningless number).

============ ========================== ================================== ==================================
mode         ``input``                  ``target``                         probabilities (``from_logits``)
============ ========================== ================================== ==================================
binary       :math:`(N, 1, *)` logits   :math:`(N, 1, *)` mask in [0, 1]   sigmoid
multilabel   :math:`(N, C, *)` logits   :math:`(N, C, *)` masks in [0, 1]  sigmoid, each channel on its own
multiclass   :math:`(N, C, *)` logits   :math:`(N, *)` class indices       softmax over dim 1 (C >= 2)
============ ========================== ================================== ==================================

``*`` is any number of spatial dimensions (none included). With ``from_logits=False`` the input already holds
probabilities. A binary or multilabel ``target`` may have any real or bool dtype.

**Statistics.** For every class ``c``, with probabilities :math:`p` and one-hot targets :math:`t`, the sums run
over the whole batch (``per_image=False``, default, as smp) or over each image (``per_image=True``):

.. math::
    TP_c = \sum p\,t, \qquad FP_c = \sum p\,(1 - t), \qquad FN_c = \sum (1 - p)\,t .

With ``global_batch=True`` these sums (and the target count) are summed over every process with
:func:`losskit.distributed.all_reduce_sum` before the score is formed, so data-parallel training sees the
statistics of the global batch (a no-op without a process group): every rank then returns the global-batch
loss, and ``backward`` plus DDP's gradient averaging give the full-batch gradient (the convention of
:mod:`losskit.distributed`). ``ignore_index`` removes pixels (a target value; for binary/multilabel it is
compared with each mask element) from every sum.

**Empty masks** (smp's rule). A class with no target pixel (in the batch, or in the image with ``per_image``)
contributes a loss of 0, whatever the prediction, and still counts in the mean's denominator; so an all-empty or
all-ignored batch gives ``0.`` with a zero gradient, never NaN. :func:`lovasz_loss` instead follows Berman
et al.: see its docstring.

**Reduction.** ``reduction="none"`` returns the per-class losses, shape :math:`(C,)`, or :math:`(N, C)` with
``per_image=True``, multiplied by ``class_weights`` when given. ``"sum"`` sums them and ``"mean"`` is the
weighted average ``sum(w * l) / sum(w)`` (:mod:`losskit._reduction`), i.e. the mean over classes (and images).

**Differences from smp** (all deliberate):

* soft targets: the intersection is :math:`\sum p\,t` (Milletari et al., Sudre et al.); smp (since PR #927,
  October 2024) uses :math:`\sum \min(p, t)`. Both agree on hard {0, 1} targets.
* ``smooth`` is added to the numerator and denominator of each score as written in its docstring; smp (since the
  same PR) computes Dice as Tversky(0.5, 0.5), so its ``DiceLoss(smooth=s)`` equals :func:`dice_loss` with
  ``smooth=2 * s`` (same numbers at the default ``smooth=0``).
* focal Tversky raises each class's loss to ``gamma`` before the mean, :math:`(1 - TI_c)^\gamma`
  (Abraham & Khan); smp raises the mean.
* multilabel Lovász is a binary Lovász hinge per channel (then the mean over channels); smp pools all
  channels into one binary problem.
* ``class_weights`` is allowed in every mode but binary (one channel), as in smp; here it is a tensor.
* smp's ``LovaszLoss`` applies softmax in multiclass mode whatever ``from_logits`` says; here
  ``from_logits=False`` takes probabilities.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _validation as V
from .. import distributed as _dist
from .._precision import mixed_precision
from .._reduction import reduce_loss
from ..fused.dice import fused_dice_loss, supports_dice_loss

__all__ = ["dice_loss", "jaccard_loss", "lovasz_loss", "tversky_loss"]

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


def _overlap_loss(
    name: str,
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None,
    *,
    mode: str,
    from_logits: bool,
    smooth: float,
    eps: float,
    ignore_index: int | None,
    log_loss: bool,
    per_image: bool,
    global_batch: bool,
    reduction: str,
    k: float,
    alpha: float,
    beta: float,
    gamma: float = 1.0,
) -> Tensor:
    """The one body of Dice, Jaccard and Tversky: score ``(k TP + s) / (k TP + alpha FP + beta FN + s)``."""
    V.check_reduction(name, reduction)
    check_options(
        name, mode=mode, eps=eps, smooth=smooth, per_image=per_image, global_batch=global_batch,
        class_weights=class_weights,
    )
    _check_inputs(
        name, input, target, class_weights, mode=mode, from_logits=from_logits, ignore_index=ignore_index
    )
    if name == "dice_loss" and supports_dice_loss(
        input, target, class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps,
        ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction,
    ):
        return fused_dice_loss(
            input, target, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps, log_loss=log_loss,
            per_image=per_image, reduction=reduction,
        )
    x, t, valid = _flatten(input, target, mode=mode, ignore_index=ignore_index)
    p = _probabilities(x, mode=mode, from_logits=from_logits)
    if valid is not None:
        p = torch.where(valid, p, torch.zeros_like(p))
    dims = (2,) if per_image else (0, 2)
    tp = (p * t).sum(dims)
    fp = (p * (1 - t)).sum(dims)
    fn = ((1 - p) * t).sum(dims)
    count = t.sum(dims)
    if global_batch:
        tp, fp, fn, count = _dist.all_reduce_sum(torch.stack((tp, fp, fn, count))).unbind(0)
    score = (k * tp + smooth) / (k * tp + alpha * fp + beta * fn + smooth).clamp_min(eps)
    loss = -torch.log(score.clamp_min(eps)) if log_loss else 1 - score
    if gamma != 1.0:
        loss = _safe_pow(loss, gamma)
    loss = torch.where(count > 0, loss, torch.zeros_like(loss))
    return reduce_loss(loss, reduction, weight=_weights(class_weights, loss))


# --------------------------------------------------------------------------------------------
# the losses
# --------------------------------------------------------------------------------------------
@mixed_precision
def dice_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    from_logits: bool = True,
    smooth: float = 0.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    log_loss: bool = False,
    per_image: bool = False,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Soft Dice loss, one minus the Dice coefficient (F1 score) of each class.

    .. math::
        D_c = \frac{2\,TP_c + s}{\max(2\,TP_c + FP_c + FN_c + s,\ \epsilon)}
            = \frac{2 \sum p\,t + s}{\max(\sum p + \sum t + s,\ \epsilon)}, \qquad
        \ell_c = 1 - D_c \quad (\text{or } -\log \max(D_c, \epsilon) \text{ with } \texttt{log\_loss})

    and :math:`\ell_c = 0` for a class without target pixels. Modes, statistics, empty masks and reductions are
    described once in :mod:`losskit.functional.segmentation`.

    Args:
        input: logits (or probabilities with ``from_logits=False``), :math:`(N, C, *)`.
        target: masks :math:`(N, C, *)` (binary, multilabel) or class indices :math:`(N, *)` (multiclass).
        class_weights: optional :math:`(C,)` non-negative weights of the per-class losses (not in binary mode).
        mode: ``"binary"``, ``"multiclass"`` or ``"multilabel"``; required, keyword-only.
        from_logits: apply sigmoid (binary, multilabel) or softmax (multiclass) first (default ``True``).
        smooth: added to numerator and denominator, >= 0 (default 0.0).
        eps: floor of the denominator (and of the score with ``log_loss``), > 0 (default 1e-7).
        ignore_index: target value whose pixels are left out (default ``None``).
        log_loss: return :math:`-\log D_c` instead of :math:`1 - D_c` (default ``False``).
        per_image: statistics per image instead of over the batch (default ``False``).
        global_batch: sum the statistics over processes (default ``False``; not with ``per_image``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input`` :math:`(N, C, *)`; ``target`` as above; output scalar, or for ``"none"`` :math:`(C,)`
        (:math:`(N, C)` with ``per_image=True``).

    Raises:
        LossOptionError: unknown ``mode``; ``eps <= 0``; ``smooth < 0``; ``per_image`` with ``global_batch``;
            ``class_weights`` with ``mode="binary"``.
        LossShapeError: shapes that do not fit the mode (e.g. binary input with several channels, one-hot
            targets in multiclass mode); ``class_weights`` not of length C.
        LossTypeError: integer ``input``; float class indices.
        LossValueError: class indices out of range; masks outside [0, 1]; probabilities outside [0, 1] with
            ``from_logits=False``; negative ``class_weights`` (value checks).

    References:
        Milletari, F., Navab, N., Ahmadi, S.-A. "V-Net: Fully Convolutional Neural Networks for Volumetric
        Medical Image Segmentation", 2016. Sudre, C. H. et al. "Generalised Dice overlap as a deep learning loss
        function for highly unbalanced segmentations", 2017.

    Example:
        >>> import torch, losskit.functional as LF
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])  # (N=1, C=1, 4 pixels)
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> print(round(float(LF.dice_loss(probs, mask, mode="binary", from_logits=False)), 4))
        0.3061
    """
    return _overlap_loss(
        "dice_loss", input, target, class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps,
        ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction, k=2.0, alpha=1.0, beta=1.0,
    )


@mixed_precision
def jaccard_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    from_logits: bool = True,
    smooth: float = 0.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    log_loss: bool = False,
    per_image: bool = False,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Soft Jaccard (IoU) loss, one minus the intersection over union of each class.

    .. math::
        J_c = \frac{TP_c + s}{\max(TP_c + FP_c + FN_c + s,\ \epsilon)}
            = \frac{\sum p\,t + s}{\max(\sum p + \sum t - \sum p\,t + s,\ \epsilon)}, \qquad
        \ell_c = 1 - J_c \quad (\text{or } -\log \max(J_c, \epsilon))

    and :math:`\ell_c = 0` for a class without target pixels (see :mod:`losskit.functional.segmentation`).

    Args:
        input, target, class_weights, mode, from_logits, smooth, eps, ignore_index, log_loss, per_image,
        global_batch, reduction: as :func:`dice_loss`.

    Shape:
        As :func:`dice_loss`.

    Raises:
        As :func:`dice_loss`.

    References:
        Rahman, M. A., Wang, Y. "Optimizing Intersection-Over-Union in Deep Neural Networks for Image
        Segmentation", 2016.

    Example:
        >>> import torch, losskit.functional as LF
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> print(round(float(LF.jaccard_loss(probs, mask, mode="binary", from_logits=False)), 4))
        0.4688
    """
    return _overlap_loss(
        "jaccard_loss", input, target, class_weights, mode=mode, from_logits=from_logits, smooth=smooth,
        eps=eps, ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction, k=1.0, alpha=1.0, beta=1.0,
    )


@mixed_precision
def tversky_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
    from_logits: bool = True,
    smooth: float = 0.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    log_loss: bool = False,
    per_image: bool = False,
    global_batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Tversky loss, with the focal Tversky variant for ``gamma != 1``.

    .. math::
        TI_c = \frac{TP_c + s}{\max(TP_c + \alpha\,FP_c + \beta\,FN_c + s,\ \epsilon)}, \qquad
        \ell_c = (1 - TI_c)^{\gamma} \quad (\text{or } (-\log \max(TI_c, \epsilon))^{\gamma})

    and :math:`\ell_c = 0` for a class without target pixels (see :mod:`losskit.functional.segmentation`).
    ``alpha`` weighs false positives and ``beta`` false negatives. ``alpha = beta = 1`` is
    :func:`jaccard_loss`; ``alpha = beta = 0.5`` is :func:`dice_loss` (with ``smooth`` doubled when it is
    not 0). ``gamma`` is applied per class, before the mean (smp applies it to the mean).

    Args:
        alpha: weight of the false positives, >= 0 (default 0.5).
        beta: weight of the false negatives, >= 0 (default 0.5).
        gamma: focal exponent, > 0 (default 1.0: plain Tversky). Abraham & Khan write the exponent as
            :math:`1/\gamma'` with :math:`\gamma' = 4/3`, i.e. ``gamma=0.75`` here; with ``gamma < 1`` the
            gradient at a perfect fit is 0, not infinite.
        input, target, class_weights, mode, from_logits, smooth, eps, ignore_index, log_loss, per_image,
        global_batch, reduction: as :func:`dice_loss`.

    Shape:
        As :func:`dice_loss`.

    Raises:
        LossOptionError: ``alpha`` or ``beta`` < 0, ``gamma <= 0``; otherwise as :func:`dice_loss`.
        LossShapeError, LossTypeError, LossValueError: as :func:`dice_loss`.

    References:
        Salehi, S. S. M., Erdogmus, D., Gholipour, A. "Tversky loss function for image segmentation using 3D
        fully convolutional deep networks", 2017. Abraham, N., Khan, N. M. "A Novel Focal Tversky loss function
        with improved Attention U-Net for lesion segmentation", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> loss = LF.tversky_loss(probs, mask, mode="binary", alpha=0.3, beta=0.7, from_logits=False)
        >>> print(round(float(loss), 4))
        0.3633
    """
    name = "tversky_loss"
    V.check_positive(name, "alpha", alpha, allow_zero=True)
    V.check_positive(name, "beta", beta, allow_zero=True)
    V.check_positive(name, "gamma", gamma)
    return _overlap_loss(
        name, input, target, class_weights, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps,
        ignore_index=ignore_index, log_loss=log_loss, per_image=per_image, global_batch=global_batch,
        reduction=reduction, k=1.0, alpha=float(alpha), beta=float(beta), gamma=float(gamma),
    )


def _lovasz_extension(errors: Tensor, fg: Tensor, valid: Tensor, *, hinge: bool) -> Tensor:
    """The Lovász extension of the Jaccard loss along the last dim (Berman et al., Alg. 1), batched.

    ``errors``, ``fg`` (0/1 foreground) and ``valid`` have shape (..., P); returns (...). Invalid pixels are
    sorted last and contribute nothing, which equals removing them (the weights of the earlier positions only
    depend on the pixels before them).
    """
    key = errors.detach().masked_fill(~valid, float("-inf"))
    order = torch.argsort(key, dim=-1, descending=True)
    err = errors.gather(-1, order)
    fg_sorted = fg.gather(-1, order)
    valid_sorted = valid.gather(-1, order)
    if hinge:
        err = torch.relu(err)
    err = torch.where(valid_sorted, err, torch.zeros_like(err))
    total = fg_sorted.sum(-1, keepdim=True)
    intersection = total - fg_sorted.cumsum(-1)
    union = total + ((1 - fg_sorted) * valid_sorted).cumsum(-1)
    jaccard = 1 - intersection / union.clamp_min(1)
    weights = torch.cat((jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]), dim=-1)
    return (err * weights).sum(-1)


@mixed_precision
def lovasz_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    from_logits: bool = True,
    ignore_index: int | None = None,
    per_image: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Lovász loss: the convex Lovász extension of the Jaccard loss, a direct surrogate for the IoU.

    For each class (and image with ``per_image``), with the errors :math:`m_i` sorted in decreasing order,

    .. math::
        \ell_c = \sum_i m_{(i)} \, g_i, \qquad
        g_i = J(\{(1)\ldots(i)\}) - J(\{(1)\ldots(i-1)\}), \qquad
        J(A) = 1 - \frac{|F \setminus A|}{|F \cup A|},

    where :math:`F` is the set of foreground pixels. Errors:

    * ``"binary"`` / ``"multilabel"`` (Lovász hinge on logits): :math:`m_i = \max(0, 1 - x_i\,(2 t_i - 1))`,
      with each multilabel channel its own binary problem. Needs ``from_logits=True`` and 0/1 masks.
    * ``"multiclass"`` (Lovász-Softmax): :math:`m_i = |t_i - p_i|` with :math:`p` the softmax (or the given
      probabilities with ``from_logits=False``).

    Which terms count (Berman et al.): in multiclass mode only the classes present in the target of the batch
    (of the image with ``per_image``), the ``"present"`` option of the reference code; in binary/multilabel
    mode every channel (image) with at least one non-ignored pixel. Other terms are 0 and have weight 0, so an
    all-ignored batch gives ``0.`` with a zero gradient. ``"mean"`` is ``sum(w * l) / sum(w)`` over the
    counted (image, class) terms, ``w`` the class weight: with ``per_image=True`` and images that hold
    different numbers of classes this is the mean over all counted terms, not the reference code's mean over
    images of per-image means (a deliberate difference: one weighted-mean rule for every losskit loss).

    Args:
        input: logits (or probabilities, multiclass with ``from_logits=False`` only), :math:`(N, C, *)`.
        target: masks :math:`(N, C, *)` of 0/1 (binary, multilabel) or class indices :math:`(N, *)`.
        class_weights: optional :math:`(C,)` non-negative weights of the per-class losses (not in binary mode).
        mode: ``"binary"``, ``"multiclass"`` or ``"multilabel"``; required, keyword-only.
        from_logits: whether ``input`` holds logits (default ``True``; must be ``True`` for the hinge).
        ignore_index: target value whose pixels are left out (default ``None``).
        per_image: one term per image and class instead of per class over the batch (default ``False``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input`` :math:`(N, C, *)`; ``target`` as above; output scalar, or for ``"none"`` :math:`(C,)`
        (:math:`(N, C)` with ``per_image=True``), uncounted terms 0, multiplied by ``class_weights``.

    Raises:
        LossOptionError: unknown ``mode``; ``from_logits=False`` with the hinge; ``class_weights`` in binary mode.
        LossShapeError, LossTypeError: as :func:`dice_loss`.
        LossValueError: masks other than 0/1; class indices out of range (value checks).

    References:
        Berman, M., Rannen Triki, A., Blaschko, M. B. "The Lovász-Softmax loss: A tractable surrogate for the
        optimization of the intersection-over-union measure in neural networks", 2018.

    Example:
        >>> import torch, losskit.functional as LF
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5, -3.0]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])
        >>> print(round(float(LF.lovasz_loss(logits, mask, mode="binary")), 4))
        2.25
    """
    name = "lovasz_loss"
    V.check_reduction(name, reduction)
    check_options(name, mode=mode, per_image=per_image, class_weights=class_weights)
    check_lovasz_options(name, mode=mode, from_logits=from_logits)
    hinge = mode != "multiclass"
    _check_inputs(
        name, input, target, class_weights, mode=mode, from_logits=from_logits, ignore_index=ignore_index,
        hard_targets=True,
    )
    x, t, valid = _flatten(input, target, mode=mode, ignore_index=ignore_index)
    n, c, s = x.shape
    if hinge:
        errors = 1 - x * (2 * t - 1)
    else:
        errors = (t - _probabilities(x, mode=mode, from_logits=from_logits)).abs()
    valid = torch.ones_like(t, dtype=torch.bool) if valid is None else valid.expand(n, c, s)
    if not per_image:
        errors, t, valid = (v.transpose(0, 1).reshape(1, c, n * s) for v in (errors, t, valid))
    terms = _lovasz_extension(errors, t, valid, hinge=hinge)
    counted = valid.any(-1) if hinge else (t > 0).any(-1)
    weight = counted.to(terms.dtype)
    if class_weights is not None:
        weight = weight * class_weights.to(terms.dtype)
    loss = reduce_loss(torch.where(counted, terms, torch.zeros_like(terms)), reduction, weight=weight)
    return loss.squeeze(0) if reduction == "none" and not per_image else loss
