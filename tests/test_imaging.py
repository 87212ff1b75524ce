"""Golden values and peers of the imaging losses (functional/imaging.py).

Sources: kornia 0.9 (``kornia.losses.ssim_loss``, ``psnr_loss``, ``total_variation``) on values and gradients, float64;
its documented PSNR example (``psnr(ones, 1.2 * ones, 2.) == 20``); by hand for total variation and identical images.
"""

from __future__ import annotations

import math

import pytest
import torch

import losskit as lk
import losskit.functional as LF


def _pair(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(*shape, generator=g, dtype=torch.float64)
    return (y + 0.1 * torch.randn(*shape, generator=g, dtype=torch.float64)).clamp(0, 1), y


def _grads(fn_a, fn_b, x):
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_a, out_b = fn_a(a), fn_b(b)
    g = torch.rand_like(out_a) + 0.5
    out_a.backward(g)
    out_b.backward(g)
    return out_a.detach(), out_b.detach(), a.grad, b.grad


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("window_size", [5, 11])
def test_ssim_equals_kornia(padding, window_size):
    kornia = pytest.importorskip("kornia")
    x, y = _pair((2, 3, 16, 17))
    va, vb, ga, gb = _grads(
        lambda t: LF.ssim_loss(t, y, window_size=window_size, padding=padding, eps=1e-12, reduction="none"),
        lambda t: kornia.losses.ssim_loss(t, y, window_size, padding=padding, reduction="none"), x)
    torch.testing.assert_close(va, vb, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-13)
    # the default eps=0 differs from kornia's 1e-12 by far less than float32 rounding here
    no_eps = LF.ssim_loss(x, y, window_size=window_size, padding=padding, reduction="none")
    assert float((no_eps - va).abs().max()) < 1e-8


def test_psnr_equals_kornia_when_pooled():
    kornia = pytest.importorskip("kornia")
    x, y = _pair((4, 3, 8, 8), seed=1)
    va, vb, ga, gb = _grads(lambda t: LF.psnr_loss(t, y, max_val=1.0, per_image=False),
                            lambda t: kornia.losses.psnr_loss(t, y, 1.0), x)
    torch.testing.assert_close(va, vb, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-14)


def test_psnr_per_image_is_the_mean_of_kornias_per_image_values():
    kornia = pytest.importorskip("kornia")
    x, y = _pair((4, 3, 8, 8), seed=2)
    per_image = torch.stack([kornia.losses.psnr_loss(a, b, 1.0) for a, b in zip(x, y)])
    torch.testing.assert_close(LF.psnr_loss(x, y, reduction="none"), per_image, rtol=1e-13, atol=1e-13)


def test_psnr_golden_from_kornias_docstring():
    ones = torch.ones(1, dtype=torch.float64)
    assert float(LF.psnr_loss(ones, 1.2 * ones, max_val=2.0)) == pytest.approx(-20.0, rel=1e-12)  # kornia: 20 dB


@pytest.mark.parametrize("normalized", [False, True])
def test_total_variation_equals_kornia(normalized):
    kornia = pytest.importorskip("kornia")
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64)
    va, vb, ga, gb = _grads(
        lambda t: LF.total_variation_loss(t, normalized=normalized, reduction="none"),
        lambda t: kornia.losses.total_variation(t, reduction="mean" if normalized else "sum"), x)
    torch.testing.assert_close(va, vb, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ga, gb, rtol=1e-13, atol=1e-13)


def test_total_variation_by_hand():
    img = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]])
    # vertical |2-0| + |2-1| + |0-3| = 6, horizontal |1-0| + |3-1| + |2-2| + |0-2| = 5
    assert float(LF.total_variation_loss(img)) == 11.0
    assert float(LF.total_variation_loss(img, normalized=True)) == pytest.approx(6 / 3 + 5 / 4)


def test_identical_images_give_zero_and_anticorrelated_more_than_half():
    x, _ = _pair((1, 2, 32, 32), seed=3)
    assert float(LF.ssim_loss(x, x.clone())) == pytest.approx(0.0, abs=1e-12)
    assert float(LF.ms_ssim_loss(x, x.clone(), window_size=3, weights=(0.5, 0.3, 0.2))) == pytest.approx(0.0, abs=1e-12)
    assert float(LF.ssim_loss(x, 1 - x)) > 0.5  # negative SSIM: anti-correlated content


def test_ms_ssim_default_pyramid_and_its_weights():
    """Wang et al.'s five weights on a 176 x 176 image (the smallest the default 11-tap 'valid' pyramid takes), and
    one scale with weight 1 equal to the mean SSIM's complement, 2 * ssim_loss."""
    x, y = _pair((1, 1, 176, 176), seed=4)
    value = LF.ms_ssim_loss(x, y)
    assert 0 < float(value) < 1
    one_scale = LF.ms_ssim_loss(x, y, weights=(1.0,))
    torch.testing.assert_close(one_scale, 2 * LF.ssim_loss(x, y, padding="valid"), rtol=1e-12, atol=1e-12)
    with pytest.raises(lk.LossShapeError, match=r">= 176.*5 scales.*175x175"):
        LF.ms_ssim_loss(x[..., :175, :175], y[..., :175, :175])


def test_max_val_guard_names_the_fix():
    x, y = _pair((1, 1, 16, 16), seed=5)
    with pytest.raises(lk.LossValueError, match=r"max_val=1, but its values span \[.*, 2\d\d.*pass max_val=255.0"):
        LF.ssim_loss(x * 255, y * 255)
    torch.testing.assert_close(LF.ssim_loss(x * 255, y * 255, max_val=255.0), LF.ssim_loss(x, y),
                               rtol=1e-10, atol=1e-12)  # SSIM is invariant to scaling pixels and max_val together


def test_psnr_of_8_bit_images():
    x, y = _pair((2, 1, 4, 4), seed=6)
    mse = ((x - y) ** 2).flatten(1).mean(1)
    expected = (10 * torch.log10(mse)).mean()  # -10 log10(1 / mse), max_val = 1
    torch.testing.assert_close(LF.psnr_loss(x * 255, y * 255, max_val=255.0), expected, rtol=1e-12, atol=1e-12)
    assert math.isinf(float(LF.psnr_loss(x, x.clone())))  # identical images: -inf, as in kornia
