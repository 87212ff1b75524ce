r"""Robust and distributional regression losses: Barron's general robust loss with its special cases (Welsch,
Cauchy, Geman-McClure), the negative log-likelihood of Barron's adaptive distribution, and the Tweedie and Gamma
deviances of generalised linear models.

Every function takes ``input`` and ``target`` of the same shape (no broadcasting), an optional per-element
``weight`` of that shape, and ``reduction`` (``"mean"``, ``"sum"`` or ``"none"``) with the meanings of
:mod:`losskit._reduction`: a weighted mean is ``sum(w * l) / sum(w)`` and a mean over nothing is 0.

**Barron's family.** With the scaled residual :math:`z = ((x - y) / c)^2`,

.. math::
    \rho(x - y; \alpha, c) = \frac{|\alpha - 2|}{\alpha}
        \left( \left( \frac{z}{|\alpha - 2|} + 1 \right)^{\alpha / 2} - 1 \right)

and its limits: :math:`\alpha = 2` is :math:`z / 2` (L2), :math:`\alpha = 1` is :math:`\sqrt{z + 1} - 1`
(Charbonnier / pseudo-Huber), :math:`\alpha = 0` is :math:`\log(z / 2 + 1)` (Cauchy / Lorentzian),
:math:`\alpha = -2` is :math:`2 z / (z + 4)` (Geman-McClure), :math:`\alpha = -\infty` is
:math:`1 - e^{-z / 2}` (Welsch / Leclerc) and :math:`\alpha = +\infty` is :math:`e^{z / 2} - 1`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = [
    "adaptive_robust_loss",
    "cauchy_loss",
    "gamma_deviance_loss",
    "geman_mcclure_loss",
    "general_robust_loss",
    "tweedie_deviance_loss",
    "welsch_loss",
]


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _checked(
    name: str,
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    *,
    metadata=None,
    values=None,
) -> None:
    """The checks of every loss here: shapes, dtypes, devices, finite values, non-negative weight; plus the loss's
    own metadata checks (``metadata()``, every call) and value checks (``values()``, on the guard's schedule: the
    first call per input kind)."""
    V.check_reduction(name, reduction)
    if V.enabled():
        V.check_pointwise(name, input, target, weight)
        if metadata is not None:
            metadata()
    if values is not None and V.values_due(f"{name}:domain", input, target):
        values()


def _tensor_option(name: str, arg: str, t: Tensor, input: Tensor) -> None:
    """A tensor ``alpha`` or ``scale``: floating, on ``input``'s device, broadcasting to ``input`` without
    enlarging it (one value per element, per feature of the last dim, or one for all)."""
    V.check_floating(name, arg, t, role="loss parameters")
    V.check_same_device(name, input=input, **{arg: t})
    if not V._broadcasts_into(t.shape, input.shape):
        raise V.LossShapeError(
            f"{name}: {arg} must broadcast to input {V.shape_str(input)} without enlarging it, but got shape "
            f"{V.shape_str(t)}; pass one value per feature of the last dim ({input.shape[-1] if input.dim() else 1},) "
            f"or a float"
        )


def _like(t: Tensor, input: Tensor) -> Tensor:
    """A floating tensor option in ``input``'s dtype (the dtype the loss computes in)."""
    return t.to(input.dtype) if t.is_floating_point() and input.is_floating_point() and t.dtype != input.dtype else t


def _check_scale_float(name: str, scale: object) -> None:
    if not isinstance(scale, Tensor):
        V.check_positive(name, "scale", scale)  # type: ignore[arg-type]


def _check_values_min(name: str, arg: str, t: Tensor, *, strict: bool, bound: float, fix: str) -> None:
    """Values of ``t`` are > ``bound`` (``strict``) or >= ``bound`` (value check)."""
    if t.numel() == 0:
        return
    lo = float(t.detach().min())
    if lo < bound or (strict and lo == bound):
        rel = ">" if strict else ">="
        raise V.LossValueError(f"{name}: {arg} must be {rel} {bound:g}, but got a minimum of {lo:g}; {fix}")


