"""Test-database entries of the robust and deviance losses: Barron's general loss and its named members (Welsch,
Cauchy, Geman-McClure), Barron's adaptive negative log-likelihood, the Tweedie and Gamma deviances.

Each reference is written from the published formula, not from losskit's code: Barron's rho with ``pow`` (eq. 1 of
the paper) and his closed forms at the special alphas (eqs. 3-7); the partition function by Gauss-Legendre
quadrature on ``x = t / (1 - t)`` (losskit integrates with the trapezoidal rule in ``log x``); the deviances as
scikit-learn documents them, on the mean ``mu = exp(input)``. Golden values and the peers (kornia, scikit-learn)
are in tests/test_robust.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample
from tests.references import weighted_average


def _reduce(terms: torch.Tensor, weight: torch.Tensor | None, reduction: str) -> torch.Tensor:
    if weight is not None:
        return weighted_average(terms, weight, reduction)
    return {"none": terms, "sum": terms.sum(), "mean": terms.mean()}[reduction]


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def barron_rho(d: torch.Tensor, alpha, scale) -> torch.Tensor:
    """Barron (2019), eq. 1 for a generic alpha and eqs. 3-7 at the special ones."""
    z = (d / scale) ** 2
    if not isinstance(alpha, torch.Tensor):
        closed = {2.0: lambda: z / 2, 0.0: lambda: torch.log(z / 2 + 1), -math.inf: lambda: 1 - torch.exp(-z / 2),
                  1.0: lambda: torch.sqrt(z + 1) - 1, -2.0: lambda: 2 * z / (z + 4),
                  math.inf: lambda: torch.exp(z / 2) - 1}
        if float(alpha) in closed:
            return closed[float(alpha)]()
    b = abs(alpha - 2)
    return b / alpha * ((z / b + 1) ** (alpha / 2) - 1)


def ref_general_robust_loss(input, target, weight=None, *, alpha, scale=1.0, reduction="mean"):
    return _reduce(barron_rho(input - target, alpha, scale), weight, reduction)


def ref_welsch_loss(input, target, weight=None, *, scale=1.0, reduction="mean"):
    return _reduce(1 - torch.exp(-0.5 * ((input - target) / scale) ** 2), weight, reduction)


def ref_cauchy_loss(input, target, weight=None, *, scale=1.0, reduction="mean"):
    return _reduce(torch.log(0.5 * ((input - target) / scale) ** 2 + 1), weight, reduction)


def ref_geman_mcclure_loss(input, target, weight=None, *, scale=1.0, reduction="mean"):
    z = ((input - target) / scale) ** 2
    return _reduce(2 * z / (z + 4), weight, reduction)


_T, _W = np.polynomial.legendre.leggauss(3000)


def ref_log_partition(alpha: torch.Tensor) -> torch.Tensor:
    """log of 2 * int_0^inf exp(-rho(x)) dx, with x = t / (1 - t) and 3000 Gauss-Legendre nodes on [0, 1]."""
    t = torch.tensor((_T + 1) / 2, dtype=alpha.dtype)
    w = torch.tensor(_W / 2, dtype=alpha.dtype)
    x = t / (1 - t)
    rho = barron_rho(x, alpha.unsqueeze(-1), 1.0)
    return torch.log(2 * (w * torch.exp(-rho) / (1 - t) ** 2).sum(-1))


def ref_adaptive_robust_loss(input, target, alpha, scale, weight=None, *, reduction="mean"):
    alpha = torch.as_tensor(alpha, dtype=input.dtype)
    scale = torch.as_tensor(scale, dtype=input.dtype)
    terms = barron_rho(input - target, alpha, scale) + torch.log(scale) + ref_log_partition(alpha)
    return _reduce(terms, weight, reduction)


def ref_tweedie_deviance_loss(input, target, weight=None, *, power=1.5, log_input=True, reduction="mean"):
    """scikit-learn's mean_tweedie_deviance terms, written on mu."""
    mu, y, p = (input.exp() if log_input else input), target, power
    if p == 0:
        dev = (y - mu) ** 2
    elif p == 1:
        y_safe = torch.where(y > 0, y, torch.ones_like(y))  # 0 log 0 = 0, without a NaN gradient in the other branch
        dev = 2 * (torch.where(y > 0, y * torch.log(y_safe / mu), torch.zeros_like(y)) - y + mu)
    elif p == 2:
        dev = 2 * (torch.log(mu / y) + y / mu - 1)
    else:
        y_pos = torch.clamp(y, min=0) if p < 0 else y
        dev = 2 * (y_pos ** (2 - p) / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p) + mu ** (2 - p) / (2 - p))
    return _reduce(dev, weight, reduction)


