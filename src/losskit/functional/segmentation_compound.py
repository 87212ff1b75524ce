r"""Pixel-wise and compound segmentation losses: the focal loss with segmentation modes (smp), Dice +
cross-entropy and Dice + focal (MONAI). Modes, ``ignore_index`` and scored classes as in
:mod:`losskit.functional.segmentation`; the input holds logits.

**Pixel terms.** In every mode the focal term is the sigmoid (binary) focal loss of each element of the logits
against the one-hot target :math:`t` (the multiclass target one-hot encoded, as smp's ``FocalLoss`` and MONAI's
``FocalLoss`` both do); the cross-entropy term of :func:`dice_ce_loss` is the softmax cross-entropy on class
indices in multiclass mode and the binary cross-entropy on logits otherwise. ``"mean"`` averages over the
non-ignored elements, ``sum(w l) / sum(w)`` with ``class_weights`` (:mod:`losskit._reduction`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss
from ._segmentation import (
    _check_inputs,
    _flatten,
    check_classes,
    check_options,
    check_smoothing,
    overlap_math,
    scored_classes,
    select,
)

__all__ = ["dice_ce_loss", "dice_focal_loss", "segmentation_focal_loss"]

COMPOUND_REDUCTIONS = ("mean", "sum")


def check_focal_options(
    name: str, *, alpha: float | None, gamma: float, reduced_threshold: float | None, normalized: bool
) -> None:
    """The focal options, shared by the functions and the Modules (no tensor read)."""
    V.check_positive(name, "gamma", gamma, allow_zero=True)
    if alpha is not None and not (V.is_number(alpha) and 0 <= alpha <= 1):
        raise V.LossOptionError(
            f"{name}: alpha must be None or a float in [0, 1] (the weight of positives, negatives get 1 - alpha), "
            f"but got {alpha!r}; pass e.g. alpha=0.25, or None for no class balancing"
        )
    if reduced_threshold is not None and not (V.is_number(reduced_threshold) and 0 < reduced_threshold <= 1):
        raise V.LossOptionError(
            f"{name}: reduced_threshold must be None or a float in (0, 1], but got {reduced_threshold!r}; pass "
            "e.g. reduced_threshold=0.5 (Sergievskiy & Ponamarev), or None for the plain focal term"
        )
    if not isinstance(normalized, bool):
        raise V.LossOptionError(f"{name}: normalized must be True or False, but got {normalized!r}; pass a bool")


def check_lambdas(name: str, **lambdas: float) -> None:
    for arg, value in lambdas.items():
        V.check_positive(name, arg, value, allow_zero=True)


def _focal_terms(
    x: Tensor,
    t: Tensor,
    valid: Tensor | None,
    *,
    alpha: float | None,
    gamma: float,
    normalized: bool,
    reduced_threshold: float | None,
    eps: float = 1e-6,
) -> Tensor:
    """The focal loss of each element of ``x`` (N, K, S) against ``t`` (0 where ``valid`` is False)."""
    bce = (1 - t) * x + F.softplus(-x)  # -log p_t, exact for large |x|
    one_minus_pt = -torch.expm1(-bce)
    tiny = torch.finfo(bce.dtype).tiny
    if reduced_threshold is None:
        focal = one_minus_pt.clamp_min(tiny).pow(gamma) if gamma != 0 else torch.ones_like(bce)
    else:  # Sergievskiy & Ponamarev: the plain cross-entropy below the threshold, a rescaled focal term above
        scaled = (one_minus_pt / reduced_threshold).clamp_min(tiny).pow(gamma)
        focal = torch.where(torch.exp(-bce) < reduced_threshold, torch.ones_like(scaled), scaled)
    loss = focal * bce
    if alpha is not None:
        loss = loss * (alpha * t + (1 - alpha) * (1 - t))
    if valid is not None:
        loss = torch.where(valid, loss, torch.zeros_like(loss))
        focal = torch.where(valid, focal, torch.zeros_like(focal))
    if normalized:  # each class's terms divided by the sum of its focal factors (smp, Lin et al. normalisation)
        loss = loss / focal.sum((0, 2), keepdim=True).clamp_min(eps)
    return loss


def _element_weight(valid: Tensor | None, class_weights: Tensor | None, like: Tensor) -> Tensor | None:
    """The per-element weight of a pixel-wise mean: 0 where ignored, the class weight elsewhere."""
    w = None if class_weights is None else class_weights.to(like.dtype).view(1, -1, 1).expand_as(like)
    if valid is None:
        return w
    mask = valid.to(like.dtype).expand_as(like)
    return mask if w is None else mask * w


def _pixel_focal(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None,
    chosen: tuple[int, ...] | None,
    *,
    mode: str,
    ignore_index: int | None,
    alpha: float | None,
    gamma: float,
    normalized: bool,
    reduced_threshold: float | None,
    reduction: str,
) -> Tensor:
    x, t, valid = _flatten(input, target, mode=mode, ignore_index=ignore_index)
    x, t = select(x, chosen), select(t, chosen)
    if valid is not None and mode != "multiclass":
        valid = select(valid, chosen)
    loss = _focal_terms(
        x, t, valid, alpha=alpha, gamma=gamma, normalized=normalized, reduced_threshold=reduced_threshold
    )
    weights = None if class_weights is None else select(class_weights, chosen, 0)
    out = reduce_loss(loss, reduction, weight=_element_weight(valid, weights, loss))
    return out.reshape(input.shape[0], loss.shape[1], *input.shape[2:]) if reduction == "none" else out


@mixed_precision
def segmentation_focal_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    alpha: float | None = None,
    gamma: float = 2.0,
    ignore_index: int | None = None,
    normalized: bool = False,
    reduced_threshold: float | None = None,
    classes: Sequence[int] | None = None,
    include_background: bool = True,
    reduction: str = "mean",
) -> Tensor:
    r"""Focal loss with segmentation modes (smp's ``FocalLoss``): a sigmoid focal term per pixel and class.

    With :math:`x` the logit of a pixel and class, :math:`t` its 0/1 target (the one-hot class index in
    multiclass mode), :math:`\mathrm{BCE} = -\log p_t` the binary cross-entropy on the logit and
    :math:`p_t = e^{-\mathrm{BCE}}`:

    .. math::
        \ell = \alpha_t\, f\, \mathrm{BCE}, \qquad f = (1 - p_t)^{\gamma}, \qquad
        \alpha_t = \alpha t + (1 - \alpha)(1 - t)\ (\text{with } \texttt{alpha}).

    ``reduced_threshold`` :math:`r` gives the reduced focal loss, :math:`f = 1` where :math:`p_t < r` and
    :math:`f = ((1 - p_t)/r)^\gamma` elsewhere; ``normalized=True`` divides the terms of each class by the sum of
    its focal factors :math:`\sum f` over the batch's non-ignored pixels (smp; ``reduction="sum"`` then gives the
    normalised focal loss of Lin et al., ``"mean"`` smp's mean of the normalised terms). In multiclass mode each
    class is its own sigmoid problem (smp; for the softmax focal loss on class indices use
    :func:`losskit.functional.focal_loss`). ``"mean"`` averages over the non-ignored pixels and scored classes,
    the weighted average with ``class_weights`` (smp's ``class_weights``: equal numbers).

    Args:
        input: logits :math:`(N, C, *)` (:math:`C = 1` in binary mode).
        target: masks :math:`(N, C, *)` in [0, 1] (binary, multilabel) or class indices :math:`(N, *)`.
        class_weights: optional :math:`(C,)` non-negative weights of the classes (not in binary mode).
        mode: ``"binary"``, ``"multiclass"`` or ``"multilabel"``; required, keyword-only.
        alpha: weight of the positives in [0, 1] (negatives: ``1 - alpha``), or ``None`` (default) for none.
        gamma: focusing parameter, >= 0 (default 2.0).
        ignore_index: target value whose pixels are left out (default ``None``).
        normalized: divide each class's terms by the sum of its focal factors (default ``False``).
        reduced_threshold: the threshold :math:`r \in (0, 1]` of the reduced focal loss (default ``None``).
        classes, include_background: the scored classes, as :func:`dice_loss`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input`` :math:`(N, C, *)`; output scalar, or :math:`(N, K, *)` for ``"none"`` (K scored classes, 0
        where ignored, multiplied by the class weights).

    Raises:
        LossOptionError: ``alpha`` outside [0, 1], ``gamma < 0``, ``reduced_threshold`` outside (0, 1]; otherwise
            as :func:`dice_loss`.
        LossShapeError, LossTypeError, LossValueError: as :func:`dice_loss`.

    References:
        Lin, T.-Y., Goyal, P., Girshick, R., He, K., Dollár, P. "Focal Loss for Dense Object Detection", 2017.
        Sergievskiy, N., Ponamarev, A. "Reduced Focal Loss: 1st Place Solution to xView object detection in
        Satellite Imagery", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5, -3.0]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])
        >>> print(round(float(LF.segmentation_focal_loss(logits, mask, mode="binary")), 4))
        0.792
    """
    name = "segmentation_focal_loss"
    V.check_reduction(name, reduction)
    check_options(name, mode=mode, class_weights=class_weights)
    check_focal_options(name, alpha=alpha, gamma=gamma, reduced_threshold=reduced_threshold, normalized=normalized)
    chosen = check_classes(name, mode=mode, classes=classes, include_background=include_background)
    _check_inputs(name, input, target, class_weights, mode=mode, from_logits=True, ignore_index=ignore_index)
    chosen = scored_classes(name, chosen, include_background, input.shape[1])
    return _pixel_focal(
        input, target, class_weights, chosen, mode=mode, ignore_index=ignore_index, alpha=alpha,
        gamma=float(gamma), normalized=normalized, reduced_threshold=reduced_threshold, reduction=reduction,
    )


def _pixel_cross_entropy(
    input: Tensor, target: Tensor, class_weights: Tensor | None, *, mode: str, ignore_index: int | None,
    reduction: str,
) -> Tensor:
    """Softmax cross-entropy on class indices (multiclass), binary cross-entropy on logits (otherwise)."""
    x, t, valid = _flatten(input, target, mode=mode, ignore_index=ignore_index)
    if mode == "multiclass":
        n, s = x.shape[0], x.shape[2]
        labels = target.reshape(n, s)
        keep = torch.ones_like(labels, dtype=torch.bool) if ignore_index is None else labels != ignore_index
        safe = torch.where(keep, labels, torch.zeros_like(labels)).long()
        loss = -x.log_softmax(1).gather(1, safe.unsqueeze(1)).squeeze(1)
        w = keep.to(loss.dtype)
        if class_weights is not None:
            w = w * class_weights.to(loss.dtype)[safe]
        return reduce_loss(torch.where(keep, loss, torch.zeros_like(loss)), reduction, weight=w)
    loss = (1 - t) * x + F.softplus(-x)
    if valid is not None:
        loss = torch.where(valid, loss, torch.zeros_like(loss))
    return reduce_loss(loss, reduction, weight=_element_weight(valid, class_weights, loss))


def _compound_checks(
    name: str, input: Tensor, target: Tensor, class_weights: Tensor | None, *, mode: str, eps: float,
    smooth: float, per_image: bool, classes: Sequence[int] | None, include_background: bool,
    ignore_index: int | None, reduction: str, smooth_nr: float | None, smooth_dr: float | None, empty_class: str,
) -> tuple[float, float, tuple[int, ...] | None]:
    """The checks of Dice + CE and Dice + focal; returns ``(smooth_nr, smooth_dr, scored classes)``."""
    V.check_reduction(name, reduction, COMPOUND_REDUCTIONS)
    check_options(name, mode=mode, eps=eps, smooth=smooth, per_image=per_image, class_weights=class_weights)
    nr, dr = check_smoothing(name, smooth, smooth_nr, smooth_dr)
    chosen = check_classes(name, mode=mode, classes=classes, include_background=include_background)
    V.check_choice(name, "empty_class", empty_class, ("zero", "score"),
                   fix="pass empty_class='zero' (smp) or 'score' (MONAI)")
    _check_inputs(name, input, target, class_weights, mode=mode, from_logits=True, ignore_index=ignore_index)
    return nr, dr, scored_classes(name, chosen, include_background, input.shape[1])


def _dice_part(
    input: Tensor, target: Tensor, class_weights: Tensor | None, chosen: tuple[int, ...] | None, *, mode: str,
    nr: float, dr: float, eps: float, ignore_index: int | None, per_image: bool, squared_pred: bool,
    empty_class: str, reduction: str,
) -> Tensor:
    return overlap_math(
        input, target, class_weights, mode=mode, from_logits=True, smooth_nr=nr, smooth_dr=dr, eps=eps,
        ignore_index=ignore_index, log_loss=False, per_image=per_image, global_batch=False, reduction=reduction,
        k=2.0, alpha=1.0, beta=1.0, gamma=1.0, classes=chosen, squared_pred=squared_pred, soft_label=False,
        empty_class=empty_class, average="macro",
    )


@mixed_precision
def dice_ce_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    smooth: float = 0.0,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    per_image: bool = False,
    classes: Sequence[int] | None = None,
    include_background: bool = True,
    squared_pred: bool = False,
    empty_class: str = "zero",
    reduction: str = "mean",
) -> Tensor:
    r"""Dice plus cross-entropy (MONAI's ``DiceCELoss``), the usual loss of nnU-Net-style training.

    .. math::
        \ell = \lambda_{dice}\, \ell_{dice} + \lambda_{ce}\, \ell_{ce},

    :math:`\ell_{dice}` the :func:`dice_loss` of the logits (same options) and :math:`\ell_{ce}` the softmax
    cross-entropy on the class indices (multiclass; torch's ``cross_entropy`` with ``class_weights`` as its
    ``weight``) or the binary cross-entropy on the logits of each element (binary, multilabel; ``class_weights``
    per channel). ``ignore_index`` leaves pixels out of both; ``classes``/``include_background`` select the Dice
    classes only (MONAI: the cross-entropy scores every class).

    From MONAI: ``DiceCELoss(to_onehot_y=True, softmax=True, batch=False)`` is ``mode="multiclass",
    per_image=True, smooth_nr=1e-5, smooth_dr=1e-5, empty_class="score"``, target squeezed to :math:`(N, *)`. With
    ``sigmoid=True`` and several channels MONAI still takes the softmax cross-entropy of the masks as class
    probabilities; losskit's multilabel mode takes the binary cross-entropy of each channel.

    Args:
        lambda_dice: weight of the Dice term, >= 0 (default 1.0).
        lambda_ce: weight of the cross-entropy term, >= 0 (default 1.0).
        input: logits :math:`(N, C, *)`.
        target, class_weights, mode, smooth, smooth_nr, smooth_dr, eps: as :func:`dice_loss`.
        ignore_index, per_image, classes, include_background, squared_pred, empty_class: as :func:`dice_loss`.
        reduction: ``"mean"`` (default) or ``"sum"`` (the Dice sum over classes plus the cross-entropy sum over
            pixels, as MONAI); ``"none"`` is not offered (the terms have different shapes).

    Raises:
        LossOptionError: negative ``lambda_dice``/``lambda_ce``; ``reduction="none"``; otherwise as
            :func:`dice_loss`.
        LossShapeError, LossTypeError, LossValueError: as :func:`dice_loss`.

    References:
        Isensee, F. et al. "nnU-Net: a self-configuring method for deep learning-based biomedical image
        segmentation", Nature Methods 2021. Milletari et al., 2016 (Dice).

    Example:
        >>> import torch, losskit.functional as LF
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])  # (N=1, C=2, 3 pixels)
        >>> labels = torch.tensor([[0, 1, 1]])
        >>> print(round(float(LF.dice_ce_loss(logits, labels, mode="multiclass")), 4))
        0.5688
    """
    name = "dice_ce_loss"
    check_lambdas(name, lambda_dice=lambda_dice, lambda_ce=lambda_ce)
    nr, dr, chosen = _compound_checks(
        name, input, target, class_weights, mode=mode, eps=eps, smooth=smooth, per_image=per_image, classes=classes,
        include_background=include_background, ignore_index=ignore_index, reduction=reduction, smooth_nr=smooth_nr,
        smooth_dr=smooth_dr, empty_class=empty_class,
    )
    dice = _dice_part(
        input, target, class_weights, chosen, mode=mode, nr=nr, dr=dr, eps=eps, ignore_index=ignore_index,
        per_image=per_image, squared_pred=squared_pred, empty_class=empty_class, reduction=reduction,
    )
    ce = _pixel_cross_entropy(input, target, class_weights, mode=mode, ignore_index=ignore_index, reduction=reduction)
    return lambda_dice * dice + lambda_ce * ce


@mixed_precision
def dice_focal_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
    gamma: float = 2.0,
    alpha: float | None = None,
    smooth: float = 0.0,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    per_image: bool = False,
    classes: Sequence[int] | None = None,
    include_background: bool = True,
    squared_pred: bool = False,
    empty_class: str = "zero",
    reduction: str = "mean",
) -> Tensor:
    r"""Dice plus focal loss (MONAI's ``DiceFocalLoss``).

    .. math::
        \ell = \lambda_{dice}\, \ell_{dice} + \lambda_{focal}\, \ell_{focal},

    :math:`\ell_{dice}` the :func:`dice_loss` of the logits and :math:`\ell_{focal}` the
    :func:`segmentation_focal_loss` (a sigmoid focal term per pixel and class, the one-hot target in multiclass
    mode, as MONAI) with ``gamma``, ``alpha`` and ``class_weights``, over the same scored classes
    (``classes``/``include_background`` apply to both terms, as in MONAI).

    From MONAI: ``DiceFocalLoss(to_onehot_y=True, softmax=True, batch=False)`` is ``mode="multiclass",
    per_image=True, smooth_nr=1e-5, smooth_dr=1e-5, empty_class="score"``; ``sigmoid=True`` is multilabel (or
    binary) mode. MONAI's focal mean divides by the number of elements also with a class ``weight``; losskit's by
    the sum of the weights (equal numbers without weights).

    Args:
        lambda_dice: weight of the Dice term, >= 0 (default 1.0).
        lambda_focal: weight of the focal term, >= 0 (default 1.0).
        gamma, alpha: as :func:`segmentation_focal_loss` (defaults 2.0 and ``None``).
        input: logits :math:`(N, C, *)`.
        target, class_weights, mode, smooth, smooth_nr, smooth_dr, eps: as :func:`dice_loss`.
        ignore_index, per_image, classes, include_background, squared_pred, empty_class: as :func:`dice_loss`.
        reduction: ``"mean"`` (default) or ``"sum"``; ``"none"`` is not offered (the terms have different shapes).

    Raises:
        LossOptionError: negative ``lambda_dice``/``lambda_focal``, ``reduction="none"``, focal options as
            :func:`segmentation_focal_loss`; otherwise as :func:`dice_loss`.
        LossShapeError, LossTypeError, LossValueError: as :func:`dice_loss`.

    References:
        Zhu, W. et al. "AnatomyNet: Deep learning for fast and fully automated whole-volume segmentation of head
        and neck anatomy", Medical Physics 2019 (Dice + focal). Lin et al., 2017 (focal).

    Example:
        >>> import torch, losskit.functional as LF
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> labels = torch.tensor([[0, 1, 1]])
        >>> print(round(float(LF.dice_focal_loss(logits, labels, mode="multiclass")), 4))
        0.3641
    """
    name = "dice_focal_loss"
    check_lambdas(name, lambda_dice=lambda_dice, lambda_focal=lambda_focal)
    check_focal_options(name, alpha=alpha, gamma=gamma, reduced_threshold=None, normalized=False)
    nr, dr, chosen = _compound_checks(
        name, input, target, class_weights, mode=mode, eps=eps, smooth=smooth, per_image=per_image, classes=classes,
        include_background=include_background, ignore_index=ignore_index, reduction=reduction, smooth_nr=smooth_nr,
        smooth_dr=smooth_dr, empty_class=empty_class,
    )
    dice = _dice_part(
        input, target, class_weights, chosen, mode=mode, nr=nr, dr=dr, eps=eps, ignore_index=ignore_index,
        per_image=per_image, squared_pred=squared_pred, empty_class=empty_class, reduction=reduction,
    )
    focal = _pixel_focal(
        input, target, class_weights, chosen, mode=mode, ignore_index=ignore_index, alpha=alpha, gamma=float(gamma),
        normalized=False, reduced_threshold=None, reduction=reduction,
    )
    return lambda_dice * dice + lambda_focal * focal