# --------------------------------------------------------------------------------------------
# Barron's rho
# --------------------------------------------------------------------------------------------
_EXPM1_CAP = {torch.float64: 700.0, torch.float32: 87.0}
"""Where ``expm1`` of ``alpha = +inf`` saturates (below the float overflow of its value and gradient)."""


def _rho_float(z: Tensor, alpha: float) -> Tensor:
    """Barron's rho of ``z = (d / c)^2`` for a Python float ``alpha``: the closed forms at the special values, the
    general form (written with ``expm1``/``log1p``, exact near ``alpha = 0``) elsewhere."""
    if alpha == 2.0:
        return 0.5 * z
    if alpha == 1.0:
        return z / (torch.sqrt(z + 1) + 1)  # sqrt(z + 1) - 1 without cancellation near 0
    if alpha == 0.0:
        return torch.log1p(0.5 * z)
    if alpha == -2.0:
        return 2 * z / (z + 4)
    if alpha == -math.inf:
        return -torch.expm1(-0.5 * z)
    if alpha == math.inf:
        return torch.expm1((0.5 * z).clamp(max=_EXPM1_CAP.get(z.dtype, 87.0)))
    b = abs(alpha - 2.0)
    return (b / alpha) * torch.expm1(0.5 * alpha * torch.log1p(z / b))


def _rho_tensor(z: Tensor, alpha: Tensor) -> Tensor:
    """Barron's rho for a tensor ``alpha`` (learnable, or one per feature): the same closed forms, selected
    elementwise. The general form is evaluated at a harmless ``alpha = 1`` where a closed form is selected, and with
    ``|alpha|`` and ``|alpha - 2|`` floored at machine epsilon, so no branch makes a NaN or infinite gradient."""
    eps = torch.finfo(z.dtype).eps
    special = (alpha == 0) | (alpha == 2) | torch.isinf(alpha)
    a = torch.where(special, torch.ones_like(alpha), alpha)
    a = torch.where(a >= 0, a.clamp(min=eps), a.clamp(max=-eps))
    b = (a - 2).abs().clamp(min=eps)
    general = (b / a) * torch.expm1(0.5 * a * torch.log1p(z / b))
    half = 0.5 * z
    out = torch.where(alpha == math.inf, torch.expm1(half.clamp(max=_EXPM1_CAP.get(z.dtype, 87.0))), general)
    out = torch.where(alpha == -math.inf, -torch.expm1(-half), out)
    out = torch.where(alpha == 0, torch.log1p(half), out)
    return torch.where(alpha == 2, half, out)


def _rho(input: Tensor, target: Tensor, alpha: float | Tensor, scale: float | Tensor) -> Tensor:
    z = ((input - target) / scale).square()
    return _rho_tensor(z, alpha) if isinstance(alpha, Tensor) else _rho_float(z, float(alpha))


def _check_alpha(name: str, alpha: object) -> None:
    if isinstance(alpha, Tensor):
        return
    if not V.is_number(alpha) or math.isnan(alpha):
        raise V.LossOptionError(
            f"{name}: alpha must be a number (±inf allowed) or a tensor, but got {alpha!r}; pass e.g. alpha=1.0 "
            "(Charbonnier), 0.0 (Cauchy), -2.0 (Geman-McClure) or float('-inf') (Welsch)"
        )


