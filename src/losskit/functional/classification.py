"""Classification losses on logits, log-probabilities or probabilities: cross-entropy, NLL, binary cross-entropy,
linear cross-entropy.

Conventions shared by the functions here:

* **Multi-class** losses (:func:`cross_entropy`, :func:`nll_loss`, :func:`linear_cross_entropy`) take
  ``input`` of shape ``(N, C)``, ``(N, C, d1, ..., dK)`` (classes along dim 1) or ``(C,)`` (one unbatched
  sample), and ``target`` of class indices (any integer dtype but bool; shape ``input`` without the class dim)
  or, for the cross-entropies, of class probabilities (floating, the shape of ``input``). ``weight`` is one
  non-negative weight per class. The numbers are torch's.
* **Binary** losses (:func:`binary_cross_entropy`, :func:`binary_cross_entropy_with_logits`) take ``input``
  and ``target`` of one shape (no broadcasting) and a per-element ``weight`` that broadcasts to ``input``.
* ``reduction="mean"`` follows :mod:`losskit._reduction`: a mean over nothing (empty batch, every target equal
  to ``ignore_index``) is 0 with a zero gradient, and a weighted mean is ``sum(w * l) / sum(w)``. For the
  multi-class losses this is torch's own mean (class weights of the non-ignored targets); for the binary
  losses torch divides by the element count instead, losskit by the sum of the weights.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import like_input, mixed_precision
from .._reduction import NN_REDUCTION_ENUM, REDUCTION_ENUM, class_weight_total, reduce_loss, safe_divide
from ..fused._common import MIN_NUMEL as _FUSED_MIN_NUMEL
from ..fused.cross_entropy import fused_cross_entropy, supports_cross_entropy
from ..fused.linear_cross_entropy import fused_linear_cross_entropy, supports_linear_cross_entropy
from ..fused.pointwise import fused_binary_cross_entropy_with_logits, supports_binary_cross_entropy_with_logits

if TYPE_CHECKING:
    from torch.nn import LinearCrossEntropyOptions

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "linear_cross_entropy",
    "nll_loss",
]

# --------------------------------------------------------------------------------------------
# shared pieces of the multi-class losses
# --------------------------------------------------------------------------------------------
_LEARNED_CLASS_WEIGHTS = (
    "pass weight.detach() for fixed class weights; to learn them, multiply the losses of reduction='none' by "
    "weight[target] and reduce them yourself"
)


def _is_probability_target(input_shape: tuple[int, ...] | torch.Size, target: Tensor) -> bool:
    """torch's rule: a floating ``target`` of the input's (logits') shape holds class probabilities."""
    return target.is_floating_point() and target.shape == input_shape


def _as_index_target(target: Tensor, probabilities: bool) -> Tensor:
    """Class indices of any integer dtype as int64 (torch's kernels take int64 and uint8 only)."""
    if probabilities or target.dtype in (torch.int64, torch.bool) or target.is_floating_point():
        return target
    return target.long()


"""Kept for the Modules (``modules/classification.py`` checks ``ignore_index`` at construction)."""


def _mean_denominator(
    target: Tensor, weight: Tensor | None, ignore_index: int, probabilities: bool, class_dim: int
) -> Tensor | int:
    """What torch's ``reduction="mean"`` divides the sum by, computed without a device sync.

    Class indices: the number of targets that are not ``ignore_index``, or the sum of their class weights.
    Class probabilities: the number of predictions (every element of the batch and K dims), as in torch.
    """
    if probabilities:
        return math.prod(target.shape[:class_dim]) * math.prod(target.shape[class_dim + 1 :])
    keep = target != ignore_index
    safe = target if weight is None else torch.where(keep, target, 0)  # indices only read with a weight
    return class_weight_total(keep, safe, weight)


_NLL_FORWARD = {1: torch.ops.aten.nll_loss_forward.default, 2: torch.ops.aten.nll_loss_forward.default,
                4: torch.ops.aten.nll_loss2d_forward.default}
"""torch's NLL kernels that return the mean's denominator beside the loss, by the input's number of dims."""

def _nll_forward(input: Tensor):
    """The kernel :func:`_nll_mean` calls for ``input`` (log-probabilities), or ``None`` where it does not apply:
    3-D or 5-D+ input, or a tensor subclass (whose ``__torch_function__`` must see ``F.nll_loss``)."""
    return _NLL_FORWARD.get(input.dim()) if type(input) in V.PLAIN_TENSORS else None


def _nll_mean(logp: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int) -> Tensor:
    """torch's own ``nll_loss`` mean, and 0 with a zero gradient where it averages over nothing, without a sync.

    torch's kernel returns the mean and its denominator (the number, or class weight, of the non-ignored
    targets); the mean is 0/0 = NaN only where that denominator is 0, and the kernel's gradient is then 0 (no
    target selects a logit), so one ``torch.where`` on the denominator gives losskit's rule. NaN in the
    logits stays NaN.
    """
    out, total = _NLL_FORWARD[logp.dim()](logp, target, weight, REDUCTION_ENUM["mean"], ignore_index)
    return torch.where(total == 0, 0.0, out)


def _sum_or_none(reduction: str) -> str:
    """The reduction to ask torch for: the mean is losskit's sum / denominator."""
    return "sum" if reduction == "mean" else reduction


# --------------------------------------------------------------------------------------------
# cross_entropy, nll_loss
# --------------------------------------------------------------------------------------------
@mixed_precision
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Cross-entropy between the softmax of ``input`` (logits) and class-index or class-probability targets.

    With class indices :math:`y_n`, :math:`C` classes, class weights :math:`w` (all 1 by default),
    :math:`\log p_{n,c} = \operatorname{log\_softmax}(x_n)_c` and smoothing :math:`\varepsilon`:

    .. math::
        \ell_n = (1 - \varepsilon) \, w_{y_n} \left(-\log p_{n,y_n}\right)
                 + \frac{\varepsilon}{C} \sum_c w_c \left(-\log p_{n,c}\right),
        \qquad \ell_n = 0 \text{ where } y_n = \texttt{ignore\_index},

    and ``"mean"`` is :math:`\sum_n \ell_n / \sum_{n:\, y_n \ne \texttt{ignore\_index}} w_{y_n}`.
    With class probabilities :math:`t_{n,c}` (smoothed to :math:`(1 - \varepsilon) t_{n,c} + \varepsilon / C`):

    .. math::
        \ell_n = -\sum_c w_c \, t_{n,c} \log p_{n,c},

    and ``"mean"`` is :math:`\sum_n \ell_n / N` over the :math:`N` predictions (batch and K dims), as in torch.
    The numbers are torch's, except that a mean over nothing (empty batch, every target ignored) is 0 with
    a zero gradient where torch gives NaN.

    Args:
        input: logits (unnormalised scores), floating dtype.
        target: class indices (int64, uint8 or another integer dtype) or class probabilities (floating,
            the shape of ``input``).
        weight: optional non-negative weight per class, shape ``(C,)``, floating (default ``None``).
        ignore_index: a class-index target value that contributes neither loss nor gradient nor to the mean's
            denominator (default -100). Not allowed (if >= 0) with probability targets.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        label_smoothing: :math:`\varepsilon` in ``[0, 1]`` (default 0.0).

    Shape:
        ``input``: :math:`(N, C)`, :math:`(N, C, d_1, ..., d_K)` or :math:`(C,)`. ``target``: :math:`(N)`,
        :math:`(N, d_1, ..., d_K)` or :math:`()` of class indices, or the shape of ``input`` of
        probabilities. Output: scalar, or the shape of the class-index target for ``"none"``.

    Raises:
        LossShapeError: ``target`` of shape ``(N, 1)``, one-hot integer targets, any other shape mismatch,
            ``weight`` not ``(C,)``.
        LossTypeError: float class indices (a float target whose shape is not the input's), bool targets,
            integer ``input`` or ``weight``.
        LossOptionError: ``label_smoothing`` outside ``[0, 1]``; ``ignore_index >= 0`` with probabilities.
        LossValueError: class indices outside ``[0, C)`` that are not ``ignore_index``, negative ``weight``,
            probability targets outside ``[0, 1]`` (value checks).
        NonFiniteError: NaN or Inf in ``input``, ``weight`` or probability targets (value check).
        LossDeviceError: tensors on different devices.

    Warns:
        SuspiciousInputWarning: every row of ``input`` lies in ``[0, 1]`` and sums to 1 (softmax output
            given where logits belong; the loss applies ``log_softmax`` itself).

    References:
        Szegedy, C. et al. "Rethinking the Inception Architecture for Computer Vision", 2016 (label smoothing).

    Example:
        >>> import torch, losskit.functional as LF
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
        >>> print(round(float(LF.cross_entropy(logits, torch.tensor([0, 2]))), 4))
        0.8964
        >>> print(float(LF.cross_entropy(logits, torch.tensor([-100, -100]))))
        0.0
    """
    name = "cross_entropy"
    options = (reduction, ignore_index, type(ignore_index), label_smoothing)
    if (key := V.signature_due(name, options, input, target, weight)) is not None:  # None: steady state
        V.check_reduction(name, reduction)
        label_smoothing = V.check_unit_interval(name, "label_smoothing", label_smoothing)
        V.check_ignore_index(name, ignore_index)
        if V.enabled():
            if not V.check_class_inputs(
                name, input, target, weight, ignore_index, allow_probabilities=True, role="scores"
            ):
                V.check_no_grad(name, "weight", weight, kernel="nll_loss", fix=_LEARNED_CLASS_WEIGHTS)
            if V.values_due(name, input, target, weight):
                V.check_finite(name, "input", input)
                V.check_class_values(
                    name, target, input.shape[V.class_dim_of(input)], ignore_index,
                    probabilities=_is_probability_target(input.shape, target), weight=weight,
                )
                V.warn_if_probabilities(name, input)
            V.record_passed(key, input, target, weight)
    probabilities = _is_probability_target(input.shape, target)
    target = _as_index_target(target, probabilities)
    weight = like_input(weight, input)
    if not probabilities and input.numel() >= _FUSED_MIN_NUMEL and supports_cross_entropy(
        input, target, weight, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction
    ):
        return fused_cross_entropy(
            input, target, weight, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction
        )
    if reduction == "mean":
        # torch's mean is losskit's wherever it is not NaN (module docstring); a NaN is a mean over nothing
        # (losskit: 0, below) or NaN in the input (it stays NaN, below)
        if V.eager_readable(input, target, weight):
            loss = torch._C._nn.cross_entropy_loss(
                input, target, weight, NN_REDUCTION_ENUM["mean"], ignore_index, label_smoothing
            )
            value = loss.item()  # computed already: no sync, no kernel
            if value == value:
                return loss
        elif probabilities and input.numel():
            return F.cross_entropy(input, target, weight, label_smoothing=label_smoothing)  # never over nothing
        elif not probabilities and label_smoothing == 0.0 and _nll_forward(input) is not None:
            return _nll_mean(torch.log_softmax(input, V.class_dim_of(input)), target, weight, ignore_index)
    loss = F.cross_entropy(
        input, target, weight, ignore_index=ignore_index, reduction=_sum_or_none(reduction),
        label_smoothing=label_smoothing,
    )
    if reduction != "mean":
        return loss
    return safe_divide(loss, _mean_denominator(target, weight, ignore_index, probabilities, V.class_dim_of(input)))


@mixed_precision
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Negative log-likelihood of class-index targets under log-probabilities (e.g. ``log_softmax`` output).

    .. math::
        \ell_n = -w_{y_n} \, x_{n, y_n}, \qquad \ell_n = 0 \text{ where } y_n = \texttt{ignore\_index},

    and ``"mean"`` is :math:`\sum_n \ell_n / \sum_{n:\, y_n \ne \texttt{ignore\_index}} w_{y_n}` (torch's
    weighted mean), 0 with a zero gradient when nothing is left to average (torch gives NaN).
    ``nll_loss(log_softmax(x, 1), y)`` equals ``cross_entropy(x, y)``.

    Args:
        input: log-probabilities, floating dtype (``-inf`` is legal: the log of a zero probability).
        target: class indices (int64, uint8 or another integer dtype).
        weight: optional non-negative weight per class, shape ``(C,)``, floating (default ``None``).
        ignore_index: a target value that contributes neither loss nor gradient nor to the mean's denominator
            (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``: :math:`(N, C)`, :math:`(N, C, d_1, ..., d_K)` or :math:`(C,)`. ``target``: :math:`(N)`,
        :math:`(N, d_1, ..., d_K)` or :math:`()`. Output: scalar, or the shape of ``target`` for ``"none"``.

    Raises:
        LossShapeError: ``target`` of shape ``(N, 1)``, one-hot targets, any other shape mismatch, ``weight``
            not ``(C,)``.
        LossTypeError: float or bool targets, integer ``input`` or ``weight``.
        LossValueError: class indices outside ``[0, C)`` that are not ``ignore_index``, negative ``weight``
            (value checks).
        NonFiniteError: NaN or ``+inf`` in ``input``, NaN or Inf in ``weight`` (value check).
        LossDeviceError: tensors on different devices.

    Warns:
        SuspiciousInputWarning: positive values in ``input`` (probabilities or logits where log-probabilities
            belong).

    Example:
        >>> import torch, losskit.functional as LF
        >>> logp = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]).log_softmax(1)
        >>> print(round(float(LF.nll_loss(logp, torch.tensor([0, 2]))), 4))
        0.8964
    """
    name = "nll_loss"
    if (key := V.signature_due(name, (reduction, ignore_index, type(ignore_index)), input, target, weight)) is not None:
        V.check_reduction(name, reduction)
        V.check_ignore_index(name, ignore_index)
        if V.enabled():
            V.check_class_inputs(name, input, target, weight, ignore_index, role="log-probabilities")
            V.check_no_grad(name, "weight", weight, kernel="nll_loss", fix=_LEARNED_CLASS_WEIGHTS)
            if V.values_due(name, input, target, weight):
                V.check_finite(name, "input", input, allow_neg_inf=True)
                V.check_class_values(name, target, input.shape[V.class_dim_of(input)], ignore_index, weight=weight)
                V.warn_if_logprob_positive(
                    name, "input", input,
                    fix="nll_loss expects log_softmax output: apply input.log_softmax(1) first, or use "
                    "cross_entropy on the raw scores",
                )
            V.record_passed(key, input, target, weight)
    target = _as_index_target(target, False)
    weight = like_input(weight, input)
    if input.dim() == 4 and input.requires_grad and not input.is_contiguous():
        # torch's 2-D nll_loss backward refuses channels-last input ("grad_input must be contiguous")
        input = input.contiguous()
    if reduction == "mean":  # as in cross_entropy: torch's mean unless it is NaN
        if V.eager_readable(input, target, weight):
            loss = torch._C._nn.nll_loss_nd(input, target, weight, NN_REDUCTION_ENUM["mean"], ignore_index)
            value = loss.item()
            if value == value:
                return loss
        elif _nll_forward(input) is not None:
            return _nll_mean(input, target, weight, ignore_index)
    loss = F.nll_loss(input, target, weight, ignore_index=ignore_index, reduction=_sum_or_none(reduction))
    if reduction != "mean":
        return loss
    return safe_divide(loss, _mean_denominator(target, weight, ignore_index, False, V.class_dim_of(input)))


# --------------------------------------------------------------------------------------------
# binary cross-entropy
# --------------------------------------------------------------------------------------------
def _smooth_binary(target: Tensor, label_smoothing: float) -> Tensor:
    """``t (1 - s) + s / 2``: hard 0/1 labels become ``s / 2`` and ``1 - s / 2``."""
    if label_smoothing == 0.0:
        return target
    return target * (1.0 - label_smoothing) + 0.5 * label_smoothing


@mixed_precision
def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Binary cross-entropy between probabilities ``input`` and 0/1 (or soft) targets.

    With the target smoothed to :math:`t_i = y_i (1 - \varepsilon) + \varepsilon / 2`:

    .. math::
        \ell_i = -\left( t_i \log x_i + (1 - t_i) \log(1 - x_i) \right),

    each log clamped to ``>= -100`` as in torch. ``"mean"`` with ``weight`` is the weighted average
    :math:`\sum_i w_i \ell_i / \sum_i w_i` (the sum over the weight broadcast to ``input``);
    **torch 2.13 divides by the element count instead**: ``"none"`` and ``"sum"`` are torch's.
    A 0/1 mask given as ``weight`` therefore averages over the unmasked elements. An empty input, or
    weights that are all 0, give 0 with a zero gradient.

    Prefer :func:`binary_cross_entropy_with_logits` on logits: it is numerically stable.

    Args:
        input: probabilities in ``[0, 1]``, floating dtype.
        target: targets in ``[0, 1]`` of the same shape and dtype.
        weight: optional non-negative per-element weight broadcastable to ``input`` (e.g. ``(C,)`` for
            ``(N, C)``; default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        label_smoothing: :math:`\varepsilon` in ``[0, 1]`` (default 0.0; torch has no such option here).

    Shape:
        ``input``, ``target``: :math:`(*)`, the same. ``weight``: broadcastable to :math:`(*)`.
        Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossValueError: ``input`` outside ``[0, 1]`` (it looks like logits), ``target`` outside ``[0, 1]``
            (with a hint for ``{0, 255}`` masks and ``{-1, 1}`` labels), negative ``weight`` (value checks).
        LossShapeError: ``target`` shape differs from ``input``; ``weight`` does not broadcast to ``input``.
        LossTypeError: integer ``input`` or ``target``; ``target`` of another dtype than ``input``.
        LossOptionError: ``label_smoothing`` outside ``[0, 1]``.
        NonFiniteError: NaN or Inf in ``input``, ``target`` or ``weight`` (value check).
        LossDeviceError: tensors on different devices.

    References:
        Szegedy, C. et al. "Rethinking the Inception Architecture for Computer Vision", 2016 (label smoothing).

    Example:
        >>> import torch, losskit.functional as LF
        >>> p, y = torch.tensor([0.9, 0.2]), torch.tensor([1.0, 0.0])
        >>> print(round(float(LF.binary_cross_entropy(p, y)), 4))
        0.1643
        >>> print(round(float(LF.binary_cross_entropy(p, y, torch.tensor([1.0, 0.0]))), 4))
        0.1054
    """
    name = "binary_cross_entropy"
    if (key := V.signature_due(name, (reduction, label_smoothing), input, target, weight)) is not None:
        V.check_reduction(name, reduction)
        label_smoothing = V.check_unit_interval(name, "label_smoothing", label_smoothing)
        if V.enabled():
            V.check_binary_inputs(name, input, target, role="probabilities", match_dtype=True, weight=weight)
            if V.values_due(name, input, target, weight):
                V.check_finite(name, "input", input)
                V.check_unit_range(
                    name, "input", input,
                    fix="it looks like logits: use binary_cross_entropy_with_logits on them, or apply torch.sigmoid "
                    "first",
                )
                V.check_binary_values(name, target, weight=weight)
            V.record_passed(key, input, target, weight)
    target = _smooth_binary(target, label_smoothing)
    if weight is None and input.numel() > 0:
        if key is None:  # the checks passed before for this signature: one shape, torch's kernel directly
            return torch._C._nn.binary_cross_entropy(
                input, target, None, NN_REDUCTION_ENUM[reduction]
            )
        return F.binary_cross_entropy(input, target, reduction=reduction)
    terms = F.binary_cross_entropy(input, target, reduction="none")
    return reduce_loss(terms, reduction, weight=None if weight is None else weight.to(terms.dtype))


@mixed_precision
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    pos_weight: Tensor | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    ignore_index: float | None = None,
) -> Tensor:
    r"""Binary cross-entropy on logits: the sigmoid and the log in one numerically stable step.

    With :math:`\sigma` the sigmoid, the target smoothed to :math:`t_i = y_i (1 - \varepsilon) + \varepsilon / 2`
    and :math:`p_c` the ``pos_weight`` of the element's class (1 by default):

    .. math::
        \ell_i = -\left( p_c \, t_i \log \sigma(x_i) + (1 - t_i) \log(1 - \sigma(x_i)) \right).

    ``pos_weight`` keeps torch's meaning (it scales the positive term: ``pos_weight = #neg / #pos`` balances a
    class). ``"mean"`` with ``weight`` is the weighted average :math:`\sum_i w_i \ell_i / \sum_i w_i` (the sum
    over the weight broadcast to ``input``); **torch 2.13 divides by the element count instead**: ``"none"``
    and ``"sum"`` are torch's. An empty input, or weights that are all 0, give 0 with a zero gradient.

    ``ignore_index`` (segmentation masks with a "don't care" value such as 255): elements whose target equals it
    contribute neither loss nor gradient, and ``"mean"`` averages over the other elements (the ignored ones get
    weight 0 in the weighted mean). segmentation_models_pytorch's ``SoftBCEWithLogitsLoss(ignore_index=...)``
    divides by every element instead: its number is ``reduction="sum"`` divided by ``input.numel()``.

    Args:
        input: logits (unnormalised scores), floating dtype.
        target: targets in ``[0, 1]`` of the same shape.
        weight: optional non-negative per-element weight broadcastable to ``input`` (default ``None``).
        pos_weight: optional non-negative weight of the positive term, broadcastable to ``input`` along the last
            (class) dim, e.g. ``(C,)`` for ``(N, C)`` (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        label_smoothing: :math:`\varepsilon` in ``[0, 1]`` (default 0.0; torch has no such option here).
        ignore_index: a target value whose elements are skipped (default ``None``: none; torch has no such option).

    Shape:
        ``input``, ``target``: :math:`(*)`, the same. ``weight``, ``pos_weight``: broadcastable to :math:`(*)`.
        Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossValueError: ``target`` outside ``[0, 1]`` (with a hint for ``{0, 255}`` masks and ``{-1, 1}``
            labels), negative ``weight`` or ``pos_weight`` (value checks).
        LossShapeError: ``target`` shape differs from ``input``; ``weight`` or ``pos_weight`` does not broadcast
            to ``input``.
        LossTypeError: integer ``input`` or ``target``.
        LossOptionError: ``label_smoothing`` outside ``[0, 1]``.
        NonFiniteError: NaN or Inf in ``input``, ``target``, ``weight`` or ``pos_weight`` (value check).
        LossDeviceError: tensors on different devices.

    Warns:
        SuspiciousInputWarning: ``input`` of at least 256 elements that all lie in ``[0, 1]`` (probabilities
            where logits belong).

    References:
        Szegedy, C. et al. "Rethinking the Inception Architecture for Computer Vision", 2016 (label smoothing).

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])
        >>> print(round(float(LF.binary_cross_entropy_with_logits(x, y)), 4))
        0.2201
        >>> print(round(float(LF.binary_cross_entropy_with_logits(x, y, label_smoothing=0.2)), 4))
        0.3701
        >>> mask = torch.tensor([1.0, 255.0])  # the second pixel is "don't care"
        >>> print(round(float(LF.binary_cross_entropy_with_logits(x, mask, ignore_index=255)), 4))
        0.1269
    """
    name = "binary_cross_entropy_with_logits"
    if ignore_index is not None:
        return _bce_with_logits_ignoring(
            input, target, weight, pos_weight=pos_weight, reduction=reduction, label_smoothing=label_smoothing,
            ignore_index=ignore_index,
        )
    options = (reduction, label_smoothing)
    if (key := V.signature_due(name, options, input, target, weight, pos_weight)) is not None:  # None: steady
        V.check_reduction(name, reduction)
        label_smoothing = V.check_unit_interval(name, "label_smoothing", label_smoothing)
        if V.enabled():
            V.check_binary_inputs(name, input, target, weight=weight, pos_weight=pos_weight)
            V.check_no_grad(
                name, "pos_weight", pos_weight, kernel="binary_cross_entropy_with_logits",
                fix="pass pos_weight.detach(); to learn it, write the loss out: "
                "(1 - t) * x + (1 + (pos_weight - 1) * t) * F.softplus(-x)",
            )
            if V.values_due(name, input, target, weight, pos_weight):
                V.check_finite(name, "input", input)
                V.check_binary_values(name, target, weight=weight, pos_weight=pos_weight)
                V.warn_if_sigmoid_probabilities(
                    name, input,
                    fix="pass the scores from before torch.sigmoid(), or use binary_cross_entropy on probabilities",
                )
            V.record_passed(key, input, target, weight, pos_weight)
    if weight is not None or pos_weight is not None:
        weight, pos_weight = like_input(weight, input), like_input(pos_weight, input)
    if input.numel() >= _FUSED_MIN_NUMEL and supports_binary_cross_entropy_with_logits(
        input, target, weight, pos_weight=pos_weight, reduction=reduction, label_smoothing=label_smoothing
    ):
        return fused_binary_cross_entropy_with_logits(
            input, target, weight, pos_weight=pos_weight, reduction=reduction, label_smoothing=label_smoothing
        )
    target = _smooth_binary(target, label_smoothing)
    if weight is None and input.numel() > 0:
        if key is None:  # the checks passed before for this signature: one shape, torch's kernel directly
            return torch.binary_cross_entropy_with_logits(input, target, None, pos_weight, REDUCTION_ENUM[reduction])
        return F.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight, reduction=reduction)
    terms = F.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight, reduction="none")
    return reduce_loss(terms, reduction, weight=None if weight is None else weight.to(terms.dtype))


def _bce_with_logits_ignoring(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    *,
    pos_weight: Tensor | None,
    reduction: str,
    label_smoothing: float,
    ignore_index: float,
) -> Tensor:
    """:func:`binary_cross_entropy_with_logits` with ``ignore_index``: the ignored elements become weight 0 (and a
    target of 0, so their terms are finite), then the weighted mean of the public function applies."""
    name = "binary_cross_entropy_with_logits"
    if not V.is_number(ignore_index):
        raise V.LossTypeError(
            f"{name}: ignore_index must be a number (the target value to skip) or None, but got {ignore_index!r}; "
            "pass e.g. ignore_index=255"
        )
    V.check_tensor(name, "target", target)
    V.check_tensor(name, "input", input)
    keep = target != ignore_index
    safe_target = torch.where(keep, target, torch.zeros((), dtype=target.dtype, device=target.device))
    mask = keep.to(input.dtype)
    if weight is not None:
        V.check_broadcast_to(name, "weight", weight, input, fix=f"pass one weight per element {V.shape_str(input)}")
        mask = mask * weight.to(input.dtype)
    return binary_cross_entropy_with_logits(
        input, safe_target, mask, pos_weight=pos_weight, reduction=reduction, label_smoothing=label_smoothing
    )


# --------------------------------------------------------------------------------------------
# linear cross-entropy
# --------------------------------------------------------------------------------------------
def _check_linear_inputs(
    name: str,
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    linear_bias: Tensor | None,
    weight: Tensor | None,
    ignore_index: int,
) -> None:
    """Metadata checks of :func:`linear_cross_entropy` (no tensor values read)."""
    V.check_tensor(name, "input", input)
    V.check_tensor(name, "linear_weight", linear_weight)
    V.check_tensor(name, "target", target)
    V.check_floating(name, "input", input, role="features")
    V.check_floating(name, "linear_weight", linear_weight, role="weights")
    if input.dim() not in (1, 2):
        raise V.LossShapeError(
            f"{name}: input must have shape (in_features,) or (N, in_features), but got {V.shape_str(input)}; "
            "flatten the leading dims: input.flatten(0, -2) and target.flatten()"
        )
    in_features = input.shape[-1]
    if linear_weight.dim() < 2 or linear_weight.shape[-1] != in_features:
        raise V.LossShapeError(
            f"{name}: linear_weight must have shape (C, {in_features}) (or (C, d1, ..., dK, {in_features})) for "
            f"input {V.shape_str(input)}, but got {V.shape_str(linear_weight)}; pass the weight of "
            f"nn.Linear({in_features}, C) as stored (out_features, in_features), not transposed"
        )
    if linear_weight.dtype != input.dtype:
        raise V.LossTypeError(
            f"{name}: linear_weight must have the dtype of input ({input.dtype}), but got {linear_weight.dtype}; "
            "use linear_weight.to(input.dtype)"
        )
    num_classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if out_features and input.dim() == 1:
        raise V.LossShapeError(
            f"{name}: a K-dimensional linear_weight {V.shape_str(linear_weight)} needs batched input "
            f"(N, {in_features}), but got {V.shape_str(input)}; use input.unsqueeze(0) and target.unsqueeze(0)"
        )
    if linear_bias is not None:
        V.check_tensor(name, "linear_bias", linear_bias)
        V.check_floating(name, "linear_bias", linear_bias, role="weights")
        if tuple(linear_bias.shape) != (num_classes, *out_features):
            raise V.LossShapeError(
                f"{name}: linear_bias must have shape {V.shape_str((num_classes, *out_features))} "
                f"(linear_weight without its last dim), but got {V.shape_str(linear_bias)}; pass the bias of the "
                "same nn.Linear"
            )
    tensors = {"linear_weight": linear_weight, "target": target, "linear_bias": linear_bias, "weight": weight}
    if any(t is not None and t.device != input.device for t in tensors.values()):
        V.check_same_device(name, input=input, **tensors)
    # the target is checked against the logits input @ linear_weight.T, which are never built here
    logits = torch.empty((*input.shape[:-1], num_classes, *out_features), dtype=input.dtype, device="meta")
    try:
        probabilities = V.check_class_target(name, logits, target, allow_probabilities=True)
    except V.LosskitError as err:
        where = f"input {V.shape_str(logits)}"
        raise type(err)(str(err).replace(where, f"logits {V.shape_str(logits)} (input @ linear_weight.T)")) from None
    V.check_class_vector(name, "weight", weight, input, num_classes)
    V.check_ignore_index(name, ignore_index, probabilities=probabilities)


@mixed_precision
def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
) -> Tensor:
    r"""Cross-entropy of the logits ``input @ linear_weight.T + linear_bias``: a classifier head and its loss in one.

    Equal to ``cross_entropy(F.linear(input, linear_weight, linear_bias), target, ...)`` (with the logits
    reshaped to ``(N, C, d1, ..., dK)`` for a K-dimensional ``linear_weight``), including losskit's mean
    (0 over nothing). With ``options`` (a ``torch.nn.LinearCrossEntropyOptions``), torch 2.13 computes it in
    chunks without building the full logits, which saves memory for large vocabularies; torch's chunked op
    is opaque to :func:`torch.compile` (a graph break, so ``fullgraph=True`` fails there).

    Differences from torch 2.13: ``ignore_index`` defaults to -100 as in :func:`cross_entropy` (torch's default
    ``None`` means the same for class indices; ``None`` is accepted), and, as in :func:`cross_entropy`, it is
    not used with probability targets (torch raises if it is given at all).

    Args:
        input: features, floating dtype.
        linear_weight: the classifier weight as ``nn.Linear`` stores it, ``(C, in_features)`` or
            ``(C, d1, ..., dK, in_features)``.
        target: class indices or class probabilities of the logits, as in :func:`cross_entropy`.
        linear_bias: optional bias, ``linear_weight``'s shape without its last dim (default ``None``).
        weight: optional non-negative weight per class, shape ``(C,)`` (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        ignore_index: a class-index target value to skip (default -100).
        label_smoothing: in ``[0, 1]`` (default 0.0).
        options: torch's chunking options, or ``None`` for the plain computation (default).

    Shape:
        ``input``: :math:`(in)` or :math:`(N, in)`. Logits: :math:`(C,)` or :math:`(N, C, d_1, ..., d_K)`.
        ``target``: the logits' shape without the class dim (indices) or with it (probabilities).
        Output: scalar, or the class-index target's shape for ``"none"``.

    Raises:
        LossShapeError: ``input`` not 1-D or 2-D, ``linear_weight`` whose last dim is not ``in_features``,
            ``linear_bias`` of the wrong shape, a K-dimensional ``linear_weight`` with unbatched input, and the
            target mistakes of :func:`cross_entropy` (the message names the logits' shape).
        LossTypeError, LossOptionError, LossValueError, NonFiniteError, LossDeviceError: as
            :func:`cross_entropy` (``input``, ``linear_weight`` and ``linear_bias`` must be finite).

    References:
        Wijmans, E. et al. "Cut Your Losses in Large-Vocabulary Language Models", 2025 (why the logits need not
        be materialised).

    Example:
        >>> import torch, losskit.functional as LF
        >>> h, w = torch.tensor([[1.0, 2.0], [0.5, -1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> print(round(float(LF.linear_cross_entropy(h, w, torch.tensor([2, 0]))), 4))
        0.436
    """
    name = "linear_cross_entropy"
    V.check_reduction(name, reduction)
    label_smoothing = V.check_unit_interval(name, "label_smoothing", label_smoothing)
    if ignore_index is None:
        ignore_index = -100
    V.check_ignore_index(name, ignore_index)
    if V.enabled():
        _check_linear_inputs(name, input, linear_weight, target, linear_bias, weight, ignore_index)
    num_classes = linear_weight.shape[0]
    logits_shape = (*input.shape[:-1], num_classes, *linear_weight.shape[1:-1])
    probabilities = _is_probability_target(logits_shape, target)
    class_dim = 1 if input.dim() == 2 else 0
    if V.enabled() and not probabilities:
        V.check_no_grad(name, "weight", weight, kernel="nll_loss", fix=_LEARNED_CLASS_WEIGHTS)
    if V.values_due(name, input, linear_weight, target, linear_bias, weight):
        V.check_finite(name, "input", input)
        V.check_finite(name, "linear_weight", linear_weight)
        V.check_finite(name, "linear_bias", linear_bias)
        V.check_class_values(name, target, num_classes, ignore_index, probabilities=probabilities, weight=weight)
    target = _as_index_target(target, probabilities)
    weight = like_input(weight, input)
    if not probabilities and supports_linear_cross_entropy(
        input, linear_weight, target, linear_bias=linear_bias, weight=weight, reduction=reduction,
        ignore_index=ignore_index, label_smoothing=label_smoothing,
    ):
        return fused_linear_cross_entropy(
            input, linear_weight, target, linear_bias=linear_bias, weight=weight, reduction=reduction,
            ignore_index=ignore_index, label_smoothing=label_smoothing, options=options,
        )
    loss = F.linear_cross_entropy(
        input, linear_weight, target, linear_bias=linear_bias, weight=weight, reduction=_sum_or_none(reduction),
        ignore_index=None if probabilities else ignore_index, label_smoothing=label_smoothing,
        options=None if V.functorch_active() else options,  # torch's chunked op does not support torch.func
    )
    if reduction != "mean":
        return loss
    return safe_divide(loss, _mean_denominator(target, weight, ignore_index, probabilities, class_dim))
