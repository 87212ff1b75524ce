"""Test-database entries of the imaging losses: SSIM, MS-SSIM, PSNR, total variation.

Each reference is written from the definition, not from losskit's code: SSIM with the 2-D Gaussian window (the outer
product of the 1-D one) applied to every window of the image taken with ``unfold`` (losskit filters separably with
``conv2d``), the reflected border built by index arithmetic; MS-SSIM as a product of powers over a pyramid built by
averaging pixel pairs; PSNR one image at a time; total variation with ``torch.diff``. kornia's numbers and the golden
values are in tests/test_imaging.py.
"""

from __future__ import annotations

import math

import torch

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample

MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _reduce(terms: torch.Tensor, reduction: str) -> torch.Tensor:
    return {"none": terms, "sum": terms.sum(), "mean": terms.mean()}[reduction]


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------
def _reflect_index(n: int, r: int) -> list[int]:
    """Indices of a reflect-padded axis of length n (the edge pixel is not repeated): -1 -> 1, n -> n - 2."""
    return [-i if i < 0 else (2 * (n - 1) - i if i > n - 1 else i) for i in range(-r, n + r)]


def ref_ssim_map(x, y, *, max_val=1.0, window_size=11, sigma=1.5, k1=0.01, k2=0.03, padding="same", eps=0.0,
                 cs_only=False):
    r = window_size // 2
    g = torch.tensor([math.exp(-((i - r) ** 2) / (2 * sigma**2)) for i in range(window_size)], dtype=x.dtype)
    kernel = torch.outer(g, g) / g.sum() ** 2
    if padding == "same":
        rows, cols = _reflect_index(x.shape[-2], r), _reflect_index(x.shape[-1], r)
        x, y = (t[..., rows, :][..., :, cols] for t in (x, y))

    def local_mean(t):
        windows = t.unfold(-2, window_size, 1).unfold(-2, window_size, 1)  # (B, C, H', W', k, k)
        return (windows * kernel).sum((-2, -1))

    mx, my = local_mean(x), local_mean(y)
    vx, vy, cxy = local_mean(x * x) - mx**2, local_mean(y * y) - my**2, local_mean(x * y) - mx * my
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    cs = (2 * cxy + c2) / (vx + vy + c2)
    if cs_only:
        return cs
    return (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2) + eps)


def ref_ssim_loss(input, target, *, reduction="mean", **options):
    return _reduce((1 - ref_ssim_map(input, target, **options)) / 2, reduction)


def _halve(t: torch.Tensor) -> torch.Tensor:
    """Average pixel pairs along both axes; an odd axis gets one zero pixel on each side first."""
    for dim in (-2, -1):
        n = t.shape[dim]
        if n % 2:
            zero = torch.zeros_like(t.narrow(dim, 0, 1))
            t = torch.cat([zero, t, zero], dim)
        n2 = t.shape[dim] // 2
        t = t.narrow(dim, 0, 2 * n2)
        t = (t.narrow(dim, 0, 2 * n2).unfold(dim if dim >= 0 else t.dim() + dim, 2, 2).sum(-1)) / 2
    return t


def ref_ms_ssim_loss(input, target, *, weights=MS_WEIGHTS, padding="valid", reduction="mean", **options):
    options["padding"] = padding
    value = torch.ones(input.shape[:2], dtype=input.dtype)
    x, y = input, target
    for j, w in enumerate(weights):
        last = j == len(weights) - 1
        m = ref_ssim_map(x, y, cs_only=not last, **options).mean((-2, -1))
        value = value * torch.clamp(m, min=1e-6) ** w
        x, y = _halve(x), _halve(y)
    return _reduce(1 - value, reduction)


def ref_psnr_loss(input, target, *, max_val=1.0, per_image=True, reduction="mean"):
    if not per_image:
        return _reduce(-10 * torch.log10(max_val**2 / ((input - target) ** 2).mean()), reduction)
    terms = torch.stack([-10 * torch.log10(max_val**2 / ((a - b) ** 2).mean()) for a, b in zip(input, target)])
    return _reduce(terms, reduction)


def ref_total_variation_loss(input, *, normalized=False, reduction="mean"):
    dy, dx = torch.diff(input, dim=-2).abs(), torch.diff(input, dim=-1).abs()
    if normalized:
        h, w = input.shape[-2:]
        terms = dy.sum((-2, -1)) / max((h - 1) * w, 1) + dx.sum((-2, -1)) / max(h * (w - 1), 1)
    else:
        terms = dy.sum((-2, -1)) + dx.sum((-2, -1))
    return _reduce(terms, reduction)


# --------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------
def _pair(shape, dtype, noise=0.15):
    y = torch.rand(*shape, dtype=dtype)
    return y + noise * torch.randn(*shape, dtype=dtype), y