@mixed_precision
def general_robust_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    alpha: float | Tensor,
    scale: float | Tensor = 1.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Barron's general robust loss: one shape parameter ``alpha`` spans L2, Charbonnier, Cauchy, Geman-McClure
    and Welsch.

    With :math:`z_i = ((x_i - y_i) / c)^2`:

    .. math::
        \ell_i = \rho(x_i - y_i; \alpha, c) = \frac{|\alpha - 2|}{\alpha}
            \left( \left( \frac{z_i}{|\alpha - 2|} + 1 \right)^{\alpha / 2} - 1 \right)

    The limits are computed in closed form: :math:`\alpha = 2`: :math:`z / 2`; :math:`\alpha = 1`:
    :math:`\sqrt{z + 1} - 1`; :math:`\alpha = 0`: :math:`\log(z / 2 + 1)`; :math:`\alpha = -2`:
    :math:`2 z / (z + 4)`; :math:`\alpha = -\infty`: :math:`1 - e^{-z/2}`; :math:`\alpha = +\infty`:
    :math:`e^{z/2} - 1` (saturating where its float value would overflow: beyond :math:`z/2 = 87` in float32).
    Elsewhere the general form is evaluated as :math:`\frac{b}{\alpha} \operatorname{expm1}(\frac{\alpha}{2}
    \operatorname{log1p}(z / b))` with :math:`b = |\alpha - 2|`, which does not cancel near :math:`\alpha = 0`;
    for tensor ``alpha`` the closed forms are selected elementwise, with :math:`|\alpha|` and :math:`|\alpha - 2|`
    floored at machine epsilon in the general form (Barron's guard), so values and gradients (for ``input``,
    ``alpha`` and ``scale``) stay finite at and near every special value. Every member is about :math:`z / 2` for
    small residuals; ``alpha`` sets how fast outliers lose influence (:math:`\alpha \le 0` saturates or grows
    logarithmically). Barron's paper writes the same function; his code and kornia's ``welsch_loss``,
    ``cauchy_loss``, ``geman_mcclure_loss`` and ``charbonnier_loss`` are its members at ``scale=1``
    (:func:`welsch_loss`, :func:`cauchy_loss`, :func:`geman_mcclure_loss` here).

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        alpha: the shape :math:`\alpha`, a float (``±inf`` allowed) or a floating tensor that broadcasts to
            ``input`` without enlarging it (e.g. one value per feature of the last dim); required.
        scale: the scale :math:`c > 0` of the quadratic bowl near 0, a float or such a tensor (default 1.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``, ``weight``: :math:`(*)`, all the same; ``alpha``, ``scale``: broadcast to
        :math:`(*)`. Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossOptionError: ``alpha`` NaN or not a number; float ``scale <= 0``.
        LossShapeError: ``target`` or ``weight`` shape differs from ``input``; ``alpha``/``scale`` that do not
            broadcast into ``input``.
        LossValueError: a tensor ``scale`` with a value <= 0 (value check).
        LossTypeError: integer ``input``.
        NonFiniteError: NaN or Inf in ``input``, ``target``, or NaN in a tensor ``alpha``/``scale`` (value check).

    References:
        Barron, J. T. "A General and Adaptive Robust Loss Function", CVPR 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([0.5, 3.0]), torch.zeros(2)
        >>> print(round(float(LF.general_robust_loss(x, y, alpha=0.0, scale=1.0)), 4))  # Cauchy
        0.9113
    """
    name = "general_robust_loss"
    _check_alpha(name, alpha)
    _check_scale_float(name, scale)
    alpha = _like(alpha, input) if isinstance(alpha, Tensor) else alpha
    scale = _like(scale, input) if isinstance(scale, Tensor) else scale

    def metadata() -> None:
        for arg, t in (("alpha", alpha), ("scale", scale)):
            if isinstance(t, Tensor):
                _tensor_option(name, arg, t, input)

    def values() -> None:
        if isinstance(alpha, Tensor) and alpha.numel() and bool(torch.isnan(alpha).any()):
            raise V.NonFiniteError(
                f"{name}: alpha must not be NaN (±inf are allowed), but got {int(torch.isnan(alpha).sum())} NaN "
                f"value(s) out of {alpha.numel()}; find where they come from or mask them out"
            )
        if isinstance(scale, Tensor):
            V.check_finite(name, "scale", scale)
            _check_values_min(name, "scale", scale, strict=True, bound=0.0,
                              fix="the scale must be positive: e.g. softplus(latent) + 1e-5")

    _checked(name, input, target, weight, reduction, metadata=metadata, values=values)
    return reduce_loss(_rho(input, target, alpha, scale), reduction, weight=weight)


def _special_case(name: str, alpha: float):
    """The body of a named member of Barron's family at a fixed ``alpha``."""

    def loss(input: Tensor, target: Tensor, weight: Tensor | None, scale: float, reduction: str) -> Tensor:
        V.check_positive(name, "scale", scale)
        _checked(name, input, target, weight, reduction)
        return reduce_loss(_rho(input, target, alpha, float(scale)), reduction, weight=weight)

    return loss


_welsch = _special_case("welsch_loss", -math.inf)
_cauchy = _special_case("cauchy_loss", 0.0)
_geman_mcclure = _special_case("geman_mcclure_loss", -2.0)


@mixed_precision
def welsch_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, scale: float = 1.0, reduction: str = "mean"
) -> Tensor:
    r"""Welsch (Leclerc) loss: a Gaussian-shaped penalty that saturates at 1, so far outliers have no influence.

    .. math::
        \ell_i = 1 - \exp\!\left(-\tfrac12 \left(\frac{x_i - y_i}{c}\right)^2\right)

    computed as ``-expm1(-z / 2)`` (exact for small residuals). It is :func:`general_robust_loss` at
    :math:`\alpha = -\infty`. kornia's ``welsch_loss(x, y)`` is this loss at ``scale=1`` with kornia's default
    ``reduction="none"`` (losskit's default is ``"mean"``).

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        scale: :math:`c > 0`, the residual at which the loss bends (default 1.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``, ``weight``: :math:`(*)`, all the same. Output: scalar, or :math:`(*)` for
        ``"none"``.

    Raises:
        LossOptionError: ``scale <= 0``.
        LossShapeError, LossTypeError, NonFiniteError: as :func:`~losskit.functional.mse_loss`.

    References:
        Dennis, J. E., Welsch, R. E. "Techniques for nonlinear least squares and robust regression", 1978;
        Barron, J. T. "A General and Adaptive Robust Loss Function", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.welsch_loss(torch.tensor([0.5, 3.0]), torch.zeros(2))), 4))
        0.5532
    """
    return _welsch(input, target, weight, scale, reduction)


