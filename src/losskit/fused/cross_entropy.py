r"""Fused cross-entropy on class indices: the gradient is computed in the forward pass, one chunk of rows at a time.

:func:`fused_cross_entropy` gives the numbers of :func:`losskit.functional.cross_entropy` (torch's, except that a
mean over nothing is 0) for class-index targets, in one sweep over the logits:

for each chunk of rows: the softmax written straight into the gradient buffer, the target's negative
log-probability read from it (:math:`\mathrm{lse} - x_y = -\log p_y`, or, where :math:`p_y` underflows, from the
row maximum and the largest probability, :math:`(m - x_y) - \log \max_c p_c`), then the softmax scaled in place
into the gradient of the loss. The loss is built from these differences, never as the difference
:math:`\mathrm{lse} - x_y` of two large numbers, which rounds to 0 at logits near :math:`\pm 3 \cdot 10^{38}`.
With smoothing, :math:`\sum_c w_c (x_c - x_y)` is taken as :math:`\sum_c w_c x_c - W x_y`, except in a chunk
holding a target logit beyond :data:`losskit.fused._common.SHIFT_ABOVE` in magnitude, where the logits are
shifted first (one more pass there). With ``inplace=True`` the gradient overwrites the logits themselves (their
values are lost: an explicit opt-in); the backward pass only multiplies the saved gradient by ``grad_output``
(:mod:`losskit.fused._common`). The chunks are shared between torch's threads (``run_split``).

With per-class weights :math:`w`, smoothing :math:`\varepsilon` over :math:`C` classes, target :math:`y_i` and
:math:`W = \sum_c w_c` (:math:`W = C`, :math:`w = 1` without weights), row :math:`i` contributes

.. math::
    \ell_i = (1 - \varepsilon)\, w_{y_i} (\mathrm{lse}_i - x_{i y_i})
             + \frac{\varepsilon}{C} \Big(W \mathrm{lse}_i - \sum_c w_c x_{ic}\Big), \qquad
    \frac{\partial \ell_i}{\partial x_{ic}} = a_i\, p_{ic} - (1 - \varepsilon) w_{y_i} [c = y_i]
             - \frac{\varepsilon}{C} w_c,

with :math:`a_i = (1 - \varepsilon) w_{y_i} + \varepsilon W / C`; ignored rows contribute 0. ``"mean"`` divides
the sum by :math:`\sum_i w_{y_i}` over the rows that are not ignored (torch's rule, also with smoothing), and is 0
when that is 0. Float16/bfloat16 logits are computed in float32 chunk by chunk; the gradient is stored in the
logits' dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._reduction import safe_divide
from . import _common as C
from ._native import library as _native_library

__all__ = ["fused_cross_entropy", "supports_cross_entropy"]

_NAME = "fused_cross_entropy"
_FALLBACK = "losskit.functional.cross_entropy"
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INDEX = (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8)


def _why_not(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    inplace: bool,
) -> str | None:
    """Why the fused path does not take this call (``None`` when it does). Reads metadata only."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        return f"input and target must be tensors, but got {type(input).__name__} and {type(target).__name__}"
    if input.dtype not in _FLOATS:
        return f"input must be float16, bfloat16, float32 or float64 logits, but got dtype {input.dtype}"
    if target.dtype not in _INDEX:
        return f"target must hold class indices (an integer dtype), but got dtype {target.dtype}"
    if input.dim() == 0:
        return "input must have a class dimension, but got a 0-dim tensor"
    expected = () if input.dim() == 1 else (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        return (
            f"target must have shape {V.shape_str(expected)} for input {V.shape_str(input)}, "
            f"but got {V.shape_str(target)}"
        )
    if not input.is_contiguous():
        return f"input must be contiguous, but got strides {tuple(input.stride())}"
    if input.device.type != "cpu" or target.device != input.device:
        return f"input and target must be CPU tensors, but got {input.device} and {target.device}"
    classes = input.shape[1] if input.dim() > 1 else input.shape[0]
    if weight is not None:
        if not isinstance(weight, Tensor) or weight.shape != (classes,) or not weight.is_floating_point():
            got = V.shape_str(weight) if isinstance(weight, Tensor) else type(weight).__name__
            return f"weight must be None or a float tensor of shape ({classes},), but got {got}"
        if weight.device != input.device or weight.requires_grad:
            return "weight must be a CPU tensor that does not require grad, but got one that does or lives elsewhere"
    if not isinstance(ignore_index, int) or isinstance(ignore_index, bool):
        return f"ignore_index must be an int, but got {ignore_index!r}"
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
        return f"label_smoothing must be a float in [0, 1], but got {label_smoothing!r}"
    if not 0.0 <= float(label_smoothing) <= 1.0:
        return f"label_smoothing must be a float in [0, 1], but got {label_smoothing!r}"
    if reduction not in V.REDUCTIONS:
        return f"reduction must be one of 'none', 'mean', 'sum', but got {reduction!r}"
    if inplace and input.requires_grad and input.is_leaf:
        return (
            "inplace=True needs input computed by the graph (the logits of a layer), but got a leaf tensor, "
            "whose .grad would share its memory"
        )
    return None


def supports_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    inplace: bool = False,
    min_numel: int = C.MIN_NUMEL,
) -> bool:
    """Whether :func:`fused_cross_entropy` takes this call and is worth it (the dispatch predicate).

    True for class-index targets of logits :math:`(C,)`, :math:`(N, C)` or :math:`(N, C, d_1, ...)` that are
    contiguous CPU tensors of a floating dtype, a ``(C,)`` weight that needs no gradient, any ``ignore_index``,
    ``label_smoothing`` and ``reduction``, at least ``min_numel`` logits, and no :func:`torch.compile` tracing.
    Probability targets go to the reference path. Reads no tensor values.
    """
    if not C.dispatch_allowed() or not isinstance(input, Tensor) or input.numel() < min_numel:
        return False
    return _why_not(input, target, weight, ignore_index, label_smoothing, reduction, inplace) is None


