"""Regression losses on real-valued predictions: the pointwise losses of torch.nn, then the robust and relative
ones people pull from elsewhere (log-cosh, quantile, Charbonnier, MSLE, MAPE).

Every function here takes ``input`` and ``target`` of the same shape (no broadcasting: a mismatch
raises :class:`~losskit.LossShapeError`; :func:`quantile_loss` with several quantiles documents its one
exception), an optional per-element ``weight`` of that shape, and
``reduction`` (``"mean"``, ``"sum"`` or ``"none"``) with the meanings of :mod:`losskit._reduction`:
a weighted mean is ``sum(w * l) / sum(w)`` and a mean over nothing is 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import NN_REDUCTION_ENUM, reduce_loss
from ..fused import pointwise as _fused
from ..fused._common import MIN_NUMEL as _FUSED_MIN_NUMEL

__all__ = [
    "charbonnier_loss",
    "huber_loss",
    "l1_loss",
    "log_cosh_loss",
    "mape_loss",
    "mse_loss",
    "msle_loss",
    "quantile_loss",
    "smooth_l1_loss",
]


def _checked(name: str, input: Tensor, target: Tensor, weight: Tensor | None, reduction: str, domain=None) -> None:
    """The checks of every loss here (shapes, dtypes, devices, finite values, non-negative weight), plus an
    optional value check of the loss's domain that runs on the same schedule (its own first call per input kind)."""
    V.check_reduction(name, reduction)
    if (key := V.checks_due(name, input, target, weight)) is not None:  # None: passed before (or guard off)
        V.check_pointwise(name, input, target, weight)
        if domain is not None and V.values_due(f"{name}:domain", input, target):
            domain()
        V.record_passed(key, input, target, weight)


def _torch_nn_pointwise(
    name: str,
    kernel: Callable[..., Tensor],
    terms_fn: Callable[[str], Tensor],
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    options: dict[str, float],
    check_options: Callable[[], object] | None = None,
) -> Tensor:
    """The body of the torch.nn pointwise losses (l1, mse, huber, smooth_l1): their checks (skipped whole, the
    option checks included, once the call's signature passed them: :func:`losskit._validation.signature_due`),
    then the fused path, or torch's kernel ``kernel`` (``torch._C._nn.<loss>``, whose numbers are losskit's
    when there is no weight and something to average), or the per-element terms of ``terms_fn`` reduced by
    losskit's rules.

    In the steady state (the signature passed, so ``input`` and ``target`` have one shape) ``kernel`` is called
    directly: ``F.<loss>`` would add ``torch.broadcast_tensors`` (two views and their backward nodes) and
    Python argument handling. On a first call, and where the checks ran, ``terms_fn`` calls ``F.<loss>``.
    """
    signature = (reduction, *options.values(), *map(type, options.values()))
    if (key := V.signature_due(name, signature, input, target, weight)) is not None:
        V.check_reduction(name, reduction)
        if check_options is not None:
            check_options()
        if V.enabled():
            V.check_pointwise(name, input, target, weight)
            V.record_passed(key, input, target, weight)
    numel = input.numel()
    if numel >= _FUSED_MIN_NUMEL and getattr(_fused, f"supports_{name}")(
        input, target, weight, reduction=reduction, **options
    ):
        return getattr(_fused, f"fused_{name}")(input, target, weight, reduction=reduction, **options)
    if weight is None and numel > 0:
        if key is None:  # the checks passed before for this signature: one shape
            return kernel(input, target, NN_REDUCTION_ENUM[reduction], *options.values())
        return terms_fn(reduction)
    return reduce_loss(terms_fn("none"), reduction, weight=weight)


@mixed_precision
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
    return _torch_nn_pointwise(
        "l1_loss", torch._C._nn.l1_loss, lambda r: F.l1_loss(input, target, reduction=r),
        input, target, weight, reduction, {},
    )


@mixed_precision
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
    return _torch_nn_pointwise(
        "mse_loss", torch._C._nn.mse_loss, lambda r: F.mse_loss(input, target, reduction=r),
        input, target, weight, reduction, {},
    )


@mixed_precision
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
    return _torch_nn_pointwise(
        "huber_loss", torch._C._nn.huber_loss, lambda r: F.huber_loss(input, target, reduction=r, delta=delta),
        input, target, weight, reduction, {"delta": delta},
        check_options=lambda: V.check_positive("huber_loss", "delta", delta),
    )