def _ssim_samples(dtype: torch.dtype) -> list[Sample]:
    x, y = _pair((1, 2, 8, 8), dtype)
    x2, y2 = _pair((2, 3, 12, 11), dtype)
    return [
        Sample((x, y), {"window_size": 5}, "(1, 2, 8, 8), window 5", grad=(0, 1)),
        Sample((x2, y2), {"window_size": 7}, "(2, 3, 12, 11), window 7"),
        Sample((x2, y2), {"window_size": 5, "padding": "valid", "sigma": 1.0}, "valid, sigma=1"),
        Sample((x2 * 255, y2 * 255), {"window_size": 3, "max_val": 255.0, "eps": 1e-12}, "8-bit range, eps"),
        Sample((x2.transpose(-1, -2), y2.transpose(-1, -2)), {"window_size": 5, "k1": 0.02, "k2": 0.05},
               "non-contiguous, k1/k2"),
        Sample((y, y.flip(-1)), {"window_size": 3}, "default-size window too big: window 3, mirrored target"),
        Sample((x[:, :1], y[:, :1]), {"window_size": 5, "padding": "valid"}, "(1, 1, 8, 8) valid", grad=(0, 1)),
    ]


def _ms_ssim_samples(dtype: torch.dtype) -> list[Sample]:
    x, y = _pair((1, 2, 12, 12), dtype)
    x2, y2 = _pair((2, 1, 26, 27), dtype)
    return [
        Sample((x, y), {"window_size": 3, "weights": (0.3, 0.3, 0.4)}, "(1, 2, 12, 12), 3 scales", grad=(0, 1)),
        Sample((x2, y2), {"window_size": 3, "weights": (0.2, 0.5, 0.3)}, "odd sides, 3 scales"),
        Sample((x2, y2), {"window_size": 3, "weights": (0.5, 0.5), "padding": "same"}, "same padding"),
        Sample(_pair((1, 1, 48, 48), dtype, noise=0.3), {"window_size": 3}, "Wang's 5 weights, (1, 1, 48, 48)"),
        Sample((x2 * 255, y2 * 255), {"window_size": 5, "max_val": 255.0, "weights": (0.5, 0.5)}, "8-bit range"),
        Sample((x[:, :1], y[:, :1]), {"window_size": 5, "weights": (0.6, 0.4)}, "(1, 1, 12, 12), 2 scales"),
    ]


def _psnr_samples(dtype: torch.dtype) -> list[Sample]:
    x, y = _pair((4, 3, 5, 5), dtype)
    return [
        Sample((x, y), {}, "(4, 3, 5, 5)", grad=(0, 1)),
        Sample((x, y), {"per_image": False}, "pooled over the batch (kornia)"),
        Sample((x * 255, y * 255), {"max_val": 255.0}, "8-bit range"),
        Sample((x.flatten(1).t(), y.flatten(1).t()), {}, "(75, 4) non-contiguous"),
        Sample((x[:, 0, 0], y[:, 0, 0]), {}, "(4,) one value per image"),
    ]


def _tv_samples(dtype: torch.dtype) -> list[Sample]:
    x = torch.randn(2, 3, 6, 7, dtype=dtype)
    return [
        Sample((x,), {}, "(2, 3, 6, 7)"),
        Sample((x,), {"normalized": True}, "normalized"),
        Sample((x.transpose(-1, -2),), {}, "non-contiguous"),
        Sample((x[0, 0],), {}, "one (H, W) image"),
        Sample((torch.randn(3, 1, 5, dtype=dtype),), {"normalized": True}, "a single row: H = 1"),
    ]


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def _image_errors(options: dict, *, four_d: bool = True) -> list[ErrorCase]:
    x = torch.rand(1, 1, 16, 16)
    cases = [
        ErrorCase("shapes differ", lambda: ((x, torch.rand(1, 1, 16, 15)), options), lk.LossShapeError,
                  match=r"\(1, 1, 16, 16\).*\(1, 1, 16, 15\)"),
        ErrorCase("integer images", lambda: ((x.mul(255).byte(), x.mul(255).byte()), options), lk.LossTypeError,
                  match=r"torch.uint8.*float"),
        ErrorCase("8-bit target with max_val=1", lambda: ((x * 255, x * 255), options), lk.LossValueError,
                  match=r"max_val=1.*span.*max_val=255"),
        ErrorCase("NaN input", lambda: ((x.clone().index_fill_(3, torch.tensor([2]), float("nan")), x), options),
                  lk.NonFiniteError, match="input.*16 NaN"),
        ErrorCase("max_val 0", lambda: ((x, x), {**options, "max_val": 0}), lk.LossOptionError, match=r"max_val.*> 0"),
        ErrorCase("bad reduction", lambda: ((x, x), {**options, "reduction": "avg"}), lk.LossOptionError,
                  match="'avg'"),
    ]
    if four_d:
        cases += [
            ErrorCase("one image (C, H, W)", lambda: ((x[0], x[0]), options), lk.LossShapeError,
                      match=r"\(B, C, H, W\).*\(1, 16, 16\).*unsqueeze\(0\)"),
            ErrorCase("even window", lambda: ((x, x), {**options, "window_size": 4}), lk.LossOptionError,
                      match=r"window_size must be an odd int.*4"),
            ErrorCase("padding typo", lambda: ((x, x), {**options, "padding": "vaild"}), lk.LossOptionError,
                      match=r"did you mean 'valid'"),
        ]
    return cases


