r"""Fused linear cross-entropy: a classifier head and its loss without the ``(N, V)`` logits in memory.

For each chunk of rows the logits :math:`z = h W^\top + b` are computed into one reused ``(rows, V)`` buffer,
turned in place into the gradient of the loss w.r.t. them (the fused cross-entropy step of
:mod:`losskit.fused.cross_entropy`), and multiplied straight away into the gradients of the features
(:math:`G W`), of the weight (:math:`G^\top h`, accumulated over the chunks) and of the bias; the backward pass only
scales them by ``grad_output``. With ``reduction="none"`` the gradient depends on each row's ``grad_output``, so
the forward pass only computes the losses and the backward pass sweeps again (one more ``h W^T`` product).

Every option stays on this path (torch 2.13's chunked path falls back to the full logits for some):
class ``weight``, ``ignore_index``, ``label_smoothing``, per-token weights ``token_weight``, the z-loss
``lse_square_scale`` (PaLM, Chowdhery et al., 2022) and logit soft-capping ``softcap`` (Gemma 2, 2024), and
:func:`fused_linear_cross_entropy_with_lse` also returns each row's log-sum-exp for logging. Row :math:`i`
(target :math:`y`, token weight :math:`\tau_i`, class weights :math:`w`, :math:`W = \sum_c w_c`, :math:`V`
classes, smoothing :math:`\varepsilon`, z-loss scale :math:`\zeta`, logits soft-capped to
:math:`z = s \tanh(z' / s)` when ``softcap`` is :math:`s`) contributes

.. math::
    \ell_i = \tau_i \Big[(1 - \varepsilon)\, w_y (\mathrm{lse}_i - z_{iy}) + \frac{\varepsilon}{V}
             \big(W \mathrm{lse}_i - \textstyle\sum_c w_c z_{ic}\big) + \zeta\, w_y\, \mathrm{lse}_i^2\Big],

0 for ignored rows, and ``"mean"`` is :math:`\sum_i \ell_i / \sum_i \tau_i w_{y_i}` over the rows not ignored
(0 when that is 0): without the new options, the numbers of :func:`losskit.functional.linear_cross_entropy`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._reduction import safe_divide
from . import _common as C
from ._native import library as _native_library

__all__ = [
    "LinearCrossEntropyResult",
    "fused_linear_cross_entropy",
    "fused_linear_cross_entropy_with_lse",
    "supports_linear_cross_entropy",
]

_NAME = "fused_linear_cross_entropy"
_FALLBACK = "losskit.functional.linear_cross_entropy"
LOGITS_CHUNK_BYTES = 64 << 20
"""Size of the reused ``(rows, V)`` logits buffer: rows = this / (4 V), rounded down to a multiple of 16 and at
least :data:`MIN_CHUNK_ROWS`."""
MIN_CHUNK_ROWS = 512
"""Fewer rows make the three matrix products slower than on the whole batch (measured with MKL on 2 cores:
256 rows of (4096, 2048) x (2048, 32000) take 1.35x the time of one product, 512 rows 1.0x)."""


class LinearCrossEntropyResult(NamedTuple):
    """The loss and, per row, the log-sum-exp of its (soft-capped) logits (detached, for logging)."""

    loss: Tensor
    lse: Tensor


def _chunk_rows(n: int, classes: int, dtype: torch.dtype, options) -> int:
    size = getattr(options, "batch_chunk_size", None) if options is not None else None
    if size:
        return max(1, int(size))
    rows = LOGITS_CHUNK_BYTES // max(1, classes * torch.empty((), dtype=dtype).element_size())
    return max(1, min(n, max(MIN_CHUNK_ROWS, rows // 16 * 16)))


def _why_not(input, linear_weight, target, linear_bias, weight, token_weight, ignore_index, label_smoothing,
             lse_square_scale, softcap, reduction) -> str | None:
    for arg, t in (("input", input), ("linear_weight", linear_weight), ("target", target)):
        if not isinstance(t, Tensor):
            return f"{arg} must be a tensor, but got {type(t).__name__}"
    if input.dtype not in (torch.float32, torch.float64):
        return f"input must be float32 or float64 (half inputs take the reference path), but got dtype {input.dtype}"
    if input.dim() not in (1, 2):
        return f"input must be (in_features,) or (N, in_features), but got shape {V.shape_str(input)}"
    if linear_weight.dim() != 2 or linear_weight.shape[1] != input.shape[-1]:
        return (
            f"linear_weight must be (C, {input.shape[-1]}) (a K-dimensional head takes the reference path), "
            f"but got shape {V.shape_str(linear_weight)}"
        )
    if linear_weight.dtype != input.dtype:
        return f"linear_weight must have the dtype of input ({input.dtype}), but got {linear_weight.dtype}"
    classes = linear_weight.shape[0]
    if target.is_floating_point() or target.dtype == torch.bool:
        return f"target must hold class indices (probability targets take the reference path), but got {target.dtype}"
    expected = () if input.dim() == 1 else (input.shape[0],)
    if tuple(target.shape) != expected:
        return f"target must have shape {V.shape_str(expected)}, but got {V.shape_str(target)}"
    if linear_bias is not None and (
        not isinstance(linear_bias, Tensor) or linear_bias.shape != (classes,) or linear_bias.dtype != input.dtype
    ):
        got = V.shape_str(linear_bias) if isinstance(linear_bias, Tensor) else type(linear_bias).__name__
        return f"linear_bias must be None or ({classes},) of dtype {input.dtype}, but got {got}"
    if weight is not None and (
        not isinstance(weight, Tensor) or weight.shape != (classes,) or not weight.is_floating_point()
        or weight.requires_grad
    ):
        got = V.shape_str(weight) if isinstance(weight, Tensor) else type(weight).__name__
        return f"weight must be None or a float ({classes},) tensor that needs no gradient, but got {got}"
    if token_weight is not None and (
        not isinstance(token_weight, Tensor) or tuple(token_weight.shape) != expected
        or not token_weight.is_floating_point() or token_weight.requires_grad
    ):
        got = V.shape_str(token_weight) if isinstance(token_weight, Tensor) else type(token_weight).__name__
        return f"token_weight must be None or a float tensor of shape {V.shape_str(expected)}, but got {got}"
    tensors = [t for t in (input, linear_weight, target, linear_bias, weight, token_weight) if t is not None]
    if any(t.device.type != "cpu" for t in tensors):
        return f"every tensor must be on the CPU, but got devices {sorted({str(t.device) for t in tensors})}"
    if ignore_index is not None and (not isinstance(ignore_index, int) or isinstance(ignore_index, bool)):
        return f"ignore_index must be an int or None, but got {ignore_index!r}"
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) or not (
        0.0 <= float(label_smoothing) <= 1.0
    ):
        return f"label_smoothing must be a float in [0, 1], but got {label_smoothing!r}"
    if isinstance(lse_square_scale, bool) or not isinstance(lse_square_scale, (int, float)) or lse_square_scale < 0:
        return f"lse_square_scale must be a float >= 0, but got {lse_square_scale!r}"
    if softcap is not None and (isinstance(softcap, bool) or not isinstance(softcap, (int, float)) or softcap <= 0):
        return f"softcap must be None or a float > 0, but got {softcap!r}"
    if reduction not in V.REDUCTIONS:
        return f"reduction must be one of 'none', 'mean', 'sum', but got {reduction!r}"
    return None


def supports_linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    options=None,
    token_weight: Tensor | None = None,
    lse_square_scale: float = 0.0,
    softcap: float | None = None,
    min_numel: int = C.MIN_NUMEL,
) -> bool:
    """Whether :func:`fused_linear_cross_entropy` takes this call: float32/float64 CPU tensors, a 2-D
    ``linear_weight`` ``(C, in_features)``, class-index targets, any other option, at least ``min_numel`` logits
    (``N * C``), not compiling. ``options`` is accepted (its ``batch_chunk_size`` is honoured)."""
    if not C.dispatch_allowed() or not isinstance(input, Tensor) or not isinstance(linear_weight, Tensor):
        return False
    rows = input.shape[0] if input.dim() == 2 else 1
    if rows * linear_weight.shape[0] < min_numel:
        return False
    reason = _why_not(input, linear_weight, target, linear_bias, weight, token_weight, ignore_index,
                      label_smoothing, lse_square_scale, softcap, reduction)
    return reason is None


# --------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------
class _Rows:
    """Per-row constants of one call."""

    def __init__(self, target, weight, token_weight, ignore_index, eps, zeta, classes, acc):
        valid = target != ignore_index
        self.valid = valid
        valid_f = valid.to(acc)
        self.t_safe = torch.where(valid, target, torch.zeros_like(target)).long()
        self.w = None if weight is None else weight.to(acc)
        self.w_y = valid_f if self.w is None else self.w[self.t_safe] * valid_f
        self.tau = valid_f if token_weight is None else token_weight.to(acc) * valid_f
        self.denominator = (self.w_y * (1.0 if token_weight is None else token_weight.to(acc))).sum()
        self.w_total = float(classes) if self.w is None else self.w.sum()
        self.eps, self.zeta, self.smooth = eps, zeta, eps / classes


def _sweep(h, W, b, rows: _Rows, cap, chunk, factor, want_h, want_w, want_b):
    """Per-row loss terms and lse; with ``factor`` (per-row multiplier of the gradient), the gradients."""
    n, classes = h.shape[0], W.shape[0]
    acc = h.dtype
    terms = torch.empty(n, dtype=acc)
    lse_all = torch.empty(n, dtype=acc)
    grads = factor is not None
    gh = C.empty_like(h) if grads and want_h else None
    gw = C.empty_like(W) if grads and want_w else None
    gb = torch.zeros_like(b) if grads and want_b and b is not None else None
    zbuf = torch.empty(min(chunk, n), classes, dtype=acc)
    tbuf = torch.empty_like(zbuf) if cap is not None and grads else None
    wt = W.t()
    native = None
    if acc == torch.float32 and cap is None and rows.eps == 0 and not rows.zeta:
        native = _native_library()
    for r0 in range(0, n, chunk):
        r1 = min(r0 + chunk, n)
        hc, z = h[r0:r1], zbuf[: r1 - r0]
        if b is None:
            torch.mm(hc, wt, out=z)
        else:
            torch.addmm(b, hc, wt, out=z)
        if cap is not None:
            z.div_(cap).tanh_()
            if tbuf is not None:
                tbuf[: r1 - r0].copy_(z)
            z.mul_(cap)
        t = rows.t_safe[r0:r1]
        if native is not None:
            # one native row loop (losskit.fused._native): max, exp into z, sum, -log p_y and lse, then the
            # gradient scaled in place (coefficient w_y f, minus w_y f at the target); no smoothing, z-loss or cap
            w_y, tau = rows.w_y[r0:r1], rows.tau[r0:r1]
            if factor is None:
                wf = torch.zeros_like(w_y)
            else:
                wf = w_y * tau * (factor[r0:r1] if factor.dim() else factor)
            minus_wf = -wf  # named: the C call reads these pointers, the tensors must outlive it
            nlp = torch.empty(r1 - r0, dtype=acc)
            native.lk_ce_rows(
                z.data_ptr(), z.data_ptr(), r1 - r0, classes, t.data_ptr(), wf.data_ptr(), minus_wf.data_ptr(),
                nlp.data_ptr(), lse_all[r0:r1].data_ptr(),
            )
            terms[r0:r1] = torch.where(rows.valid[r0:r1], tau * w_y * nlp, torch.zeros_like(nlp))
            if grads:
                _weight_products(z, hc, W, gh, gw, gb, r0, r1)
            continue
        z_y = z.gather(1, t.unsqueeze(1)).squeeze(1)
        z_max = z.amax(1)
        z_w = None  # sum_c w_c (z_max - z_c)
        if rows.eps > 0:
            if bool((z_max.abs() > C.SHIFT_ABOVE).any()):
                # huge logits: W z_max - sum_c w_c z_c would cancel to rounding noise (softmax ignores the shift)
                z.sub_(z_max.unsqueeze(1))
                z_w = -(z.sum(1) if rows.w is None else torch.mv(z, rows.w))
            else:
                z_w = rows.w_total * z_max - (z.sum(1) if rows.w is None else torch.mv(z, rows.w))
        torch._softmax(z, 1, False, out=z)
        log_s = -torch.log(z.amax(1))  # log sum_c exp(z_c - z_max)
        lse = z_max + log_s
        lse_all[r0:r1] = lse
        w_y, tau = rows.w_y[r0:r1], rows.tau[r0:r1]
        # lse - z_y and lse - z_c as differences of nearby numbers (lse itself may be huge)
        row = (1.0 - rows.eps) * w_y * ((z_max - z_y) + log_s)
        if z_w is not None:
            row = row + rows.smooth * (rows.w_total * log_s + z_w)
        if rows.zeta:
            row = row + rows.zeta * w_y * lse * lse
        terms[r0:r1] = torch.where(rows.valid[r0:r1], tau * row, torch.zeros_like(row))
        if not grads:
            continue
        f = tau * factor[r0:r1] if factor.dim() else tau * factor
        # d row / d z_c = coef p_c - (1 - eps) w_y [c = y] - (eps / V) w_c  (f carries tau and the validity)
        coef = (1.0 - rows.eps) * w_y + rows.smooth * rows.w_total
        if rows.zeta:
            coef = coef + 2.0 * rows.zeta * w_y * lse
        z.mul_((coef * f).unsqueeze(1))
        if rows.eps > 0:
            if rows.w is None:
                z.sub_((rows.smooth * f).unsqueeze(1))
            else:
                z.addcmul_((rows.smooth * f).unsqueeze(1), rows.w.unsqueeze(0), value=-1.0)
        z.scatter_add_(1, t.unsqueeze(1), (-(1.0 - rows.eps) * w_y * f).unsqueeze(1))
        if tbuf is not None:
            tc = tbuf[: r1 - r0]
            z.mul_(tc.mul_(tc).neg_().add_(1.0))
        _weight_products(z, hc, W, gh, gw, gb, r0, r1)
    return terms, lse_all, gh, gw, gb


def _weight_products(z, hc, W, gh, gw, gb, r0, r1) -> None:
    """The chunk's gradient products: ``dh = dz W``, ``dW += dz^T h`` (written at the first chunk), ``db += sum dz``."""
    if gh is not None:
        torch.mm(z, W, out=gh[r0:r1])
    if gw is not None:
        if r0 == 0:
            torch.mm(z.t(), hc, out=gw)
        else:
            gw.addmm_(z.t(), hc)
    if gb is not None:
        gb.add_(z.sum(0))