@mixed_precision
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
    return _torch_nn_pointwise(
        "smooth_l1_loss", torch._C._nn.smooth_l1_loss,
        lambda r: F.smooth_l1_loss(input, target, reduction=r, beta=beta),
        input, target, weight, reduction, {"beta": beta},
        check_options=lambda: V.check_positive("smooth_l1_loss", "beta", beta, allow_zero=True),
    )


# --------------------------------------------------------------------------------------------
# beyond torch.nn: log-cosh, quantile, Charbonnier, MSLE, MAPE
# --------------------------------------------------------------------------------------------
_F64_EPS = float(torch.finfo(torch.float64).eps)
"""The default floor of :func:`mape_loss`'s denominator: scikit-learn's (float64 machine epsilon)."""

_LOG_COSH_SWITCH = 10.0
"""Below this ``|x - y|``, log-cosh uses the form exact near 0; above it, the form that cannot overflow."""


@mixed_precision
def log_cosh_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean") -> Tensor:
    r"""Log-cosh loss: about :math:`\tfrac12 d^2` for small errors and :math:`|d| - \log 2` for large ones.

    .. math::
        \ell_i = \log\cosh(x_i - y_i)

    Computed without overflow: :math:`\log(1 + 2\sinh^2(d/2))` for :math:`|d| < 10` (exact near 0) and
    :math:`|d| + \mathrm{softplus}(-2|d|) - \log 2` beyond (finite at :math:`|d| = 10^4` and far above, where
    ``cosh`` overflows). The gradient is :math:`\tanh(x_i - y_i)`.

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`mse_loss`.

    Raises:
        LossShapeError, LossTypeError, NonFiniteError: as :func:`mse_loss`.

    References:
        Chen, P., Chen, G., Zhang, S. "Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder", 2019
        (the loss itself is older; Keras ships it as ``log_cosh``).

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.log_cosh_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        0.8794
    """
    _checked("log_cosh_loss", input, target, weight, reduction)
    d = (input - target).abs()
    near = torch.log1p(2 * torch.sinh(d.clamp(max=_LOG_COSH_SWITCH) / 2).square())
    far = d + F.softplus(-2 * d) - math.log(2.0)
    return reduce_loss(torch.where(d < _LOG_COSH_SWITCH, near, far), reduction, weight=weight)


def _quantile_list(name: str, quantiles: float | Sequence[float]) -> tuple[float, ...] | None:
    """``None`` for one float quantile, else the tuple; every quantile lies in ``(0, 1)``."""

    def ok(q: object) -> bool:
        return V.is_number(q) and 0 < q < 1

    if ok(quantiles):
        return None
    if isinstance(quantiles, Sequence) and not isinstance(quantiles, str) and len(quantiles) > 0:
        if all(ok(q) for q in quantiles):
            return tuple(float(q) for q in quantiles)
    raise V.LossOptionError(
        f"{name}: quantiles must be a float in (0, 1) or a non-empty sequence of them, but got {quantiles!r}; "
        "pass e.g. quantiles=0.5 (the median) or quantiles=(0.1, 0.5, 0.9)"
    )


