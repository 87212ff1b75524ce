"""Test-database entries of the regression losses beyond torch.nn: log-cosh, quantile, Charbonnier, MSLE, MAPE.

Each reference is the textbook formula written directly (``log(cosh(d))``, a loop over quantiles with the
two-sided pinball, ``sqrt(d^2 + eps^2)``, ``(log(1 + x) - log(1 + y))^2``, ``|d| / max(|y|, eps)``), reduced by the
documented weighted mean of tests/references.py. scikit-learn's numbers are compared in test_regression_extra.py.
"""

from __future__ import annotations

import torch

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample
from tests.references import weighted_average

F64_EPS = float(torch.finfo(torch.float64).eps)


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _reduce(terms: torch.Tensor, weight: torch.Tensor | None, reduction: str) -> torch.Tensor:
    if weight is not None:
        return weighted_average(terms, weight, reduction)
    return {"none": terms, "sum": terms.sum(), "mean": terms.mean()}[reduction]


def ref_log_cosh_loss(input, target, weight=None, *, reduction="mean"):
    return _reduce(torch.log(torch.cosh(input - target)), weight, reduction)


def ref_quantile_loss(input, target, weight=None, *, quantiles=0.5, reduction="mean"):
    """Koenker & Bassett's check function rho_tau(u) = u (tau - 1[u < 0]) of u = y - x, one quantile at a time."""
    if isinstance(quantiles, float):
        u = target - input
        return _reduce(u * (quantiles - (u < 0).to(u.dtype)), weight, reduction)
    columns = []
    for k, tau in enumerate(quantiles):
        u = target - input[..., k]
        columns.append(u * (tau - (u < 0).to(u.dtype)))
    terms = torch.stack(columns, dim=-1)
    if weight is not None and weight.shape != terms.shape:
        weight = weight.unsqueeze(-1).expand_as(terms)
    return _reduce(terms, weight, reduction)


def ref_charbonnier_loss(input, target, weight=None, *, eps=1e-3, reduction="mean"):
    return _reduce(torch.sqrt((input - target) ** 2 + eps**2), weight, reduction)


def ref_msle_loss(input, target, weight=None, *, reduction="mean"):
    return _reduce((torch.log(1 + input) - torch.log(1 + target)) ** 2, weight, reduction)


