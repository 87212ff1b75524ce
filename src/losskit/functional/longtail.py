"""Long-tailed classification: losses that use the training set's class counts (or priors) to stop the head
classes from drowning the tail ones.

* :func:`logit_adjustment_loss` (Menon et al., 2021) and :func:`balanced_softmax_loss` (Ren et al., 2020) shift
  the logits by the log prior inside the softmax cross-entropy;
* :func:`ldam_loss` (Cao et al., 2019) subtracts a per-class margin :math:`\\propto n_c^{-1/4}` from the target
  logit; its deferred re-weighting (DRW) schedule is :func:`losskit.weights.drw_weights`;
* :func:`class_balanced_focal_loss` (Cui et al., 2019) weights a softmax or sigmoid focal loss by the inverse
  effective number of samples of the target class (:func:`losskit.weights.class_weights`'s
  ``"effective_number"``);
* :func:`equalization_loss_v2` (Tan et al., 2021) reweights the positive and negative terms of a sigmoid head by
  the accumulated gradient statistics of each class (the stateful :class:`losskit.EqualizationLossV2` keeps them).

Inputs and targets are those of :func:`losskit.functional.cross_entropy` with class indices: logits ``(N, C)``,
``(N, C, d1, ...)`` or ``(C,)``, integer targets ``(N,)``, ``(N, d1, ...)`` or ``()``, ``ignore_index``. Class
counts are a ``(C,)`` tensor of any real dtype, e.g. ``torch.bincount(train_labels, minlength=C)``; only their
ratios matter where they enter as priors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import like_input, mixed_precision
from .._reduction import reduce_loss
from ..weights import _weights_from_counts

__all__ = [
    "balanced_softmax_loss",
    "class_balanced_focal_loss",
    "equalization_loss_v2",
    "ldam_loss",
    "logit_adjustment_loss",
]

HEADS = ("softmax", "sigmoid")
"""The heads of :func:`class_balanced_focal_loss`."""

_EQL_EPS = 1e-10
"""The authors' guard in the ratio of gradient statistics ``pos / (neg + 1e-10)``."""


# --------------------------------------------------------------------------------------------
# private helpers
# --------------------------------------------------------------------------------------------
def _option_error(name: str, arg: str, expected: str, value: object, fix: str) -> V.LossOptionError:
    return V.LossOptionError(f"{name}: {arg} must be {expected}, but got {value!r}; {fix}")


def _along_class_dim(vector: Tensor, input: Tensor, class_dim: int) -> Tensor:
    shape = [1] * input.dim()
    shape[class_dim] = -1
    return vector.view(shape)


def _check_counts_meta(name: str, arg: str, counts: Tensor, num_classes: int) -> None:
    V.check_tensor(name, arg, counts)
    if counts.dtype == torch.bool or counts.is_complex():
        raise V.LossTypeError(
            f"{name}: {arg} must hold one count (or prior) per class as numbers, but got dtype {counts.dtype}; "
            f"pass torch.bincount(train_labels, minlength={num_classes})"
        )
    if counts.dim() != 1 or counts.shape[0] != num_classes:
        raise V.LossShapeError(
            f"{name}: {arg} must be a 1-D tensor of {num_classes} elements (one per class), but got shape "
            f"{V.shape_str(counts)}; pass torch.bincount(train_labels, minlength={num_classes})"
        )


def _check_counts_values(name: str, arg: str, counts: Tensor, *, positive: bool) -> None:
    if counts.is_floating_point():
        V.check_finite(name, arg, counts)
    if counts.numel() == 0:
        return
    lo = float(counts.detach().min())
    if positive and lo <= 0:
        raise V.LossValueError(
            f"{name}: {arg} must be > 0 for every class, but got a minimum of {lo:g}; a class without training "
            f"samples has no prior: drop it from the head or count it once ({arg}.clamp_min(1))"
        )
    if lo < 0:
        raise V.LossValueError(f"{name}: {arg} must be >= 0, but got a minimum of {lo:g}; pass the class counts")
    if float(counts.detach().max()) <= 0:
        raise V.LossValueError(
            f"{name}: {arg} must count at least one sample, but got all zeros; pass the class counts"
        )