def _reduce(terms: Tensor, rows: _Rows, reduction: str) -> Tensor:
    if reduction == "none":
        return terms
    total = terms.sum()
    return total if reduction == "sum" else safe_divide(total, rows.denominator)


class _FusedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, W, b, target, rows, cap, chunk, reduction, want_h, want_w, want_b, unbatched):
        if reduction == "none":
            terms, lse, _, _, _ = _sweep(h, W, b, rows, cap, chunk, None, False, False, False)
            ctx.save_for_backward(h, W, b)
            ctx.saved = (rows, cap, chunk, want_h, want_w, want_b)
        else:
            factor = torch.ones((), dtype=h.dtype)
            if reduction == "mean":
                factor = safe_divide(factor, rows.denominator)
            terms, lse, gh, gw, gb = _sweep(h, W, b, rows, cap, chunk, factor, want_h, want_w, want_b)
            ctx.save_for_backward(gh, gw, gb)
        ctx.reduction, ctx.unbatched, ctx.name = reduction, unbatched, _NAME
        loss = _reduce(terms, rows, reduction)
        if unbatched and reduction == "none":
            loss = loss.squeeze(0)
        ctx.mark_non_differentiable(lse)
        return loss, lse.squeeze(0) if unbatched else lse

    @staticmethod
    def backward(ctx, grad_output, _grad_lse):
        C.refuse_double_backward(ctx.name)
        if ctx.reduction == "none":
            h, W, b = ctx.saved_tensors
            rows, cap, chunk, want_h, want_w, want_b = ctx.saved
            factor = grad_output.reshape(-1).to(h.dtype)
            _, _, gh, gw, gb = _sweep(h, W, b, rows, cap, chunk, factor, want_h, want_w, want_b)
        else:
            gh, gw, gb = ctx.saved_tensors
            gh = None if gh is None else C.scale_saved(gh, grad_output)
            gw = None if gw is None else C.scale_saved(gw, grad_output)
            gb = None if gb is None else C.scale_saved(gb, grad_output)
        return gh, gw, gb, None, None, None, None, None, None, None, None, None