def ref_gamma_deviance_loss(input, target, weight=None, *, log_input=True, reduction="mean"):
    mu = input.exp() if log_input else input
    return _reduce(2 * (torch.log(mu / target) + target / mu - 1), weight, reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _pointwise(extra: dict):
    def make(dtype: torch.dtype) -> list[Sample]:
        x, y, w = torch.randn(6, 5, dtype=dtype) * 2, torch.randn(6, 5, dtype=dtype) * 2, torch.rand(6, 5, dtype=dtype)
        return [
            Sample((x, y), dict(extra), "2d"),
            Sample((x.t(), y.t()), dict(extra), "non-contiguous"),
            Sample((x, y), {**extra, "scale": 0.4}, "scale=0.4", grad=(0, 1)),
            Sample((torch.randn(3, 4, 2, dtype=dtype) * 5, torch.zeros(3, 4, 2, dtype=dtype)), dict(extra),
                   "3d, outliers"),
            Sample((x, y, w), dict(extra), "weighted", grad=(0, 1, 2)),
        ]

    return make


def _general_samples(dtype: torch.dtype) -> list[Sample]:
    x, y, w = torch.randn(6, 4, dtype=dtype) * 2, torch.randn(6, 4, dtype=dtype) * 2, torch.rand(6, 4, dtype=dtype)
    specials = [2.0, 1.0, 0.0, -2.0, -math.inf]
    out = [Sample((x, y), {"alpha": a}, f"alpha={a}", grad=(0, 1)) for a in specials]
    out += [
        Sample((x, y), {"alpha": 0.5, "scale": 0.7}, "alpha=0.5, scale=0.7"),
        Sample((x, y), {"alpha": -5.0}, "alpha=-5"),
        Sample((x * 0.2, y * 0.2), {"alpha": math.inf}, "alpha=+inf, small residuals"),
        Sample((x, y), {"alpha": torch.tensor([0.3, 1.5, -1.0, 3.0], dtype=dtype),
                        "scale": torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=dtype)},
               "tensor alpha and scale per feature"),
        Sample((x, y, w), {"alpha": 1.2, "scale": 2.0}, "weighted", grad=(0, 1, 2)),
    ]
    return out


def _adaptive_samples(dtype: torch.dtype) -> list[Sample]:
    x, y, w = torch.randn(6, 3, dtype=dtype) * 2, torch.randn(6, 3, dtype=dtype), torch.rand(6, 3, dtype=dtype)
    alpha = torch.tensor([0.3, 1.0, 1.9], dtype=dtype)
    scale = torch.tensor([0.5, 1.0, 2.5], dtype=dtype)
    return [
        Sample((x, y, alpha, scale), {}, "(6, 3), alpha and scale per feature", grad=(0, 2, 3)),
        Sample((x.t().contiguous().t(), y, alpha.flip(0), scale), {}, "non-contiguous, other alphas", grad=(0, 1)),
        Sample((x[:, :1] * 4, y[:, :1], alpha[1:2], scale[2:]), {}, "one feature, outliers", grad=(0, 2, 3)),
        Sample((x, y, alpha, scale, w), {}, "weighted", grad=(0, 2, 3)),
    ]


def _tweedie_samples(dtype: torch.dtype) -> list[Sample]:
    f = torch.randn(6, 5, dtype=dtype) * 0.5  # log-means
    counts = torch.poisson(torch.full((6, 5), 1.5, dtype=torch.float64)).to(dtype)  # zeros included
    positive = torch.rand(6, 5, dtype=dtype) * 3 + 0.1
    real = torch.randn(6, 5, dtype=dtype)
    w = torch.rand(6, 5, dtype=dtype)
    return [
        Sample((f, counts), {"power": 1.5}, "power=1.5, zeros in the target"),
        Sample((f, counts), {}, "default power"),
        Sample((f, counts), {"power": 1.0}, "power=1 (Poisson)"),
        Sample((f, positive), {"power": 2.0}, "power=2 (Gamma)", grad=(0, 1)),
        Sample((f, positive), {"power": 3.0}, "power=3 (inverse Gaussian)", grad=(0, 1)),
        Sample((f, real), {"power": 0.0}, "power=0 (normal)", grad=(0, 1)),
        Sample((f, real), {"power": -1.0}, "power=-1, negative targets"),
        Sample((f.exp(), counts), {"power": 1.2, "log_input": False}, "the mean itself, power=1.2"),
        Sample((f.exp(), positive), {"power": 2.0, "log_input": False}, "the mean itself, power=2"),
        Sample((f.t(), counts.t()), {"power": 1.8}, "non-contiguous"),
        Sample((f, counts, w), {"power": 1.5}, "weighted", grad=(0, 2)),
    ]


