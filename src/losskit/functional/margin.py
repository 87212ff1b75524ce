"""Margin losses of torch.nn: soft margin, multi-label soft margin, multi-class and multi-label margin, hinge
embedding, margin ranking, cosine embedding.

Every function computes torch 2.13's per-element numbers and reduces them with :mod:`losskit._reduction`
(a mean over nothing is 0 with a zero gradient). Two losses take class weights, and there losskit's
``"mean"`` is the weighted average ``sum(w * l) / sum(w)`` where torch divides by the count: see
:func:`multi_margin_loss` and :func:`multilabel_soft_margin_loss`. Shapes must match exactly (torch
broadcasts silently in several of these losses); targets of ``{-1, 1}`` losses are checked for ``{0, 1}``
labels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import like_input, mixed_precision
from .._reduction import NN_REDUCTION_ENUM, REDUCTION_ENUM, reduce_loss, safe_divide

__all__ = [
    "cosine_embedding_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "soft_margin_loss",
]


# --------------------------------------------------------------------------------------------
# private helpers shared by the margin losses
# --------------------------------------------------------------------------------------------
def _check_margin(name: str, margin: float) -> float:
    """A real margin (any sign, as in torch); rejects tensors, bools and strings early."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)):
        raise V.LossOptionError(
            f"{name}: margin must be a real number, but got {margin!r} of type {type(margin).__name__}; "
            "pass a float such as margin=1.0"
        )
    return float(margin)


def _check_real_target(name: str, arg: str, target: Tensor) -> None:
    """A target of labels: any real dtype (integers are converted), never complex."""
    V.check_tensor(name, arg, target)
    if target.is_complex():
        raise V.LossTypeError(
            f"{name}: {arg} must be a real tensor of labels, but got dtype {target.dtype}; use {arg}.real"
        )


def _float_target(input: Tensor, target: Tensor) -> Tensor:
    """Integer (and bool) labels in the input's dtype; floating targets unchanged (torch promotes them)."""
    return target if target.is_floating_point() else target.to(input.dtype)


def _check_ndim(name: str, arg: str, t: Tensor, allowed: tuple[int, ...], what: str) -> None:
    if t.dim() not in allowed:
        raise V.LossShapeError(
            f"{name}: {arg} must be {what}, but got shape {V.shape_str(t)} ({t.dim()}-D); "
            "reshape it, e.g. with .flatten(0, -2) for extra batch dimensions"
        )


def _plus_minus_one(
    name: str, input: Tensor, target: Tensor, *, strict: bool, arg_input: str = "input", extra: Tensor | None = None
) -> Tensor:
    """Shared checks of a loss with a ``{-1, 1}`` target of input's shape; returns the float target."""
    if V.enabled():
        V.check_tensor(name, arg_input, input)
        V.check_floating(name, arg_input, input)
        _check_real_target(name, "target", target)
        V.check_same_shape(name, input, target, arg_input, "target")
        V.check_same_device(name, **{arg_input: input, "target": target})
    target = _float_target(input, target)
    if V.values_due(name, input, extra, target):
        V.check_finite(name, arg_input, input)
        if extra is not None:
            V.check_finite(name, "input2", extra)
        V.check_finite(name, "target", target)
        V.check_plus_minus_one(name, "target", target, strict=strict)
    return target


def _mean_or_reduce(terms: Tensor, reduction: str) -> Tensor:
    """:func:`~losskit._reduction.reduce_loss` of unweighted ``terms``, with torch's one-kernel ``mean`` where
    there is something to average (on the CPU it is the sum divided by the count: the same numbers)."""
    if reduction == "mean" and terms.numel():
        return terms.mean()
    return reduce_loss(terms, reduction)