def _plain(input, linear_weight, target, linear_bias, rows: _Rows, cap, reduction):
    """The same numbers with whole-tensor torch ops (traced under torch.compile)."""
    h = input.unsqueeze(0) if input.dim() == 1 else input
    z = F.linear(h, linear_weight, linear_bias)
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    lse = torch.logsumexp(z, 1)
    logp = z - lse.unsqueeze(1)
    nll = -logp.gather(1, rows.t_safe.unsqueeze(1)).squeeze(1)
    row = (1.0 - rows.eps) * rows.w_y * nll
    if rows.eps > 0:
        smooth = -(logp.sum(1) if rows.w is None else logp @ rows.w)
        row = row + rows.smooth * smooth
    if rows.zeta:
        row = row + rows.zeta * rows.w_y * lse * lse
    terms = torch.where(rows.valid, rows.tau * row, torch.zeros_like(row))
    loss = _reduce(terms, rows, reduction)
    if input.dim() == 1:
        return (loss.squeeze(0) if reduction == "none" else loss), lse.detach().squeeze(0)
    return loss, lse.detach()


def fused_linear_cross_entropy_with_lse(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    options=None,
    token_weight: Tensor | None = None,
    lse_square_scale: float = 0.0,
    softcap: float | None = None,
) -> LinearCrossEntropyResult:
    r""":func:`fused_linear_cross_entropy`, returning also the per-row log-sum-exp of the logits (detached).

    Returns:
        ``LinearCrossEntropyResult(loss, lse)``; ``lse`` has shape :math:`(N,)` (:math:`()` unbatched) and is 0
        nowhere special: ignored rows get their log-sum-exp too.

    Example:
        >>> import torch
        >>> from losskit.fused import fused_linear_cross_entropy_with_lse
        >>> h, w = torch.tensor([[1.0, 2.0], [0.5, -1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> loss, lse = fused_linear_cross_entropy_with_lse(h, w, torch.tensor([2, 0]))
        >>> print(round(float(loss), 4), [round(v, 4) for v in lse.tolist()])  # by hand: lse(1, 2, 3), lse(.5, -1, -.5)
        0.436 [3.4076, 0.9644]
    """
    V.check_reduction(_NAME, reduction)
    reason = _why_not(input, linear_weight, target, linear_bias, weight, token_weight, ignore_index,
                      label_smoothing, lse_square_scale, softcap, reduction)
    if reason is not None:
        raise C.unsupported(_NAME, reason, _FALLBACK)
    unbatched = input.dim() == 1
    h = input.unsqueeze(0) if unbatched else input
    t = target.reshape(1) if unbatched else target
    tw = None if token_weight is None else token_weight.reshape(t.shape)
    ignore = -100 if ignore_index is None else ignore_index
    cap = None if softcap is None else float(softcap)
    rows = _Rows(t, weight, tw, ignore, float(label_smoothing), float(lse_square_scale), linear_weight.shape[0],
                 input.dtype)
    if C.compiling():
        return LinearCrossEntropyResult(*_plain(input, linear_weight, target, linear_bias, rows, cap, reduction))
    chunk = _chunk_rows(h.shape[0], linear_weight.shape[0], input.dtype, options)
    grad = torch.is_grad_enabled()
    want_h = grad and input.requires_grad
    want_w = grad and linear_weight.requires_grad
    want_b = grad and linear_bias is not None and linear_bias.requires_grad
    if want_h or want_w or want_b:
        h = h.contiguous()
        loss, lse = _FusedLinearCrossEntropy.apply(
            h, linear_weight, linear_bias, t, rows, cap, chunk, reduction, want_h, want_w, want_b, unbatched
        )
        return LinearCrossEntropyResult(loss, lse)
    terms, lse, _, _, _ = _sweep(h, linear_weight, linear_bias, rows, cap, chunk, None, False, False, False)
    loss = _reduce(terms, rows, reduction)
    if unbatched:
        return LinearCrossEntropyResult(loss.squeeze(0) if reduction == "none" else loss, lse.squeeze(0))
    return LinearCrossEntropyResult(loss, lse)