def _gamma_samples(dtype: torch.dtype) -> list[Sample]:
    f, y = torch.randn(6, 5, dtype=dtype) * 0.5, torch.rand(6, 5, dtype=dtype) * 3 + 0.1
    w = torch.rand(6, 5, dtype=dtype)
    return [
        Sample((f, y), {}, "log-mean", grad=(0, 1)),
        Sample((f.exp(), y), {"log_input": False}, "the mean itself", grad=(0, 1)),
        Sample((f.t(), y.t()), {}, "non-contiguous"),
        Sample((f, y, w), {}, "weighted", grad=(0, 2)),
    ]


def _adaptive_call(sample: Sample) -> tuple[dict, tuple]:
    input, target, alpha, scale, *weight = sample.args
    ctor = {"num_dims": input.shape[-1], "alpha_init": alpha, "scale_init": scale, **sample.kwargs}
    return ctor, (input, target, *weight)


def _general_call(sample: Sample) -> tuple[dict, tuple]:
    return dict(sample.kwargs), sample.args


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def _pointwise_errors(options: dict) -> list[ErrorCase]:
    return [
        ErrorCase("broadcast (N,1) vs (N,)", lambda: ((torch.rand(8, 1), torch.rand(8)), options), lk.LossShapeError,
                  match=r"\(8, 1\).*\(8,\).*broadcast"),
        ErrorCase("integer predictions", lambda: ((torch.tensor([1, 2]), torch.tensor([1.0, 2.0])), options),
                  lk.LossTypeError, match="torch.int64"),
        ErrorCase("nan target", lambda: ((torch.rand(4), torch.tensor([0.0, float("nan"), 1.0, 2.0])), options),
                  lk.NonFiniteError, match="target.*1 NaN"),
        ErrorCase("bad reduction", lambda: ((torch.rand(3), torch.rand(3)), {**options, "reduction": "avg"}),
                  lk.LossOptionError, match="'avg'"),
        ErrorCase("negative weight", lambda: ((torch.rand(3), torch.rand(3), torch.tensor([1.0, -1.0, 1.0])), options),
                  lk.LossValueError, match="-1"),
    ]


def _scale_errors(options: dict) -> list[ErrorCase]:
    return [ErrorCase("scale = 0", lambda: ((torch.rand(3), torch.rand(3)), {**options, "scale": 0.0}),
                      lk.LossOptionError, match=r"scale.*> 0.*0\.0")]


def _general_errors() -> list[ErrorCase]:
    a = {"alpha": 1.0}
    return [
        *_pointwise_errors(a), *_scale_errors(a),
        ErrorCase("alpha NaN", lambda: ((torch.rand(3), torch.rand(3)), {"alpha": float("nan")}), lk.LossOptionError,
                  match=r"alpha.*nan.*Charbonnier"),
        ErrorCase("alpha a string", lambda: ((torch.rand(3), torch.rand(3)), {"alpha": "cauchy"}), lk.LossOptionError,
                  match=r"alpha.*'cauchy'"),
        ErrorCase("alpha per row, not per feature", lambda: ((torch.rand(6, 4), torch.rand(6, 4)),
                                                             {"alpha": torch.rand(6)}),
                  lk.LossShapeError, match=r"alpha must broadcast to input \(6, 4\).*\(6,\).*\(4,\)"),
        ErrorCase("negative tensor scale", lambda: ((torch.rand(2, 2), torch.rand(2, 2)),
                                                    {"alpha": 1.0, "scale": torch.tensor([1.0, -0.5])}),
                  lk.LossValueError, match=r"scale must be > 0.*-0\.5"),
        ErrorCase("NaN tensor alpha", lambda: ((torch.rand(2, 2), torch.rand(2, 2)),
                                               {"alpha": torch.tensor([1.0, float("nan")])}),
                  lk.NonFiniteError, match=r"alpha.*1 NaN"),
    ]


def _adaptive_errors() -> list[ErrorCase]:
    x = torch.rand(4, 2)
    return [
        ErrorCase("alpha < 0", lambda: ((x, x, -1.0, 1.0), {}), lk.LossOptionError,
                  match=r"alpha must be a finite number >= 0.*-1\.0.*general_robust_loss"),
        ErrorCase("negative tensor alpha", lambda: ((x, x, torch.tensor([0.5, -0.1]), 1.0), {}), lk.LossValueError,
                  match=r"alpha must be >= 0.*-0\.1"),
        ErrorCase("scale 0", lambda: ((x, x, 1.0, 0.0), {}), lk.LossOptionError, match=r"scale.*> 0"),
        ErrorCase("alpha of 3 features for 2", lambda: ((x, x, torch.rand(3), 1.0), {}), lk.LossShapeError,
                  match=r"alpha.*\(4, 2\).*\(3,\)"),
        ErrorCase("shapes differ", lambda: ((x, torch.rand(4), 1.0, 1.0), {}), lk.LossShapeError,
                  match=r"\(4, 2\).*\(4,\)"),
        ErrorCase("nan input", lambda: ((torch.tensor([[float("nan"), 1.0]]), torch.zeros(1, 2), 1.0, 1.0), {}),
                  lk.NonFiniteError, match="input.*1 NaN"),
    ]