@mixed_precision
def quantile_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    quantiles: float | Sequence[float] = 0.5,
    reduction: str = "mean",
) -> Tensor:
    r"""Quantile (pinball) loss: the loss whose minimiser is the ``tau``-quantile of the target.

    With :math:`d = y - x` (target minus prediction):

    .. math::
        \ell_{i,k} = \max\big(\tau_k d_{i,k}, (\tau_k - 1) d_{i,k}\big)

    One float ``quantiles`` gives one prediction per target (``tau=0.5`` is half the absolute error). A sequence
    of :math:`K` quantiles asks for :math:`K` predictions per target, along a trailing dimension of ``input``;
    ``"none"`` returns the loss per target and quantile, ``"mean"`` averages over both (scikit-learn's
    ``mean_pinball_loss`` for one quantile, weighted with ``sample_weight`` as ``weight`` here).

    Args:
        input: predictions, floating dtype: the target's shape for one float quantile, the target's shape plus a
            trailing dimension of ``len(quantiles)`` for a sequence.
        target: targets.
        weight: optional weights (default ``None``), of ``input``'s shape (per prediction) or of ``target``'s
            shape (per target, shared by its quantiles).
        quantiles: ``tau`` in ``(0, 1)``, or a sequence of them (default 0.5).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        One quantile: ``input``, ``target`` :math:`(*)`, output :math:`(*)` for ``"none"``.
        ``K`` quantiles: ``input`` :math:`(*, K)`, ``target`` :math:`(*)`, ``weight`` :math:`(*, K)` or
        :math:`(*)`, output :math:`(*, K)` for ``"none"``. Otherwise a scalar.

    Raises:
        LossOptionError: a quantile outside ``(0, 1)``.
        LossShapeError: shapes that do not fit the rule above.
        LossTypeError, NonFiniteError: as :func:`mse_loss`.

    References:
        Koenker, R., Bassett, G. "Regression Quantiles", 1978.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([2.5])
        >>> print(LF.quantile_loss(x, y, quantiles=(0.1, 0.5, 0.9), reduction="none"))
        tensor([[0.1500, 0.2500, 0.0500]])
    """
    name = "quantile_loss"
    V.check_reduction(name, reduction)
    taus = _quantile_list(name, quantiles)
    if taus is None:
        _checked(name, input, target, weight, reduction)
        d = target - input
        tau: float | Tensor = float(quantiles)  # type: ignore[arg-type]
        return reduce_loss(torch.maximum(tau * d, (tau - 1) * d), reduction, weight=weight)

    if V.enabled():
        V.check_tensor(name, "input", input)
        V.check_tensor(name, "target", target)
        V.check_floating(name, "input", input)
        expected = (*target.shape, len(taus))
        if tuple(input.shape) != expected:
            if target.dim() >= 1 and target.shape[-1] == 1 and tuple(input.shape) == (*target.shape[:-1], len(taus)):
                fix = "pass target without its trailing dim: target.squeeze(-1)"
            else:
                fix = f"predict one value per quantile along a last dim of {len(taus)}"
            raise V.LossShapeError(
                f"{name}: input must have shape {V.shape_str(expected)} (target {V.shape_str(target)} plus one "
                f"prediction per quantile for {len(taus)} quantiles), but got {V.shape_str(input)}; {fix}"
            )
        V.check_same_device(name, input=input, target=target, weight=weight)
        if weight is not None:
            V.check_tensor(name, "weight", weight)
            V.check_floating(name, "weight", weight, role="weights")
            if weight.shape != input.shape and weight.shape != target.shape:
                raise V.LossShapeError(
                    f"{name}: weight must have input's shape {V.shape_str(input)} or target's shape "
                    f"{V.shape_str(target)}, but got {V.shape_str(weight)}; pass one weight per prediction or "
                    "per target"
                )
    if V.values_due(name, input, target, weight):
        V.check_finite(name, "input", input)
        V.check_finite(name, "target", target)
        V.check_finite(name, "weight", weight)
        V.check_nonnegative(name, "weight", weight)
    d = target.unsqueeze(-1) - input
    tau = torch.tensor(taus, dtype=input.dtype, device=input.device)
    if weight is not None and weight.shape != input.shape:
        weight = weight.unsqueeze(-1)
    return reduce_loss(torch.maximum(tau * d, (tau - 1) * d), reduction, weight=weight)


@mixed_precision
def charbonnier_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, eps: float = 1e-3, reduction: str = "mean"
) -> Tensor:
    r"""Charbonnier loss, a differentiable L1: :math:`\sqrt{d^2 + \epsilon^2}`.

    .. math::
        \ell_i = \sqrt{(x_i - y_i)^2 + \epsilon^2}

    computed with ``hypot`` (no overflow of :math:`d^2`). Its minimum is :math:`\epsilon` at :math:`d = 0`, not
    0 (the form of Lai et al. and most super-resolution code). kornia's ``charbonnier_loss`` is a different
    member of the family, :math:`\sqrt{d^2 + 1} - 1`; BasicSR's uses :math:`\sqrt{d^2 + \epsilon}`.

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        eps: :math:`\epsilon > 0`, where the loss turns from quadratic to linear (default 1e-3).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`mse_loss`.

    Raises:
        LossOptionError: ``eps <= 0``.
        LossShapeError, LossTypeError, NonFiniteError: as :func:`mse_loss`.

    References:
        Charbonnier, P., Blanc-Féraud, L., Aubert, G., Barlaud, M. "Two deterministic half-quadratic
        regularization algorithms for computed imaging", 1994; Lai, W.-S., Huang, J.-B., Ahuja, N., Yang, M.-H.
        "Deep Laplacian Pyramid Networks for Fast and Accurate Super-Resolution", 2017.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.charbonnier_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]), eps=1.0)), 4))
        1.8251
    """
    eps = V.check_positive("charbonnier_loss", "eps", eps)
    _checked("charbonnier_loss", input, target, weight, reduction)
    terms = torch.hypot(input - target, torch.full((), eps, dtype=input.dtype, device=input.device))
    return reduce_loss(terms, reduction, weight=weight)


