"""Losses for training with data augmentation that changes the targets or the batch: mixup and CutMix targets
(:func:`soft_target_cross_entropy`, :func:`soft_target_binary_cross_entropy`) and AugMix's consistency loss
(:func:`jsd_cross_entropy`).

These are timm's training losses (``timm.loss``: ``SoftTargetCrossEntropy``, ``BinaryCrossEntropy``,
``JsdCrossEntropy``); at their defaults the losskit Modules give timm's numbers, and each docstring names what
differs and the option that reproduces timm. Inputs are logits ``(N, C)`` with classes along dim 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import like_input, mixed_precision
from .._reduction import reduce_loss, safe_divide

__all__ = ["jsd_cross_entropy", "soft_target_binary_cross_entropy", "soft_target_cross_entropy"]

BATCH_REDUCTIONS = ("none", "mean", "sum", "batchmean")
"""The reductions of :func:`soft_target_binary_cross_entropy`: losskit's three and ``"batchmean"`` (sum / N)."""

_MIXTURE_FLOOR = math.log(1e-7)
"""AugMix's and timm's floor of the mixture distribution inside the log (``clamp(M, 1e-7, 1).log()``)."""


def _option_error(name: str, arg: str, expected: str, value: object, fix: str) -> V.LossOptionError:
    return V.LossOptionError(f"{name}: {arg} must be {expected}, but got {value!r}; {fix}")


def _check_logits_2d(name: str, input: Tensor) -> None:
    V.check_tensor(name, "input", input)
    V.check_floating(name, "input", input, role="logits")
    if input.dim() != 2:
        raise V.LossShapeError(
            f"{name}: input must be logits of shape (N, C), but got shape {V.shape_str(input)}; "
            "flatten the extra dims, e.g. input.movedim(1, -1).reshape(-1, C)"
        )


