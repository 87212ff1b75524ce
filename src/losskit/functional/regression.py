"""Regression losses on real-valued predictions: the pointwise losses of torch.nn.

Every function here takes ``input`` and ``target`` of the same shape (no broadcasting: a mismatch
raises :class:`~losskit.LossShapeError`), an optional per-element ``weight`` of that shape, and
``reduction`` (``"mean"``, ``"sum"`` or ``"none"``) with the meanings of :mod:`losskit._reduction`:
a weighted mean is ``sum(w * l) / sum(w)`` and a mean over nothing is 0.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._reduction import reduce_loss

__all__ = ["huber_loss", "l1_loss", "mse_loss", "smooth_l1_loss"]


def _pointwise(name: str, terms_fn, input: Tensor, target: Tensor, weight: Tensor | None, reduction: str) -> Tensor:
    """Shared body: checks, then torch's fused kernel when it gives the documented numbers."""
    V.check_reduction(name, reduction)
    if V.enabled():
        V.check_pointwise(name, input, target, weight)
    if weight is None and input.numel() > 0:
        return terms_fn(reduction)
    return reduce_loss(terms_fn("none"), reduction, weight=weight)


def l1_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean") -> Tensor:
    r"""Mean absolute error.

    .. math::
        \ell_i = |x_i - y_i|

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``, ``weight``: :math:`(*)`, all the same. Output: scalar, or :math:`(*)` for
        ``"none"``.

    Raises:
        LossShapeError: ``target`` or ``weight`` shape differs from ``input``.
        LossTypeError: integer ``input``.
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.5
    """
    return _pointwise(
        "l1_loss", lambda r: F.l1_loss(input, target, reduction=r), input, target, weight, reduction
    )


def mse_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean") -> Tensor:
    r"""Mean squared error.

    .. math::
        \ell_i = (x_i - y_i)^2

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``, ``weight``: :math:`(*)`, all the same. Output: scalar, or :math:`(*)` for
        ``"none"``.

    Raises:
        LossShapeError: ``target`` or ``weight`` shape differs from ``input``; e.g. predictions ``(N, 1)``
            against targets ``(N,)``, which torch broadcasts to ``(N, N)`` with only a warning.
        LossTypeError: integer ``input``.
        NonFiniteError: NaN or Inf in ``input`` or ``target`` (value check).

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        2.5
    """
    return _pointwise(
        "mse_loss", lambda r: F.mse_loss(input, target, reduction=r), input, target, weight, reduction
    )


def huber_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
    delta: float = 1.0,
) -> Tensor:
    r"""Huber loss: quadratic for small errors, linear (slope ``delta``) for large ones.

    .. math::
        \ell_i = \begin{cases} \tfrac12 (x_i - y_i)^2 & |x_i - y_i| < \delta \\
                 \delta \, (|x_i - y_i| - \tfrac12 \delta) & \text{otherwise} \end{cases}

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``). The weighted mean is
            ``sum(w * l) / sum(w)`` (torch 2.13 divides by the element count here).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        delta: where the loss turns from quadratic to linear; must be > 0 (default 1.0).

    Shape:
        As :func:`mse_loss`.

    Raises:
        LossOptionError: ``delta <= 0``.
        LossShapeError, LossTypeError, NonFiniteError: as :func:`mse_loss`.

    References:
        Huber, P. J. "Robust Estimation of a Location Parameter", 1964.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.huber_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.0
    """
    V.check_positive("huber_loss", "delta", delta)
    return _pointwise(
        "huber_loss",
        lambda r: F.huber_loss(input, target, reduction=r, delta=delta),
        input,
        target,
        weight,
        reduction,
    )


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    r"""Smooth L1 loss: Huber loss divided by ``beta`` (quadratic below ``beta``, then slope 1).

    .. math::
        \ell_i = \begin{cases} \tfrac12 (x_i - y_i)^2 / \beta & |x_i - y_i| < \beta \\
                 |x_i - y_i| - \tfrac12 \beta & \text{otherwise} \end{cases}

    With ``beta=0`` it equals :func:`l1_loss`.

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``; torch has none here).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        beta: the threshold, >= 0 (default 1.0).

    Shape:
        As :func:`mse_loss`.

    Raises:
        LossOptionError: ``beta < 0``.
        LossShapeError, LossTypeError, NonFiniteError: as :func:`mse_loss`.

    References:
        Girshick, R. "Fast R-CNN", 2015.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.smooth_l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.0
    """
    V.check_positive("smooth_l1_loss", "beta", beta, allow_zero=True)
    return _pointwise(
        "smooth_l1_loss",
        lambda r: F.smooth_l1_loss(input, target, reduction=r, beta=beta),
        input,
        target,
        weight,
        reduction,
    )