def _check_nonnegative_values(name: str, input: Tensor, target: Tensor) -> None:
    for arg, t, fix in (
        ("input", input, "predict non-negative values (e.g. F.softplus(output) or output.exp()), or use mse_loss"),
        ("target", target, "MSLE is for non-negative quantities: shift the targets or use mse_loss"),
    ):
        if t.numel() and t.is_floating_point():
            lo = float(t.detach().min())
            if lo < 0:
                raise V.LossValueError(
                    f"{name}: {arg} must be >= 0 (the loss compares log(1 + {arg})), but got a minimum of {lo:g}; "
                    f"{fix}"
                )


@mixed_precision
def msle_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean") -> Tensor:
    r"""Mean squared logarithmic error: the squared error of :math:`\log(1 + \cdot)`, for non-negative targets
    spanning orders of magnitude.

    .. math::
        \ell_i = \big(\log(1 + x_i) - \log(1 + y_i)\big)^2

    Negative ``input`` or ``target`` raise :class:`~losskit.LossValueError` (a value check, on the first call per
    input kind; recent scikit-learn accepts values above -1, Keras clips them to 0 silently). With the guard
    off, values in ``(-1, 0)`` are computed as written and values ``<= -1`` give NaN or Inf.

    Args:
        input: non-negative predictions, any shape, floating dtype.
        target: non-negative targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`mse_loss`.

    Raises:
        LossValueError: a negative value in ``input`` or ``target`` (value check).
        LossShapeError, LossTypeError, NonFiniteError: as :func:`mse_loss`.

    References:
        No single paper: the squared form of the RMSLE metric of forecasting competitions, as in scikit-learn's
        ``mean_squared_log_error`` and Keras' ``MeanSquaredLogarithmicError``.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.msle_loss(torch.tensor([3.0, 5.0]), torch.tensor([1.0, 5.0]))), 4))
        0.2402
    """
    name = "msle_loss"
    _checked(name, input, target, weight, reduction, domain=lambda: _check_nonnegative_values(name, input, target))
    return reduce_loss((torch.log1p(input) - torch.log1p(target)).square(), reduction, weight=weight)


@mixed_precision
def mape_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, eps: float = _F64_EPS, reduction: str = "mean"
) -> Tensor:
    r"""Mean absolute percentage error, as a fraction (multiply by 100 for percent).

    .. math::
        \ell_i = \frac{|x_i - y_i|}{\max(|y_i|, \epsilon)}

    The floor :math:`\epsilon` keeps a zero target finite (then :math:`\ell_i = |x_i| / \epsilon`, huge: MAPE is
    undefined there). The default is scikit-learn's ``mean_absolute_percentage_error`` floor, float64 machine
    epsilon (2.2e-16), so the numbers agree with it everywhere; torchmetrics uses 1.17e-6, Keras 1e-7 and
    percent. The floor is applied in float32 for float16 input (:mod:`losskit._precision`), but a loss of
    :math:`|x_i| / \epsilon` is far beyond float16's range (65504): it gives ``inf`` there.

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        eps: the floor of :math:`|y_i|`, > 0 (default 2.220446049250313e-16).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`mse_loss`.

    Raises:
        LossOptionError: ``eps <= 0``.
        LossShapeError, LossTypeError, NonFiniteError: as :func:`mse_loss`.

    References:
        de Myttenaere, A., Golden, B., Le Grand, B., Rossi, F. "Mean Absolute Percentage Error for regression
        models", 2016.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.mape_loss(torch.tensor([110.0, 45.0]), torch.tensor([100.0, 50.0]))), 4))
        0.1
    """
    eps = V.check_positive("mape_loss", "eps", eps)
    _checked("mape_loss", input, target, weight, reduction)
    return reduce_loss((input - target).abs() / target.abs().clamp_min(eps), reduction, weight=weight)