# --------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------
def _chunks(n: int, classes: int, m: int, dtype: torch.dtype):
    """Slices ``(rows, positions)`` covering an ``(n, classes, m)`` tensor by chunks of about CHUNK_BYTES."""
    if m == 1:
        step = C.rows_per_chunk(classes, dtype)
        for r0 in range(0, n, step):
            yield slice(r0, min(r0 + step, n)), None
        return
    per_row = C.rows_per_chunk(classes * m, dtype)
    if per_row > 1 or C.rows_per_chunk(classes, dtype) >= m:
        for r0 in range(0, n, per_row):
            yield slice(r0, min(r0 + per_row, n)), slice(0, m)
        return
    step = C.rows_per_chunk(classes, dtype)
    for r0 in range(n):
        for m0 in range(0, m, step):
            yield slice(r0, r0 + 1), slice(m0, min(m0 + step, m))


def _sweep(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    eps: float,
    reduction: str,
    want_grad: bool,
    inplace: bool,
    focal: tuple[float, Tensor | None] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """The loss (reduced as asked) and, if ``want_grad``, the gradient of the loss w.r.t. ``input``.

    ``focal=(gamma, factors)`` turns each row's term into the focal term ``-f_y (1 - p_y)^gamma log p_y``
    (``factors``: per-class factors ``f``, None for 1; ``eps`` must be 0). Its gradient keeps the shape of
    cross-entropy's, ``k_i (p - onehot(y))``, with ``k_i = f_y q^gamma (1 - gamma p_y log p_y / q)`` and
    ``q = 1 - p_y`` (floored at the smallest normal number, as losskit.functional.focal_loss does), so the
    sweep is the same; ``k_i`` needs the row's log-sum-exp, known once the chunk's softmax is.
    """
    dtype = input.dtype
    acc = C.acc_dtype(dtype)
    unbatched = input.dim() == 1
    classes = input.shape[0] if unbatched else input.shape[1]
    n = 1 if unbatched else input.shape[0]
    m = math.prod(input.shape[2:]) if input.dim() > 2 else 1
    # (n, classes) or (n, classes, m) views; per-position tensors are (n,) or (n, m)
    x = input.view(n, classes) if m == 1 else input.view(n, classes, m)
    t = target.reshape(n) if m == 1 else target.reshape(n, m)
    wshape = (1, classes) if m == 1 else (1, classes, 1)

    valid = t != ignore_index
    valid_f = valid.to(acc)
    t_safe = torch.where(valid, t, torch.zeros_like(t)).long()
    w = None if weight is None else weight.to(acc)
    w_y = valid_f if w is None else w[t_safe] * valid_f
    denominator = w_y.sum()
    x_y = x.gather(1, t_safe.unsqueeze(1)).squeeze(1).to(acc)
    w_total = float(classes) if w is None else w.sum()
    smooth = eps / classes
    if reduction == "mean":
        scale = safe_divide(torch.ones((), dtype=acc), denominator)
    else:
        scale = torch.ones((), dtype=acc)

    row_max = torch.empty(t.shape, dtype=acc)
    nlp = torch.empty(t.shape, dtype=acc)  # -log p_y = lse - x_y
    x_w = torch.empty(t.shape, dtype=acc) if eps > 0 else None  # sum_c w_c (x_c - x_y)
    shift = None if x_w is None else x_y.abs() > C.SHIFT_ABOVE
    tiny = torch.finfo(acc).tiny
    grad = None
    if focal is not None:
        gamma, factors = focal
        f_y = valid_f if factors is None else factors.to(acc)[t_safe] * valid_f
    if want_grad:
        coef = ((1 - eps) * w_y + smooth * w_total * valid_f) * scale
        at_target = -(1 - eps) * w_y * scale
        smooth_row = smooth * valid_f * scale if eps > 0 else None
        grad = input if inplace else C.empty_like(input)
        g = grad.view(x.shape)
    w_view = None if w is None else w.view(wshape)
    chunks = list(_chunks(n, classes, m, dtype))
    # the native row loop (losskit.fused._native): float32 (N, C) logits with a gradient, no smoothing, not focal
    lib = None
    if want_grad and m == 1 and dtype == torch.float32 and eps == 0:
        lib = _native_library()
    if lib is not None and focal is not None:
        f_scale = (f_y * scale).contiguous()  # named: the C loop reads its pointer

    def native_sweep(lo: int, hi: int) -> None:
        assert lib is not None
        size = x.element_size()
        for rows, _ in chunks[lo:hi]:
            r0, k = rows.start, rows.stop - rows.start
            xp, gp = x.data_ptr() + r0 * classes * size, g.data_ptr() + r0 * classes * size
            tp, np_ = t_safe.data_ptr() + r0 * t_safe.element_size(), nlp.data_ptr() + r0 * size
            if focal is None:
                cp, ap = coef.data_ptr() + r0 * size, at_target.data_ptr() + r0 * size
                lib.lk_ce_rows(xp, gp, k, classes, tp, cp, ap, np_, None)
            else:
                lib.lk_focal_rows(xp, gp, k, classes, tp, f_scale.data_ptr() + r0 * size, float(focal[0]), np_)

    def sweep(lo: int, hi: int) -> None:
        scratch = None
        for rows, cols in chunks[lo:hi]:
            idx = (rows,) if cols is None else (rows, slice(None), cols)
            pos = (rows,) if cols is None else (rows, cols)
            xc = x[idx]
            # softmax's out= must be contiguous (torch writes it as if it were): partial position slices
            # of (n, C, m) logits go through a scratch buffer, like half inputs and gradient-free calls
            direct = acc == dtype and want_grad and (cols is None or cols.stop - cols.start == m)
            if direct:
                src, dst = xc, g[idx]
            else:
                if scratch is None or scratch.shape[1:] != xc.shape[1:] or scratch.shape[0] < xc.shape[0]:
                    scratch = torch.empty(xc.shape, dtype=acc)
                buf = scratch[: xc.shape[0]]
                src = xc if acc == dtype else buf.copy_(xc)
                dst = buf
            # the log-sum-exp comes from the target's probability, lse = x_y - log p_y (no extra pass); where
            # p_y underflows it comes from the row maximum m and the largest probability 1 / sum exp(x - m)
            overwritten = src.data_ptr() == dst.data_ptr()
            if overwritten:
                torch.amax(src, 1, out=row_max[pos])
            if x_w is not None and shift is not None:
                x_y_c = x_y[pos]
                if bool(shift[pos].any()):
                    # huge logits: sum_c w_c x_c - W x_y would cancel to rounding noise
                    shifted = src - x_y_c.unsqueeze(1)
                    x_w[pos] = shifted.sum(1) if w_view is None else (shifted * w_view).sum(1)
                else:
                    if w_view is None:
                        torch.sum(src, 1, out=x_w[pos])
                    elif cols is None and w is not None:
                        torch.mv(src, w, out=x_w[pos])
                    else:
                        x_w[pos] = (src * w_view).sum(1)
                    x_w[pos] -= w_total * x_y_c
            torch._softmax(src, 1, False, out=dst)
            p_y = dst.gather(1, t_safe[pos].unsqueeze(1)).squeeze(1)
            nlp_c = -torch.log(p_y)
            underflow = (p_y < tiny) & valid[pos]
            if bool(underflow.any()):
                row_m = row_max[pos] if overwritten else torch.amax(src, 1)
                nlp_c = torch.where(underflow, (row_m - x_y[pos]) - torch.log(torch.amax(dst, 1)), nlp_c)
            nlp[pos] = nlp_c
            if want_grad and focal is not None:
                log_p_y = -nlp_c
                q = (-torch.expm1(log_p_y)).clamp_min(tiny)
                p_y_c = torch.exp(log_p_y)
                # p log p -> 0 as p -> 0: a target logit of -inf gives 0, not 0 * -inf
                p_log_p = torch.where(p_y_c > 0, p_y_c * log_p_y, torch.zeros_like(p_y_c))
                k = f_y[pos] * q.pow(gamma) * (1 - gamma * p_log_p / q) * scale
                dst.mul_(k.unsqueeze(1))
                dst.scatter_add_(1, t_safe[pos].unsqueeze(1), (-k).unsqueeze(1))
            elif want_grad:
                dst.mul_(coef[pos].unsqueeze(1))
                if smooth_row is not None:
                    if w_view is None:
                        dst.sub_(smooth_row[pos].unsqueeze(1))
                    else:
                        dst.addcmul_(smooth_row[pos].unsqueeze(1), w_view, value=-1.0)
                dst.scatter_add_(1, t_safe[pos].unsqueeze(1), at_target[pos].unsqueeze(1))
            if want_grad and not direct:
                g[idx].copy_(dst)

    C.run_split(len(chunks), sweep if lib is None else native_sweep)
    if inplace and want_grad:
        C.mark_overwritten(input)

    if focal is not None:
        terms = f_y * (-torch.expm1(-nlp)).clamp_min(tiny).pow(gamma) * nlp
    else:
        terms = (1 - eps) * w_y * nlp
    if x_w is not None:
        # a target logit of -inf (a finite row maximum) makes the smoothing sum inf, as torch's -sum log p; its
        # shifted form would be -inf - (-inf)
        spread = torch.where(torch.isneginf(x_y), nlp, w_total * nlp - x_w)
        terms = terms + smooth * spread
    terms = torch.where(valid, terms, torch.zeros_like(terms))
    if reduction == "none":
        loss = terms.reshape(target.shape)
    elif reduction == "sum":
        loss = terms.sum()
    else:
        loss = safe_divide(terms.sum(), denominator)
    return loss.to(dtype), grad


class _FusedCrossEntropy(torch.autograd.Function):
    """Loss in the forward pass, its gradient saved; the backward scales it (see losskit.fused._common)."""

    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, eps, reduction, inplace, focal=None):
        loss, grad = _sweep(input, target, weight, ignore_index, eps, reduction, True, inplace, focal)
        ctx.save_for_backward(grad)
        ctx.name = "fused_cross_entropy" if focal is None else "fused_focal_loss"
        per_row = reduction == "none" and input.dim() > 1
        ctx.view = (target.shape[0], 1, *target.shape[1:]) if per_row else None
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        C.refuse_double_backward(ctx.name)
        (grad,) = ctx.saved_tensors
        return C.scale_saved(grad, grad_output, ctx.view), None, None, None, None, None, None, None