def _check_input(
    name: str,
    input: Tensor,
    target: Tensor,
    ignore_index: int,
    weight: Tensor | None = None,
    *,
    positive: bool = True,
    **counts: Tensor | None,
) -> None:
    """Class-index targets as ``cross_entropy``; per-class counts (``class_counts=``, ``class_priors=`` ...)."""
    V.check_ignore_index(name, ignore_index)
    if V.enabled():
        V.check_class_inputs(name, input, target, weight, ignore_index)
        num_classes = input.shape[V.class_dim_of(input)]
        for arg, c in counts.items():
            if c is not None:
                _check_counts_meta(name, arg, c, num_classes)
        if any(c is not None and c.device != input.device for c in counts.values()):
            V.check_same_device(name, input=input, **counts)
    if V.values_due(name, input, target, weight, *counts.values()):
        V.check_finite(name, "input", input)
        V.check_class_values(name, target, input.shape[V.class_dim_of(input)], ignore_index, weight=weight)
        for arg, c in counts.items():
            if c is not None:
                _check_counts_values(name, arg, c, positive=positive)
        V.warn_if_probabilities(name, input)


def _shifted_cross_entropy(
    logits: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, reduction: str
) -> Tensor:
    """Cross-entropy of (already adjusted) logits against class indices, losskit's reductions: ignored elements
    count 0, ``"mean"`` is the (class-weighted) average over the rest, a mean over nothing 0."""
    class_dim = V.class_dim_of(logits)
    valid = target != ignore_index
    safe = target.masked_fill(~valid, 0).long()
    log_p_y = logits.log_softmax(class_dim).gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    zero = torch.zeros((), dtype=log_p_y.dtype, device=log_p_y.device)
    if weight is None:
        return reduce_loss(torch.where(valid, -log_p_y, zero), reduction, denominator=valid.sum())
    w_y = torch.where(valid, _take(weight, safe), zero)
    return reduce_loss(-log_p_y * w_y, reduction, denominator=w_y.sum())


def _take(vector: Tensor, index: Tensor) -> Tensor:
    """``vector[index]`` as a ``gather`` (which ``torch.func.vmap`` batches where advanced indexing cannot)."""
    return vector.gather(0, index.reshape(-1)).reshape(index.shape)


def _is_target(input: Tensor, target: Tensor, ignore_index: int) -> Tensor:
    """A boolean mask of ``input``'s shape, True at each element's target class (none for ignored ones)."""
    class_dim = V.class_dim_of(input)
    classes = torch.arange(input.shape[class_dim], device=input.device)
    return _along_class_dim(classes, input, class_dim) == target.unsqueeze(class_dim)


# --------------------------------------------------------------------------------------------
# logit adjustment, balanced softmax
# --------------------------------------------------------------------------------------------
def _la_options(name: str, tau: float) -> float:
    if not (V.is_number(tau) and math.isfinite(tau)):
        raise _option_error(name, "tau", "a finite float", tau, "pass e.g. tau=1.0 (the paper's default)")
    return float(tau)