def ref_mape_loss(input, target, weight=None, *, eps=F64_EPS, reduction="mean"):
    floor = torch.full_like(target, eps)
    return _reduce((input - target).abs() / torch.maximum(target.abs(), floor), weight, reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _pointwise_samples(extra: dict, *, nonnegative: bool = False, away_from_zero: bool = False):
    def make(dtype: torch.dtype) -> list[Sample]:
        def draw(*shape):
            v = torch.randn(*shape, dtype=dtype) * 2
            if nonnegative:
                v = v.abs()
            if away_from_zero:
                v = v.sign() * (v.abs() + 0.5)
            return v

        x, y, w = draw(6, 5), draw(6, 5), torch.rand(6, 5, dtype=dtype)
        x3, y3 = draw(3, 4, 2), draw(3, 4, 2)
        return [
            Sample((x, y), dict(extra), "2d"),
            Sample((x.t(), y.t()), dict(extra), "non-contiguous"),
            Sample((draw(1)[0], draw(1)[0]), dict(extra), "scalar"),
            Sample((x3, y3), dict(extra), "3d", grad=(0, 1)),
            Sample((x, y, w), dict(extra), "weighted", grad=(0, 1, 2)),
        ]

    return make


def _log_cosh_samples(dtype: torch.dtype) -> list[Sample]:
    samples = _pointwise_samples({})(dtype)
    # across the switch between the two formulas (|d| = 10): cosh(12) is still finite for the reference
    far = torch.tensor([-12.0, -10.5, -9.5, -3.0, 0.2, 9.9, 10.1, 11.0], dtype=dtype)
    samples.insert(1, Sample((far, torch.zeros_like(far)), {}, "errors around |d| = 10", grad=(0, 1)))
    return samples


def _quantile_samples(dtype: torch.dtype) -> list[Sample]:
    x, y = torch.randn(6, 3, dtype=dtype), torch.randn(6, dtype=dtype)
    w_target, w_pred = torch.rand(6, dtype=dtype), torch.rand(6, 3, dtype=dtype)
    x1 = torch.randn(6, 5, dtype=dtype)
    taus = (0.1, 0.5, 0.9)
    return [
        Sample((x1, torch.randn(6, 5, dtype=dtype)), {"quantiles": 0.3}, "one quantile, 2d"),
        Sample((x, y), {"quantiles": taus}, "three quantiles (6, 3) vs (6,)", grad=(0, 1)),
        Sample((torch.randn(3, 6, dtype=dtype).t(), y), {"quantiles": [0.25, 0.5, 0.75]}, "non-contiguous, list"),
        Sample((x, y, w_target), {"quantiles": taus}, "weight per target (6,)", grad=(0, 2)),
        Sample((x1, torch.randn(6, 5, dtype=dtype), torch.rand(6, 5, dtype=dtype)), {"quantiles": 0.9},
               "one quantile, weighted"),
        Sample((torch.randn(2, 4, 1, dtype=dtype), torch.randn(2, 4, dtype=dtype)), {"quantiles": (0.7,)},
               "a sequence of one quantile: trailing dim 1"),
        Sample((x, y, w_pred), {"quantiles": taus}, "weight per prediction (6, 3)", grad=(0, 1, 2)),
    ]


def _mape_samples(dtype: torch.dtype) -> list[Sample]:
    samples = _pointwise_samples({}, away_from_zero=True)(dtype)
    y = torch.tensor([0.0, 2.0, -1.0, 0.0], dtype=dtype)
    # a zero target: the eps floor makes it finite (huge); no target gradient there (|y| is not differentiable)
    samples.insert(1, Sample((torch.tensor([0.5, 1.0, -2.0, -3e-16], dtype=dtype), y), {}, "zero targets"))
    # |target| >= 0.5 here, so a floor of 0.7 is active on part of the elements
    samples.insert(2, Sample(samples[0].args, {"eps": 0.7}, "eps=0.7 above some |target|", grad=(0, 1)))
    return samples


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def _pointwise_errors() -> list[ErrorCase]:
    return [
        ErrorCase("broadcast (N,1) vs (N,)", lambda: ((torch.rand(8, 1), torch.rand(8)), {}), lk.LossShapeError,
                  match=r"\(8, 1\).*\(8,\).*broadcast"),
        ErrorCase("integer predictions", lambda: ((torch.tensor([1, 2]), torch.tensor([1.0, 2.0])), {}),
                  lk.LossTypeError, match="torch.int64"),
        ErrorCase("nan target", lambda: ((torch.rand(4), torch.tensor([0.0, float("nan"), 1.0, 2.0])), {}),
                  lk.NonFiniteError, match="target.*1 NaN"),
        ErrorCase("inf input", lambda: ((torch.tensor([float("inf"), 0.0]), torch.ones(2)), {}),
                  lk.NonFiniteError, match="input.*1 infinite"),
        ErrorCase("bad reduction", lambda: ((torch.rand(3), torch.rand(3)), {"reduction": "avg"}),
                  lk.LossOptionError, match="'avg'"),
        ErrorCase("weight shape", lambda: ((torch.rand(4, 3), torch.rand(4, 3), torch.rand(3)), {}),
                  lk.LossShapeError, match=r"weight.*\(3,\)"),
        ErrorCase("negative weight", lambda: ((torch.rand(3), torch.rand(3), torch.tensor([1.0, -1.0, 1.0])), {}),
                  lk.LossValueError, match="-1"),
        ErrorCase("devices differ", lambda: ((torch.rand(3), torch.rand(3, device="meta")), {}),
                  lk.LossDeviceError, match="meta"),
    ]


def _eps_errors() -> list[ErrorCase]:
    return [
        ErrorCase("eps = 0", lambda: ((torch.rand(3), torch.rand(3)), {"eps": 0.0}), lk.LossOptionError,
                  match=r"eps.*> 0.*0\.0"),
    ]


def _msle_errors() -> list[ErrorCase]:
    return [
        *_pointwise_errors(),
        ErrorCase("negative prediction", lambda: ((torch.tensor([1.0, -0.5]), torch.tensor([1.0, 2.0])), {}),
                  lk.LossValueError, match=r"input must be >= 0.*-0\.5.*softplus"),
        ErrorCase("negative target", lambda: ((torch.tensor([1.0, 0.5]), torch.tensor([-2.0, 2.0])), {}),
                  lk.LossValueError, match=r"target must be >= 0.*-2"),
    ]


def _quantile_errors() -> list[ErrorCase]:
    taus = {"quantiles": (0.1, 0.5, 0.9)}
    return [
        *_pointwise_errors(),
        ErrorCase("quantile of 1.5", lambda: ((torch.rand(3), torch.rand(3)), {"quantiles": 1.5}),
                  lk.LossOptionError, match=r"quantiles.*1\.5"),
        ErrorCase("empty quantile list", lambda: ((torch.rand(3), torch.rand(3)), {"quantiles": []}),
                  lk.LossOptionError, match=r"quantiles.*\[\]"),
        ErrorCase("one quantile outside (0, 1) in a list", lambda: ((torch.rand(3, 2), torch.rand(3)),
                                                                   {"quantiles": (0.5, 1.0)}),
                  lk.LossOptionError, match=r"\(0\.5, 1\.0\)"),
        ErrorCase("no quantile dim on input", lambda: ((torch.rand(6), torch.rand(6)), taus), lk.LossShapeError,
                  match=r"\(6, 3\).*3 quantiles.*but got \(6,\)"),
        ErrorCase("(N, 1) target with several quantiles", lambda: ((torch.rand(6, 3), torch.rand(6, 1)), taus),
                  lk.LossShapeError, match=r"\(6, 1, 3\).*but got \(6, 3\).*squeeze"),
        ErrorCase("weight of neither shape", lambda: ((torch.rand(6, 3), torch.rand(6), torch.rand(3)), taus),
                  lk.LossShapeError, match=r"weight.*\(6, 3\).*\(6,\).*but got \(3,\)"),
        ErrorCase("NaN input with several quantiles", lambda: ((torch.tensor([[float("nan"), 0.0]]),
                                                                torch.zeros(1)), {"quantiles": (0.2, 0.8)}),
                  lk.NonFiniteError, match="input.*1 NaN"),
    ]


def _empty():
    return (torch.zeros(0, 3), torch.zeros(0, 3)), {}


def _all_zero_weight():
    return (torch.rand(4), torch.rand(4), torch.zeros(4)), {}


def _empty_quantiles():
    return (torch.zeros(0, 3), torch.zeros(0)), {"quantiles": (0.1, 0.5, 0.9)}


ENTRIES = [
    LossEntry(LF.log_cosh_loss, lk.LogCoshLoss, _log_cosh_samples, ref_log_cosh_loss, errors=_pointwise_errors(),
              empty=_empty,
              precision_samples=("weighted",)),
    LossEntry(LF.quantile_loss, lk.QuantileLoss, _quantile_samples, ref_quantile_loss, errors=_quantile_errors(),
              empty=_empty_quantiles,
              precision_samples=("one quantile, weighted",)),
    LossEntry(LF.charbonnier_loss, lk.CharbonnierLoss, _pointwise_samples({"eps": 0.5}), ref_charbonnier_loss,
              errors=[*_pointwise_errors(), *_eps_errors()], empty=_all_zero_weight,
              precision_samples=("weighted",)),
    LossEntry(LF.msle_loss, lk.MSLELoss, _pointwise_samples({}, nonnegative=True), ref_msle_loss,
              errors=_msle_errors(), empty=_empty,
              precision_samples=("weighted",)),
    LossEntry(LF.mape_loss, lk.MAPELoss, _mape_samples, ref_mape_loss, errors=[*_pointwise_errors(), *_eps_errors()],
              empty=_all_zero_weight,
              precision_samples=("weighted",)),
]