def _ssim_errors() -> list[ErrorCase]:
    return [
        *_image_errors({"window_size": 5}),
        ErrorCase("image smaller than the window", lambda: ((torch.rand(1, 1, 6, 6), torch.rand(1, 1, 6, 6)),
                                                           {"padding": "valid"}),
                  lk.LossShapeError, match=r">= 11.*6x6"),
    ]


def _ms_ssim_errors() -> list[ErrorCase]:
    return [
        *_image_errors({"window_size": 3, "weights": (0.5, 0.5)}),
        ErrorCase("too small for 5 scales", lambda: ((torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)),
                                                     {"window_size": 3}),
                  lk.LossShapeError, match=r">= 48.*5 scales.*32x32.*fewer weights"),
        ErrorCase("negative weight", lambda: ((torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)),
                                              {"window_size": 3, "weights": (0.5, -0.5)}),
                  lk.LossOptionError, match=r"weights.*-0\.5"),
    ]


def _psnr_errors() -> list[ErrorCase]:
    return [
        *_image_errors({}, four_d=False),
        ErrorCase("0-dim", lambda: ((torch.tensor(0.5), torch.tensor(0.2)), {}), lk.LossShapeError,
                  match=r"batch dim.*view\(1\)"),
        ErrorCase("per_image not a bool", lambda: ((torch.rand(2, 3), torch.rand(2, 3)), {"per_image": "yes"}),
                  lk.LossOptionError, match=r"per_image.*'yes'"),
    ]


def _tv_errors() -> list[ErrorCase]:
    return [
        ErrorCase("1-d", lambda: ((torch.rand(5),), {}), lk.LossShapeError, match=r"\(\*, H, W\).*\(5,\)"),
        ErrorCase("integer images", lambda: ((torch.ones(2, 3, dtype=torch.uint8),), {}), lk.LossTypeError,
                  match="torch.uint8"),
        ErrorCase("normalized not a bool", lambda: ((torch.rand(2, 3),), {"normalized": "mean"}), lk.LossOptionError,
                  match=r"normalized.*'mean'"),
        ErrorCase("inf", lambda: ((torch.tensor([[0.0, float("inf")], [1.0, 2.0]]),), {}), lk.NonFiniteError,
                  match="1 infinite"),
    ]


_TOL32 = {"rtol": 1e-4, "atol": 1e-5}
"""float32 local variances are differences of local means of x^2 and x (rounding of order 1e-7 of x^2 in a variance
of order 1e-2): float32 values and gradients agree with the float64-exact reference to about 1e-5."""

ENTRIES = [
    LossEntry(LF.ssim_loss, lk.SSIMLoss, _ssim_samples, ref_ssim_loss, errors=_ssim_errors(),
              empty=lambda: ((torch.zeros(0, 1, 8, 8), torch.zeros(0, 1, 8, 8)), {"window_size": 5}),
              precision_samples=("8-bit range, eps",), tol32=_TOL32),
    LossEntry(LF.ms_ssim_loss, lk.MSSSIMLoss, _ms_ssim_samples, ref_ms_ssim_loss, errors=_ms_ssim_errors(),
              empty=lambda: ((torch.zeros(0, 1, 12, 12), torch.zeros(0, 1, 12, 12)),
                             {"window_size": 3, "weights": (0.5, 0.5)}), tol32=_TOL32),
    LossEntry(LF.psnr_loss, lk.PSNRLoss, _psnr_samples, ref_psnr_loss, errors=_psnr_errors(),
              empty=lambda: ((torch.zeros(0, 4), torch.zeros(0, 4)), {})),
    LossEntry(LF.total_variation_loss, lk.TotalVariationLoss, _tv_samples, ref_total_variation_loss,
              errors=_tv_errors(), empty=lambda: ((torch.zeros(0, 3, 4, 4),), {})),
]