@mixed_precision
def cauchy_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, scale: float = 1.0, reduction: str = "mean"
) -> Tensor:
    r"""Cauchy (Lorentzian) loss: quadratic near 0, logarithmic for outliers.

    .. math::
        \ell_i = \log\!\left(\tfrac12 \left(\frac{x_i - y_i}{c}\right)^2 + 1\right)

    computed with ``log1p``. It is :func:`general_robust_loss` at :math:`\alpha = 0`. kornia's
    ``cauchy_loss(x, y)`` is this loss at ``scale=1`` with ``reduction="none"`` (kornia's default).

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        scale: :math:`c > 0` (default 1.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`welsch_loss`.

    Raises:
        LossOptionError: ``scale <= 0``.
        LossShapeError, LossTypeError, NonFiniteError: as :func:`~losskit.functional.mse_loss`.

    References:
        Black, M. J., Anandan, P. "The robust estimation of multiple motions", 1996; Barron, J. T. "A General and
        Adaptive Robust Loss Function", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.cauchy_loss(torch.tensor([0.5, 3.0]), torch.zeros(2))), 4))
        0.9113
    """
    return _cauchy(input, target, weight, scale, reduction)


@mixed_precision
def geman_mcclure_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, scale: float = 1.0, reduction: str = "mean"
) -> Tensor:
    r"""Geman-McClure loss: quadratic near 0, saturating at 2 for outliers.

    .. math::
        \ell_i = \frac{2 z_i}{z_i + 4}, \qquad z_i = \left(\frac{x_i - y_i}{c}\right)^2

    It is :func:`general_robust_loss` at :math:`\alpha = -2` (Barron's scaling: Geman and McClure's original
    :math:`z / (z + 1)` differs by the factor and the scale). kornia's ``geman_mcclure_loss(x, y)`` is this loss
    at ``scale=1`` with ``reduction="none"`` (kornia's default).

    Args:
        input: predictions, any shape, floating dtype.
        target: targets of the same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        scale: :math:`c > 0` (default 1.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`welsch_loss`.

    Raises:
        LossOptionError: ``scale <= 0``.
        LossShapeError, LossTypeError, NonFiniteError: as :func:`~losskit.functional.mse_loss`.

    References:
        Geman, S., McClure, D. E. "Statistical methods for tomographic image reconstruction", 1987; Barron, J. T.
        "A General and Adaptive Robust Loss Function", 2019.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(round(float(LF.geman_mcclure_loss(torch.tensor([0.5, 3.0]), torch.zeros(2))), 4))
        0.7511
    """
    return _geman_mcclure(input, target, weight, scale, reduction)


