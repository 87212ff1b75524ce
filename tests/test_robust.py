"""Golden values and peers of the robust and deviance losses (functional/robust.py).

Sources: Barron (2019), "A General and Adaptive Robust Loss Function", eqs. 3-7 (the closed forms at the special
alphas) and the normalisers of the Gaussian and Cauchy densities; the Bessel closed form at alpha = 1 (scipy);
kornia's welsch/cauchy/geman_mcclure/charbonnier losses; scikit-learn's mean_tweedie_deviance, mean_gamma_deviance
and mean_poisson_deviance; LightGBM's documented tweedie gradient.
"""

from __future__ import annotations

import math

import pytest
import torch

import losskit as lk
import losskit.functional as LF
from losskit.functional.robust import log_partition

D = torch.tensor([3.0], dtype=torch.float64)
Z = torch.zeros(1, dtype=torch.float64)


@pytest.mark.parametrize(
    ("alpha", "expected"),
    [
        (2.0, 4.5),  # by hand: d^2 / 2
        (1.0, math.sqrt(10.0) - 1),  # by hand: sqrt(d^2 + 1) - 1
        (0.0, math.log(5.5)),  # by hand: log(d^2 / 2 + 1)
        (-2.0, 18.0 / 13.0),  # by hand: 2 d^2 / (d^2 + 4)
        (-math.inf, 1 - math.exp(-4.5)),  # by hand: 1 - exp(-d^2 / 2)
        (math.inf, math.exp(4.5) - 1),  # by hand: exp(d^2 / 2) - 1
        (4.0, 0.5 * ((9 / 2 + 1) ** 2 - 1)),  # eq. 1 at alpha = 4: |a-2|/a ((z/|a-2| + 1)^(a/2) - 1)
    ],
)
def test_barron_closed_forms_at_d_3(alpha, expected):
    out = LF.general_robust_loss(D, Z, alpha=alpha)
    assert float(out) == pytest.approx(expected, rel=1e-14)
    # the same value through a tensor alpha (selected elementwise)
    out_t = LF.general_robust_loss(D, Z, alpha=torch.tensor(alpha, dtype=torch.float64))
    assert float(out_t) == pytest.approx(expected, rel=1e-12)


def test_scale_enters_as_d_over_c():
    assert float(LF.general_robust_loss(D * 2.5, Z, alpha=0.5, scale=2.5)) == pytest.approx(
        float(LF.general_robust_loss(D, Z, alpha=0.5)), rel=1e-14)


@pytest.mark.parametrize(("near", "at"), [(1e-7, 0.0), (-1e-7, 0.0), (2 - 1e-7, 2.0), (2 + 1e-7, 2.0),
                                          (1 + 1e-9, 1.0), (-1e7, -math.inf)])
def test_continuous_with_finite_gradients_near_the_singular_alphas(near, at):
    d = torch.linspace(-20, 20, 41, dtype=torch.float64).requires_grad_(True)
    alpha = torch.tensor(near, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    out = LF.general_robust_loss(d, torch.zeros_like(d), alpha=alpha, scale=scale, reduction="none")
    exact = LF.general_robust_loss(d.detach(), torch.zeros_like(d), alpha=at, scale=1.3, reduction="none")
    torch.testing.assert_close(out.detach(), exact, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    for g in (d.grad, alpha.grad, scale.grad):
        assert torch.isfinite(g).all()


def test_gradients_finite_at_the_special_alphas_in_float32():
    d = (torch.randn(64) * 30).requires_grad_(True)
    alpha = torch.tensor([2.0, 1.0, 0.0, -2.0, -math.inf, math.inf, 0.5, 3.0]).repeat(8).requires_grad_(True)
    LF.general_robust_loss(d, torch.zeros(64), alpha=alpha).backward()
    assert torch.isfinite(d.grad).all() and torch.isfinite(alpha.grad).all()


def test_log_partition_closed_forms():
    scipy_special = pytest.importorskip("scipy.special")
    alpha = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64)
    expected = torch.tensor([
        0.5 * math.log(2 * math.pi),  # the Gaussian normaliser sqrt(2 pi)
        math.log(math.pi * math.sqrt(2)),  # the Cauchy normaliser: int dx / (1 + x^2 / 2) = pi sqrt(2)
        math.log(2 * math.e * scipy_special.k1(1.0)),  # int exp(1 - sqrt(1 + x^2)) dx = 2 e K_1(1)
    ], dtype=torch.float64)
    torch.testing.assert_close(log_partition(alpha), expected, rtol=1e-10, atol=1e-10)


def test_adaptive_at_alpha_2_is_the_gaussian_nll():
    x, y = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    c = 0.7
    gaussian = torch.distributions.Normal(y, c).log_prob(x).neg().mean()
    torch.testing.assert_close(LF.adaptive_robust_loss(x, y, 2.0, c), gaussian, rtol=1e-9, atol=1e-10)


def test_adaptive_module_learns_heavy_tails_and_stays_in_range():
    torch.manual_seed(0)
    residuals = torch.distributions.Cauchy(0.0, 0.5).sample((2000, 1))  # heavy tails: alpha should fall towards 0
    loss = lk.AdaptiveRobustLoss(1)
    assert float(loss.alpha().detach()) == pytest.approx(1.0) and float(loss.scale().detach()) == pytest.approx(1.0)
    opt = torch.optim.Adam(loss.parameters(), lr=0.05)
    first = None
    for _ in range(150):
        opt.zero_grad()
        value = loss(residuals, torch.zeros_like(residuals))
        first = float(value.detach()) if first is None else first
        value.backward()
        opt.step()
    assert float(value.detach()) < first
    assert 0.001 <= float(loss.alpha().detach()) < 0.3
    assert 0.2 < float(loss.scale().detach()) < 1.0


def test_adaptive_module_fixed_alpha_and_repr():
    loss = lk.AdaptiveRobustLoss(3, alpha_lo=1.0, alpha_hi=1.0, scale_init=2.0)
    assert loss.latent_alpha is None and [n for n, _ in loss.named_parameters()] == ["latent_scale"]
    torch.testing.assert_close(loss.alpha(), torch.ones(3))
    assert repr(loss) == "AdaptiveRobustLoss(num_dims=3, alpha_lo=1.0, alpha_hi=1.0, scale_init=2.0)"
    with pytest.raises(lk.LossOptionError, match=r"alpha_init must lie strictly inside.*3\.0"):
        lk.AdaptiveRobustLoss(2, alpha_init=3.0)
    with pytest.raises(lk.LossOptionError, match=r"alpha_lo and alpha_hi.*-1"):
        lk.AdaptiveRobustLoss(2, alpha_lo=-1.0)


# --------------------------------------------------------------------------------------------
# kornia
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ours", "theirs", "alpha"), [
    ("welsch_loss", "welsch_loss", -math.inf), ("cauchy_loss", "cauchy_loss", 0.0),
    ("geman_mcclure_loss", "geman_mcclure_loss", -2.0), (None, "charbonnier_loss", 1.0),
])
def test_kornia_values_and_gradients(ours, theirs, alpha):
    kornia = pytest.importorskip("kornia")
    torch.manual_seed(1)
    x, y = torch.randn(4, 50, dtype=torch.float64) * 3, torch.randn(4, 50, dtype=torch.float64)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    if ours is None:
        mine = LF.general_robust_loss(a, y, alpha=alpha, reduction="none")
    else:
        mine = getattr(LF, ours)(a, y, reduction="none")
        torch.testing.assert_close(mine, LF.general_robust_loss(x, y, alpha=alpha, reduction="none"),
                                   rtol=1e-13, atol=1e-14)
    peer = getattr(kornia.losses, theirs)(b, y, reduction="none")
    torch.testing.assert_close(mine, peer, rtol=1e-13, atol=1e-14)
    g = torch.rand_like(x)
    mine.backward(g)
    peer.backward(g)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------