def fused_linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    options=None,
    token_weight: Tensor | None = None,
    lse_square_scale: float = 0.0,
    softcap: float | None = None,
) -> Tensor:
    r"""Cross-entropy of ``input @ linear_weight.T + linear_bias`` computed chunk by chunk, with its gradients.

    The numbers of :func:`losskit.functional.linear_cross_entropy` (math in
    :mod:`losskit.fused.linear_cross_entropy`), never materialising the ``(N, C)`` logits: memory beyond the
    gradients themselves is one ``(rows, C)`` buffer (:data:`LOGITS_CHUNK_BYTES`).

    Args:
        input: features :math:`(N, H)` or :math:`(H,)`, float32 or float64, on the CPU.
        linear_weight: :math:`(C, H)`, as ``nn.Linear`` stores it.
        target: class indices :math:`(N,)` or :math:`()`.
        linear_bias: optional :math:`(C,)` (default ``None``).
        weight: optional per-class weights :math:`(C,)` (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        ignore_index: target value whose rows count for nothing (default -100; ``None`` means -100).
        label_smoothing: :math:`\varepsilon \in [0, 1]` (default 0.0).
        options: accepted for the public signature; a ``batch_chunk_size`` in it sets the rows per chunk.
        token_weight: optional per-row weights :math:`(N,)` that scale each row's loss and its share of the
            mean's denominator (default ``None``).
        lse_square_scale: z-loss factor :math:`\zeta \ge 0` (default 0.0).
        softcap: soft-capping :math:`s > 0` of the logits, :math:`z = s \tanh(z / s)` (default ``None``: off).

    Raises:
        LossOptionError: a call outside the fast path (:func:`supports_linear_cross_entropy`).

    Example:
        >>> import torch
        >>> from losskit.fused import fused_linear_cross_entropy
        >>> h, w = torch.tensor([[1.0, 2.0], [0.5, -1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> print(round(float(fused_linear_cross_entropy(h, w, torch.tensor([2, 0]))), 4))
        0.436
    """
    return fused_linear_cross_entropy_with_lse(
        input, linear_weight, target, linear_bias=linear_bias, weight=weight, reduction=reduction,
        ignore_index=ignore_index, label_smoothing=label_smoothing, options=options, token_weight=token_weight,
        lse_square_scale=lse_square_scale, softcap=softcap,
    ).loss