def _plain(
    input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, eps: float, reduction: str
) -> Tensor:
    """The same numbers with torch's ops (traced under torch.compile, which fuses them itself)."""
    if reduction != "mean":
        return F.cross_entropy(
            input, target, weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=eps
        )
    total = F.cross_entropy(input, target, weight, ignore_index=ignore_index, reduction="sum", label_smoothing=eps)
    valid = target != ignore_index
    if weight is None:
        count = valid.sum()
    else:
        count = (weight[torch.where(valid, target, torch.zeros_like(target)).long()] * valid).sum()
    return safe_divide(total, count)


def fused_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    inplace: bool = False,
) -> Tensor:
    r"""Cross-entropy on class indices with the gradient computed in the forward pass, chunk by chunk.

    The numbers of :func:`losskit.functional.cross_entropy` (math in :mod:`losskit.fused.cross_entropy`) with
    about a third of torch's peak memory: the only full-size tensor allocated is the gradient, which becomes
    ``input.grad`` (or flows to the layer that made the logits). Without a gradient to compute (no
    ``requires_grad`` or inside :func:`torch.no_grad`) it allocates nothing of the logits' size.

    Args:
        input: logits :math:`(C,)`, :math:`(N, C)` or :math:`(N, C, d_1, ...)`, contiguous, on the CPU.
        target: class indices :math:`()`, :math:`(N,)` or :math:`(N, d_1, ...)`.
        weight: optional per-class weights :math:`(C,)` (default ``None``).
        ignore_index: target value whose rows count for nothing (default -100).
        label_smoothing: :math:`\varepsilon \in [0, 1]` (default 0.0).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        inplace: write the gradient into ``input``'s memory instead of a new buffer (default ``False``). The
            logits are overwritten by the forward pass: use it only when nothing else reads them afterwards
            (autograd raises an error if another operation saved them for its backward). Needs ``input``
            produced by the graph, not a leaf.

    Shape:
        As :func:`losskit.functional.cross_entropy` with class indices; output scalar, or the shape of
        ``target`` for ``"none"``.

    Raises:
        LossOptionError: a call outside the fast path (probability targets, non-contiguous input, a device
            other than the CPU, an ``inplace`` leaf ...): :func:`supports_cross_entropy` says which calls fit.

    Example:
        >>> import torch
        >>> from losskit.fused import fused_cross_entropy
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]], requires_grad=True)
        >>> loss = fused_cross_entropy(logits, torch.tensor([0, 2]))
        >>> print(round(float(loss.detach()), 4))  # by hand: (0.241311 + 1.551445) / 2
        0.8964
        >>> loss.backward()
        >>> print(round(float(logits.grad.sum().abs()), 6))
        0.0
    """
    V.check_reduction(_NAME, reduction)
    reason = _why_not(input, target, weight, ignore_index, label_smoothing, reduction, inplace)
    if reason is not None:
        raise C.unsupported(_NAME, reason, _FALLBACK)
    eps = float(label_smoothing)
    if C.compiling():
        return _plain(input, target, weight, ignore_index, eps, reduction)
    if input.requires_grad and torch.is_grad_enabled():
        return _FusedCrossEntropy.apply(input, target, weight, ignore_index, eps, reduction, inplace)
    loss, _ = _sweep(input, target, weight, ignore_index, eps, reduction, False, False)
    return loss