@mixed_precision
def logit_adjustment_loss(
    input: Tensor,
    target: Tensor,
    class_priors: Tensor,
    *,
    tau: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Logit-adjusted cross-entropy: the softmax cross-entropy of the logits shifted by :math:`\tau \log \pi`.

    With class priors :math:`\pi` (the label frequencies of the training set):

    .. math::
        \ell = -\log \frac{e^{x_y + \tau \log \pi_y}}{\sum_c e^{x_c + \tau \log \pi_c}} .

    Training with the shift and predicting with the plain logits :math:`\arg\max_c x_c` targets the balanced
    error (Menon et al.'s logit-adjusted loss, eq. 10). Only the ratios of the priors matter, so ``class_priors``
    may be counts. ``tau=0`` gives cross-entropy, ``tau=1`` :func:`balanced_softmax_loss`. ``"mean"`` averages
    over the non-ignored elements.

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        class_priors: ``(C,)`` positive priors or counts of the training labels.
        tau: the scale of the adjustment (default 1.0, the paper's).
        ignore_index: target value that contributes nothing and is not counted (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`losskit.functional.focal_loss`; ``class_priors``: :math:`(C)`.

    Raises:
        LossShapeError: ``class_priors`` not of length ``C``; targets as ``cross_entropy``.
        LossTypeError: bool or complex ``class_priors``; float class indices, integer ``input``.
        LossValueError: a prior <= 0, class indices outside ``[0, C)`` (value checks).
        LossOptionError: a ``tau`` that is not a finite float.
        NonFiniteError: NaN or Inf in ``input`` or ``class_priors`` (value check).

    References:
        Menon, A. K., Jayasumana, S., Rawat, A. S., Jain, H., Veit, A., Kumar, S. "Long-tail learning via logit
        adjustment", 2021.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> counts = torch.tensor([100, 10, 1])
        >>> print(round(float(LF.logit_adjustment_loss(x, torch.tensor([0, 1]), counts)), 4))
        1.2408
    """
    name = "logit_adjustment_loss"
    V.check_reduction(name, reduction)
    tau = _la_options(name, tau)
    _check_input(name, input, target, ignore_index, class_priors=class_priors)
    class_dim = V.class_dim_of(input)
    log_prior = class_priors.to(input.dtype).log()
    logits = input if tau == 0 else input + tau * _along_class_dim(log_prior, input, class_dim)
    return _shifted_cross_entropy(logits, target, None, ignore_index, reduction)


@mixed_precision
def balanced_softmax_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Tensor,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Balanced softmax: cross-entropy of the softmax reweighted by the class counts of the training set.

    .. math::
        \ell = -\log \frac{n_y e^{x_y}}{\sum_c n_c e^{x_c}},

    the likelihood of the training label distribution when the model's own softmax is meant for the balanced
    test distribution (Ren et al., eq. 4). It equals :func:`logit_adjustment_loss` with ``tau=1`` and is computed
    as cross-entropy of :math:`x + \log n`. ``"mean"`` averages over the non-ignored elements.

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        class_counts: ``(C,)`` positive class counts (or frequencies) of the training labels.
        ignore_index: target value that contributes nothing and is not counted (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`logit_adjustment_loss`.

    Raises:
        As :func:`logit_adjustment_loss` (a count <= 0: a class without training samples).

    References:
        Ren, J., Yu, C., Sheng, S., Ma, X., Zhao, H., Yi, S., Li, H. "Balanced Meta-Softmax for Long-Tailed Visual
        Recognition", 2020.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> counts = torch.tensor([100, 10, 1])
        >>> print(round(float(LF.balanced_softmax_loss(x, torch.tensor([0, 1]), counts)), 4))
        1.2408
    """
    name = "balanced_softmax_loss"
    V.check_reduction(name, reduction)
    _check_input(name, input, target, ignore_index, class_counts=class_counts)
    class_dim = V.class_dim_of(input)
    logits = input + _along_class_dim(class_counts.to(input.dtype).log(), input, class_dim)
    return _shifted_cross_entropy(logits, target, None, ignore_index, reduction)


# --------------------------------------------------------------------------------------------
# LDAM
# --------------------------------------------------------------------------------------------
def _ldam_options(name: str, max_m: float, s: float) -> None:
    V.check_positive(name, "max_m", max_m)
    V.check_positive(name, "s", s)


def ldam_margins(class_counts: Tensor, max_m: float = 0.5) -> Tensor:
    r"""LDAM's per-class margins :math:`\Delta_c = m \, n_c^{-1/4} / \max_k n_k^{-1/4}`: proportional to
    :math:`n_c^{-1/4}`, the rarest class getting ``max_m``. In the dtype of ``class_counts`` if floating, else the
    default one.

    Example:
        >>> import torch
        >>> from losskit.functional.longtail import ldam_margins
        >>> print(ldam_margins(torch.tensor([10000, 625, 16])))
        tensor([0.1000, 0.2000, 0.5000])
    """
    n = class_counts if class_counts.is_floating_point() else class_counts.to(torch.get_default_dtype())
    m = n.pow(-0.25)
    return m * (max_m / m.max())


@mixed_precision
def ldam_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Tensor,
    weight: Tensor | None = None,
    *,
    max_m: float = 0.5,
    s: float = 30.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Label-distribution-aware margin (LDAM) loss: cross-entropy with a larger margin for rarer classes.

    With the margins :math:`\Delta_c = m \, n_c^{-1/4} / \max_k n_k^{-1/4}` (:func:`ldam_margins`; the rarest class
    gets :math:`m` = ``max_m``) and the scale :math:`s`:

    .. math::
        \ell = -w_y \log \frac{e^{s (x_y - \Delta_y)}}{e^{s (x_y - \Delta_y)} + \sum_{c \ne y} e^{s x_c}} .

    In the paper the logits are cosines (a normalised linear layer), hence the scale ``s=30`` of the authors'
    code; for unnormalised logits use ``s=1``. Deferred re-weighting (DRW): train with ``weight=None`` and switch
    to the effective-number class weights after an epoch, :func:`losskit.weights.drw_weights` (or
    :class:`losskit.LDAMLoss`'s ``drw_start_epoch`` and ``set_epoch``). ``"mean"`` is
    :math:`\sum_i \ell_i / \sum_i w_{y_i}` over the non-ignored elements, as ``cross_entropy`` with ``weight``
    (and the authors' code, which calls it).

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        class_counts: ``(C,)`` positive class counts of the training labels.
        weight: optional class weights ``(C,)`` (default ``None``; DRW's weights).
        max_m: the largest margin, > 0 (default 0.5, the authors').
        s: the logit scale, > 0 (default 30.0, the authors').
        ignore_index: target value that contributes nothing and is not counted (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`logit_adjustment_loss`; ``weight``: :math:`(C)`.

    Raises:
        LossOptionError: ``max_m <= 0``, ``s <= 0``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`logit_adjustment_loss` (a count
            <= 0 has no margin); ``weight`` as ``cross_entropy``.

    References:
        Cao, K., Wei, C., Gaidon, A., Arechiga, N., Ma, T. "Learning Imbalanced Datasets with Label-Distribution-
        Aware Margin Loss", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[0.8, 0.1, -0.3], [0.1, 0.2, 0.6]])  # cosines
        >>> counts = torch.tensor([100, 10, 1])
        >>> print(round(float(LF.ldam_loss(x, torch.tensor([0, 2]), counts)), 4))
        1.5475
    """
    name = "ldam_loss"
    V.check_reduction(name, reduction)
    _ldam_options(name, max_m, s)
    _check_input(name, input, target, ignore_index, weight, class_counts=class_counts)
    weight = like_input(weight, input)
    class_dim = V.class_dim_of(input)
    margins = _along_class_dim(ldam_margins(class_counts.to(input.dtype), max_m), input, class_dim)
    is_y = _is_target(input, target, ignore_index)
    logits = float(s) * (input - torch.where(is_y, margins, torch.zeros((), dtype=input.dtype, device=input.device)))
    return _shifted_cross_entropy(logits, target, weight, ignore_index, reduction)


# --------------------------------------------------------------------------------------------
# class-balanced focal
# --------------------------------------------------------------------------------------------
def _cb_options(name: str, beta: float, gamma: float, head: str) -> float:
    if not (V.is_number(beta) and 0 <= beta < 1):
        raise _option_error(
            name, "beta", "a float in [0, 1)", beta,
            "pass e.g. beta=0.9999 (Cui et al. use 0.9 to 0.9999; 0 gives no re-weighting)",
        )
    V.check_choice(name, "head", head, HEADS)
    return V.check_positive(name, "gamma", gamma, allow_zero=True)


@mixed_precision
def class_balanced_focal_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Tensor,
    *,
    beta: float = 0.9999,
    gamma: float = 2.0,
    head: str = "softmax",
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Class-balanced focal loss: the focal loss of each element weighted by the inverse effective number of
    samples of its class.

    With :math:`n_c` the training count of class :math:`c`, the class weight is
    :math:`w_c \propto (1 - \beta) / (1 - \beta^{n_c})` (normalised to average 1 over the classes with
    :math:`n_c > 0`, as :func:`losskit.weights.class_weights` with ``method="effective_number"``; classes with no
    sample get 0). For ``head="softmax"`` (:math:`p = \mathrm{softmax}(x)`):

    .. math::
        \ell = -w_y (1 - p_y)^{\gamma} \log p_y ,

    and for ``head="sigmoid"`` (one binary problem per class against the one-hot target, :math:`p = \sigma(x)`,
    :math:`p_{t,c} = p_c` for :math:`c = y`, :math:`1 - p_c` otherwise; the authors' sigmoid variant):

    .. math::
        \ell = -w_y \sum_c (1 - p_{t,c})^{\gamma} \log p_{t,c} .

    ``gamma=0`` gives the class-balanced softmax / sigmoid cross-entropy; ``beta=0`` the plain focal loss.
    ``"mean"`` is :math:`\sum_i \ell_i / \sum_i w_{y_i}` over the non-ignored elements (losskit's weighted mean,
    as ``focal_loss`` with ``weight``); Cui et al. divide the sum by the number of samples instead
    (``reduction="sum"`` divided by ``N``).

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        class_counts: ``(C,)`` non-negative class counts of the training labels.
        beta: :math:`\beta \in [0, 1)` (default 0.9999).
        gamma: the focusing parameter, >= 0 (default 2.0).
        head: ``"softmax"`` (default) or ``"sigmoid"``.
        ignore_index: target value that contributes nothing and is not counted (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`logit_adjustment_loss` (``"none"`` gives one loss per element of ``target`` for both heads).

    Raises:
        LossOptionError: ``beta`` outside ``[0, 1)``, ``gamma < 0``, an unknown ``head``.
        LossShapeError, LossTypeError, LossValueError, NonFiniteError: as :func:`logit_adjustment_loss` (a count
            < 0).

    References:
        Cui, Y., Jia, M., Lin, T.-Y., Song, Y., Belongie, S. "Class-Balanced Loss Based on Effective Number of
        Samples", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> counts = torch.tensor([100, 10, 1])
        >>> print(round(float(LF.class_balanced_focal_loss(x, torch.tensor([0, 1]), counts, beta=0.99)), 4))
        2.2617
    """
    name = "class_balanced_focal_loss"
    V.check_reduction(name, reduction)
    gamma = _cb_options(name, beta, gamma, head)
    _check_input(name, input, target, ignore_index, positive=False, class_counts=class_counts)
    weight = _weights_from_counts(name, class_counts, "effective_number", float(beta)).to(input.dtype)
    class_dim = V.class_dim_of(input)
    valid = target != ignore_index
    safe = target.masked_fill(~valid, 0).long()
    if head == "softmax":
        log_p_y = input.log_softmax(class_dim).gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
        loss = -log_p_y
        if gamma != 0:
            loss = loss * (-torch.expm1(log_p_y)).clamp_min(torch.finfo(log_p_y.dtype).tiny).pow(gamma)
    else:
        # z = x for the target class, -x for the others: BCE = -log sigmoid(z), 1 - p_t = sigmoid(-z)
        z = torch.where(_is_target(input, safe, ignore_index), input, -input)
        terms = -F.logsigmoid(z)
        if gamma != 0:
            terms = terms * torch.exp(gamma * F.logsigmoid(-z))
        loss = terms.sum(class_dim)
    w_y = torch.where(valid, _take(weight, safe), torch.zeros((), dtype=loss.dtype, device=loss.device))
    return reduce_loss(loss * w_y, reduction, denominator=w_y.sum())


# --------------------------------------------------------------------------------------------
# equalization loss v2
# --------------------------------------------------------------------------------------------
def _eql_options(name: str, gamma: float, mu: float, alpha: float, background_channel: bool) -> None:
    V.check_positive(name, "gamma", gamma)
    V.check_positive(name, "mu", mu, allow_zero=True)
    V.check_positive(name, "alpha", alpha, allow_zero=True)
    if not isinstance(background_channel, bool):
        raise _option_error(name, "background_channel", "a bool", background_channel, "pass True or False")


def equalization_weights(
    pos_grad: Tensor, neg_grad: Tensor, *, gamma: float = 12.0, mu: float = 0.8, alpha: float = 4.0
) -> tuple[Tensor, Tensor]:
    r"""EQL v2's per-class weights of the positive and negative terms from the accumulated gradient statistics:
    :math:`q_c = f(g^+_c / (g^-_c + 10^{-10}))` with :math:`f(r) = 1 / (1 + e^{-\gamma (r - \mu)})` for the
    negatives and :math:`r_c = 1 + \alpha (1 - q_c)` for the positives; 1 and 1 for a class with no statistics yet
    (:math:`g^+_c = g^-_c = 0`). Returns ``(pos_w, neg_w)``, each ``(C,)``, without gradient.

    Example:
        >>> import torch
        >>> from losskit.functional.longtail import equalization_weights
        >>> pos_w, neg_w = equalization_weights(torch.tensor([10.0, 1.0, 0.0]), torch.tensor([10.0, 100.0, 0.0]))
        >>> print(pos_w, neg_w)
        tensor([1.3327, 4.9997, 1.0000]) tensor([9.1683e-01, 7.6358e-05, 1.0000e+00])
    """
    pos, neg = pos_grad.detach(), neg_grad.detach()
    neg_w = torch.sigmoid(gamma * (pos / (neg + _EQL_EPS) - mu))
    pos_w = 1 + alpha * (1 - neg_w)
    fresh = (pos == 0) & (neg == 0)
    one = torch.ones((), dtype=neg_w.dtype, device=neg_w.device)
    return torch.where(fresh, one, pos_w), torch.where(fresh, one, neg_w)


def _eql_terms(
    input: Tensor, target: Tensor, ignore_index: int, background_channel: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``valid`` rows, the one-hot target ``t`` (zeros for ignored rows), the per-element BCE and the channels
    that carry statistics (all, or all but the last)."""
    class_dim = V.class_dim_of(input)
    valid = target != ignore_index
    t = _is_target(input, target, ignore_index).to(input.dtype)
    bce = (1 - t) * input + F.softplus(-input)
    classes = torch.arange(input.shape[class_dim], device=input.device)
    foreground = classes < input.shape[class_dim] - (1 if background_channel else 0)
    return valid, t, bce, _along_class_dim(foreground, input, class_dim)


def _eql_element_weights(
    input: Tensor, t: Tensor, fg: Tensor, pos_grad: Tensor | None, neg_grad: Tensor | None,
    gamma: float, mu: float, alpha: float,
) -> Tensor | None:
    if pos_grad is None or neg_grad is None:
        return None
    class_dim = V.class_dim_of(input)
    pos_w, neg_w = equalization_weights(pos_grad.to(input.dtype), neg_grad.to(input.dtype), gamma=gamma, mu=mu,
                                        alpha=alpha)
    if fg.numel() != pos_w.numel():  # the background channel: weight 1
        one = torch.ones(1, dtype=input.dtype, device=input.device)
        pos_w, neg_w = torch.cat([pos_w, one]), torch.cat([neg_w, one])
    pos_w, neg_w = _along_class_dim(pos_w, input, class_dim), _along_class_dim(neg_w, input, class_dim)
    return pos_w * t + neg_w * (1 - t)


@mixed_precision
def equalization_loss_v2(
    input: Tensor,
    target: Tensor,
    pos_grad: Tensor | None = None,
    neg_grad: Tensor | None = None,
    *,
    gamma: float = 12.0,
    mu: float = 0.8,
    alpha: float = 4.0,
    background_channel: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Equalization loss v2 (EQL v2) for sigmoid classification heads: binary cross-entropy per class whose
    positive and negative terms are reweighted by the balance of the gradients each class has received so far.

    With :math:`t` the one-hot target, :math:`g^+_c` and :math:`g^-_c` the accumulated magnitudes of the
    (reweighted) gradients of class :math:`c`'s positive and negative terms, and the weights of
    :func:`equalization_weights`, :math:`q_c = f(g^+_c / g^-_c)` on negatives and
    :math:`r_c = 1 + \alpha (1 - q_c)` on positives, :math:`f(r) = 1 / (1 + e^{-\gamma (r - \mu)})`:

    .. math::
        \ell_i = \sum_c \big[ r_c t_{ic} + q_c (1 - t_{ic}) \big] \, \mathrm{BCE}(x_{ic}, t_{ic}).

    A rare class, whose positive gradients are small next to its negative ones, gets its negatives suppressed and
    its positives boosted. The statistics are inputs here; :class:`losskit.EqualizationLossV2` accumulates them
    after each training step as the authors do: :math:`g^+_c \mathrel{+}= \sum_i t_{ic} |p_{ic} - 1| w_{ic}` and
    :math:`g^-_c \mathrel{+}= \sum_i (1 - t_{ic}) p_{ic} w_{ic}` (:math:`w` the weights used). With
    ``pos_grad=neg_grad=None``, or for a class whose two statistics are both 0, the weights are 1 (the authors'
    first iteration). No gradient flows into the statistics. ``"mean"`` averages :math:`\ell_i` over the
    non-ignored samples (the authors' sum over classes divided by the number of samples).

    ``background_channel=True`` takes the layout of the authors' mmdetection code: the last channel of ``input``
    is the background logit, target class ``C - 1`` is "background", that channel's weights are 1 and it has no
    statistics (``pos_grad``/``neg_grad`` then have ``C - 1`` entries).

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``, floating dtype.
        target: class indices, ``()``, ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        pos_grad: accumulated positive gradient per class, ``(C,)`` (``(C - 1,)`` with ``background_channel``),
            floating, >= 0; ``None`` (default) for none yet.
        neg_grad: the same for the negative gradients.
        gamma: steepness of :math:`f`, > 0 (default 12.0, the authors').
        mu: centre of :math:`f`, >= 0 (default 0.8).
        alpha: the positive boost, >= 0 (default 4.0).
        background_channel: whether the last channel is the background (default ``False``).
        ignore_index: target value whose row contributes nothing and is not counted (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (one loss per element of ``target``).

    Shape:
        As :func:`logit_adjustment_loss`; ``pos_grad``, ``neg_grad``: :math:`(C)` or :math:`(C - 1)`.

    Raises:
        LossShapeError: statistics of the wrong length, or only one of them given; targets as ``cross_entropy``.
        LossTypeError: integer statistics; float class indices, integer ``input``.
        LossValueError: negative statistics, class indices outside ``[0, C)`` (value checks).
        LossOptionError: ``gamma <= 0``, negative ``mu`` or ``alpha``.
        NonFiniteError: NaN or Inf in ``input`` or the statistics (value check).

    References:
        Tan, J., Lu, X., Zhang, G., Yin, C., Li, Q. "Equalization Loss v2: A New Gradient Balance Approach for
        Long-tailed Object Detection", 2021.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[2.0, -1.0, -3.0], [-1.0, 1.5, -2.0]])
        >>> pos, neg = torch.tensor([8.0, 5.0, 0.2]), torch.tensor([9.0, 6.0, 4.0])
        >>> print(round(float(LF.equalization_loss_v2(x, torch.tensor([0, 1]), pos, neg)), 4))
        0.6011
    """
    name = "equalization_loss_v2"
    V.check_reduction(name, reduction)
    _eql_options(name, gamma, mu, alpha, background_channel)
    _check_eql(name, input, target, pos_grad, neg_grad, ignore_index, background_channel)
    valid, t, bce, fg = _eql_terms(input, target, ignore_index, background_channel)
    w = _eql_element_weights(input, t, fg, pos_grad, neg_grad, gamma, mu, alpha)
    loss = (bce if w is None else bce * w).sum(V.class_dim_of(input))
    loss = torch.where(valid, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    return reduce_loss(loss, reduction, denominator=valid.sum())


def equalization_statistics(
    input: Tensor,
    target: Tensor,
    pos_grad: Tensor | None = None,
    neg_grad: Tensor | None = None,
    *,
    gamma: float = 12.0,
    mu: float = 0.8,
    alpha: float = 4.0,
    background_channel: bool = False,
    ignore_index: int = -100,
) -> tuple[Tensor, Tensor]:
    r"""The increments of EQL v2's gradient statistics for one batch (the authors' ``collect_grad``):
    :math:`\sum_i t_{ic} |p_{ic} - 1| w_{ic}` and :math:`\sum_i (1 - t_{ic}) p_{ic} w_{ic}` per class, with
    :math:`w` the weights :func:`equalization_loss_v2` used with these ``pos_grad``/``neg_grad``; ignored rows and
    the background channel excluded. Returns ``(pos_increment, neg_increment)`` in ``input``'s dtype, without
    gradient; in several processes, all-reduce them (sum) before adding, as the authors do.
    """
    with torch.no_grad():
        input = input.detach()
        valid, t, _, fg = _eql_terms(input, target, ignore_index, background_channel)
        w = _eql_element_weights(input, t, fg, pos_grad, neg_grad, gamma, mu, alpha)
        class_dim = V.class_dim_of(input)
        keep = valid.unsqueeze(class_dim).to(input.dtype)
        p = torch.sigmoid(input)
        grad = (t * (1 - p) + (1 - t) * p) * keep
        if w is not None:
            grad = grad * w
        dims = [d for d in range(input.dim()) if d != class_dim]
        pos = (grad * t).sum(dims) if dims else grad * t
        neg = (grad * (1 - t)).sum(dims) if dims else grad * (1 - t)
        num_fg = input.shape[class_dim] - (1 if background_channel else 0)
        return pos[..., :num_fg], neg[..., :num_fg]


def _check_eql(
    name: str, input: Tensor, target: Tensor, pos_grad: Tensor | None, neg_grad: Tensor | None,
    ignore_index: int, background_channel: bool,
) -> None:
    V.check_ignore_index(name, ignore_index)
    if V.enabled():
        V.check_class_inputs(name, input, target, None, ignore_index)
        if (pos_grad is None) != (neg_grad is None):
            raise V.LossShapeError(
                f"{name}: pos_grad and neg_grad must be given together, but got only "
                f"{'pos_grad' if neg_grad is None else 'neg_grad'}; pass both statistics, or neither (weights 1)"
            )
        num_classes = input.shape[V.class_dim_of(input)] - (1 if background_channel else 0)
        what = "one per class" + (", without the background channel" if background_channel else "")
        V.check_vector(name, "pos_grad", pos_grad, num_classes, what=what)
        V.check_vector(name, "neg_grad", neg_grad, num_classes, what=what)
        V.check_same_device(name, input=input, target=target, pos_grad=pos_grad, neg_grad=neg_grad)
    if V.values_due(name, input, target, pos_grad, neg_grad):
        V.check_finite(name, "input", input)
        V.check_class_values(name, target, input.shape[V.class_dim_of(input)], ignore_index,
                             pos_grad=pos_grad, neg_grad=neg_grad)
        V.warn_if_sigmoid_probabilities(name, input)
