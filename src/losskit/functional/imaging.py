r"""Image-quality losses for restoration, super-resolution and compression: SSIM, MS-SSIM, PSNR and total variation.

The comparison losses take ``input`` (the prediction) and ``target`` images of one shape, :math:`(B, C, H, W)`
for SSIM and MS-SSIM (any :math:`(B, *)` for PSNR), with pixel values in a data range of width ``max_val``
(``1.0`` for images in ``[0, 1]``, ``255.0`` for 8-bit images): the value check raises when the target spans
more than ``max_val`` (images in ``[0, 255]`` with the default ``max_val=1.0``, which would make SSIM's
constants 255^2 times too small). Pixel values are never rescaled. The conventions follow kornia's losses
(``kornia.losses``), and each function says which option reproduces the other common implementations.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._precision import mixed_precision
from .._reduction import reduce_loss

__all__ = ["ms_ssim_loss", "psnr_loss", "ssim_loss", "total_variation_loss"]

PADDINGS = ("same", "valid")

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""The five scale weights of Wang, Simoncelli and Bovik (2003), finest scale first."""

_MS_FLOOR = 1e-6
"""MS-SSIM raises each scale's mean contrast-structure to a fractional power: values below this floor (negative,
for anti-correlated images) are clamped to it, so the power and its gradient stay finite (pytorch-msssim clamps
them to 0 with ``relu``, whose power has an infinite gradient there)."""


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _check_int(name: str, arg: str, value: object, *, odd: bool = False) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1 and (not odd or value % 2 == 1)
    if not ok:
        what = "an odd int >= 1" if odd else "an int >= 1"
        raise V.LossOptionError(f"{name}: {arg} must be {what}, but got {value!r}; pass e.g. {arg}=11")
    return value  # type: ignore[return-value]


def _check_images(name: str, input: Tensor, target: Tensor, *, ndim: int | None) -> None:
    V.check_tensor(name, "input", input)
    V.check_tensor(name, "target", target)
    V.check_floating(name, "input", input, role="images")
    V.check_floating(name, "target", target, role="images")
    if ndim is not None and input.dim() != ndim:
        fix = "use input.unsqueeze(0) for one image" if input.dim() == ndim - 1 else "reshape the batch to (B, C, H, W)"
        raise V.LossShapeError(
            f"{name}: input must be a batch of images (B, C, H, W), but got shape {V.shape_str(input)}; {fix}"
        )
    V.check_same_shape(name, input, target)
    V.check_same_device(name, input=input, target=target)


def _check_range(name: str, target: Tensor, max_val: float) -> None:
    """The target's values span at most ``max_val`` (value check)."""
    if target.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.aminmax(target.detach()))
    if hi - lo > max_val * (1 + 1e-6):
        fix = "pass max_val=255.0 for 8-bit images" if hi > 1.5 and max_val <= 1.0 else "pass max_val=hi - lo"
        raise V.LossValueError(
            f"{name}: target must lie in a data range of width max_val={max_val:g}, but its values span "
            f"[{lo:g}, {hi:g}]; {fix}, or scale the images to the range"
        )


def _image_checks(name: str, input: Tensor, target: Tensor, max_val: float, *, ndim: int | None, sizes=None) -> None:
    """Metadata checks on every call (guard on), value checks on the guard's schedule."""
    if V.enabled():
        _check_images(name, input, target, ndim=ndim)
        if sizes is not None:
            sizes()
    if V.values_due(name, input, target):
        V.check_finite(name, "input", input)
        V.check_finite(name, "target", target)
        _check_range(name, target, max_val)