def _tweedie_errors() -> list[ErrorCase]:
    f = torch.zeros(3)
    return [
        *_pointwise_errors({"power": 1.5}),
        ErrorCase("power 0.5", lambda: ((f, torch.ones(3)), {"power": 0.5}), lk.LossOptionError,
                  match=r"power.*0 < power < 1.*0\.5"),
        ErrorCase("power a string", lambda: ((f, torch.ones(3)), {"power": "poisson"}), lk.LossOptionError,
                  match=r"power.*'poisson'"),
        ErrorCase("negative count", lambda: ((f, torch.tensor([1.0, -2.0, 0.0])), {"power": 1.5}), lk.LossValueError,
                  match=r"target must be >= 0.*-2.*power=1\.5"),
        ErrorCase("zero target at power 3", lambda: ((f, torch.tensor([1.0, 0.0, 2.0])), {"power": 3.0}),
                  lk.LossValueError, match=r"target must be > 0.*minimum of 0"),
        ErrorCase("a mean <= 0 with log_input=False", lambda: ((torch.tensor([1.0, -0.5, 2.0]), torch.ones(3)),
                                                              {"power": 1.5, "log_input": False}),
                  lk.LossValueError, match=r"input must be > 0.*-0\.5.*log_input=True"),
        ErrorCase("log_input not a bool", lambda: ((f, torch.ones(3)), {"log_input": 1}), lk.LossOptionError,
                  match=r"log_input.*1"),
    ]


def _gamma_errors() -> list[ErrorCase]:
    return [
        *_pointwise_errors({}),
        ErrorCase("zero target", lambda: ((torch.zeros(3), torch.tensor([1.0, 0.0, 2.0])), {}), lk.LossValueError,
                  match=r"target must be > 0.*Gamma deviance needs positive targets"),
        ErrorCase("a mean of 0 with log_input=False", lambda: ((torch.tensor([1.0, 0.0]), torch.ones(2)),
                                                              {"log_input": False}),
                  lk.LossValueError, match=r"input must be > 0"),
    ]


def _empty():
    return (torch.zeros(0, 3), torch.zeros(0, 3)), {}


def _empty_general():
    return (torch.zeros(0, 3), torch.zeros(0, 3)), {"alpha": 0.5}


def _empty_adaptive():
    return (torch.zeros(0, 3), torch.zeros(0, 3), torch.full((3,), 1.0), torch.ones(3)), {}


def _all_zero_weight():
    return (torch.rand(4), torch.rand(4) + 0.5, torch.zeros(4)), {}


ENTRIES = [
    LossEntry(LF.general_robust_loss, lk.GeneralRobustLoss, _general_samples, ref_general_robust_loss,
              module_call=_general_call, errors=_general_errors(), empty=_empty_general,
              precision_samples=("weighted", "tensor alpha and scale per feature")),
    LossEntry(LF.welsch_loss, lk.WelschLoss, _pointwise({}), ref_welsch_loss,
              errors=[*_pointwise_errors({}), *_scale_errors({})], empty=_empty, precision_samples=("weighted",)),
    LossEntry(LF.cauchy_loss, lk.CauchyLoss, _pointwise({}), ref_cauchy_loss,
              errors=[*_pointwise_errors({}), *_scale_errors({})], empty=_empty, precision_samples=("weighted",)),
    LossEntry(LF.geman_mcclure_loss, lk.GemanMcClureLoss, _pointwise({}), ref_geman_mcclure_loss,
              errors=[*_pointwise_errors({}), *_scale_errors({})], empty=_all_zero_weight,
              precision_samples=("weighted",)),
    LossEntry(LF.adaptive_robust_loss, lk.AdaptiveRobustLoss, _adaptive_samples, ref_adaptive_robust_loss,
              module_call=_adaptive_call, errors=_adaptive_errors(), empty=_empty_adaptive,
              precision_samples=("weighted",)),
    LossEntry(LF.tweedie_deviance_loss, lk.TweedieDevianceLoss, _tweedie_samples, ref_tweedie_deviance_loss,
              errors=_tweedie_errors(), empty=_empty, precision_samples=("weighted",)),
    LossEntry(LF.gamma_deviance_loss, lk.GammaDevianceLoss, _gamma_samples, ref_gamma_deviance_loss,
              errors=_gamma_errors(), empty=_all_zero_weight, precision_samples=("weighted",)),
]
