"""Modules of the robust and deviance losses; each ``forward`` is one call to :mod:`losskit.functional.robust`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _validation as V
from ..functional import robust as RF
from ._base import Loss

__all__ = [
    "AdaptiveRobustLoss",
    "CauchyLoss",
    "GammaDevianceLoss",
    "GemanMcClureLoss",
    "GeneralRobustLoss",
    "TweedieDevianceLoss",
    "WelschLoss",
]


class GeneralRobustLoss(Loss):
    """Barron's general robust loss (L2, Charbonnier, Cauchy, Geman-McClure, Welsch by alpha); see
    :func:`losskit.functional.general_robust_loss`.

    A tensor ``alpha`` or ``scale`` is a buffer (fixed; for learned ones use :class:`AdaptiveRobustLoss`).

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.GeneralRobustLoss(alpha=0.0)(torch.tensor([0.5, 3.0]), torch.zeros(2))), 4))
        0.9113
    """

    family = "regression"
    functional = staticmethod(RF.general_robust_loss)

    def __init__(self, *, alpha: float | Tensor, scale: float | Tensor = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        RF._check_alpha(type(self).__name__, alpha)
        RF._check_scale_float(type(self).__name__, scale)
        self.alpha: float | Tensor
        self.scale: float | Tensor
        for name, value in (("alpha", alpha), ("scale", scale)):
            if isinstance(value, Tensor):
                self._buffer(name, value)
            else:
                setattr(self, name, float(value))

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.general_robust_loss(input, target, weight, alpha=self.alpha, scale=self.scale,
                                      reduction=self.reduction)


class _FixedAlpha(Loss):
    family = "regression"

    def __init__(self, *, scale: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.scale = V.check_positive(type(self).__name__, "scale", scale)


class WelschLoss(_FixedAlpha):
    """Welsch (Leclerc) loss, 1 - exp(-d^2 / 2c^2), saturating for outliers; see
    :func:`losskit.functional.welsch_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.WelschLoss()(torch.tensor([0.5, 3.0]), torch.zeros(2))), 4))
        0.5532
    """

    functional = staticmethod(RF.welsch_loss)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.welsch_loss(input, target, weight, scale=self.scale, reduction=self.reduction)


class CauchyLoss(_FixedAlpha):
    """Cauchy (Lorentzian) loss, log(d^2 / 2c^2 + 1); see :func:`losskit.functional.cauchy_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.CauchyLoss()(torch.tensor([0.5, 3.0]), torch.zeros(2))), 4))
        0.9113
    """

    functional = staticmethod(RF.cauchy_loss)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.cauchy_loss(input, target, weight, scale=self.scale, reduction=self.reduction)


class GemanMcClureLoss(_FixedAlpha):
    """Geman-McClure loss, 2z / (z + 4) of z = (d / c)^2; see :func:`losskit.functional.geman_mcclure_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> print(round(float(lk.GemanMcClureLoss()(torch.tensor([0.5, 3.0]), torch.zeros(2))), 4))
        0.7511
    """

    functional = staticmethod(RF.geman_mcclure_loss)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.geman_mcclure_loss(input, target, weight, scale=self.scale, reduction=self.reduction)


def _per_dim(name: str, arg: str, value: float | Tensor, num_dims: int) -> Tensor:
    """A float or a ``(num_dims,)`` tensor option as a float64 ``(num_dims,)`` tensor."""
    if isinstance(value, Tensor):
        if value.dim() > 1 or value.numel() not in (1, num_dims) or not value.is_floating_point():
            raise V.LossShapeError(
                f"{name}: {arg} must be a float or a floating tensor of shape ({num_dims},), but got "
                f"{value.dtype} {V.shape_str(value)}; pass one value per dimension"
            )
        return value.detach().double().expand(num_dims).clone()
    if not V.is_number(value):
        raise V.LossOptionError(f"{name}: {arg} must be a number, but got {value!r}; pass e.g. {arg}=1.0")
    return torch.full((num_dims,), float(value), dtype=torch.float64)


class AdaptiveRobustLoss(Loss):
    r"""Barron's adaptive robust loss, with a learned shape alpha and scale per dimension; see
    :func:`losskit.functional.adaptive_robust_loss`.

    The Module holds two Parameters of shape ``(num_dims,)``, ``latent_alpha`` and ``latent_scale`` (give them to the
    optimizer with the model's parameters), mapped as in Barron's code:

    .. math::
        \alpha = \alpha_{lo} + (\alpha_{hi} - \alpha_{lo})\, \sigma(a), \qquad
        c = (c_{init} - c_{lo}) \frac{\mathrm{softplus}(s)}{\log 2} + c_{lo}

    so ``alpha`` stays in ``[alpha_lo, alpha_hi]`` and the scale above ``scale_lo``; ``alpha`` starts at
    ``alpha_init`` (default the middle of the range) and the scale at ``scale_init`` (``latent_scale = 0``).
    ``alpha_lo == alpha_hi`` fixes ``alpha``. The methods ``alpha()`` and ``scale()`` return the current values.
    ``input`` is :math:`(*, D)` with ``D = num_dims`` (one alpha and scale per feature of the last dim); the
    univariate version of Barron's loss (no wavelet/DCT image representation).

    Example:
        >>> import torch, losskit as lk
        >>> loss = lk.AdaptiveRobustLoss(1, alpha_lo=2.0, alpha_hi=2.0)  # alpha fixed at 2, scale 1: Gaussian NLL
        >>> print(round(float(loss(torch.tensor([[0.5], [3.0]]), torch.zeros(2, 1)).detach()), 4))
        3.2314
    """

    family = "regression"
    functional = staticmethod(RF.adaptive_robust_loss)
    _repr_skip = frozenset({"device", "dtype"})

    def __init__(
        self,
        num_dims: int,
        *,
        alpha_lo: float = 0.001,
        alpha_hi: float = 1.999,
        alpha_init: float | Tensor | None = None,
        scale_lo: float = 1e-5,
        scale_init: float | Tensor = 1.0,
        reduction: str = "mean",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(reduction=reduction)
        name = type(self).__name__
        if isinstance(num_dims, bool) or not isinstance(num_dims, int) or num_dims < 1:
            raise V.LossOptionError(f"{name}: num_dims must be an int >= 1, but got {num_dims!r}; pass input.shape[-1]")
        ok = V.is_number(alpha_lo) and V.is_number(alpha_hi) and 0 <= alpha_lo <= alpha_hi < math.inf
        if not ok:
            raise V.LossOptionError(
                f"{name}: alpha_lo and alpha_hi must be finite with 0 <= alpha_lo <= alpha_hi (Barron's distribution "
                f"needs alpha >= 0), but got alpha_lo={alpha_lo!r}, alpha_hi={alpha_hi!r}; pass e.g. alpha_lo=0.001, "
                "alpha_hi=1.999"
            )
        self.num_dims, self.alpha_lo, self.alpha_hi = num_dims, float(alpha_lo), float(alpha_hi)
        self.scale_lo = V.check_positive(name, "scale_lo", scale_lo)
        if dtype is None:
            ref = alpha_init if isinstance(alpha_init, Tensor) else scale_init
            floating = isinstance(ref, Tensor) and ref.dtype in (torch.float32, torch.float64)
            dtype = ref.dtype if floating else torch.get_default_dtype()  # type: ignore[union-attr]
        a0 = _per_dim(name, "alpha_init", (alpha_lo + alpha_hi) / 2 if alpha_init is None else alpha_init, num_dims)
        if self.alpha_lo < self.alpha_hi:
            if not bool(((a0 > alpha_lo) & (a0 < alpha_hi)).all()):
                raise V.LossOptionError(
                    f"{name}: alpha_init must lie strictly inside (alpha_lo, alpha_hi) = ({alpha_lo:g}, {alpha_hi:g}), "
                    f"but got {alpha_init!r}; pass a value inside, or omit it (the middle)"
                )
            u = (a0 - alpha_lo) / (alpha_hi - alpha_lo)
            self.latent_alpha: nn.Parameter | None = nn.Parameter(torch.log(u / (1 - u)).to(device=device, dtype=dtype))
        else:
            self.latent_alpha = None
        c0 = _per_dim(name, "scale_init", scale_init, num_dims)
        if not bool((c0 > scale_lo).all()):
            raise V.LossOptionError(
                f"{name}: scale_init must be > scale_lo={scale_lo:g}, but got {scale_init!r}; pass e.g. scale_init=1.0"
            )
        self.latent_scale = nn.Parameter(torch.zeros(num_dims, device=device, dtype=dtype))
        # the options as given (tensors as buffers); the maps read the float64-derived copies below
        self.alpha_init: float | Tensor | None
        self.scale_init: float | Tensor
        for arg, value in (("alpha_init", alpha_init), ("scale_init", scale_init)):
            if isinstance(value, Tensor):
                self._buffer(arg, value.detach().clone())
            else:
                setattr(self, arg, value if value is None else float(value))
        self.register_buffer("_alpha0", a0.to(device=device, dtype=dtype), persistent=False)
        self.register_buffer("_scale_ref", c0.to(device=device, dtype=dtype), persistent=False)

    def alpha(self) -> Tensor:
        """The current shape parameters, ``(num_dims,)``."""
        if self.latent_alpha is None:
            return self._alpha0
        return self.alpha_lo + (self.alpha_hi - self.alpha_lo) * torch.sigmoid(self.latent_alpha)

    def scale(self) -> Tensor:
        """The current scales, ``(num_dims,)``."""
        return (self._scale_ref - self.scale_lo) * (F.softplus(self.latent_scale) / math.log(2.0)) + self.scale_lo

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.adaptive_robust_loss(input, target, self.alpha(), self.scale(), weight, reduction=self.reduction)


class TweedieDevianceLoss(Loss):
    """Tweedie deviance of a predicted (log-)mean, as scikit-learn and LightGBM define it; see
    :func:`losskit.functional.tweedie_deviance_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> mu, y = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 3.0])
        >>> print(round(float(lk.TweedieDevianceLoss(power=1.5)(mu.log(), y)), 4))
        2.1429
    """

    family = "regression"
    functional = staticmethod(RF.tweedie_deviance_loss)

    def __init__(self, *, power: float = 1.5, log_input: bool = True, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.power = RF._check_power(type(self).__name__, power)
        self.log_input = RF._check_flag(type(self).__name__, "log_input", log_input)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.tweedie_deviance_loss(input, target, weight, power=self.power, log_input=self.log_input,
                                        reduction=self.reduction)


class GammaDevianceLoss(Loss):
    """Gamma deviance of a predicted (log-)mean, for positive targets; see
    :func:`losskit.functional.gamma_deviance_loss`.

    Example:
        >>> import torch, losskit as lk
        >>> mu, y = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 3.0])
        >>> print(round(float(lk.GammaDevianceLoss()(mu.log(), y)), 4))
        0.4014
    """

    family = "regression"
    functional = staticmethod(RF.gamma_deviance_loss)

    def __init__(self, *, log_input: bool = True, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.log_input = RF._check_flag(type(self).__name__, "log_input", log_input)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return RF.gamma_deviance_loss(input, target, weight, log_input=self.log_input, reduction=self.reduction)