def _window_options(name: str, window_size: object, sigma: object, k1: object, k2: object, max_val: object,
                    padding: object) -> tuple[int, float, float, float, float, str]:
    return (
        _check_int(name, "window_size", window_size, odd=True),
        V.check_positive(name, "sigma", sigma),  # type: ignore[arg-type]
        V.check_positive(name, "k1", k1),  # type: ignore[arg-type]
        V.check_positive(name, "k2", k2),  # type: ignore[arg-type]
        V.check_positive(name, "max_val", max_val),  # type: ignore[arg-type]
        V.check_choice(name, "padding", padding, PADDINGS),
    )


def _min_side(name: str, input: Tensor, need: int, why: str, fix: str) -> None:
    h, w = input.shape[-2], input.shape[-1]
    if min(h, w) < need:
        raise V.LossShapeError(
            f"{name}: input height and width must be >= {need} ({why}), but got {h}x{w}; {fix}"
        )


# --------------------------------------------------------------------------------------------
# the Gaussian window and the local moments
# --------------------------------------------------------------------------------------------
def _gaussian(window_size: int, sigma: float, like: Tensor) -> Tensor:
    r"""The sampled 1-D Gaussian :math:`e^{-n^2 / 2\sigma^2}` at the integer offsets of the taps, summing to 1."""
    n = torch.arange(window_size, dtype=like.dtype, device=like.device) - (window_size - 1) / 2
    g = torch.exp(-n.square() / (2 * sigma**2))
    return g / g.sum()


def _blur(x: Tensor, g: Tensor, padding: str) -> Tensor:
    """Depthwise separable Gaussian filter of ``(B, K, H, W)``: ``"same"`` reflects the border (kornia's
    ``filter2d_separable``), ``"valid"`` keeps the positions the window fits in."""
    k, channels = g.numel(), x.shape[1]
    if padding == "same":
        r = k // 2
        x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, g.view(1, 1, 1, k).expand(channels, 1, 1, k), groups=channels)
    return F.conv2d(x, g.view(1, 1, k, 1).expand(channels, 1, k, 1), groups=channels)


def _ssim_maps(input: Tensor, target: Tensor, g: Tensor, padding: str, c1: float, c2: float,
               eps: float) -> tuple[Tensor, Tensor]:
    r"""The SSIM map and the contrast-structure map :math:`(2\sigma_{xy} + C_2) / (\sigma_x^2 + \sigma_y^2 + C_2)`."""
    moments = _blur(torch.cat([input, target, input * input, target * target, input * target], 1), g, padding)
    mu_x, mu_y, xx, yy, xy = moments.chunk(5, dim=1)
    mu_xy, mu_xx, mu_yy = mu_x * mu_y, mu_x.square(), mu_y.square()
    cs_num, cs_den = 2 * (xy - mu_xy) + c2, (xx - mu_xx) + (yy - mu_yy) + c2
    lum_num, lum_den = 2 * mu_xy + c1, mu_xx + mu_yy + c1
    return (lum_num * cs_num) / (lum_den * cs_den + eps), cs_num / cs_den