# --------------------------------------------------------------------------------------------
# soft-target cross-entropy (mixup, CutMix)
# --------------------------------------------------------------------------------------------
@mixed_precision
def soft_target_cross_entropy(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Cross-entropy against a target distribution per sample, e.g. the mixed one-hot targets of mixup and
    CutMix (timm's ``SoftTargetCrossEntropy``).

    .. math::
        \ell = -\sum_c t_c \log \mathrm{softmax}(x)_c .

    The target is used as given: it need not sum to 1 (mixup's and CutMix's targets do). ``"mean"`` averages over
    the samples (and positions for ``(N, C, d1, ...)``). For ``(N, C)`` this equals
    :func:`losskit.functional.cross_entropy` with a target of probabilities; this function accepts only
    probabilities (a class-index target raises instead of being read as hard labels). timm sums over the last
    dimension, losskit over dim 1, the same for ``(N, C)``.

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class probabilities of the same shape, floating dtype, values in ``[0, 1]``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(N, C, *)` (or :math:`(C)`), the same. Output: scalar, or :math:`(N, *)`
        for ``"none"``.

    Raises:
        LossShapeError: ``target`` shape differs from ``input``.
        LossTypeError: integer ``input``; integer ``target`` (class indices: use ``cross_entropy``, or
            ``F.one_hot(target, C).float()``).
        LossValueError: ``target`` outside ``[0, 1]`` (value check).
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    Warns:
        SuspiciousInputWarning: rows of ``input`` that look like probabilities (value check).

    References:
        Zhang, H., Cisse, M., Dauphin, Y. N., Lopez-Paz, D. "mixup: Beyond Empirical Risk Minimization", 2018;
        Yun, S. et al. "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features",
        2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0]])
        >>> print(round(float(LF.soft_target_cross_entropy(x, torch.tensor([[0.7, 0.3, 0.0]]))), 4))
        0.6913
    """
    name = "soft_target_cross_entropy"
    V.check_reduction(name, reduction)
    if V.enabled():
        V.check_tensor(name, "target", target)
        if not target.is_floating_point():
            raise V.LossTypeError(
                f"{name}: target must be class probabilities of input's shape {V.shape_str(input)}, but got dtype "
                f"{target.dtype}; for class indices use cross_entropy, or F.one_hot(target, C).float()"
            )
        V.check_class_inputs(name, input, target, allow_probabilities=True)
    if V.values_due(name, input, target):
        V.check_finite(name, "input", input)
        V.check_class_values(name, target, 0, -100, probabilities=True)
        V.warn_if_probabilities(name, input)
    class_dim = V.class_dim_of(input)
    loss = -(target * input.log_softmax(class_dim)).sum(class_dim)
    return reduce_loss(loss, reduction)


# --------------------------------------------------------------------------------------------
# binary cross-entropy with mixup targets
# --------------------------------------------------------------------------------------------
def _soft_bce_options(name: str, label_smoothing: float, target_threshold: float | None, smooth_dense: bool) -> float:
    smoothing = V.check_unit_interval(name, "label_smoothing", label_smoothing)
    if target_threshold is not None and not (V.is_number(target_threshold) and math.isfinite(target_threshold)):
        raise _option_error(
            name, "target_threshold", "None or a float", target_threshold,
            "pass e.g. target_threshold=0.2 (targets above it become 1, the rest 0), or None",
        )
    if not isinstance(smooth_dense, bool):
        raise _option_error(name, "smooth_dense", "a bool", smooth_dense, "pass True or False")
    return smoothing


@mixed_precision
def soft_target_binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    label_smoothing: float = 0.1,
    target_threshold: float | None = None,
    smooth_dense: bool = False,
    pos_weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross-entropy of each class's logit for single-label or mixup/CutMix targets (timm's
    ``BinaryCrossEntropy``, "BCE instead of CE" as in ResNet strikes back, Wightman et al., 2021).

    The target :math:`t` of shape ``(N, C)`` is built from ``target``:

    * class indices ``(N,)``: one-hot with label smoothing :math:`s` as timm does it, :math:`s / C` off the
      class and :math:`1 - s + s / C` on it;
    * probabilities ``(N, C)`` (mixup and CutMix targets, smoothed upstream): used as given, or moved towards
      0.5 as :math:`t (1 - s) + s / 2` with ``smooth_dense=True``;

    then, with ``target_threshold`` :math:`\theta`, binarized: :math:`t \leftarrow [t > \theta]`. Per element,
    with :math:`w_+` = ``pos_weight``:

    .. math::
        \ell = -w \left[ w_+ \, t \log \sigma(x) + (1 - t) \log (1 - \sigma(x)) \right].

    Reductions: ``"mean"`` over all elements (the weighted average :math:`\sum w \ell / \sum w` with ``weight``),
    ``"batchmean"`` the sum over classes averaged over samples (timm's ``sum_classes=True``), ``"sum"``,
    ``"none"`` (``(N, C)``).

    **Versus** :func:`losskit.functional.binary_cross_entropy_with_logits`: that is this loss for a 0/1 or
    probability target of input's shape with ``label_smoothing=0`` (and its ``label_smoothing`` is
    ``smooth_dense=True``'s). **Versus timm**: the defaults are timm's (``smoothing=0.1``); timm's
    ``reduction="mean"`` with a ``weight`` divides by the element count (use ``reduction="sum"`` and divide by
    ``input.numel()``).

    Args:
        input: logits ``(N, C)``, floating dtype.
        target: class indices ``(N,)`` (integer dtype), or probabilities ``(N, C)`` (floating, in ``[0, 1]``).
        weight: optional weights broadcastable to ``(N, C)``, e.g. ``(C,)`` per class (default ``None``).
        label_smoothing: :math:`s \in [0, 1]` for class indices (default 0.1, timm's), and for probabilities with
            ``smooth_dense=True``.
        target_threshold: ``None`` (default) or :math:`\theta`: targets above it become 1, the others 0.
        smooth_dense: smooth probability targets too (default ``False``: mixup targets are smoothed upstream).
        pos_weight: optional weight of the positive term, broadcastable to ``(N, C)`` (default ``None``).
        reduction: ``"mean"`` (default), ``"batchmean"``, ``"sum"`` or ``"none"``.

    Shape:
        ``input``: :math:`(N, C)`. ``target``: :math:`(N)` or :math:`(N, C)`. Output: scalar, or :math:`(N, C)`
        for ``"none"``.

    Raises:
        LossShapeError: ``input`` not 2-D; ``target`` neither ``(N,)`` nor ``(N, C)``; weights that do not broadcast.
        LossTypeError: integer ``input``; a floating ``(N,)`` target; an integer ``(N, C)`` target.
        LossValueError: class indices outside ``[0, C)``, probabilities outside ``[0, 1]``, negative weights (value
            checks).
        LossOptionError: ``label_smoothing`` outside ``[0, 1]``, a ``target_threshold`` that is not a float.
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    References:
        Wightman, R., Touvron, H., Jégou, H. "ResNet strikes back: An improved training procedure in timm", 2021.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(LF.soft_target_binary_cross_entropy(x, torch.tensor([0, 2]))), 4))
        0.5576
    """
    name = "soft_target_binary_cross_entropy"
    V.check_reduction(name, reduction, BATCH_REDUCTIONS)
    smoothing = _soft_bce_options(name, label_smoothing, target_threshold, smooth_dense)
    indices = _check_soft_bce(name, input, target, weight, pos_weight)
    weight, pos_weight = like_input(weight, input), like_input(pos_weight, input)

    if indices:
        num_classes = input.shape[1]
        classes = torch.arange(num_classes, device=input.device)
        on = (classes == target.unsqueeze(1)).to(input.dtype)
        t = on * (1 - smoothing) + smoothing / num_classes
    else:
        t = target if not (smooth_dense and smoothing > 0) else target * (1 - smoothing) + smoothing / 2
    if target_threshold is not None:
        t = (t > target_threshold).to(input.dtype)
    neg_log_p = F.softplus(-input)  # -log sigmoid(x); (1 - t) x + softplus(-x) is the BCE of logits
    if pos_weight is None:
        loss = (1 - t) * input + neg_log_p
    else:
        loss = (1 - t) * input + (1 + (pos_weight - 1) * t) * neg_log_p
    if reduction != "batchmean":
        return reduce_loss(loss, reduction, weight=weight)
    return safe_divide(reduce_loss(loss, "sum", weight=weight), input.shape[0])


def _check_soft_bce(name: str, input: Tensor, target: Tensor, weight: Tensor | None, pos_weight: Tensor | None) -> bool:
    """The guard of :func:`soft_target_binary_cross_entropy`; ``True`` when ``target`` holds class indices."""
    indices = isinstance(target, Tensor) and not target.is_floating_point() and target.dim() == 1
    if V.enabled():
        _check_logits_2d(name, input)
        V.check_tensor(name, "target", target)
        if indices:
            V.check_class_inputs(name, input, target)
            for arg, w in (("weight", weight), ("pos_weight", pos_weight)):
                V.check_broadcast_to(name, arg, w, input, fix=f"pass one {arg} per class ({input.shape[1]},)")
            V.check_same_device(name, input=input, target=target, weight=weight, pos_weight=pos_weight)
        elif target.dim() == 1:
            raise V.LossTypeError(
                f"{name}: a (N,) target must hold class indices of an integer dtype, but got dtype {target.dtype}; "
                f"use target.long(), or pass probabilities of input's shape {V.shape_str(input)}"
            )
        else:
            V.check_binary_inputs(name, input, target, weight=weight, pos_weight=pos_weight)
    if V.values_due(name, input, target, weight, pos_weight):
        V.check_finite(name, "input", input)
        if indices:
            V.check_class_range(name, target, input.shape[1], None)
            for arg, w in (("weight", weight), ("pos_weight", pos_weight)):
                V.check_finite(name, arg, w)
                V.check_nonnegative(name, arg, w)
        else:
            V.check_binary_values(name, target, weight=weight, pos_weight=pos_weight)
        V.warn_if_sigmoid_probabilities(name, input)
    return indices


# --------------------------------------------------------------------------------------------
# AugMix: cross-entropy + Jensen-Shannon consistency
# --------------------------------------------------------------------------------------------
def _jsd_options(name: str, num_splits: int, alpha: float, label_smoothing: float) -> float:
    if isinstance(num_splits, bool) or not isinstance(num_splits, int) or num_splits < 1:
        raise _option_error(
            name, "num_splits", "an int >= 1", num_splits,
            "pass the number of views per image, e.g. num_splits=3 (clean + 2 AugMix views)",
        )
    V.check_positive(name, "alpha", alpha, allow_zero=True)
    return V.check_unit_interval(name, "label_smoothing", label_smoothing)


@mixed_precision
def jsd_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    num_splits: int = 3,
    alpha: float = 12.0,
    label_smoothing: float = 0.1,
    reduction: str = "mean",
) -> Tensor:
    r"""AugMix's loss: cross-entropy on the clean images plus ``alpha`` times the Jensen-Shannon divergence
    between the predictions on the clean image and its augmented views (timm's ``JsdCrossEntropy``).

    ``input`` stacks ``num_splits`` = :math:`k` views of :math:`B` images as consecutive blocks of rows, the clean
    view first: rows :math:`[0, B)` clean, :math:`[B, 2B)` the first augmented view, and so on (the order of
    ``torch.cat([clean, aug1, aug2])`` and of timm's AugMix loader). With :math:`p^{(j)} = \mathrm{softmax}` of
    view :math:`j` and the mixture :math:`M = \frac1k \sum_j p^{(j)}`, for image :math:`i`:

    .. math::
        \ell_i = \mathrm{CE}_s\big(x^{(0)}_i, y_i\big)
                 + \frac{\alpha}{k} \sum_{j=0}^{k-1} \mathrm{KL}\big(p^{(j)}_i \,\|\, M_i\big),

    where :math:`\mathrm{CE}_s` is cross-entropy with label smoothing :math:`s` (as
    :func:`losskit.functional.cross_entropy`), and, as in the AugMix code and timm, :math:`M` is floored at
    1e-7 inside the log. ``"mean"`` averages :math:`\ell_i` over the :math:`B` images, which is timm's number
    (its CE and its ``batchmean`` KLs are both means over images); ``"none"`` returns :math:`(B,)`.

    The defaults are timm's (``num_splits=3, alpha=12, smoothing=0.1``); the AugMix paper uses ``alpha=12`` and no
    smoothing (``label_smoothing=0``). With ``num_splits=1`` the loss is cross-entropy.

    Args:
        input: logits ``(k B, C)`` of the :math:`k` views, clean first, floating dtype.
        target: class indices of the clean images ``(B,)``, or of every row ``(k B,)`` (timm's AugMix loader
            repeats them; only the clean block's are used, and a value check says if the blocks disagree).
        num_splits: :math:`k`, the number of views per image, >= 1 (default 3).
        alpha: the weight of the consistency term, >= 0 (default 12.0).
        label_smoothing: :math:`s \in [0, 1]` of the clean cross-entropy (default 0.1, timm's).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``: :math:`(kB, C)`. ``target``: :math:`(B)` or :math:`(kB)`. Output: scalar, or :math:`(B)` for
        ``"none"``.

    Raises:
        LossShapeError: ``input`` not 2-D or its rows not a multiple of ``num_splits``; ``target`` neither
            :math:`(B)` nor :math:`(kB)`.
        LossTypeError: integer ``input``, float class indices.
        LossValueError: class indices outside ``[0, C)``; augmented blocks of ``target`` that differ from the clean
            block (value checks).
        LossOptionError: ``num_splits < 1``, ``alpha < 0``, ``label_smoothing`` outside ``[0, 1]``.
        NonFiniteError: NaN or Inf in ``input`` (value check).

    References:
        Hendrycks, D., Mu, N., Cubuk, E. D., Zoph, B., Gilmer, J., Lakshminarayanan, B. "AugMix: A Simple Data
        Processing Method to Improve Robustness and Uncertainty", 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [1.0, 1.0, -1.0], [2.5, 0.0, 0.0]])  # clean, aug1, aug2
        >>> print(round(float(LF.jsd_cross_entropy(x, torch.tensor([0]))), 4))
        1.3822
    """
    name = "jsd_cross_entropy"
    V.check_reduction(name, reduction)
    smoothing = _jsd_options(name, num_splits, alpha, label_smoothing)
    clean_target = _check_jsd(name, input, target, num_splits)

    batch, num_classes = input.shape[0] // num_splits, input.shape[1]
    log_p = input.log_softmax(1).reshape(num_splits, batch, num_classes)
    log_clean = log_p[0]
    ce = -log_clean.gather(1, clean_target.unsqueeze(1)).squeeze(1)
    if smoothing > 0:
        ce = (1 - smoothing) * ce - smoothing * log_clean.mean(1)
    loss = ce
    if num_splits > 1 and alpha != 0:
        log_m = (torch.logsumexp(log_p, dim=0) - math.log(num_splits)).clamp_min(_MIXTURE_FLOOR)
        kl = (log_p.exp() * (log_p - log_m)).sum(2)  # (k, B): KL(p_j || M) per view and image
        loss = ce + (float(alpha) / num_splits) * kl.sum(0)
    return reduce_loss(loss, reduction)


def _check_jsd(name: str, input: Tensor, target: Tensor, num_splits: int) -> Tensor:
    """The guard of :func:`jsd_cross_entropy`; returns the clean block's targets ``(B,)``."""
    if V.enabled():
        _check_logits_2d(name, input)
        V.check_tensor(name, "target", target)
        rows = input.shape[0]
        if rows % num_splits:
            raise V.LossShapeError(
                f"{name}: input must stack num_splits={num_splits} views of the same images, so its rows must be "
                f"a multiple of {num_splits}, but got shape {V.shape_str(input)}; pass torch.cat([clean, aug1, "
                "...]) with every view of each image, or set num_splits"
            )
        if target.dim() != 1 or target.shape[0] not in (rows // num_splits, rows):
            raise V.LossShapeError(
                f"{name}: target must hold the class indices of the clean images ({rows // num_splits},) or of "
                f"every row ({rows},), but got shape {V.shape_str(target)}; use target.reshape(-1)"
            )
    batch = input.shape[0] // num_splits
    clean = target[:batch]
    if V.enabled():
        V.check_class_inputs(name, input[:batch], clean)
    if V.values_due(name, input, target):
        V.check_finite(name, "input", input)
        V.check_class_range(name, clean, input.shape[1], None)
        if target.shape[0] != batch and not bool((target.reshape(num_splits, batch) == clean).all()):
            raise V.LossValueError(
                f"{name}: target of every view must repeat the clean images' labels, but the blocks of target "
                f"{V.shape_str(target)} differ from its first {batch}; order input and target as torch.cat([clean, "
                "aug1, ...]) of the same images"
            )
        V.warn_if_probabilities(name, input)
    return clean.long()