# --------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------
@mixed_precision
def soft_margin_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Two-class logistic loss on scores with ``{-1, 1}`` targets.

    .. math::
        \ell_i = \log\bigl(1 + e^{-y_i x_i}\bigr)

    computed as :math:`\mathrm{softplus}(-y_i x_i)`, finite for any score (torch 2.13's kernel overflows to
    ``inf`` in float32 from :math:`-y_i x_i \approx 89`). ``"mean"`` averages over all elements, ``"sum"`` adds them.

    Args:
        input: scores (logits), any shape, floating dtype.
        target: labels ``-1`` or ``1`` of the same shape (integer labels are converted).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(*)`, the same. Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossShapeError: ``target`` shape differs from ``input`` (torch broadcasts).
        LossTypeError: integer ``input``.
        LossValueError: ``{0, 1}`` labels (use ``target * 2 - 1``); other values than ``-1``/``1`` only
            warn, as the formula is defined for any real target.
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    References:
        The logistic loss of binary classification with labels in ``{-1, 1}``.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.soft_margin_loss(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0]))), 4))
        0.7201
    """
    name = "soft_margin_loss"
    if (key := V.signature_due(name, (reduction,), input, target)) is not None:  # None: passed before
        V.check_reduction(name, reduction)
        target = _plus_minus_one(name, input, target, strict=False)
        V.record_passed(key, input, target)
    else:
        target = _float_target(input, target)
    if reduction != "none" and input.numel() and V.eager_readable(input, target):
        # torch's kernel, log1p(exp(-y x)), is losskit's softplus(-y x) wherever it does not overflow (|x| < 88 in
        # float32), and an overflow makes the reduced value inf: read on the CPU (no sync), only inf (or NaN, which
        # stays NaN) takes the stable path below
        loss = torch._C._nn.soft_margin_loss(input, target, NN_REDUCTION_ENUM[reduction])
        if math.isfinite(loss.item()):
            return loss
    # softplus, not torch's log1p(exp(.)), which overflows to inf beyond |x| = 88
    return _mean_or_reduce(F.softplus(-target * input), reduction)


@mixed_precision
def hinge_embedding_loss(
    input: Tensor, target: Tensor, *, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    r"""Hinge embedding loss: pulls distances of similar pairs to 0 and pushes dissimilar ones past ``margin``.

    .. math::
        \ell_i = \begin{cases} x_i & y_i = 1 \\ \max(0, \Delta - x_i) & y_i = -1 \end{cases}

    ``x`` is usually a distance such as ``torch.pairwise_distance(a, b)``, ``\Delta`` is ``margin``.

    Args:
        input: distances (or scores), any shape, floating dtype.
        target: ``1`` (similar) or ``-1`` (dissimilar), same shape (integer labels are converted).
        margin: :math:`\Delta` (default 1.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(*)`, the same. Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossShapeError: ``target`` shape differs from ``input`` (torch broadcasts).
        LossTypeError: integer ``input``.
        LossValueError: a target other than ``-1``/``1`` (``{0, 1}`` labels: use ``target * 2 - 1``).
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    References:
        Hadsell, R., Chopra, S., LeCun, Y. "Dimensionality Reduction by Learning an Invariant Mapping", 2006
        (the contrastive form this hinge follows).

    Example:
        >>> import torch, losskit.functional as LF
        >>> d, y = torch.tensor([0.3, 0.4]), torch.tensor([1, -1])
        >>> print(round(float(LF.hinge_embedding_loss(d, y)), 4))
        0.45
    """
    name = "hinge_embedding_loss"
    if (key := V.signature_due(name, (reduction, margin, type(margin)), input, target)) is not None:
        V.check_reduction(name, reduction)
        margin = _check_margin(name, margin)
        target = _plus_minus_one(name, input, target, strict=True)
        V.record_passed(key, input, target)
    else:
        target = _float_target(input, target)
    if reduction != "none" and input.numel():  # torch's mean and sum are losskit's here
        return torch.hinge_embedding_loss(input, target, margin, REDUCTION_ENUM[reduction])
    return reduce_loss(F.hinge_embedding_loss(input, target, margin=margin, reduction="none"), reduction)


@mixed_precision
def margin_ranking_loss(
    input1: Tensor, input2: Tensor, target: Tensor, *, margin: float = 0.0, reduction: str = "mean"
) -> Tensor:
    r"""Pairwise ranking hinge: ``input1`` should rank above ``input2`` where ``target`` is 1, below where -1.

    .. math::
        \ell_i = \max\bigl(0, -y_i (x^{(1)}_i - x^{(2)}_i) + \Delta\bigr)

    Args:
        input1: scores of the first items, any shape, floating dtype.
        input2: scores of the second items, same shape.
        target: ``1`` (``input1`` first) or ``-1`` (``input2`` first), same shape (integers are converted).
        margin: :math:`\Delta` (default 0.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input1``, ``input2``, ``target``: :math:`(*)`, all the same (torch broadcasts them).
        Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossShapeError: shapes differ.
        LossTypeError: integer ``input1``/``input2``.
        LossValueError: a target other than ``-1``/``1`` (``{0, 1}`` labels: use ``target * 2 - 1``).
        NonFiniteError: NaN or Inf in any input (value check).

    References:
        Herbrich, R., Graepel, T., Obermayer, K. "Large Margin Rank Boundaries for Ordinal Regression", 2000.

    Example:
        >>> import torch, losskit.functional as LF
        >>> a, b, y = torch.tensor([0.9, 0.2]), torch.tensor([0.1, 0.5]), torch.tensor([1, 1])
        >>> print(round(float(LF.margin_ranking_loss(a, b, y, margin=0.1)), 4))
        0.2
    """
    name = "margin_ranking_loss"
    if (key := V.signature_due(name, (reduction, margin, type(margin)), input1, target, input2)) is not None:
        V.check_reduction(name, reduction)
        margin = _check_margin(name, margin)
        if V.enabled():
            V.check_tensor(name, "input1", input1)
            V.check_tensor(name, "input2", input2)
            V.check_floating(name, "input1", input1)
            V.check_floating(name, "input2", input2)
            V.check_same_shape(name, input1, input2, "input1", "input2")
            V.check_same_device(name, input1=input1, input2=input2)
        target = _plus_minus_one(name, input1, target, strict=True, arg_input="input1", extra=input2)
        V.record_passed(key, input1, target, input2)
    else:
        target = _float_target(input1, target)
    if reduction != "none" and input1.numel():  # torch's mean and sum are losskit's here
        return torch.margin_ranking_loss(input1, input2, target, margin, REDUCTION_ENUM[reduction])
    terms = F.margin_ranking_loss(input1, input2, target, margin=margin, reduction="none")
    return reduce_loss(terms, reduction)


@mixed_precision
def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, *, margin: float = 0.0, reduction: str = "mean"
) -> Tensor:
    r"""Cosine embedding loss: similar pairs towards cosine 1, dissimilar ones below ``margin``.

    .. math::
        \ell_i = \begin{cases} 1 - \cos(x^{(1)}_i, x^{(2)}_i) & y_i = 1 \\
                 \max\bigl(0, \cos(x^{(1)}_i, x^{(2)}_i) - \Delta\bigr) & y_i = -1 \end{cases}

    The cosine is torch's, :math:`\frac{a \cdot b}{\sqrt{(\|a\|^2 + 10^{-12})(\|b\|^2 + 10^{-12})}}`.

    Args:
        input1: embeddings :math:`(N, D)` or :math:`(D,)`, floating dtype.
        input2: embeddings of the same shape.
        target: ``1`` (similar) or ``-1`` (dissimilar) per pair (integer labels are converted).
        margin: :math:`\Delta`, sensible in ``[-1, 1]`` (default 0.0; torch suggests 0 to 0.5).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input1``, ``input2``: :math:`(N, D)` or :math:`(D,)`; ``target``: :math:`(N,)` or :math:`()`.
        Output: scalar, or the target's shape for ``"none"``.

    Raises:
        LossShapeError: ``input1`` not 1-D or 2-D, ``input2`` shape differs, ``target`` not one per pair.
        LossTypeError: integer inputs.
        LossValueError: a target other than ``-1``/``1`` (``{0, 1}`` labels: use ``target * 2 - 1``).
        NonFiniteError: NaN or Inf in any input (value check).

    Example:
        >>> import torch, losskit.functional as LF
        >>> a, b = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 1.0], [1.0, 1.0]])
        >>> print(round(float(LF.cosine_embedding_loss(a, b, torch.tensor([1, -1]))), 4))
        1.0
    """
    name = "cosine_embedding_loss"
    if (key := V.signature_due(name, (reduction, margin, type(margin)), input1, target, input2)) is not None:
        target = _check_cosine_embedding(name, key, input1, input2, target, margin=margin, reduction=reduction)
    else:
        target = _float_target(input1, target)
    if reduction != "none" and target.numel():  # torch's mean and sum are losskit's here
        return torch.cosine_embedding_loss(input1, input2, target, margin, REDUCTION_ENUM[reduction])
    terms = F.cosine_embedding_loss(input1, input2, target, margin=margin, reduction="none")
    return reduce_loss(terms, reduction)


def _check_cosine_embedding(
    name: str, key: tuple, input1: Tensor, input2: Tensor, target: Tensor, *, margin: float, reduction: str
) -> Tensor:
    """The checks of :func:`cosine_embedding_loss` (options, metadata, values when due); the float target."""
    V.check_reduction(name, reduction)
    _check_margin(name, margin)
    if V.enabled():
        V.check_tensor(name, "input1", input1)
        V.check_tensor(name, "input2", input2)
        V.check_floating(name, "input1", input1)
        V.check_floating(name, "input2", input2)
        _check_ndim(name, "input1", input1, (1, 2), "embeddings of shape (N, D) or (D,)")
        V.check_same_shape(name, input1, input2, "input1", "input2")
        _check_real_target(name, "target", target)
        if tuple(target.shape) != tuple(input1.shape[:-1]):
            raise V.LossShapeError(
                f"{name}: target must have shape {V.shape_str(input1.shape[:-1])} (one label per pair of "
                f"input1 {V.shape_str(input1)}), but got {V.shape_str(target)}; pass one -1/1 label per row"
                + (", e.g. target.squeeze(-1)" if tuple(target.shape) == (*input1.shape[:-1], 1) else "")
            )
        V.check_same_device(name, input1=input1, input2=input2, target=target)
    target = _float_target(input1, target)
    if V.values_due(name, input1, input2, target):
        V.check_finite(name, "input1", input1)
        V.check_finite(name, "input2", input2)
        V.check_finite(name, "target", target)
        V.check_plus_minus_one(name, "target", target)
    V.record_passed(key, input1, target, input2)
    return target


@mixed_precision
def multilabel_soft_margin_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean"
) -> Tensor:
    r"""Multi-label one-versus-all logistic loss, averaged over classes per sample.

    .. math::
        \ell_{nc} = -\bigl(y_{nc} \log \sigma(x_{nc}) + (1 - y_{nc}) \log \sigma(-x_{nc})\bigr), \qquad
        L_n = \frac{\sum_c w_c \, \ell_{nc}}{\sum_c w_c}

    Without ``weight`` (:math:`w_c = 1`) :math:`L_n` is the mean over the :math:`C` classes, as in torch.
    With ``weight`` it is the *weighted average over classes* (losskit's one meaning of a weighted mean);
    torch 2.13 divides :math:`\sum_c w_c \ell_{nc}` by :math:`C` instead, so losskit's numbers are torch's
    times :math:`C / \sum_c w_c`. ``"none"`` returns :math:`L_n`, ``"mean"`` their plain mean over samples,
    ``"sum"`` their sum.

    Args:
        input: logits :math:`(N, C)` (or :math:`(C,)`, or :math:`(*, C)`), floating dtype.
        target: multi-hot labels in ``[0, 1]`` of the same shape (integer 0/1 labels are converted).
        weight: optional per-class weights :math:`(C,)`, non-negative (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(*, C)`, the same; ``weight``: :math:`(C,)`. Output: scalar, or
        :math:`(*)` for ``"none"``.

    Raises:
        LossShapeError: ``target`` shape differs, ``input`` is 0-D, ``weight`` is not :math:`(C,)`.
        LossTypeError: integer ``input``, integer ``weight``.
        LossValueError: targets outside ``[0, 1]`` (for -1/1 labels use ``(target + 1) / 2``), negative weight.
        NonFiniteError: NaN or Inf in ``input``, ``target`` or ``weight`` (value check).

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([[2.0, -1.0]]), torch.tensor([[1, 0]])
        >>> print(round(float(LF.multilabel_soft_margin_loss(x, y)), 4))
        0.22
        >>> print(round(float(LF.multilabel_soft_margin_loss(x, y, torch.tensor([3.0, 1.0]))), 4))
        0.1735
    """
    name = "multilabel_soft_margin_loss"
    if (key := V.signature_due(name, (reduction,), input, target, weight)) is not None:  # None: passed before
        V.check_reduction(name, reduction)
        if V.enabled():
            V.check_tensor(name, "input", input)
            V.check_floating(name, "input", input)
            if input.dim() == 0:
                _check_ndim(name, "input", input, (1, 2), "logits of shape (N, C) or (*, C)")
            _check_real_target(name, "target", target)
            V.check_same_shape(name, input, target)
            V.check_vector(name, "weight", weight, input.shape[-1])
            V.check_same_device(name, input=input, target=target, weight=weight)
    target = _float_target(input, target)
    if key is not None:
        if V.values_due(name, input, target, weight):
            V.check_finite(name, "input", input)
            V.check_finite(name, "target", target)
            V.check_unit_range(
                name, "target", target,
                fix="pass multi-hot 0/1 labels (or probabilities); for -1/1 labels use (target + 1) / 2",
            )
            V.check_finite(name, "weight", weight)
            V.check_nonnegative(name, "weight", weight)
        V.record_passed(key, input, target, weight)
    weight = like_input(weight, input)
    terms = -(target * F.logsigmoid(input) + (1 - target) * F.logsigmoid(-input))
    if weight is None:
        per_sample = safe_divide(terms.sum(-1), input.shape[-1])
    else:
        per_sample = safe_divide((terms * weight).sum(-1), weight.sum())
    return _mean_or_reduce(per_sample, reduction)


def _check_p(name: str, p: int) -> int:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or p not in (1, 2):
        raise V.LossOptionError(
            f"{name}: p must be 1 (hinge) or 2 (squared hinge), but got {p!r}; pass p=1 or p=2"
        )
    return int(p)


@mixed_precision
def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    p: int = 1,
    margin: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Multi-class hinge loss (Weston–Watkins form, divided by the number of classes).

    .. math::
        \ell_i = \frac{1}{C} \sum_{j \ne y_i} \max(0, \Delta - x_{i y_i} + x_{ij})^p

    With class weights the terms are :math:`w_{y_i} \ell_i` (as torch) and ``"mean"`` is the weighted
    average :math:`\sum_i w_{y_i} \ell_i / \sum_i w_{y_i}` (losskit's one meaning of a weighted mean; torch
    2.13 divides by :math:`N`). ``"none"`` and ``"sum"`` are torch's.

    Args:
        input: scores :math:`(N, C)` or :math:`(C,)`, floating dtype.
        target: class indices :math:`(N,)` or :math:`()` in ``[0, C)``, integer dtype (converted to int64).
        weight: optional per-class weights :math:`(C,)`, non-negative (default ``None``).
        p: 1 (hinge, default) or 2 (squared hinge).
        margin: :math:`\Delta` (default 1.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``: :math:`(N, C)` or :math:`(C,)`; ``target``: :math:`(N,)` or :math:`()`; ``weight``:
        :math:`(C,)`. Output: scalar, or the target's shape for ``"none"``.

    Raises:
        LossOptionError: ``p`` not 1 or 2.
        LossShapeError: ``input`` not 1-D/2-D, ``target`` not one index per row (e.g. :math:`(N, 1)` or
            one-hot), ``weight`` not :math:`(C,)`.
        LossTypeError: integer ``input``, floating ``target``.
        LossValueError: class index outside ``[0, C)``, negative weight.
        NonFiniteError: NaN or Inf in ``input`` or ``weight`` (value check).

    References:
        Weston, J., Watkins, C. "Support Vector Machines for Multi-Class Pattern Recognition", 1999.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([3])
        >>> print(round(float(LF.multi_margin_loss(x, y)), 4))
        0.325
    """
    name = "multi_margin_loss"
    options = (reduction, p, margin, type(p), type(margin))
    if (key := V.signature_due(name, options, input, target, weight)) is not None:  # None: passed before
        V.check_reduction(name, reduction)
        p = _check_p(name, p)
        margin = _check_margin(name, margin)
        if V.enabled():
            V.check_tensor(name, "input", input)
            V.check_tensor(name, "target", target)
            V.check_floating(name, "input", input)
            _check_ndim(name, "input", input, (1, 2), "scores of shape (N, C) or (C,)")
            V.check_class_target(name, input, target, class_dim=1)
            V.check_vector(name, "weight", weight, input.shape[-1])
            V.check_same_device(name, input=input, target=target, weight=weight)
    if target.dtype != torch.int64:
        target = target.long()
    if key is not None:
        if V.values_due(name, input, target, weight):
            V.check_finite(name, "input", input)
            V.check_class_range(name, target, input.shape[-1], None)
            V.check_finite(name, "weight", weight)
            V.check_nonnegative(name, "weight", weight)
        V.record_passed(key, input, target, weight)
    if weight is None and reduction != "none" and input.numel():  # torch's sum and mean are losskit's here
        return torch._C._nn.multi_margin_loss(
            input, target, p, margin, None, NN_REDUCTION_ENUM[reduction]
        )
    # reshape: torch's meta kernel gives an unbatched (C,) input the shape (1,), its CPU kernel ()
    terms = F.multi_margin_loss(input, target, p=p, margin=margin, reduction="none").reshape(input.shape[:-1])
    # torch.take, not weight[target]: indexing with an unbatched 0-d target calls .item(), which vmap forbids
    return reduce_loss(terms, reduction, weight=None if weight is None else torch.take(weight, target))


def _warn_if_multi_hot(name: str, target: Tensor, num_classes: int) -> None:
    """A class that appears twice before the first -1 means a multi-hot 0/1 target, not class indices."""
    rows = target.reshape(-1, target.shape[-1]) if target.dim() else target.reshape(1, 1)
    if rows.numel() == 0:
        return
    active = torch.cumprod((rows != -1).to(torch.int64), dim=1)
    counts = torch.zeros(rows.shape[0], max(num_classes, 1), dtype=torch.int64, device=rows.device)
    counts.scatter_add_(1, rows.clamp(0, max(num_classes - 1, 0)), active)
    if bool((counts > 1).any()):
        row = int((counts > 1).any(1).nonzero()[0])
        shown = ", ".join(str(int(v)) for v in rows[row, :8]) + (", ..." if rows.shape[1] > 8 else "")
        V.warn(
            f"{name}: target must list distinct class indices then -1 padding, but row {row} repeats an index "
            f"([{shown}]), so it looks like a multi-hot 0/1 target; for multi-hot targets use "
            "multilabel_soft_margin_loss, or convert each row to its positive class indices padded with -1"
        )


def _multilabel_margin_terms(input: Tensor, target: Tensor) -> Tensor:
    """Per-sample multi-label margin loss in plain tensor ops (the path used under :func:`torch.compile`).

    torch 2.13's decomposition of ``multilabel_margin_loss`` (used by every compile backend but "eager")
    lets the slots after the first ``-1`` add hinge terms of class 0 (pytorch/pytorch#141017), so the compiled
    path computes the loss itself: slot ``s`` of row ``n`` counts while no ``-1`` came before it, and adds
    ``max(0, 1 - x[n, y[n, s]] + x[n, i])`` for every class ``i`` that is not a positive of row ``n``.
    """
    x = input.reshape(-1, input.shape[-1])
    t = target.reshape(-1, target.shape[-1])
    num_classes = x.shape[-1]
    valid = torch.cumprod((t != -1).to(torch.int64), dim=1) > 0
    index = t.clamp_min(0)
    positive = torch.zeros_like(x).scatter_add(1, index, valid.to(x.dtype)) > 0
    hinge = (1 - x.gather(1, index).unsqueeze(2) + x.unsqueeze(1)).clamp_min(0)
    counted = valid.unsqueeze(2) & ~positive.unsqueeze(1)
    terms = torch.where(counted, hinge, torch.zeros_like(hinge)).sum((1, 2)) / num_classes
    return terms.reshape(input.shape[:-1])


@mixed_precision
def multilabel_margin_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Multi-label hinge loss: every positive class should score ``1`` above every negative class.

    ``target`` lists the positive classes of a sample as indices, then ``-1``; entries after the first
    ``-1`` are ignored. With :math:`P_n` the positive classes of sample ``n``:

    .. math::
        \ell_n = \frac{1}{C} \sum_{j \in P_n} \sum_{i \notin P_n} \max\bigl(0, 1 - (x_{n j} - x_{n i})\bigr)

    Eager calls use torch's kernel. Under :func:`torch.compile` losskit computes the same sum with tensor
    ops (memory :math:`N C^2`), because torch 2.13's decomposition of this loss counts the slots after the
    ``-1`` (pytorch/pytorch#141017) and gives wrong values and gradients.

    Args:
        input: scores :math:`(N, C)` or :math:`(C,)`, floating dtype.
        target: class indices padded with ``-1``, same shape, integer dtype (converted to int64).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(N, C)` or :math:`(C,)`, the same. Output: scalar, or :math:`(N,)`
        (``()`` for 1-D input) for ``"none"``.

    Raises:
        LossShapeError: ``input`` not 1-D/2-D, ``target`` shape differs.
        LossTypeError: integer ``input``, floating or bool ``target``.
        LossValueError: target values outside ``[-1, C)``.
        NonFiniteError: NaN or Inf in ``input`` (value check).
        SuspiciousInputWarning: a row repeats a class index before its ``-1`` (a multi-hot target).

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([[3, 0, -1, 1]])
        >>> print(round(float(LF.multilabel_margin_loss(x, y)), 4))
        0.85
    """
    name = "multilabel_margin_loss"
    if (key := V.signature_due(name, (reduction,), input, target)) is not None:  # None: passed before
        target = _check_multilabel_margin(name, key, input, target, reduction=reduction)
    elif target.dtype != torch.int64:
        target = target.long()
    if torch.compiler.is_compiling():
        terms = _multilabel_margin_terms(input, target)
    elif reduction != "none" and input.numel():  # torch's sum and mean (over the samples) are losskit's here
        return torch._C._nn.multilabel_margin_loss(input, target, NN_REDUCTION_ENUM[reduction])
    else:
        # reshape: torch's meta kernel gives an unbatched (C,) input the shape (1,), its CPU kernel ()
        terms = F.multilabel_margin_loss(input, target, reduction="none").reshape(input.shape[:-1])
    return reduce_loss(terms, reduction)


def _check_multilabel_margin(name: str, key: tuple, input: Tensor, target: Tensor, *, reduction: str) -> Tensor:
    """The checks of :func:`multilabel_margin_loss` (options, metadata, values when due); the int64 target."""
    V.check_reduction(name, reduction)
    if V.enabled():
        V.check_tensor(name, "input", input)
        V.check_tensor(name, "target", target)
        V.check_floating(name, "input", input)
        _check_ndim(name, "input", input, (1, 2), "scores of shape (N, C) or (C,)")
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise V.LossTypeError(
                f"{name}: target must hold class indices (padded with -1) of an integer dtype, but got dtype "
                f"{target.dtype}; use target.long() (for multi-hot 0/1 targets use multilabel_soft_margin_loss)"
            )
        V.check_same_shape(
            name, input, target,
            fix="pass one row of class indices per sample, padded with -1 to the number of classes",
        )
        V.check_same_device(name, input=input, target=target)
    if target.dtype != torch.int64:
        target = target.long()
    if V.values_due(name, input, target):
        V.check_finite(name, "input", input)
        num_classes = input.shape[-1]
        if target.numel():
            lo, hi = int(target.min()), int(target.max())
            if lo < -1 or hi >= num_classes:
                raise V.LossValueError(
                    f"{name}: target values must lie in [-1, {num_classes}) (class indices, then -1 padding), "
                    f"but got {lo if lo < -1 else hi} (target range [{lo}, {hi}]); "
                    + (
                        "labels look 1-based: use torch.where(target > 0, target - 1, -1)"
                        if hi == num_classes and lo >= -1
                        else "fix the labels, and mark the end of each row's classes with -1"
                    )
                )
            _warn_if_multi_hot(name, target, num_classes)
    V.record_passed(key, input, target)
    return target