# --------------------------------------------------------------------------------------------
# SSIM
# --------------------------------------------------------------------------------------------
@mixed_precision
def ssim_loss(
    input: Tensor,
    target: Tensor,
    *,
    max_val: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    padding: str = "same",
    eps: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Structural dissimilarity, :math:`(1 - \mathrm{SSIM}) / 2` per pixel (kornia's ``ssim_loss``).

    With local means :math:`\mu`, variances :math:`\sigma^2` and covariance :math:`\sigma_{xy}` under a Gaussian
    window (per image and channel), :math:`C_1 = (k_1 L)^2`, :math:`C_2 = (k_2 L)^2`, :math:`L` = ``max_val``:

    .. math::
        \mathrm{SSIM}_p = \frac{(2 \mu_x \mu_y + C_1)(2 \sigma_{xy} + C_2)}
            {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2) + \varepsilon}, \qquad
        \ell_p = \frac{1 - \mathrm{SSIM}_p}{2} \in [0, 1]

    The window samples :math:`e^{-n^2 / 2\sigma^2}` at ``window_size`` integer offsets, normalised to sum 1, and is
    applied separably. ``padding="same"`` (default, kornia's) reflects the border and keeps :math:`(H, W)`;
    ``"valid"`` keeps only the positions where the window fits (Wang et al.'s MATLAB code, scikit-image,
    pytorch-msssim, torchmetrics), :math:`(H - 2r, W - 2r)` with :math:`r` = ``window_size // 2``.

    Other implementations: kornia's ``ssim_loss(x, y, window_size, max_val)`` equals this loss with
    ``eps=1e-12`` (kornia adds it to the denominator) and ``sigma=1.5`` (kornia's fixed value); kornia also clamps
    the loss to :math:`[0, 1]`, which only removes rounding. pytorch-msssim's and torchmetrics' ``1 - ssim(x, y,
    data_range=L)`` is ``2 * ssim_loss(x, y, max_val=L, padding="valid")`` (both average SSIM, not half its
    complement; torchmetrics infers ``data_range`` from the data unless it is given).

    Args:
        input: predicted images, :math:`(B, C, H, W)`, floating dtype.
        target: reference images, same shape, spanning at most ``max_val``.
        max_val: the data range :math:`L > 0` (default 1.0; 255.0 for 8-bit images).
        window_size: odd number of taps of the window (default 11).
        sigma: the window's standard deviation in pixels, > 0 (default 1.5).
        k1, k2: the stabilising constants, > 0 (default 0.01 and 0.03).
        padding: ``"same"`` (default) or ``"valid"``.
        eps: added to the denominator, >= 0 (default 0.0; kornia uses 1e-12).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the per-pixel map).

    Shape:
        ``input``, ``target``: :math:`(B, C, H, W)`, with :math:`H, W > r` for ``"same"`` and :math:`\ge`
        ``window_size`` for ``"valid"``. Output: scalar, or the map :math:`(B, C, H, W)` (``"same"``) /
        :math:`(B, C, H - 2r, W - 2r)` (``"valid"``) for ``"none"``.

    Raises:
        LossOptionError: an even or non-positive ``window_size``; ``sigma``, ``k1``, ``k2``, ``max_val`` <= 0;
            ``eps < 0``; an unknown ``padding``.
        LossShapeError: input not 4-D, shapes that differ, images smaller than the window.
        LossValueError: a target spanning more than ``max_val`` (value check).
        LossTypeError: integer images (convert them with ``.float()``; pixel values are not rescaled).
        NonFiniteError: NaN or Inf in an image (value check).

    References:
        Wang, Z., Bovik, A. C., Sheikh, H. R., Simoncelli, E. P. "Image quality assessment: from error visibility
        to structural similarity", IEEE TIP 2004.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.linspace(0, 1, 64).view(1, 1, 8, 8)
        >>> print(round(float(LF.ssim_loss(x, x.flip(-1), window_size=5)), 4))
        0.0256
    """
    name = "ssim_loss"
    window_size, sigma, k1, k2, max_val, padding = _window_options(name, window_size, sigma, k1, k2, max_val, padding)
    eps = V.check_positive(name, "eps", eps, allow_zero=True)
    V.check_reduction(name, reduction)

    def sizes() -> None:
        if padding == "same":
            _min_side(name, input, window_size // 2 + 1, f"reflect padding by window_size // 2 = {window_size // 2}",
                      "pass a smaller window_size")
        else:
            _min_side(name, input, window_size, f"padding='valid' with window_size={window_size}",
                      "pass a smaller window_size or padding='same'")

    _image_checks(name, input, target, max_val, ndim=4, sizes=sizes)
    g = _gaussian(window_size, sigma, input)
    ssim, _ = _ssim_maps(input, target, g, padding, (k1 * max_val) ** 2, (k2 * max_val) ** 2, eps)
    return reduce_loss((1 - ssim) / 2, reduction)


# --------------------------------------------------------------------------------------------
# MS-SSIM
# --------------------------------------------------------------------------------------------
def _check_weights(name: str, weights: object) -> tuple[float, ...]:
    ok = (isinstance(weights, Sequence) and not isinstance(weights, str) and len(weights) > 0
          and all(V.is_number(w) and w >= 0 for w in weights))
    if not ok:
        raise V.LossOptionError(
            f"{name}: weights must be a non-empty sequence of numbers >= 0 (one per scale, finest first), but got "
            f"{weights!r}; pass e.g. weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)"
        )
    return tuple(float(w) for w in weights)  # type: ignore[attr-defined]


@mixed_precision
def ms_ssim_loss(
    input: Tensor,
    target: Tensor,
    *,
    max_val: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
    padding: str = "valid",
    reduction: str = "mean",
) -> Tensor:
    r"""Multi-scale structural dissimilarity, :math:`1 - \mathrm{MS\text{-}SSIM}` per image and channel.

    The images are compared at :math:`M` = ``len(weights)`` scales, each half the size of the previous one
    (2x2 average pooling, the odd side padded by one zero pixel: pytorch-msssim's pyramid). With the mean over
    pixels of the contrast-structure map :math:`\overline{cs}_j` at scale :math:`j` and of the SSIM map at the
    coarsest scale (both as in :func:`ssim_loss`):

    .. math::
        \mathrm{MS\text{-}SSIM} = \overline{\mathrm{SSIM}}_M^{\,w_M} \prod_{j=1}^{M-1} \overline{cs}_j^{\,w_j},
        \qquad \ell_{b,c} = 1 - \mathrm{MS\text{-}SSIM}_{b,c}

    with Wang et al.'s five weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) by default. Means below
    :math:`10^{-6}` are clamped to it before the power (finite gradients). Unlike :func:`ssim_loss` the loss is
    the complement, not half of it: :math:`1 - \mathrm{MS\text{-}SSIM}` is what pytorch-msssim's and torchmetrics'
    users minimise (``1 - ms_ssim(x, y, data_range=L)``). ``padding="valid"`` (default) filters only where the
    window fits, as Wang et al., pytorch-msssim and torchmetrics do; ``"same"`` reflects the border at every scale.
    torchmetrics pools without padding an odd side; the two agree when every scale's side is even.

    kornia's ``MS_SSIMLoss`` is a different loss with the same name: Zhao et al.'s (2017) mix of a full-resolution
    MS-SSIM (one Gaussian per ``sigmas`` entry, no downsampling) and a Gaussian-filtered L1 term, scaled by
    ``compensation=200``; no option here reproduces it.

    Args:
        input: predicted images, :math:`(B, C, H, W)`, floating dtype.
        target: reference images, same shape, spanning at most ``max_val``.
        max_val: the data range :math:`L > 0` (default 1.0).
        window_size: odd number of taps of the window (default 11).
        sigma: the window's standard deviation, > 0 (default 1.5).
        k1, k2: the stabilising constants, > 0 (default 0.01 and 0.03).
        weights: one exponent >= 0 per scale, finest first (default Wang et al.'s five).
        padding: ``"valid"`` (default) or ``"same"``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(B, C, H, W)`; with ``"valid"`` the coarsest scale must still hold the
        window: :math:`\min(H, W) \ge` ``window_size`` :math:`\cdot 2^{M-1}` (176 for the defaults).
        Output: scalar, or :math:`(B, C)` for ``"none"``.

    Raises:
        LossOptionError: bad ``weights``, and as :func:`ssim_loss`.
        LossShapeError: input not 4-D, shapes that differ, images too small for the pyramid.
        LossValueError, LossTypeError, NonFiniteError: as :func:`ssim_loss`.

    References:
        Wang, Z., Simoncelli, E. P., Bovik, A. C. "Multiscale structural similarity for image quality
        assessment", Asilomar 2003.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.linspace(0, 1, 1024).view(1, 1, 32, 32)
        >>> print(round(float(LF.ms_ssim_loss(x, x.flip(-1), window_size=3, weights=(0.5, 0.5))), 4))
        0.0024
    """
    name = "ms_ssim_loss"
    window_size, sigma, k1, k2, max_val, padding = _window_options(name, window_size, sigma, k1, k2, max_val, padding)
    weights = _check_weights(name, weights)
    V.check_reduction(name, reduction)
    levels = len(weights)

    def sizes() -> None:
        need = (window_size if padding == "valid" else window_size // 2 + 1) * 2 ** (levels - 1)
        _min_side(name, input, need, f"{levels} scales, the coarsest still holding window_size={window_size}",
                  "pass fewer weights (scales) or a smaller window_size")

    _image_checks(name, input, target, max_val, ndim=4, sizes=sizes)
    g = _gaussian(window_size, sigma, input)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    log_ms = input.new_zeros(input.shape[:2])
    x, y = input, target
    for j, w in enumerate(weights):
        ssim, cs = _ssim_maps(x, y, g, padding, c1, c2, 0.0)
        last = j == levels - 1
        mean = (ssim if last else cs).mean(dim=(-2, -1))
        log_ms = log_ms + w * torch.log(mean.clamp(min=_MS_FLOOR))
        if not last:
            pad = (x.shape[-2] % 2, x.shape[-1] % 2)
            x, y = (F.avg_pool2d(t, kernel_size=2, padding=pad) for t in (x, y))
    return reduce_loss(1 - torch.exp(log_ms), reduction)


# --------------------------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------------------------
@mixed_precision
def psnr_loss(
    input: Tensor,
    target: Tensor,
    *,
    max_val: float = 1.0,
    per_image: bool = True,
    reduction: str = "mean",
) -> Tensor:
    r"""Negative peak signal-to-noise ratio in decibels (kornia's ``psnr_loss``).

    .. math::
        \ell_b = -10 \log_{10} \frac{L^2}{\mathrm{MSE}_b}, \qquad
        \mathrm{MSE}_b = \frac{1}{n} \sum_{i} (x_{b,i} - y_{b,i})^2

    over the :math:`n` elements of image :math:`b` (every dim but the first) with ``per_image=True`` (default; the
    mean of per-image PSNRs, as scikit-image and most papers report it), or over every element of the batch with
    ``per_image=False`` (one term: kornia's ``psnr_loss(x, y, max_val)`` and torchmetrics' default pooled PSNR).
    Identical images give :math:`-\infty` (the MSE is 0) with an undefined gradient, as in kornia.

    Args:
        input: predicted images, :math:`(B, *)`, floating dtype.
        target: reference images, same shape, spanning at most ``max_val``.
        max_val: the data range :math:`L > 0` (default 1.0).
        per_image: one term per image (default ``True``) or one for the whole batch.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        ``input``, ``target``: :math:`(B, *)`, the same, at least 1-D. Output: scalar, or :math:`(B,)` for
        ``"none"`` (a scalar with ``per_image=False``).

    Raises:
        LossOptionError: ``max_val <= 0``, a non-bool ``per_image``.
        LossShapeError: shapes that differ, a 0-dim input.
        LossValueError, LossTypeError, NonFiniteError: as :func:`ssim_loss`.

    References:
        Huynh-Thu, Q., Ghanbari, M. "Scope of validity of PSNR in image/video quality assessment", 2008.

    Example:
        >>> import torch, losskit.functional as LF
        >>> x = torch.tensor([[0.2, 0.4], [0.5, 0.5]])
        >>> print(round(float(LF.psnr_loss(x, torch.tensor([[0.0, 0.4], [0.5, 0.6]]))), 4))
        -20.0
    """
    name = "psnr_loss"
    max_val = V.check_positive(name, "max_val", max_val)
    if not isinstance(per_image, bool):
        raise V.LossOptionError(f"{name}: per_image must be True or False, but got {per_image!r}; pass per_image=True")
    V.check_reduction(name, reduction)

    def sizes() -> None:
        if input.dim() == 0:
            raise V.LossShapeError(f"{name}: input must have a batch dim (B, *), but got a 0-dim tensor; use "
                                   "input.view(1)")

    _image_checks(name, input, target, max_val, ndim=None, sizes=sizes)
    sq = (input - target).square()
    if per_image:
        mse = sq.flatten(1).mean(dim=1) if input.dim() > 1 else sq
    else:
        mse = sq.mean()
    return reduce_loss(10 * torch.log10(mse / max_val**2), reduction)


# --------------------------------------------------------------------------------------------
# total variation
# --------------------------------------------------------------------------------------------
@mixed_precision
def total_variation_loss(input: Tensor, *, normalized: bool = False, reduction: str = "mean") -> Tensor:
    r"""Anisotropic total variation of images: the sum of absolute differences of neighbouring pixels (kornia's
    ``total_variation``), a smoothness prior for denoising, inpainting and style transfer.

    Per image and channel (every leading dim kept):

    .. math::
        \ell = \sum_{h, w} |x_{h+1, w} - x_{h, w}| + \sum_{h, w} |x_{h, w+1} - x_{h, w}|

    With ``normalized=True`` each sum is divided by its number of differences, :math:`(H-1)W` and
    :math:`H(W-1)` (kornia's ``reduction="mean"``; an axis of size 1 contributes 0), so the value does not grow with
    the resolution. ``reduction`` then combines the per-image-channel values: kornia's ``total_variation(x)``
    (shape :math:`(*)`) is ``total_variation_loss(x, reduction="none")``, and torchmetrics'
    ``TotalVariation(reduction="sum")`` (summed over channels and images) is ``reduction="sum"``.

    Args:
        input: images :math:`(*, H, W)`, floating dtype.
        normalized: average each sum over its differences instead (default ``False``).
        reduction: ``"mean"`` (default: the mean over images and channels), ``"sum"`` or ``"none"``.

    Shape:
        ``input``: :math:`(*, H, W)`. Output: scalar, or :math:`(*)` for ``"none"``.

    Raises:
        LossOptionError: a non-bool ``normalized``.
        LossShapeError: fewer than 2 dims.
        LossTypeError: integer images.
        NonFiniteError: NaN or Inf in ``input`` (value check).

    References:
        Rudin, L. I., Osher, S., Fatemi, E. "Nonlinear total variation based noise removal algorithms", 1992.

    Example:
        >>> import torch, losskit.functional as LF
        >>> print(float(LF.total_variation_loss(torch.tensor([[0.0, 1.0], [2.0, 4.0]]))))
        8.0
    """
    name = "total_variation_loss"
    if not isinstance(normalized, bool):
        raise V.LossOptionError(
            f"{name}: normalized must be True or False, but got {normalized!r}; pass normalized=True"
        )
    V.check_reduction(name, reduction)
    if V.enabled():
        V.check_tensor(name, "input", input)
        V.check_floating(name, "input", input, role="images")
        if input.dim() < 2:
            raise V.LossShapeError(
                f"{name}: input must be images (*, H, W) with at least 2 dims, but got shape {V.shape_str(input)}; "
                "use input.view(1, -1) for one row of pixels"
            )
    if V.values_due(name, input):
        V.check_finite(name, "input", input)
    dy = (input[..., 1:, :] - input[..., :-1, :]).abs().flatten(-2)
    dx = (input[..., :, 1:] - input[..., :, :-1]).abs().flatten(-2)
    if normalized:
        terms = (dy.sum(-1) / max(dy.shape[-1], 1)) + (dx.sum(-1) / max(dx.shape[-1], 1))
    else:
        terms = dy.sum(-1) + dx.sum(-1)
    return reduce_loss(terms, reduction)