# --------------------------------------------------------------------------------------------
# Barron's adaptive loss: the negative log-likelihood of his distribution
# --------------------------------------------------------------------------------------------
_LOG_X_STEP = 0.2
_LOG_X = (-25.0, 35.0)
"""The quadrature of the partition function: the trapezoidal rule in ``s = log x`` on ``[-25, 35]``, step 0.2
(301 nodes). The integrand ``x exp(-rho(x))`` is analytic in a strip of half-width pi/2 around the real ``s`` axis
and decays exponentially at both ends, so the rule converges geometrically: its error, about ``exp(-pi^2 / 0.2)``,
is far below float64 rounding, and the truncated tails weigh ``2 exp(-35) + exp(-25) < 2e-11`` of ``Z`` at the
heaviest tail (``alpha = 0``)."""


def log_partition(alpha: Tensor) -> Tensor:
    r"""The log of the normaliser of Barron's distribution, :math:`\log Z(\alpha) = \log \int_{-\infty}^{\infty}
    e^{-\rho(x; \alpha, 1)}\, dx`, for every element of ``alpha >= 0``, differentiable in ``alpha``.

    Computed by the trapezoidal rule in :math:`s = \log x` (301 nodes; the rule and its error beside
    ``_LOG_X``), as a log-sum-exp. Closed forms it reproduces: :math:`\log\sqrt{2\pi}` at :math:`\alpha = 2`,
    :math:`\log(\pi\sqrt2)` at :math:`\alpha = 0`, :math:`\log(2 e K_1(1))` at :math:`\alpha = 1`. Barron's code
    interpolates a precomputed cubic spline instead; this quadrature is exact to rounding for every ``alpha``
    and needs no table.
    """
    lo, hi = _LOG_X
    count = round((hi - lo) / _LOG_X_STEP) + 1
    s = torch.linspace(lo, hi, count, dtype=alpha.dtype, device=alpha.device)
    z = torch.exp(2 * s)  # x^2
    rho = _rho_tensor(z, alpha.unsqueeze(-1))
    return torch.logsumexp(s - rho, dim=-1) + math.log(2 * _LOG_X_STEP)