# scikit-learn and LightGBM
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("power", [0.0, 1.0, 1.2, 1.5, 1.9, 2.0, 3.0, -1.0])
def test_tweedie_equals_scikit_learn(power):
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(2)
    mu = torch.rand(200, generator=g, dtype=torch.float64) * 3 + 0.05
    if power >= 2:
        y = torch.rand(200, generator=g, dtype=torch.float64) * 4 + 0.01
    elif power >= 1:
        y = torch.poisson(mu, generator=g) * 0.8
    else:
        y = torch.randn(200, generator=g, dtype=torch.float64) * 2
    w = torch.rand(200, generator=g, dtype=torch.float64)
    expected = metrics.mean_tweedie_deviance(y.numpy(), mu.numpy(), sample_weight=w.numpy(), power=power)
    for out in (LF.tweedie_deviance_loss(mu.log(), y, w, power=power),
                LF.tweedie_deviance_loss(mu, y, w, power=power, log_input=False)):
        assert float(out) == pytest.approx(expected, rel=1e-10)


def test_gamma_and_poisson_equal_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(3)
    mu = torch.rand(100, generator=g, dtype=torch.float64) * 5 + 0.1
    y = torch.rand(100, generator=g, dtype=torch.float64) * 5 + 0.1
    assert float(LF.gamma_deviance_loss(mu.log(), y)) == pytest.approx(
        metrics.mean_gamma_deviance(y.numpy(), mu.numpy()), rel=1e-12)
    counts = torch.poisson(mu, generator=g)
    assert float(LF.tweedie_deviance_loss(mu.log(), counts, power=1.0)) == pytest.approx(
        metrics.mean_poisson_deviance(counts.numpy(), mu.numpy()), rel=1e-12)


def test_tweedie_gradient_is_twice_lightgbms():
    """LightGBM's tweedie objective (raw score f = log mu): gradient -y exp((1 - p) f) + exp((2 - p) f)."""
    p = 1.5
    f = torch.linspace(-2, 2, 9, dtype=torch.float64).requires_grad_(True)
    y = torch.tensor([0.0, 0.5, 1.0, 2.0, 0.0, 3.0, 1.0, 7.0, 0.2], dtype=torch.float64)
    LF.tweedie_deviance_loss(f, y, power=p, reduction="sum").backward()
    lightgbm_grad = -y * torch.exp((1 - p) * f.detach()) + torch.exp((2 - p) * f.detach())
    torch.testing.assert_close(f.grad, 2 * lightgbm_grad, rtol=1e-12, atol=1e-12)


def test_tweedie_float32_near_power_1_and_2_without_cancellation():
    mu = torch.tensor([1.0, 2.0, 5.0, 40.0])
    y = mu * 1.001
    for power in (1.001, 1.999):
        out = LF.tweedie_deviance_loss(mu.log(), y, power=power, reduction="none")
        ref = LF.tweedie_deviance_loss(mu.double().log(), y.double(), power=power, reduction="none")
        torch.testing.assert_close(out.double(), ref, rtol=1e-3, atol=0.0)
