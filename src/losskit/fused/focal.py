r"""Fused focal losses: the softmax focal loss on the cross-entropy sweep, the sigmoid focal loss on the
elementwise one.

**Softmax focal loss** (:func:`fused_focal_loss`, Lin et al., 2017). Its gradient w.r.t. the logits has the
shape of cross-entropy's, :math:`k_i\,(p_i - \mathrm{onehot}(y_i))`, with one coefficient per row,

.. math::
    \ell_i = -f_{y}\, q^{\gamma} \log p_{y}, \qquad
    k_i = f_{y}\, q^{\gamma} \Big(1 - \gamma\, \frac{p_{y} \log p_{y}}{q}\Big), \qquad q = 1 - p_{y},

(:math:`f_y = w_y \alpha_y`, the class weight times the class factor), so :mod:`losskit.fused.cross_entropy`'s
chunked sweep computes it (softmax written into the gradient buffer, scaled in place by :math:`k_i`) with the
same memory: one gradient buffer, or none with ``inplace=True``. ``label_smoothing`` adds a focal term per class
(no longer rank one): those calls take the reference path.

**Sigmoid focal loss** (:func:`fused_sigmoid_focal_loss`, torchvision's definition). Per element, with
:math:`\mathrm{ce} = (1 - t) x + l_w \operatorname{softplus}(-x)` (:math:`l_w = 1 + (p_w - 1) t`),
:math:`u = 1 - p_t = \sigma(x)(1 - t) + \sigma(-x)\, t` and :math:`\alpha_t = \alpha t + (1 - \alpha)(1 - t)`:

.. math::
    \ell = \alpha_t\, \mathrm{ce}\, u^{\gamma}, \qquad
    \frac{\partial \ell}{\partial x} = \alpha_t\, u^{\gamma} \Big(\mathrm{ce}' + \gamma\, \mathrm{ce}\,
    \frac{\sigma(x)\sigma(-x)(1 - 2t)}{u}\Big), \qquad \mathrm{ce}' = (1 - t) - l_w \sigma(-x),

one sweep over ``input`` and ``target`` writing the gradient, where torchvision's formula allocates about ten
full-size temporaries. Numbers: those of :mod:`losskit.functional` (``u`` floored at the smallest normal number).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import _validation as V
from . import _common as C
from . import cross_entropy as CE
from . import pointwise as PW

__all__ = [
    "fused_focal_loss",
    "fused_sigmoid_focal_loss",
    "supports_focal_loss",
    "supports_sigmoid_focal_loss",
]


# --------------------------------------------------------------------------------------------
# softmax focal loss
# --------------------------------------------------------------------------------------------
def _focal_why_not(input, target, weight, gamma, alpha, ignore_index, label_smoothing, reduction, inplace):
    reason = CE._why_not(input, target, weight, ignore_index, 0.0, reduction, inplace)
    if reason is not None:
        return reason
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
        return f"gamma must be a float >= 0, but got {gamma!r}"
    if label_smoothing != 0.0:
        return f"label_smoothing must be 0 on the fused path (one focal term per class), but got {label_smoothing!r}"
    classes = input.shape[1] if input.dim() > 1 else input.shape[0]
    if isinstance(alpha, Tensor):
        if alpha.shape != (classes,) or not alpha.is_floating_point() or alpha.requires_grad:
            return f"alpha must be None, a float or a ({classes},) float tensor, but got shape {V.shape_str(alpha)}"
    elif alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0):
        return f"alpha must be None, a float >= 0 or a ({classes},) tensor, but got {alpha!r}"
    return None


def supports_focal_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    gamma: float = 2.0,
    alpha: float | Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    inplace: bool = False,
    min_numel: int = C.MIN_NUMEL_FOCAL,
) -> bool:
    """Whether :func:`fused_focal_loss` takes this call: the calls of
    :func:`~losskit.fused.supports_cross_entropy`, without label smoothing, any ``gamma >= 0`` and ``alpha``."""
    if not C.dispatch_allowed() or not isinstance(input, Tensor) or input.numel() < min_numel:
        return False
    return _focal_why_not(
        input, target, weight, gamma, alpha, ignore_index, label_smoothing, reduction, inplace
    ) is None


def fused_focal_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    gamma: float = 2.0,
    alpha: float | Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    inplace: bool = False,
) -> Tensor:
    r"""Softmax focal loss with the gradient computed in the forward pass, chunk by chunk.

    The numbers of :func:`losskit.functional.focal_loss` (math in :mod:`losskit.fused.focal`): ``"mean"`` divides
    by the sum of the class weights of the rows not ignored (``alpha`` is not in it), 0 when that is 0.

    Args:
        input, target, weight, ignore_index, reduction, inplace: as :func:`~losskit.fused.fused_cross_entropy`.
        gamma: the focusing parameter, >= 0 (default 2.0; 0 gives cross-entropy).
        alpha: ``None``, one float factor, or a ``(C,)`` tensor of class factors (default ``None``).
        label_smoothing: must be 0 here (the reference path takes smoothing).

    Raises:
        LossOptionError: a call outside the fast path (:func:`supports_focal_loss`).

    Example:
        >>> import torch
        >>> from losskit.fused import fused_focal_loss
        >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> print(round(float(fused_focal_loss(x, torch.tensor([0, 1]), gamma=2.0)), 4))
        1.3061
    """
    name = "fused_focal_loss"
    V.check_reduction(name, reduction)
    reason = _focal_why_not(input, target, weight, gamma, alpha, ignore_index, label_smoothing, reduction, inplace)
    if reason is not None:
        raise C.unsupported(name, reason, "losskit.functional.focal_loss")
    factors = weight
    if isinstance(alpha, Tensor):
        factors = alpha if factors is None else factors * alpha
    if alpha is not None and not isinstance(alpha, Tensor):
        classes = input.shape[1] if input.dim() > 1 else input.shape[0]
        base = torch.ones(classes, dtype=input.dtype) if factors is None else factors
        factors = base * float(alpha)
    focal = (float(gamma), factors)
    if C.compiling():
        return _plain_focal(input, target, weight, float(gamma), factors, ignore_index, reduction)
    if input.requires_grad and torch.is_grad_enabled():
        return CE._FusedCrossEntropy.apply(input, target, weight, ignore_index, 0.0, reduction, inplace, focal)
    loss, _ = CE._sweep(input, target, weight, ignore_index, 0.0, reduction, False, False, focal)
    return loss


def _plain_focal(input, target, weight, gamma, factors, ignore_index, reduction):
    """The same numbers with whole-tensor ops (traced under torch.compile)."""
    from .._reduction import reduce_loss

    class_dim = 1 if input.dim() > 1 else 0
    log_p = input.log_softmax(class_dim)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    log_p_y = log_p.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    q = (-torch.expm1(log_p_y)).clamp_min(torch.finfo(log_p_y.dtype).tiny)
    loss = -q.pow(gamma) * log_p_y
    if factors is not None:
        loss = loss * factors[safe]
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    if weight is None:
        denominator = valid.sum()
    else:
        denominator = torch.where(valid, weight[safe], torch.zeros_like(weight[safe])).sum()
    return reduce_loss(loss, reduction, denominator=denominator)


# --------------------------------------------------------------------------------------------
# sigmoid focal loss
# --------------------------------------------------------------------------------------------
def _sigmoid_focal_kernel(x, y, w, gx, gy, out, scale, tmp, p):
    """Chunk kernel of :func:`losskit.fused.pointwise._sweep` (no target gradient). Every chunk-size tensor is
    one of the thread's scratch chunks ``tmp(j)`` or an output: allocating them per chunk would make glibc
    map and fault fresh pages for each one (they are above its default 128 KiB mmap threshold)."""
    eps, pos, gamma, alpha = p["label_smoothing"], p.get("pos_weight"), p["gamma"], p["alpha"]
    t = y if eps == 0.0 else torch.mul(y, 1.0 - eps, out=tmp(0)).add_(0.5 * eps)
    sig = torch.sigmoid(x, out=tmp(1))
    sig_neg = torch.neg(x, out=tmp(2)).sigmoid_()  # sigmoid(-x), exact where sigmoid(x) rounds to 1
    softplus_neg = torch._C._nn.log_sigmoid(x, out=tmp(3)).neg_()  # softplus(-x) = -log sigmoid(x)
    lw = None if pos is None else torch.addcmul(torch.ones((), dtype=x.dtype), pos - 1.0, t, out=tmp(4))
    ce = torch.addcmul(x, t, x, value=-1.0, out=tmp(5))  # (1 - t) x + lw softplus(-x)
    if lw is None:
        ce.add_(softplus_neg)
    else:
        ce.addcmul_(lw, softplus_neg)
    # u = 1 - p_t = sigmoid(x) (1 - t) + sigmoid(-x) t
    u = torch.sub(sig_neg, sig, out=tmp(6)).mul_(t).add_(sig).clamp_min_(torch.finfo(x.dtype).tiny)
    factor = torch.pow(u, gamma, out=tmp(7)) if gamma != 0 else None
    alpha_t = None if alpha < 0 else torch.mul(t, 2.0 * alpha - 1.0, out=tmp(8)).add_(1.0 - alpha)
    terms = out if out is not None else tmp(9)
    if factor is None:
        terms.copy_(ce)
    else:
        torch.mul(ce, factor, out=terms)
    if alpha_t is not None:
        terms.mul_(alpha_t)
    if w is not None:
        terms.mul_(w)
    total = None if out is not None else terms.sum()
    if gx is not None:
        # d ce / d x = (1 - t) - lw sigmoid(-x)
        g = torch.neg(sig_neg, out=gx) if lw is None else torch.mul(sig_neg, lw, out=gx).neg_()
        g.add_(1.0).sub_(t)
        if factor is not None:
            # + gamma ce (d u / d x) / u, with d u / d x = sigmoid(x) sigmoid(-x) (1 - 2 t)
            du = torch.mul(sig, sig_neg, out=tmp(1))
            du.addcmul_(du, t, value=-2.0).mul_(ce).div_(u)
            g.add_(du, alpha=gamma).mul_(factor)
        if alpha_t is not None:
            g.mul_(alpha_t)
        g.mul_(scale)
        if w is not None:
            g.mul_(w)
    return total


def _sigmoid_focal_lean(x, y, w, gx, gy, out, scale, tmp, p):
    r"""The kernel of the common calls (no ``pos_weight``, no ``weight``, ``gamma >= 1``): the numbers of
    :func:`_sigmoid_focal_kernel` in about 20 chunk ops instead of 28, three special functions instead of five.

    With :math:`L = \log\sigma(x)`: :math:`\sigma(x) = e^{L}`, :math:`\sigma(-x) = e^{L - x}` (exact where
    :math:`\sigma(x)` rounds to 1), :math:`\mathrm{ce} = (1 - t) x - L`, :math:`u = \operatorname{lerp}(\sigma(x),
    \sigma(-x), t)`; :math:`G = s\,\alpha_t u^{\gamma - 1}` carries the scale :math:`s`, so that the loss terms
    are :math:`G u\,\mathrm{ce} / s` and the gradient :math:`G u\,(\sigma(x) - t) + \gamma\, G\, \sigma(x)
    \sigma(-x)(1 - 2t)\,\mathrm{ce}` (no division by :math:`u`, so no floor is needed for ``gamma >= 1``)."""
    eps, gamma, alpha = p["label_smoothing"], p["gamma"], p["alpha"]
    t = y if eps == 0.0 else torch.mul(y, 1.0 - eps, out=tmp(0)).add_(0.5 * eps)
    sc = float(scale)
    log_sig = torch._C._nn.log_sigmoid(x, out=tmp(1))
    sig = torch.exp(log_sig, out=tmp(2))
    sig_neg = torch.sub(log_sig, x, out=tmp(3)).exp_()
    ce = torch.addcmul(x, t, x, value=-1.0, out=tmp(4)).sub_(log_sig)  # (1 - t) x first: exact at t = 1
    u = torch.lerp(sig, sig_neg, t, out=tmp(1))  # log_sig is no longer needed
    # G = sc alpha_t u^(gamma - 1), alpha_t = (1 - alpha) + (2 alpha - 1) t (or 1 with alpha < 0)
    if gamma == 1.0:
        g_fac = torch.full_like(u, sc) if alpha < 0 else torch.mul(t, (2.0 * alpha - 1.0) * sc, out=tmp(5))
        if alpha >= 0:
            g_fac.add_((1.0 - alpha) * sc)
    elif gamma == 2.0:
        g_fac = torch.mul(u, sc if alpha < 0 else (1.0 - alpha) * sc, out=tmp(5))
        if alpha >= 0:
            g_fac.addcmul_(t, u, value=(2.0 * alpha - 1.0) * sc)
    else:
        g_fac = torch.pow(u, gamma - 1.0, out=tmp(5))
        if alpha < 0:
            g_fac.mul_(sc)
        else:
            g_fac.mul_(torch.mul(t, (2.0 * alpha - 1.0) * sc, out=tmp(6)).add_((1.0 - alpha) * sc))
    f = torch.mul(g_fac, u, out=tmp(6))  # sc alpha_t u^gamma
    total = None
    if out is not None:
        torch.mul(f, ce, out=out).div_(sc)
    else:
        total = torch.dot(f, ce) / sc
    if gx is not None:
        # (t - 1) + sigma(-x) = t - sigma(x), exact where sigma(x) rounds to 1
        g = torch.sub(t, 1.0, out=gx).add_(sig_neg).mul_(f)
        prod = torch.mul(sig, sig_neg, out=tmp(2)).mul_(ce)
        prod.addcmul_(prod, t, value=-2.0).mul_(g_fac)  # sigma(x) sigma(-x) (1 - 2t) ce G
        g.sub_(prod, alpha=gamma).neg_()
    return total


def _sigmoid_focal_native(x, y, w, gx, gy, out, scale, tmp, p):
    """The native C loop (:mod:`losskit.fused._native`) for ``gamma`` 1 or 2 with a gradient to write, the lean
    torch-op kernel otherwise."""
    if gx is None:
        return _sigmoid_focal_lean(x, y, w, gx, gy, out, scale, tmp, p)
    return _NATIVE_FOCAL(x, y, w, gx, gy, out, scale, tmp, p)


_NATIVE_FOCAL = PW._native(
    "lk_sigmoid_focal", _sigmoid_focal_lean, lambda p: (p["label_smoothing"], p["alpha"], int(p["gamma"]))
)


def _sigmoid_focal_kernel_for(gamma: float, pos_weight, weight):
    """The native loop for ``gamma`` 1 or 2, the lean torch-op kernel for other ``gamma >= 1`` (both without
    ``pos_weight`` and ``weight``), the general kernel otherwise."""
    if pos_weight is not None or weight is not None or gamma < 1.0:
        return _sigmoid_focal_kernel
    return _sigmoid_focal_native if gamma in (1.0, 2.0) else _sigmoid_focal_lean


def supports_sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    pos_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    inplace: bool = False,
    min_numel: int = C.MIN_NUMEL_FOCAL,
) -> bool:
    """Whether :func:`fused_sigmoid_focal_loss` takes this call: the calls of
    :func:`~losskit.fused.supports_binary_cross_entropy_with_logits` whose ``target`` needs no gradient."""
    if isinstance(target, Tensor) and target.requires_grad:
        return False
    return PW.supports_binary_cross_entropy_with_logits(
        input, target, weight, pos_weight=pos_weight, reduction=reduction, label_smoothing=label_smoothing,
        inplace=inplace, min_numel=min_numel,
    )


def fused_sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    pos_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    inplace: bool = False,
) -> Tensor:
    r"""Sigmoid focal loss in one sweep that writes the gradient (math in :mod:`losskit.fused.focal`).

    The numbers of :func:`losskit.functional.sigmoid_focal_loss` (torchvision's definition; ``alpha < 0`` turns
    the class balance off; weighted mean :math:`\sum w \ell / \sum w`).

    Args:
        input, target, weight, pos_weight, label_smoothing, reduction, inplace: as
            :func:`~losskit.fused.fused_binary_cross_entropy_with_logits` (``target`` must not need a gradient).
        alpha: balance of the positive class in [0, 1], negative for none (default 0.25).
        gamma: focusing parameter, >= 0 (default 2.0).

    Raises:
        LossOptionError: a call outside the fast path (:func:`supports_sigmoid_focal_loss`).

    Example:
        >>> import torch
        >>> from losskit.fused import fused_sigmoid_focal_loss
        >>> x, t = torch.tensor([-18.6, 0.51, 2.94, -12.8]), torch.tensor([0.0, 1.0, 0.0, 0.0])
        >>> print(round(float(fused_sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0)), 4))
        0.5101
    """
    name = "fused_sigmoid_focal_loss"
    eps = V.check_unit_interval(name, "label_smoothing", label_smoothing)
    gamma = V.check_positive(name, "gamma", gamma, allow_zero=True)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha > 1:
        raise V.LossOptionError(
            f"{name}: alpha must be a float in [0, 1] (or negative to disable it), but got {alpha!r}; "
            "pass e.g. alpha=0.25"
        )
    if isinstance(target, Tensor) and target.requires_grad:
        raise C.unsupported(
            name, "target must not require grad on the fused path, but got a target that does",
            "losskit.functional.sigmoid_focal_loss",
        )
    params = {"label_smoothing": eps, "gamma": float(gamma), "alpha": float(alpha)}

    def plain() -> Tensor:
        import losskit.functional as LF

        return LF.sigmoid_focal_loss(
            input, target, alpha=alpha, gamma=gamma, pos_weight=pos_weight, label_smoothing=eps, reduction="none"
        )

    kernel = _sigmoid_focal_kernel_for(float(gamma), pos_weight, weight)
    return PW._run(
        name, kernel, plain, input, target, weight, params, reduction, inplace, pos_weight
    )