@mixed_precision
def adaptive_robust_loss(
    input: Tensor,
    target: Tensor,
    alpha: Tensor | float,
    scale: Tensor | float,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    r"""Barron's adaptive robust loss: the negative log-likelihood of his distribution, whose shape ``alpha`` and
    scale can be learned (the :class:`~losskit.AdaptiveRobustLoss` Module holds them as parameters).

    .. math::
        \ell_i = \rho(x_i - y_i; \alpha, c) + \log c + \log Z(\alpha), \qquad
        Z(\alpha) = \int_{-\infty}^{\infty} e^{-\rho(x; \alpha, 1)}\, dx

    with :math:`\rho` of :func:`general_robust_loss`. Minimising it over ``alpha`` and ``scale`` as well as the
    model is what makes the loss adaptive: a plain :math:`\rho` would drive ``alpha`` down and ``scale`` up to
    make every residual cheap; the :math:`\log c + \log Z(\alpha)` terms price that in. The distribution exists
    for :math:`\alpha \ge 0` only (for :math:`\alpha < 0` :math:`e^{-\rho}` does not decay). :math:`\log Z` is
    computed by a quadrature accurate to rounding (:func:`log_partition`) rather than Barron's spline; this is
    the univariate version of his loss (no wavelet or DCT image representation).

    Args:
        input: predictions, floating dtype, :math:`(*, D)` for ``D`` features with one ``alpha``/``scale`` each.
        target: targets of the same shape.
        alpha: the shape, :math:`\alpha \ge 0`: a float or a floating tensor that broadcasts to ``input``
            without enlarging it, e.g. :math:`(D,)`.
        scale: the scale :math:`c > 0`, a float or such a tensor.
        weight: optional per-element weights of ``input``'s shape (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``, ``weight``: :math:`(*)`; ``alpha``, ``scale``: broadcast to it. Output: scalar, or
        :math:`(*)` for ``"none"``.

    Raises:
        LossOptionError: a float ``alpha < 0`` or not finite, a float ``scale <= 0``.
        LossShapeError: shapes that differ or do not broadcast as stated.
        LossValueError: a tensor ``alpha`` below 0 or ``scale`` <= 0 (value check).
        LossTypeError, NonFiniteError: as :func:`~losskit.functional.mse_loss`.

    References:
        Barron, J. T. "A General and Adaptive Robust Loss Function", CVPR 2019 (Section 2, the distribution and
        its partition function).

    Example:
        >>> import torch, losskit.functional as LF
        >>> x, y = torch.tensor([0.5, 3.0]), torch.zeros(2)
        >>> print(round(float(LF.adaptive_robust_loss(x, y, 2.0, 1.0)), 4))  # Gaussian NLL: mean(d^2)/2 + log sqrt(2pi)
        3.2314
    """
    name = "adaptive_robust_loss"
    if not isinstance(alpha, Tensor):
        if not V.is_number(alpha) or not math.isfinite(alpha) or alpha < 0:
            raise V.LossOptionError(
                f"{name}: alpha must be a finite number >= 0 (Barron's distribution exists for alpha >= 0 only), "
                f"but got {alpha!r}; pass e.g. alpha=1.0, or use general_robust_loss for alpha < 0"
            )
    _check_scale_float(name, scale)
    alpha_t = _like(alpha, input) if isinstance(alpha, Tensor) else torch.tensor(
        float(alpha), dtype=input.dtype if input.is_floating_point() else None, device=input.device
    )
    scale = _like(scale, input) if isinstance(scale, Tensor) else float(scale)

    def metadata() -> None:
        _tensor_option(name, "alpha", alpha_t, input)
        if isinstance(scale, Tensor):
            _tensor_option(name, "scale", scale, input)

    def values() -> None:
        V.check_finite(name, "alpha", alpha_t)
        _check_values_min(name, "alpha", alpha_t, strict=False, bound=0.0,
                          fix="Barron's distribution needs alpha >= 0: e.g. alpha = 2 * torch.sigmoid(latent)")
        if isinstance(scale, Tensor):
            V.check_finite(name, "scale", scale)
            _check_values_min(name, "scale", scale, strict=True, bound=0.0,
                              fix="the scale must be positive: e.g. softplus(latent) + 1e-5")

    _checked(name, input, target, weight, reduction, metadata=metadata, values=values)
    log_scale = torch.log(scale) if isinstance(scale, Tensor) else math.log(scale)
    terms = _rho_tensor(((input - target) / scale).square(), alpha_t) + log_scale + log_partition(alpha_t)
    return reduce_loss(terms, reduction, weight=weight)


# --------------------------------------------------------------------------------------------
# Tweedie and Gamma deviance
# --------------------------------------------------------------------------------------------
def _check_power(name: str, power: object) -> float:
    if not V.is_number(power) or not math.isfinite(power) or 0 < power < 1:
        raise V.LossOptionError(
            f"{name}: power must be a finite number <= 0 or >= 1 (no Tweedie distribution has 0 < power < 1), but "
            f"got {power!r}; pass power=0 (normal), 1 (Poisson), 1.5 (compound Poisson-Gamma, LightGBM's default), "
            "2 (Gamma) or 3 (inverse Gaussian)"
        )
    return float(power)


def _check_flag(name: str, arg: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise V.LossOptionError(f"{name}: {arg} must be True or False, but got {value!r}; pass {arg}=True or False")
    return value


def _tweedie_domain(name: str, input: Tensor, target: Tensor, power: float, log_input: bool) -> None:
    """scikit-learn's domain of the Tweedie deviance, on values (value check)."""
    if 1 <= power < 2:
        _check_values_min(name, "target", target, strict=False, bound=0.0,
                          fix=f"the Tweedie deviance with power={power:g} needs non-negative targets")
    elif power >= 2:
        fix = ("the Gamma deviance needs positive targets: drop the zero rows or use tweedie_deviance_loss with "
               "1 <= power < 2") if power == 2 else f"the Tweedie deviance with power={power:g} needs positive targets"
        _check_values_min(name, "target", target, strict=True, bound=0.0, fix=fix)
    if not log_input and power != 0:
        _check_values_min(name, "input", input, strict=True, bound=0.0,
                          fix="with log_input=False input is the mean itself: make it positive (e.g. exp or "
                              "softplus of the output), or pass the raw score with log_input=True")


def _tweedie_terms(input: Tensor, target: Tensor, power: float, log_input: bool) -> Tensor:
    """The unit deviance ``d(y, mu)``; with ``log_input`` every power of ``mu`` is an ``exp`` of the log-mean."""
    y = target

    def mu_pow(q: float) -> Tensor:
        return torch.exp(q * input) if log_input else input.pow(q)

    if power == 0:
        return (y - mu_pow(1.0)).square()
    if power in (1.0, 2.0):
        log_mu = input if log_input else torch.log(input)
        if power == 1:
            return 2 * (torch.xlogy(y, y) - y * log_mu - y + mu_pow(1.0))
        return 2 * (log_mu - torch.log(y) + y * mu_pow(-1.0) - 1)
    if power < 0:  # targets of any sign: the formula as written
        y_part = y.clamp(min=0).pow(2 - power) / ((1 - power) * (2 - power))
        return 2 * (y_part - y * mu_pow(1 - power) / (1 - power) + mu_pow(2 - power) / (2 - power))
    # p > 1: the same deviance as 2 (y (y^q - mu^q) / q - (y^(q+1) - mu^(q+1)) / (q+1)), q = 1 - p, with
    # y^k - mu^k = mu^k expm1(k log(y / mu)): no large terms that cancel near p = 1 or p = 2 (float32-exact)
    q = 1.0 - power
    log_mu = input if log_input else torch.log(input)
    pos = y > 0
    r = torch.where(pos, torch.log(torch.where(pos, y, torch.ones_like(y))) - log_mu, torch.zeros_like(log_mu))
    a = y * torch.exp(q * log_mu) * torch.expm1(q * r) / q
    mu_q1 = torch.exp((q + 1) * log_mu)
    b = torch.where(pos, mu_q1 * torch.expm1((q + 1) * r), -mu_q1) / (q + 1)
    return 2 * (a - b)


@mixed_precision
def tweedie_deviance_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    power: float = 1.5,
    log_input: bool = True,
    reduction: str = "mean",
) -> Tensor:
    r"""Tweedie deviance: the loss of a generalised linear model whose variance grows as :math:`\mu^p` (insurance
    claims, rainfall, counts with many zeros).

    With the predicted mean :math:`\mu_i` (:math:`\mu_i = e^{x_i}` for ``log_input=True``, the default, else
    :math:`\mu_i = x_i`):

    .. math::
        \ell_i = 2 \left( \frac{\max(y_i, 0)^{2-p}}{(1-p)(2-p)} - \frac{y_i\, \mu_i^{1-p}}{1-p}
            + \frac{\mu_i^{2-p}}{2-p} \right)

    and its limits: :math:`p = 0`: :math:`(y - \mu)^2`; :math:`p = 1` (Poisson): :math:`2 (y \log(y / \mu) - y +
    \mu)`; :math:`p = 2` (Gamma): :math:`2 (\log(\mu / y) + y / \mu - 1)`. These are scikit-learn's
    ``mean_tweedie_deviance(y, mu, power=p)`` terms, and the weighted mean is its ``sample_weight`` average:
    ``tweedie_deviance_loss(mu.log(), y, w, power=p)`` equals ``mean_tweedie_deviance(y, mu, sample_weight=w,
    power=p)``.

    **The input is the log-mean by default**, as in LightGBM's ``objective="tweedie"`` (its raw score is
    :math:`\log \mu`) and torch's ``PoissonNLLLoss(log_input=True)``: a network's unconstrained output is the
    log-mean, every power of :math:`\mu` is computed as :math:`e^{q x}` (no log of a non-positive value), and the
    gradient in the raw score is :math:`2(\mu^{2-p} - y \mu^{1-p})`, twice LightGBM's tweedie gradient (its
    per-row objective is half this deviance minus a term in :math:`y` alone). Pass ``log_input=False`` when
    ``input`` is the mean :math:`\mu > 0` itself (scikit-learn's ``y_pred``).

    Domains (scikit-learn's): :math:`p < 0`: any target, :math:`\mu > 0`; :math:`p = 0`: any; :math:`1 \le p < 2`:
    :math:`y \ge 0`; :math:`p \ge 2`: :math:`y > 0`; no distribution has :math:`0 < p < 1`.

    Args:
        input: the log-mean (default) or the mean, any shape, floating dtype.
        target: observations, same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        power: the Tweedie power :math:`p` (default 1.5, LightGBM's ``tweedie_variance_power``; scikit-learn's
            default is 0).
        log_input: whether ``input`` is :math:`\log \mu` (default ``True``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``, ``weight``: :math:`(*)`, all the same. Output: scalar, or :math:`(*)` for
        ``"none"``.

    Raises:
        LossOptionError: ``0 < power < 1``, a non-finite ``power``, a non-bool ``log_input``.
        LossValueError: a negative target for :math:`1 \le p < 2`, a target <= 0 for :math:`p \ge 2`, a mean
            <= 0 with ``log_input=False`` and :math:`p \ne 0` (value checks).
        LossShapeError, LossTypeError, NonFiniteError: as :func:`~losskit.functional.mse_loss`.

    References:
        Jørgensen, B. "Exponential dispersion models", 1987; Tweedie, M. C. K. "An index which distinguishes
        between some important exponential families", 1984.

    Example:
        >>> import torch, losskit.functional as LF
        >>> mu, y = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 3.0])
        >>> print(round(float(LF.tweedie_deviance_loss(mu.log(), y, power=1.5)), 4))
        2.1429
    """
    name = "tweedie_deviance_loss"
    power = _check_power(name, power)
    log_input = _check_flag(name, "log_input", log_input)
    _checked(name, input, target, weight, reduction,
             values=lambda: _tweedie_domain(name, input, target, power, log_input))
    return reduce_loss(_tweedie_terms(input, target, power, log_input), reduction, weight=weight)


@mixed_precision
def gamma_deviance_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    log_input: bool = True,
    reduction: str = "mean",
) -> Tensor:
    r"""Gamma deviance: a scale-free loss for positive targets (:func:`tweedie_deviance_loss` at ``power=2``).

    .. math::
        \ell_i = 2 \left( \log \frac{\mu_i}{y_i} + \frac{y_i}{\mu_i} - 1 \right)

    with :math:`\mu_i = e^{x_i}` for ``log_input=True`` (default; then :math:`\ell_i = 2(x_i - \log y_i + y_i
    e^{-x_i} - 1)`) or :math:`\mu_i = x_i > 0`. It depends on the ratio :math:`y / \mu` only, so every order of
    magnitude of the target weighs the same. scikit-learn's ``mean_gamma_deviance(y, mu, sample_weight=w)`` equals
    ``gamma_deviance_loss(mu.log(), y, w)``; LightGBM's ``objective="gamma"`` works on the same raw score
    :math:`\log \mu`.

    Args:
        input: the log-mean (default) or the mean, any shape, floating dtype.
        target: positive observations, same shape.
        weight: optional per-element weights of the same shape (default ``None``).
        log_input: whether ``input`` is :math:`\log \mu` (default ``True``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        As :func:`tweedie_deviance_loss`.

    Raises:
        LossOptionError: a non-bool ``log_input``.
        LossValueError: a target <= 0; a mean <= 0 with ``log_input=False`` (value checks).
        LossShapeError, LossTypeError, NonFiniteError: as :func:`~losskit.functional.mse_loss`.

    References:
        McCullagh, P., Nelder, J. A. "Generalized Linear Models", 2nd ed., 1989 (Section 8, the Gamma deviance).

    Example:
        >>> import torch, losskit.functional as LF
        >>> mu, y = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 3.0])
        >>> print(round(float(LF.gamma_deviance_loss(mu.log(), y)), 4))
        0.4014
    """
    name = "gamma_deviance_loss"
    log_input = _check_flag(name, "log_input", log_input)
    _checked(name, input, target, weight, reduction,
             values=lambda: _tweedie_domain(name, input, target, 2.0, log_input))
    return reduce_loss(_tweedie_terms(input, target, 2.0, log_input), reduction, weight=weight)
