"""Golden values, peer agreement (scikit-learn, Keras) and edge cases of log-cosh, quantile, Charbonnier, MSLE and
MAPE (the generic tests cover reductions, references, gradcheck, Module == functional, compile and errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mean_absolute_percentage_error, mean_pinball_loss, mean_squared_log_error

import losskit as lk
import losskit.functional as LF

F64 = {"dtype": torch.float64}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


# --------------------------------------------------------------------------------------------
# scikit-learn agreement
# --------------------------------------------------------------------------------------------
def test_msle_equals_sklearn():
    y, x, w = torch.rand(20, **F64) * 5, torch.rand(20, **F64) * 5, torch.rand(20, **F64)
    assert float(LF.msle_loss(x, y)) == pytest.approx(mean_squared_log_error(_np(y), _np(x)), rel=1e-12)
    assert float(LF.msle_loss(x, y, w)) == pytest.approx(
        mean_squared_log_error(_np(y), _np(x), sample_weight=_np(w)), rel=1e-12
    )
    # scikit-learn's docstring example: y_true [3, 5, 2.5, 7], y_pred [2.5, 5, 4, 8] -> 0.039...
    golden = LF.msle_loss(torch.tensor([2.5, 5, 4, 8], **F64), torch.tensor([3, 5, 2.5, 7], **F64))
    assert 0.039 <= float(golden) < 0.040


def test_mape_equals_sklearn_including_zero_targets():
    # scikit-learn floors |y_true| at float64 machine epsilon, losskit's default eps: equal even where y = 0
    y = torch.tensor([0.0, 1.5, -2.0, 10.0, 0.0, -0.3], **F64)
    x = torch.tensor([0.1, 1.0, -2.5, 12.0, -1e-15, 0.3], **F64)
    w = torch.tensor([0.5, 1.0, 2.0, 0.0, 1.0, 3.0], **F64)
    assert float(LF.mape_loss(x, y)) == pytest.approx(mean_absolute_percentage_error(_np(y), _np(x)), rel=1e-12)
    assert float(LF.mape_loss(x, y, w)) == pytest.approx(
        mean_absolute_percentage_error(_np(y), _np(x), sample_weight=_np(w)), rel=1e-12
    )
    # scikit-learn's docstring example: y_true [3, -0.5, 2, 7], y_pred [2.5, 0.0, 2, 8] -> 0.3273...
    golden = LF.mape_loss(torch.tensor([2.5, 0.0, 2, 8], **F64), torch.tensor([3, -0.5, 2, 7], **F64))
    assert float(golden) == pytest.approx(0.3273809523809524, rel=1e-12)


@pytest.mark.parametrize("tau", [0.1, 0.5, 0.83])
def test_pinball_equals_sklearn(tau):
    y, x, w = torch.randn(15, **F64), torch.randn(15, **F64), torch.rand(15, **F64)
    assert float(LF.quantile_loss(x, y, quantiles=tau)) == pytest.approx(
        mean_pinball_loss(_np(y), _np(x), alpha=tau), rel=1e-12
    )
    assert float(LF.quantile_loss(x, y, w, quantiles=tau)) == pytest.approx(
        mean_pinball_loss(_np(y), _np(x), alpha=tau, sample_weight=_np(w)), rel=1e-12
    )


def test_several_quantiles_are_per_column_pinball():
    taus = (0.05, 0.5, 0.95)
    y, x, w = torch.randn(12, **F64), torch.randn(12, 3, **F64), torch.rand(12, **F64)
    none = LF.quantile_loss(x, y, quantiles=taus, reduction="none")
    assert none.shape == (12, 3)
    per_column = [mean_pinball_loss(_np(y), _np(x[:, k]), alpha=tau) for k, tau in enumerate(taus)]
    torch.testing.assert_close(none.mean(0), torch.tensor(per_column, **F64))
    # "mean" averages over targets and quantiles; a per-target weight is shared by its quantiles
    assert float(LF.quantile_loss(x, y, quantiles=taus)) == pytest.approx(np.mean(per_column), rel=1e-12)
    weighted = [mean_pinball_loss(_np(y), _np(x[:, k]), alpha=t, sample_weight=_np(w)) for k, t in enumerate(taus)]
    assert float(LF.quantile_loss(x, y, w, quantiles=taus)) == pytest.approx(np.mean(weighted), rel=1e-12)


def test_median_quantile_is_half_l1():
    x, y = torch.randn(5, 4, **F64), torch.randn(5, 4, **F64)
    torch.testing.assert_close(LF.quantile_loss(x, y, quantiles=0.5), 0.5 * LF.l1_loss(x, y))


# --------------------------------------------------------------------------------------------
# log-cosh
# --------------------------------------------------------------------------------------------
def test_log_cosh_keras_golden():
    # keras.losses.LogCosh docstring: y_true [[0., 1.], [0., 0.]], y_pred [[1., 1.], [0., 0.]] -> 0.108
    x = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    y = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    assert float(LF.log_cosh_loss(x, y)) == pytest.approx(0.108, abs=5e-4)
    # by hand: log(cosh(1)) / 4 = 0.43378083 / 4
    assert float(LF.log_cosh_loss(x.double(), y.double())) == pytest.approx(math.log(math.cosh(1.0)) / 4, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_log_cosh_large_and_tiny_errors(dtype):
    # no overflow at 1e4 (cosh(1e4) is inf in both dtypes): log cosh(d) = |d| - log 2 there, gradient tanh = ±1
    x = torch.tensor([1e4, -1e4, 3e38 if dtype == torch.float32 else 1e300], dtype=dtype, requires_grad=True)
    out = LF.log_cosh_loss(x, torch.zeros_like(x), reduction="none")
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert float(out[0].detach()) == pytest.approx(1e4 - math.log(2), rel=1e-6)
    torch.testing.assert_close(x.grad, torch.tensor([1.0, -1.0, 1.0], dtype=dtype))
    # near 0 the value keeps its relative precision: log cosh(d) = d^2/2 - d^4/12 + ...
    d = torch.tensor([1e-4, 3e-3], dtype=dtype)
    torch.testing.assert_close(LF.log_cosh_loss(d, torch.zeros_like(d), reduction="none"), d**2 / 2 - d**4 / 12)


# --------------------------------------------------------------------------------------------
# Charbonnier
# --------------------------------------------------------------------------------------------
def test_charbonnier_golden_and_limits():
    # by hand: sqrt(3^2 + 4^2) = 5 (eps = 4); at d = 0 the loss is eps; for eps -> 0 it tends to |d|
    x, y = torch.tensor([3.0, 0.0], **F64), torch.zeros(2, **F64)
    torch.testing.assert_close(LF.charbonnier_loss(x, y, eps=4.0, reduction="none"), torch.tensor([5.0, 4.0], **F64))
    torch.testing.assert_close(LF.charbonnier_loss(x, y, eps=1e-9, reduction="none"), x.abs(), atol=1e-9, rtol=0)


def test_charbonnier_no_overflow_and_smooth_at_zero():
    # hypot: d^2 would overflow float32 at 1e20; the gradient at d = 0 is 0 (not NaN, unlike sqrt(d^2))
    x = torch.tensor([1e20, 0.0, -1e4], requires_grad=True)
    out = LF.charbonnier_loss(x, torch.zeros(3), reduction="none")
    out.sum().backward()
    assert torch.isfinite(out).all() and float(out[0].detach()) == pytest.approx(1e20, rel=1e-6)
    torch.testing.assert_close(x.grad, torch.tensor([1.0, 0.0, -1.0]))


# --------------------------------------------------------------------------------------------
# MSLE, MAPE edge cases
# --------------------------------------------------------------------------------------------
def test_msle_by_hand():
    # by hand: (log(1 + 3) - log(1 + 1))^2 = log(2)^2 = 0.48045301
    out = LF.msle_loss(torch.tensor([3.0], **F64), torch.tensor([1.0], **F64))
    assert float(out) == pytest.approx(math.log(2) ** 2, rel=1e-12)


def test_msle_negative_values_raise_on_first_call_only_by_default():
    x, y = torch.tensor([0.5, -0.2]), torch.tensor([1.0, 1.0])
    with pytest.raises(lk.LossValueError, match=r"^msle_loss: input must be >= 0.*-0\.2"):
        LF.msle_loss(x, y)
    with lk.guard("off"):  # documented: without the check, log1p of values in (-1, 0) is computed as written
        expected = (torch.log1p(x) - torch.log1p(y)).square().mean()
        torch.testing.assert_close(LF.msle_loss(x, y), expected)


def test_mape_zero_target_is_finite_with_finite_gradient():
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([1e4, 0.5, -1e4], dtype=dtype, requires_grad=True)
        y = torch.tensor([0.0, 0.0, 1e4], dtype=dtype, requires_grad=True)
        out = LF.mape_loss(x, y)
        out.backward()
        assert torch.isfinite(out) and torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    # with a larger floor: |0.5 - 0| / max(0, 0.25) = 2
    assert float(LF.mape_loss(torch.tensor([0.5]), torch.tensor([0.0]), eps=0.25)) == 2.0


@pytest.mark.parametrize("fn", [LF.log_cosh_loss, LF.quantile_loss, LF.charbonnier_loss, LF.msle_loss, LF.mape_loss])
def test_extreme_values_finite(fn):
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([1e4, 0.0, 5.0, 1e4], dtype=dtype, requires_grad=True)
        y = torch.tensor([0.0, 1e4, 5.0, 1e4], dtype=dtype)
        out = fn(x, y)
        (grad,) = torch.autograd.grad(out, x)
        assert torch.isfinite(out) and torch.isfinite(grad).all()


# --------------------------------------------------------------------------------------------
# Modules and catalog
# --------------------------------------------------------------------------------------------
def test_modules_validate_options_early():
    with pytest.raises(lk.LossOptionError, match=r"^QuantileLoss: quantiles.*2"):
        lk.QuantileLoss(quantiles=2)
    with pytest.raises(lk.LossOptionError, match=r"^QuantileLoss: quantiles"):
        lk.QuantileLoss(quantiles="0.5")
    with pytest.raises(lk.LossOptionError, match=r"^CharbonnierLoss: eps"):
        lk.CharbonnierLoss(eps=0.0)
    with pytest.raises(lk.LossOptionError, match=r"^MAPELoss: eps"):
        lk.MAPELoss(eps=-1.0)
    assert lk.QuantileLoss(quantiles=[0.1, 0.9]).quantiles == (0.1, 0.9)


def test_catalog_lists_the_regression_extras():
    names = {r.name for r in lk.list_losses("regression")}
    assert {"LogCoshLoss", "QuantileLoss", "CharbonnierLoss", "MSLELoss", "MAPELoss"} <= names
