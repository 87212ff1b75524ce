"""Classification under class imbalance and label noise: focal, sigmoid focal, poly, asymmetric and generalized
cross-entropy.

Two groups share this file:

* **softmax losses on class indices** (:func:`focal_loss`, :func:`poly_loss`, :func:`generalized_cross_entropy`,
  :func:`asymmetric_loss_single_label`):
  inputs and targets exactly as :func:`losskit.functional.cross_entropy` takes class indices: ``input`` of logits
  ``(N, C)``, ``(N, C, d1, ...)`` or unbatched ``(C,)``, ``target`` of integer class indices ``(N,)``,
  ``(N, d1, ...)`` or ``()``. Elements whose target equals ``ignore_index`` contribute 0 and are not counted; the
  mean is over the counted elements, or ``sum(w_y l) / sum(w_y)`` with a class ``weight`` (as ``cross_entropy``);
  a mean over nothing is 0 with a zero gradient. ``log_softmax`` is computed once per call.
* **sigmoid losses on multi-hot targets** (:func:`sigmoid_focal_loss`, :func:`asymmetric_loss`): ``input`` of
  logits and a floating ``target`` in ``[0, 1]`` of the same shape, one binary problem per element.

The focal factors ``(1 - p)^gamma`` are computed from ``log_softmax``/``logsigmoid`` without cancellation and
with the base floored at the dtype's smallest normal number, so that logits of ``±1e4`` (probabilities of exactly
0 or 1) give finite losses and gradients for every ``gamma >= 0``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import like_input, mixed_precision
from .._reduction import class_weight_total, reduce_loss, safe_divide
from ..fused.focal import (
    fused_focal_loss,
    fused_sigmoid_focal_loss,
    supports_focal_loss,
    supports_sigmoid_focal_loss,
)

__all__ = [
    "asymmetric_loss",
    "asymmetric_loss_single_label",
    "focal_loss",
    "generalized_cross_entropy",
    "poly_loss",
    "sigmoid_focal_loss",
]


# --------------------------------------------------------------------------------------------
# private helpers
# --------------------------------------------------------------------------------------------
def _option_error(name: str, arg: str, expected: str, value: object, fix: str) -> V.LossOptionError:
    return V.LossOptionError(f"{name}: {arg} must be {expected}, but got {value!r}; {fix}")


def _along_class_dim(vector: Tensor, input: Tensor, class_dim: int) -> Tensor:
    """A ``(C,)`` vector shaped to broadcast against ``input`` along its class dimension."""
    shape = [1] * input.dim()
    shape[class_dim] = -1
    return vector.view(shape)


def _one_minus_power(log_p: Tensor, gamma: float) -> Tensor:
    """``(1 - p)^gamma`` from ``log p``: ``-expm1`` keeps ``1 - p`` exact near ``p = 1``, and the floor at the
    smallest normal number keeps the gradient finite where ``p`` rounds to exactly 1 (it changes the value by
    less than ``tiny^gamma``)."""
    base = (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)
    return base.pow(gamma)


def _check_class_input(
    name: str, input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, **vectors: Tensor | None
) -> None:
    """The guard of the softmax losses: class-index targets as ``cross_entropy``, per-class vectors."""
    V.check_ignore_index(name, ignore_index)
    if V.enabled():
        V.check_class_inputs(name, input, target, weight, ignore_index, allow_probabilities=False, role="logits",
                             **vectors)
    if V.values_due(name, input, target, weight, *vectors.values()):
        V.check_finite(name, "input", input)
        # ``weight`` is checked for negative values only (these losses never checked it for NaN/Inf, unlike
        # cross_entropy; passing it to check_class_values below would add that check)
        V.check_nonnegative(name, "weight", weight)
        V.check_class_values(
            name, target, input.shape[V.class_dim_of(input)], ignore_index, probabilities=False, **vectors
        )
        V.warn_if_probabilities(name, input)


def _class_terms(input: Tensor, target: Tensor, ignore_index: int) -> tuple[int, Tensor, Tensor, Tensor, Tensor]:
    """``class_dim``, ``log_softmax(input)``, the non-ignored mask, safe target indices and ``log p_y``."""
    class_dim = V.class_dim_of(input)
    log_p = input.log_softmax(class_dim)
    valid = target != ignore_index
    safe = target.masked_fill(~valid, 0)
    log_p_y = log_p.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    return class_dim, log_p, valid, safe, log_p_y


def _check_sigmoid_input(name: str, input: Tensor, target: Tensor, **weights: Tensor | None) -> None:
    """The guard of the sigmoid losses: logits and floating targets in ``[0, 1]`` of one shape; weights that
    broadcast to ``input`` without changing its shape."""
    if V.enabled():
        V.check_binary_inputs(name, input, target, role="logits", match_dtype=False, **weights)
    if V.values_due(name, input, target, *weights.values()):
        V.check_finite(name, "input", input)
        V.check_binary_values(name, target, **weights)
        V.warn_if_sigmoid_probabilities(name, input)


# option checks, shared by the functions and the Modules' constructors (``name`` is the caller's)
def _focal_options(name: str, gamma: float, alpha: object, label_smoothing: float) -> tuple[float, float]:
    gamma = V.check_positive(name, "gamma", gamma, allow_zero=True)
    smoothing = V.check_unit_interval(name, "label_smoothing", label_smoothing)
    if alpha is not None and not isinstance(alpha, Tensor) and not (V.is_number(alpha) and alpha >= 0):
        raise _option_error(
            name, "alpha", "None, a float >= 0 or a (C,) tensor of class factors", alpha,
            "pass e.g. alpha=0.25, or alpha=torch.tensor([...]) with one factor per class",
        )
    return gamma, smoothing


def _sigmoid_focal_options(name: str, alpha: float, gamma: float, label_smoothing: float) -> tuple[float, float]:
    if not (V.is_number(alpha) and alpha <= 1):
        raise _option_error(
            name, "alpha", "a float in [0, 1] (or negative to disable it)", alpha,
            "pass e.g. alpha=0.25 (torchvision's default) or alpha=-1 for no class balancing",
        )
    return (
        V.check_positive(name, "gamma", gamma, allow_zero=True),
        V.check_unit_interval(name, "label_smoothing", label_smoothing),
    )


def _poly_options(name: str, epsilon: float, label_smoothing: float) -> float:
    if not (V.is_number(epsilon) and math.isfinite(epsilon) and epsilon >= -1):
        raise _option_error(name, "epsilon", "a float >= -1", epsilon, "pass e.g. epsilon=1.0 (0 gives cross-entropy)")
    return V.check_unit_interval(name, "label_smoothing", label_smoothing)


def _gce_options(name: str, q: float) -> None:
    if not (V.is_number(q) and 0 < q <= 1):
        raise _option_error(
            name, "q", "a float in (0, 1]", q, "pass e.g. q=0.7 (q near 0 approaches cross-entropy, q=1 is MAE)"
        )


ASYMMETRIC_REDUCTIONS = ("none", "mean", "sum", "batchmean")
"""The reductions of :func:`asymmetric_loss`: losskit's three and timm's default ``"batchmean"`` (sum / N)."""

SOFT_FOCUSING = ("mix", "shared")
"""How :func:`asymmetric_loss` focuses soft targets (its docstring)."""


def _asymmetric_options(
    name: str,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    eps: float,
    label_smoothing: float = 0.0,
    soft_focusing: str = "mix",
    disable_torch_grad_focal_loss: bool = False,
) -> tuple[float, float, float]:
    gamma_pos = V.check_positive(name, "gamma_pos", gamma_pos, allow_zero=True)
    gamma_neg = V.check_positive(name, "gamma_neg", gamma_neg, allow_zero=True)
    for arg, value, example in (("clip", clip, "clip=0.05 (0 disables it)"), ("eps", eps, "eps=1e-8")):
        if not (V.is_number(value) and 0 <= value < 1):
            raise _option_error(name, arg, "a float in [0, 1)", value, f"pass e.g. {example}")
    V.check_choice(name, "soft_focusing", soft_focusing, SOFT_FOCUSING)
    if not isinstance(disable_torch_grad_focal_loss, bool):
        raise _option_error(
            name, "disable_torch_grad_focal_loss", "a bool", disable_torch_grad_focal_loss,
            "pass True to stop gradients through the focusing weights (timm's option), False to keep them",
        )
    return gamma_pos, gamma_neg, V.check_unit_interval(name, "label_smoothing", label_smoothing)


def _single_label_options(name: str, gamma_pos: float, gamma_neg: float, label_smoothing: float) -> float:
    V.check_positive(name, "gamma_pos", gamma_pos, allow_zero=True)
    V.check_positive(name, "gamma_neg", gamma_neg, allow_zero=True)
    return V.check_unit_interval(name, "label_smoothing", label_smoothing)


def _power_or_zero(base: Tensor, gamma: float | Tensor) -> Tensor:
    """``base^gamma`` for ``base >= 0``, exactly 0 where ``base`` is 0 and ``gamma > 0`` (1 where ``gamma`` is 0),
    with a finite gradient everywhere (the power is taken of a base floored at the smallest normal number)."""
    safe = base.clamp_min(torch.finfo(base.dtype).tiny).pow(gamma)
    at_zero = (gamma == 0) if isinstance(gamma, Tensor) else torch.tensor(float(gamma == 0), dtype=base.dtype)
    return torch.where(base > 0, safe, at_zero.to(device=base.device, dtype=base.dtype))


# --------------------------------------------------------------------------------------------
# softmax losses on class indices
# --------------------------------------------------------------------------------------------
@mixed_precision
def focal_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    gamma: float = 2.0,
    alpha: float | Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Softmax focal loss: cross-entropy with easy examples down-weighted by ``(1 - p_y)^gamma``.

    With :math:`p = \mathrm{softmax}(x)` over the class dimension, target class :math:`y`, class weight
    :math:`w` and class factor :math:`\alpha`:

    .. math::
        \ell = -\alpha_y \, w_y \, (1 - p_y)^{\gamma} \log p_y .

    With ``label_smoothing`` :math:`s` over :math:`C` classes, the focal factor multiplies each class term of the
    smoothed cross-entropy (the target distribution is :math:`(1 - s)\,\mathrm{onehot}(y) + s / C`):

    .. math::
        \ell = -(1 - s)\, \alpha_y w_y (1 - p_y)^{\gamma} \log p_y
               - \frac{s}{C} \sum_c \alpha_c w_c (1 - p_c)^{\gamma} \log p_c ,

    so that with ``gamma=0`` and ``alpha=None`` the loss equals :func:`losskit.functional.cross_entropy` with the
    same ``weight``, ``ignore_index`` and ``label_smoothing``, reductions included. ``"mean"`` is
    :math:`\sum_i \ell_i / \sum_i w_{y_i}` over the non-ignored elements (``alpha`` is not in the denominator, as in
    the paper, where the sum is normalised by the number of examples); ``"none"`` returns :math:`\ell` (0 where
    ignored).

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        weight: optional class weights ``(C,)``, floating, as in ``cross_entropy`` (default ``None``).
        gamma: the focusing parameter, >= 0 (default 2.0; 0 gives cross-entropy).
        alpha: ``None`` (default: no factor), a float (one factor for every class, the reading of Keras'
            ``CategoricalFocalCrossentropy`` and of most tutorials; it scales the loss) or a ``(C,)`` tensor of
            per-class factors. kornia's and MONAI's float ``alpha`` weighs the background class 0 by ``1 - alpha``
            and every other class by ``alpha``: pass ``alpha=torch.tensor([1 - a] + [a] * (C - 1))`` (kornia's
            ``"mean"`` also divides by ``C`` times the pixel count, ignored pixels included: ``reduction="sum"``
            divided by ``C * target.numel()`` gives its number).
        ignore_index: target value that contributes nothing and is not counted (default -100).
        label_smoothing: :math:`s \in [0, 1]` (default 0.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``: :math:`(C)`, :math:`(N, C)` or :math:`(N, C, d_1, ...)`. ``target``: :math:`()`, :math:`(N)` or
        :math:`(N, d_1, ...)`. Output: scalar, or the shape of ``target`` for ``"none"``.

    Raises:
        LossShapeError: ``(N, 1)`` or one-hot targets, ``weight``/``alpha`` not of length ``C``.
        LossTypeError: float or bool class indices, integer ``input``, integer ``weight``/``alpha``.
        LossValueError: class indices outside ``[0, C)`` (value check), negative ``weight`` or ``alpha``.
        LossOptionError: ``gamma < 0``, ``label_smoothing`` outside ``[0, 1]``, a negative float ``alpha``.
        NonFiniteError: NaN or Inf in ``input`` (value check).

    Warns:
        SuspiciousInputWarning: rows of ``input`` that look like probabilities (value check).

    References:
        Lin, T.-Y., Goyal, P., Girshick, R., He, K., Dollár, P. "Focal Loss for Dense Object Detection", 2017.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(LF.focal_loss(x, torch.tensor([0, 1]), gamma=2.0)), 4))
        1.3061
    """
    name = "focal_loss"
    V.check_reduction(name, reduction)
    gamma, smoothing = _focal_options(name, gamma, alpha, label_smoothing)
    alpha_vector = alpha if isinstance(alpha, Tensor) else None
    _check_class_input(name, input, target, weight, ignore_index, alpha=alpha_vector)
    weight = like_input(weight, input)
    if alpha_vector is not None:
        alpha = alpha_vector = like_input(alpha_vector, input)
    if supports_focal_loss(
        input, target, weight, gamma=gamma, alpha=alpha, ignore_index=ignore_index, label_smoothing=smoothing,
        reduction=reduction,
    ):
        return fused_focal_loss(
            input, target, weight, gamma=gamma, alpha=alpha, ignore_index=ignore_index, label_smoothing=smoothing,
            reduction=reduction,
        )

    class_dim, log_p, valid, safe, log_p_y = _class_terms(input, target, ignore_index)
    scale = weight
    if alpha_vector is not None:
        scale = alpha_vector if scale is None else scale * alpha_vector

    term_y = -log_p_y if gamma == 0 else -_one_minus_power(log_p_y, gamma) * log_p_y
    if scale is not None:
        term_y = term_y * scale[safe]
    loss = term_y
    if smoothing > 0:
        terms = -log_p if gamma == 0 else -_one_minus_power(log_p, gamma) * log_p
        if scale is not None:
            terms = terms * _along_class_dim(scale, input, class_dim)
        num_classes = input.shape[class_dim]
        loss = (1 - smoothing) * term_y + (smoothing / num_classes) * terms.sum(class_dim)
    if alpha is not None and alpha_vector is None:
        loss = loss * float(alpha)
    loss = torch.where(valid, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    return reduce_loss(loss, reduction, denominator=class_weight_total(valid, safe, weight))


@mixed_precision
def poly_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    epsilon: float = 1.0,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Poly-1 loss: cross-entropy plus ``epsilon (1 - p_t)``, the first term of its polynomial expansion.

    With :math:`p = \mathrm{softmax}(x)`, the (smoothed) target distribution
    :math:`q = (1 - s)\,\mathrm{onehot}(y) + s / C` and :math:`p_t = \sum_c q_c p_c = (1 - s) p_y + s / C`
    (the paper's reference code, which computes :math:`p_t` from the smoothed labels):

    .. math::
        \ell = \mathrm{CE}_s(x, y; w) + \epsilon \, w_y \, (1 - p_t),

    where :math:`\mathrm{CE}_s(x, y; w)` is the per-element term of
    :func:`losskit.functional.cross_entropy` with the same class ``weight`` and ``label_smoothing``. The poly term
    is weighted by the target's class weight :math:`w_y`, so ``"mean"`` is the weighted average
    :math:`\sum_i \ell_i / \sum_i w_{y_i}` over non-ignored elements, as for ``cross_entropy``; with
    ``epsilon=0`` the loss equals ``cross_entropy``.

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        weight: optional class weights ``(C,)`` (default ``None``).
        epsilon: the coefficient of ``(1 - p_t)``, >= -1 (default 1.0; the paper tunes it per task, e.g. 2 on
            ImageNet, -1 for detection). Below -1 the loss would reward lowering ``p_t`` near 1.
        ignore_index: target value that contributes nothing and is not counted (default -100).
        label_smoothing: :math:`s \in [0, 1]` (default 0.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`focal_loss`.

    Raises:
        LossOptionError: ``epsilon < -1``, ``label_smoothing`` outside ``[0, 1]``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`focal_loss`.

    References:
        Leng, Z., Tan, M., Liu, C., Cubuk, E. D., Shi, X., Cheng, S., Anguelov, D. "PolyLoss: A Polynomial
        Expansion Perspective of Classification Loss Functions", 2022.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(LF.poly_loss(x, torch.tensor([0, 1]), epsilon=1.0)), 4))
        2.1554
    """
    name = "poly_loss"
    V.check_reduction(name, reduction)
    smoothing = _poly_options(name, epsilon, label_smoothing)
    _check_class_input(name, input, target, weight, ignore_index)
    weight = like_input(weight, input)

    class_dim, log_p, valid, safe, log_p_y = _class_terms(input, target, ignore_index)
    w_y = None if weight is None else weight[safe]
    ce = -log_p_y if w_y is None else -log_p_y * w_y
    # 1 - p_t = (1 - s)(1 - p_y) + s (C - 1) / C, without the cancellation of 1 - p_y near p_y = 1
    one_minus_pt = -torch.expm1(log_p_y)
    if smoothing > 0:
        num_classes = input.shape[class_dim]
        smooth = -log_p if weight is None else -log_p * _along_class_dim(weight, input, class_dim)
        ce = (1 - smoothing) * ce + (smoothing / num_classes) * smooth.sum(class_dim)
        one_minus_pt = (1 - smoothing) * one_minus_pt + smoothing * (num_classes - 1) / num_classes
    poly = one_minus_pt if w_y is None else one_minus_pt * w_y
    loss = ce + float(epsilon) * poly
    loss = torch.where(valid, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    return reduce_loss(loss, reduction, denominator=class_weight_total(valid, safe, weight))


@mixed_precision
def generalized_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    q: float = 0.7,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Generalized cross-entropy (the negative Box-Cox transform of ``p_y``), robust to noisy labels.

    .. math::
        \ell = \frac{1 - p_y^{\,q}}{q}, \qquad p = \mathrm{softmax}(x),

    computed as :math:`-\mathrm{expm1}(q \log p_y) / q`. As :math:`q \to 0` it tends to cross-entropy
    :math:`-\log p_y`; at :math:`q = 1` it is :math:`1 - p_y`, the mean absolute error of the softmax against the
    one-hot target up to a factor 2. ``"mean"`` averages over the non-ignored elements.

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        q: the exponent, in ``(0, 1]`` (default 0.7, the paper's choice).
        ignore_index: target value that contributes nothing and is not counted (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`focal_loss`.

    Raises:
        LossOptionError: ``q`` outside ``(0, 1]``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`focal_loss`.

    References:
        Zhang, Z., Sabuncu, M. R. "Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy
        Labels", 2018. (The truncated variant of the paper is not included.)

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(LF.generalized_cross_entropy(x, torch.tensor([0, 1]), q=0.7)), 4))
        0.7321
    """
    name = "generalized_cross_entropy"
    V.check_reduction(name, reduction)
    _gce_options(name, q)
    _check_class_input(name, input, target, None, ignore_index)

    _, _, valid, _, log_p_y = _class_terms(input, target, ignore_index)
    loss = -torch.expm1(float(q) * log_p_y) / float(q)
    loss = torch.where(valid, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    return reduce_loss(loss, reduction, denominator=valid.sum())


# --------------------------------------------------------------------------------------------
# sigmoid losses on multi-hot targets
# --------------------------------------------------------------------------------------------
@mixed_precision
def sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    pos_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary / multi-label focal loss on logits (the definition of torchvision, optax and Keras).

    With :math:`p = \sigma(x)`, target :math:`t` (after smoothing, :math:`t (1 - s) + s / 2`),
    :math:`1 - p_t = p (1 - t) + (1 - p) t` and :math:`\alpha_t = \alpha t + (1 - \alpha)(1 - t)`:

    .. math::
        \ell = \alpha_t \, (1 - p_t)^{\gamma} \, \mathrm{BCE}(x, t), \qquad
        \mathrm{BCE}(x, t) = -\left[ w_+ \, t \log p + (1 - t) \log (1 - p) \right],

    where :math:`w_+` is ``pos_weight`` (1 by default), exactly as in
    ``binary_cross_entropy_with_logits``. A negative ``alpha`` drops :math:`\alpha_t` (torchvision's
    ``alpha=-1``; Keras' ``apply_class_balancing=False``). ``weight`` multiplies :math:`\ell` and makes ``"mean"``
    the weighted average :math:`\sum w \ell / \sum w` (:mod:`losskit._reduction`). With ``gamma=0`` and
    ``alpha < 0`` this is ``binary_cross_entropy_with_logits``.

    Args:
        input: logits, any shape, floating dtype.
        target: 0/1 labels (or probabilities) of the same shape, floating dtype, values in ``[0, 1]``.
        weight: optional weights broadcastable to ``input``'s shape, e.g. per element or ``(C,)`` per label
            (default ``None``).
        alpha: the weight of positives in ``[0, 1]`` (negatives get ``1 - alpha``), or negative to disable
            (default 0.25).
        gamma: the focusing parameter, >= 0 (default 2.0).
        pos_weight: optional weight of the positive log-term, broadcastable to ``input`` (default ``None``).
        label_smoothing: :math:`s \in [0, 1]`, targets become :math:`t (1 - s) + s / 2` (default 0.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (torchvision's default is ``"none"``).

    Shape:
        ``input``, ``target``: :math:`(*)`, the same. ``weight``, ``pos_weight``: broadcastable to :math:`(*)`.
        Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossShapeError: ``target`` shape differs from ``input``; ``weight`` or ``pos_weight`` does not broadcast.
        LossTypeError: integer ``input`` or ``target`` (class indices: use ``F.one_hot(target, C).float()``).
        LossValueError: ``target`` outside ``[0, 1]``, negative weights (value checks).
        LossOptionError: ``alpha > 1``, ``gamma < 0``, ``label_smoothing`` outside ``[0, 1]``.
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    Warns:
        SuspiciousInputWarning: all of >= 256 ``input`` values in ``[0, 1]`` (probabilities, not logits).

    References:
        Lin, T.-Y., Goyal, P., Girshick, R., He, K., Dollár, P. "Focal Loss for Dense Object Detection", 2017.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, t = torch.tensor([-18.6, 0.51, 2.94, -12.8]), torch.tensor([0.0, 1.0, 0.0, 0.0])
        >>> print(round(float(LF.sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0)), 4))
        0.5101
    """
    name = "sigmoid_focal_loss"
    V.check_reduction(name, reduction)
    gamma, smoothing = _sigmoid_focal_options(name, alpha, gamma, label_smoothing)
    _check_sigmoid_input(name, input, target, weight=weight, pos_weight=pos_weight)
    weight, pos_weight = like_input(weight, input), like_input(pos_weight, input)
    if supports_sigmoid_focal_loss(
        input, target, weight, alpha=alpha, gamma=gamma, pos_weight=pos_weight, label_smoothing=smoothing,
        reduction=reduction,
    ):
        return fused_sigmoid_focal_loss(
            input, target, weight, alpha=alpha, gamma=gamma, pos_weight=pos_weight, label_smoothing=smoothing,
            reduction=reduction,
        )

    t = target if smoothing == 0 else target * (1 - smoothing) + smoothing / 2
    neg_log_p = F.softplus(-input)  # -log sigmoid(x), exact for large |x|
    if pos_weight is None:
        ce = (1 - t) * input + neg_log_p
    else:
        ce = (1 - t) * input + (1 + (pos_weight - 1) * t) * neg_log_p
    loss = ce
    if gamma != 0:
        # 1 - p_t = p (1 - t) + (1 - p) t, with 1 - p = sigmoid(-x) computed directly
        one_minus_pt = torch.sigmoid(input) * (1 - t) + torch.sigmoid(-input) * t
        loss = loss * one_minus_pt.clamp_min(torch.finfo(one_minus_pt.dtype).tiny).pow(gamma)
    if alpha >= 0:
        loss = loss * (alpha * t + (1 - alpha) * (1 - t))
    return reduce_loss(loss, reduction, weight=weight)


@mixed_precision
def asymmetric_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    pos_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    soft_focusing: str = "mix",
    disable_torch_grad_focal_loss: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Asymmetric loss (ASL) for multi-label classification: focal on positives and negatives with separate
    exponents, plus a probability shift that discards easy (and possibly mislabeled) negatives.

    With :math:`p = \sigma(x)`, the shifted probability :math:`p_m = \max(p - m, 0)` (:math:`m` = ``clip``) and
    :math:`w_+` = ``pos_weight`` (1 by default), for a 0/1 target :math:`t`:

    .. math::
        \ell = -t \, w_+ (1 - p)^{\gamma_+} \log p \; - \; (1 - t) \, p_m^{\gamma_-} \log(1 - p_m).

    As in the authors' implementation (and timm's ``AsymmetricLossMultiLabel``), the probabilities inside the
    logs are floored at ``eps`` (:math:`\log \max(p, \epsilon)`), which caps a positive term at
    :math:`-\log \epsilon` (18.4 for 1e-8); ``eps=0`` removes the floor. The logs are computed with
    ``logsigmoid``, so logits of ``±1e4`` stay finite. Gradients flow through the focusing weights (the paper's
    analysis); ``disable_torch_grad_focal_loss=True`` treats them as constants (the authors' and timm's option of
    that name, on by default in the authors' ``AsymmetricLoss``). With ``gamma_pos=gamma_neg=clip=0`` this is
    ``binary_cross_entropy_with_logits`` (up to ``eps``).

    **Soft targets** :math:`t \in (0, 1)` (and ``label_smoothing`` :math:`s`, which makes the targets
    :math:`t (1 - s) + s / 2`, timm's ``smoothing``) are focused one of two ways:

    * ``soft_focusing="mix"`` (default): the linear mix of the two terms above, each with its own weight,
      the expected loss when the label is 1 with probability :math:`t`;
    * ``soft_focusing="shared"``: the authors' and timm's formula, one weight for both terms,
      :math:`\ell = -(1 - p_t)^{\gamma_t} \left[ t \, w_+ \log p + (1 - t) \log (1 - p_m) \right]` with
      :math:`1 - p_t = t (1 - p) + (1 - t) p_m` and :math:`\gamma_t = \gamma_+ t + \gamma_- (1 - t)`.

    Both are the formula above for 0/1 targets. ``weight`` multiplies :math:`\ell`. Reductions: ``"mean"`` is the
    mean over every element (the weighted average :math:`\sum w \ell / \sum w` with ``weight``,
    :mod:`losskit._reduction`), ``"sum"`` the authors' reduction, ``"batchmean"`` the sum divided by the batch size
    ``input.shape[0]`` (timm's default: the sum over classes averaged over samples).

    **timm** (``timm.loss.AsymmetricLossMultiLabel``; defaults ``gamma_pos=1, gamma_neg=4``): ``gamma_pos=1,
    soft_focusing="shared", reduction="batchmean"`` give its numbers for every option it has (``smoothing`` is
    ``label_smoothing``, ``pos_weight``, ``weight``, ``clip``, ``eps``, ``disable_torch_grad_focal_loss``), except
    that timm's ``reduction="mean"`` with a ``weight`` divides by the element count (use ``reduction="sum"`` and
    divide by ``input.numel()``). timm computes in float32 whatever the input; losskit follows its mixed-precision
    rule (float64 stays float64).

    Args:
        input: logits, any shape (usually ``(N, C)``), floating dtype.
        target: multi-hot 0/1 labels (or probabilities) of the same shape, floating dtype, values in ``[0, 1]``.
        weight: optional weights broadcastable to ``input``'s shape, e.g. ``(C,)`` per class (default ``None``).
        gamma_pos: focusing exponent of positives, >= 0 (default 0.0).
        gamma_neg: focusing exponent of negatives, >= 0 (default 4.0).
        clip: the probability margin :math:`m` of negatives, in ``[0, 1)`` (default 0.05; 0 disables it).
        eps: floor of the probabilities inside the logs, in ``[0, 1)`` (default 1e-8).
        pos_weight: optional weight of the positive term, broadcastable to ``input`` (default ``None``).
        label_smoothing: :math:`s \in [0, 1]`, targets become :math:`t (1 - s) + s / 2` (default 0.0).
        soft_focusing: ``"mix"`` (default) or ``"shared"``, see above (the same for 0/1 targets).
        disable_torch_grad_focal_loss: ``True`` to stop gradients through the focusing weights (default ``False``).
        reduction: ``"mean"`` (default), ``"sum"``, ``"batchmean"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(*)`, the same. ``weight``, ``pos_weight``: broadcastable to :math:`(*)`.
        Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossShapeError: ``target`` shape differs from ``input``; ``weight`` or ``pos_weight`` does not broadcast.
        LossTypeError: integer ``input`` or ``target``.
        LossValueError: ``target`` outside ``[0, 1]``, negative weights (value checks).
        LossOptionError: negative exponents, ``clip`` or ``eps`` outside ``[0, 1)``, ``label_smoothing`` outside
            ``[0, 1]``, an unknown ``soft_focusing``.
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    References:
        Ridnik, T., Ben-Baruch, E., Zamir, N., Noy, A., Friedman, I., Protter, M., Zelnik-Manor, L. "Asymmetric
        Loss For Multi-Label Classification", 2021.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, t = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1.0, 0.0, 0.0]])
        >>> print(round(float(LF.asymmetric_loss(x, t, reduction="sum")), 4))
        0.2187
    """
    name = "asymmetric_loss"
    V.check_reduction(name, reduction, ASYMMETRIC_REDUCTIONS)
    gamma_pos, gamma_neg, smoothing = _asymmetric_options(
        name, gamma_pos, gamma_neg, clip, eps, label_smoothing, soft_focusing, disable_torch_grad_focal_loss
    )
    _check_sigmoid_input(name, input, target, weight=weight, pos_weight=pos_weight)
    weight, pos_weight = like_input(weight, input), like_input(pos_weight, input)

    t = target if smoothing == 0 else target * (1 - smoothing) + smoothing / 2
    log_p = F.logsigmoid(input)
    if eps > 0:
        log_p = log_p.clamp_min(math.log(eps))
    if clip > 0:
        one_minus_pm = (torch.sigmoid(-input) + clip).clamp(max=1.0)
        log_neg = torch.log(one_minus_pm.clamp_min(eps) if eps > 0 else one_minus_pm)
        p_m = (torch.sigmoid(input) - clip).clamp_min(0.0)
    else:
        log_neg = F.logsigmoid(-input)
        if eps > 0:
            log_neg = log_neg.clamp_min(math.log(eps))
        p_m = torch.sigmoid(input)
    pos = -log_p if pos_weight is None else -log_p * pos_weight
    neg = -log_neg
    if soft_focusing == "mix":
        if gamma_pos != 0:
            w_pos = _power_or_zero(torch.sigmoid(-input), gamma_pos)
            pos = pos * (w_pos.detach() if disable_torch_grad_focal_loss else w_pos)
        if gamma_neg != 0:
            w_neg = _power_or_zero(p_m, gamma_neg)
            neg = neg * (w_neg.detach() if disable_torch_grad_focal_loss else w_neg)
        loss = t * pos + (1 - t) * neg
    else:
        loss = t * pos + (1 - t) * neg
        if gamma_pos != 0 or gamma_neg != 0:
            one_minus_pt = t * torch.sigmoid(-input) + (1 - t) * p_m
            w = _power_or_zero(one_minus_pt, gamma_pos * t + gamma_neg * (1 - t))
            loss = loss * (w.detach() if disable_torch_grad_focal_loss else w)
    if reduction != "batchmean":
        return reduce_loss(loss, reduction, weight=weight)
    return safe_divide(reduce_loss(loss, "sum", weight=weight), input.shape[0] if input.dim() else 1)


# --------------------------------------------------------------------------------------------
# single-label asymmetric loss (softmax, class indices)
# --------------------------------------------------------------------------------------------
@mixed_precision
def asymmetric_loss_single_label(
    input: Tensor,
    target: Tensor,
    *,
    gamma_pos: float = 1.0,
    gamma_neg: float = 4.0,
    label_smoothing: float = 0.1,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Single-label asymmetric loss: a softmax cross-entropy against the smoothed one-hot target whose class
    terms are focused asymmetrically (the authors' ``ASLSingleLabel``, timm's ``AsymmetricLossSingleLabel``).

    With :math:`p = \mathrm{softmax}(x)` over the class dimension, target class :math:`y`, :math:`C` classes and
    the smoothed target :math:`q = (1 - s)\,\mathrm{onehot}(y) + s / C`:

    .. math::
        \ell = -q_y (1 - p_y)^{\gamma_+} \log p_y \; - \; \sum_{c \ne y} q_c \, p_c^{\gamma_-} \log p_c .

    The target class is down-weighted when it is already likely (as in the focal loss); every other class, which
    takes part only through the smoothing :math:`s / C`, is down-weighted when it is unlikely. Without smoothing
    (``label_smoothing=0``) the loss is :func:`focal_loss` with ``gamma=gamma_pos`` and ``gamma_neg`` has no effect.
    Gradients flow through the focusing weights, as in the authors' and timm's code. ``"mean"`` averages over the
    non-ignored elements.

    The defaults are the authors' and timm's (``gamma_pos=1, gamma_neg=4``, smoothing ``eps=0.1``); timm's
    ``reduction="mean"`` is ``"mean"`` and any other value of it is ``"none"``. timm takes ``(N, C)`` input only;
    losskit takes the shapes of :func:`losskit.functional.cross_entropy` and ``ignore_index``.

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        gamma_pos: focusing exponent of the target class, >= 0 (default 1.0).
        gamma_neg: focusing exponent of the other classes, >= 0 (default 4.0).
        label_smoothing: :math:`s \in [0, 1]` (default 0.1, timm's ``eps``).
        ignore_index: target value that contributes nothing and is not counted (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`focal_loss`.

    Raises:
        LossOptionError: negative exponents, ``label_smoothing`` outside ``[0, 1]``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`focal_loss`.

    References:
        Ridnik, T., Ben-Baruch, E., Zamir, N., Noy, A., Friedman, I., Protter, M., Zelnik-Manor, L. "Asymmetric
        Loss For Multi-Label Classification", 2021 (single-label variant of the authors' code).

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(LF.asymmetric_loss_single_label(x, torch.tensor([0, 1]))), 4))
        1.3092
    """
    name = "asymmetric_loss_single_label"
    V.check_reduction(name, reduction)
    smoothing = _single_label_options(name, gamma_pos, gamma_neg, label_smoothing)
    _check_class_input(name, input, target, None, ignore_index)

    class_dim, log_p, valid, safe, log_p_y = _class_terms(input, target, ignore_index)
    num_classes = input.shape[class_dim]
    loss = -log_p_y if gamma_pos == 0 else -log_p_y * _one_minus_power(log_p_y, gamma_pos)
    if smoothing > 0:
        # the other classes: p_c^gamma_neg = exp(gamma_neg log p_c), finite with its gradient for log p_c = -1e4
        others = -log_p if gamma_neg == 0 else -log_p * torch.exp(float(gamma_neg) * log_p)
        classes = torch.arange(num_classes, device=input.device)
        is_target = _along_class_dim(classes, input, class_dim) == safe.unsqueeze(class_dim)
        others = torch.where(is_target, torch.zeros((), dtype=others.dtype, device=others.device), others)
        loss = (1 - smoothing + smoothing / num_classes) * loss + (smoothing / num_classes) * others.sum(class_dim)
    loss = torch.where(valid, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    return reduce_loss(loss, reduction, denominator=valid.sum())
