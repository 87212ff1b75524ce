r"""Fused soft Dice loss (binary and multilabel masks): two sweeps, no full-size temporary but the gradient.

The Dice score of a group (a class over the batch, or a class in one image with ``per_image=True``) needs the
group's sums before any gradient is known, so the fused path reads the inputs twice:

1. per chunk, the sums :math:`P = \sum p`, :math:`T = \sum t` and :math:`I = \sum p\,t`, with
   :math:`p = \sigma(x)` (or :math:`x` itself with ``from_logits=False``);
2. per chunk again, the gradient written straight into its buffer (float32/float64 logits: the first sweep left
   :math:`p` there, and the second turns it into the gradient in place; otherwise :math:`p` is recomputed):

.. math::
    D = \frac{2I + s}{\max(P + T + s,\ \epsilon)}, \qquad
    \frac{\partial (1 - D)}{\partial p_j} = -\frac{2 t_j}{\mathrm{den}} + \frac{(2I + s)\,[P + T + s > \epsilon]}
    {\mathrm{den}^2}, \qquad \frac{\partial p_j}{\partial x_j} = p_j (1 - p_j),

(with ``log_loss``, :math:`\partial(-\log D)/\partial p_j = -2 t_j / (2I + s) + [P + T + s > \epsilon]/\mathrm{den}`
where :math:`D > \epsilon`), and 0 for a group without target pixels (smp's rule). Torch's autograd through the
usual formula instead keeps :math:`p`, :math:`p\,t` and their gradients as full-size tensors. The numbers are
those of :func:`losskit.functional.dice_loss` (conventions in :mod:`losskit.functional.segmentation`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _validation as V
from . import _common as C
from ._native import library as _native_library

__all__ = ["fused_dice_loss", "supports_dice_loss"]

_NAME = "fused_dice_loss"
CHUNK_BYTES = 1 << 20
"""Chunk size of the two sweeps (of each input, in the accumulation dtype)."""


def _why_not(input, target, class_weights, mode, from_logits, smooth, eps, ignore_index, log_loss, per_image,
             global_batch, reduction, inplace) -> str | None:
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        return f"input and target must be tensors, but got {type(input).__name__} and {type(target).__name__}"
    if mode not in ("binary", "multilabel"):
        return (
            f"mode must be 'binary' or 'multilabel' on the fused path (multiclass takes the reference), "
            f"but got {mode!r}"
        )
    if input.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        return f"input must be a floating tensor, but got dtype {input.dtype}"
    if input.dim() < 2 or target.shape != input.shape:
        return f"target must have the shape of input (N, C, *) {V.shape_str(input)}, but got {V.shape_str(target)}"
    if mode == "binary" and input.shape[1] != 1:
        return f"input must have one channel with mode='binary', but got {V.shape_str(input)}"
    if not input.is_contiguous() or not target.is_contiguous():
        return "input and target must be contiguous, but got a strided one"
    if input.device.type != "cpu" or target.device.type != "cpu" or target.requires_grad:
        return "input and target must be CPU tensors and target must need no gradient, but got otherwise"
    if class_weights is not None or ignore_index is not None or global_batch:
        return (
            "class_weights, ignore_index and global_batch must be off on the fused path, but got "
            f"class_weights={'a tensor' if class_weights is not None else None}, ignore_index={ignore_index!r}, "
            f"global_batch={global_batch!r}"
        )
    for arg, value, low in (("smooth", smooth, 0.0), ("eps", eps, None)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            value < low if low is not None else value <= 0
        ):
            return f"{arg} must be a float {'>= 0' if low is not None else '> 0'}, but got {value!r}"
    if reduction not in V.REDUCTIONS:
        return f"reduction must be one of 'none', 'mean', 'sum', but got {reduction!r}"
    if inplace and input.requires_grad and input.is_leaf:
        return "inplace=True needs input computed by the graph, but got a leaf tensor"
    return None


def supports_dice_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    from_logits: bool = True,
    smooth: float = 0.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    log_loss: bool = False,
    per_image: bool = False,
    global_batch: bool = False,
    reduction: str = "mean",
    inplace: bool = False,
    min_numel: int = C.MIN_NUMEL,
) -> bool:
    """Whether :func:`fused_dice_loss` takes this call: binary or multilabel masks of the input's shape,
    contiguous CPU tensors, no ``class_weights``/``ignore_index``/``global_batch``, at least ``min_numel``
    elements, not compiling."""
    if not C.dispatch_allowed() or not isinstance(input, Tensor) or input.numel() < min_numel:
        return False
    return _why_not(input, target, class_weights, mode, from_logits, smooth, eps, ignore_index, log_loss,
                    per_image, global_batch, reduction, inplace) is None


def _groups(input: Tensor, per_image: bool) -> tuple[int, int, int, int]:
    n, c = input.shape[0], input.shape[1]
    s = math.prod(input.shape[2:])
    return n, c, s, (n * c if per_image else c)


def _chunks(n: int, c: int, s: int, per_image: bool, step: int) -> list[tuple[int, int, int, int]]:
    """(flat start, flat end, group, slab) for every chunk of the (n, c, s) layout."""
    out = []
    for i in range(n):
        for j in range(c):
            base = (i * c + j) * s
            group = i * c + j if per_image else j
            for k in range(0, s, step):
                out.append((base + k, base + min(k + step, s), group, i * c + j))
    return out


def _sweep(input, target, from_logits, smooth, eps, log_loss, per_image, reduction, want_grad, inplace):
    dtype = input.dtype
    acc = C.acc_dtype(dtype)
    n, c, s, groups = _groups(input, per_image)
    x, t = input.reshape(-1), target.reshape(-1)
    step = C.rows_per_chunk(1, dtype, CHUNK_BYTES)
    chunks = _chunks(n, c, s, per_image, step)
    sums = torch.zeros(len(chunks), 3, dtype=torch.float64)  # rows written by the chunks' own threads

    # every chunk-size tensor lives in a per-thread scratch buffer: allocating them per chunk would make glibc
    # map and fault fresh pages each time (they are above its default 128 KiB mmap threshold)
    def scratch() -> tuple[Tensor, Tensor]:
        size = min(step, x.numel())
        return torch.empty(size, dtype=acc), torch.empty(size, dtype=acc)

    def load(buf: Tensor, src: Tensor) -> Tensor:
        return src if src.dtype == acc else buf[: src.numel()].copy_(src)

    # float32/float64 logits with a gradient: the first sweep keeps sigmoid(x) in the gradient buffer, which the
    # second turns into the gradient in place (one sigmoid per element instead of two; with inplace=True that
    # buffer is the logits, which only the first sweep reads)
    keep_p = want_grad and from_logits and acc == dtype
    grad = (input if inplace else C.empty_like(input)) if want_grad else None
    gflat = None if grad is None else grad.view(-1)

    # the native loops (losskit.fused._native) for float32 logits and targets, p kept in the gradient buffer as above
    lib = _native_library() if keep_p and dtype == torch.float32 and t.dtype == torch.float32 else None

    def first(lo: int, hi: int) -> None:
        pbuf, tbuf = scratch()
        for i in range(lo, hi):
            a, b, _, _ = chunks[i]
            xc = x[a:b]
            if lib is not None:
                assert gflat is not None
                lib.lk_dice_sums(xc.data_ptr(), t[a:b].data_ptr(), gflat[a:b].data_ptr(), b - a, sums[i].data_ptr())
                continue
            if keep_p:
                p = torch.sigmoid(xc, out=gflat[a:b])
            else:
                p = torch.sigmoid(xc, out=pbuf[: b - a]) if from_logits else load(pbuf, xc)
            tc = load(tbuf, t[a:b])
            sums[i, 0] = p.sum()
            sums[i, 1] = tc.sum()
            sums[i, 2] = torch.dot(p, tc)

    C.run_split(len(chunks), first)
    index = torch.tensor([g for _, _, g, _ in chunks], dtype=torch.long)
    totals = torch.zeros(groups, 3, dtype=torch.float64).index_add_(0, index, sums).to(acc)
    p_sum, t_sum, inter = totals.unbind(1)
    num = 2.0 * inter + smooth
    den_raw = 2.0 * inter + (p_sum - inter) + (t_sum - inter) + smooth
    den = den_raw.clamp_min(eps)
    score = num / den
    present = t_sum > 0
    if log_loss:
        loss = -torch.log(score.clamp_min(eps))
    else:
        loss = 1.0 - score
    loss = torch.where(present, loss, torch.zeros_like(loss))
    loss_shape = (n, c) if per_image else (c,)
    if reduction == "none":
        out = loss.view(loss_shape)
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = loss.mean() if loss.numel() else loss.sum()
    if want_grad:
        scale = 1.0 / loss.numel() if reduction == "mean" and loss.numel() else 1.0
        ind = (den_raw > eps).to(acc)
        if log_loss:
            live = (score > eps) & present
            coef_t = torch.where(live, -2.0 / num, torch.zeros_like(num))
            coef_1 = torch.where(live, ind / den, torch.zeros_like(num))
        else:
            coef_t = torch.where(present, -2.0 / den, torch.zeros_like(den))
            coef_1 = torch.where(present, num * ind / (den * den), torch.zeros_like(den))
        coef_t, coef_1 = (coef_t * scale).tolist(), (coef_1 * scale).tolist()

        def second(lo: int, hi: int) -> None:
            pbuf, tbuf = scratch()
            for i in range(lo, hi):
                a, b, group, _ = chunks[i]
                if lib is not None:
                    lib.lk_dice_grad(t[a:b].data_ptr(), gflat[a:b].data_ptr(), b - a, coef_t[group], coef_1[group])
                    continue
                if keep_p:
                    # d = (t coef_t + coef_1) p (1 - p), p read from the gradient chunk
                    g = gflat[a:b]
                    coef = torch.mul(t[a:b], coef_t[group], out=tbuf[: b - a]).add_(coef_1[group])
                    g.addcmul_(g, g, value=-1.0).mul_(coef)
                    continue
                direct = acc == dtype
                # p first: with inplace=True the gradient chunk is the logits chunk
                p = None
                if from_logits:
                    p = torch.sigmoid(x[a:b], out=pbuf[: b - a]) if direct else load(pbuf, x[a:b]).sigmoid_()
                d = gflat[a:b] if direct else tbuf[: b - a]
                torch.mul(load(tbuf, t[a:b]), coef_t[group], out=d).add_(coef_1[group])
                if p is not None:
                    d.mul_(p).mul_(p.neg_().add_(1.0))
                if not direct:
                    gflat[a:b].copy_(d)

        C.run_split(len(chunks), second)
        if inplace:
            C.mark_overwritten(input)
    return out.to(dtype), grad


class _FusedDice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, target, from_logits, smooth, eps, log_loss, per_image, reduction, inplace):
        loss, grad = _sweep(input, target, from_logits, smooth, eps, log_loss, per_image, reduction, True, inplace)
        ctx.save_for_backward(grad)
        ctx.name = _NAME
        ctx.none = reduction == "none"
        ctx.per_image = per_image
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        C.refuse_double_backward(ctx.name)
        (grad,) = ctx.saved_tensors
        if not ctx.none:
            return C.scale_saved(grad, grad_output), None, None, None, None, None, None, None, None
        n, c = grad.shape[0], grad.shape[1]
        view = (n, c) if ctx.per_image else (1, c)
        factor = grad_output.reshape(view).reshape(*view, *([1] * (grad.dim() - 2))).to(grad.dtype)
        scaled = grad * factor if (C.compiling() or C.keep_graph()) else grad.mul_(factor)
        return scaled, None, None, None, None, None, None, None, None


def fused_dice_loss(
    input: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    *,
    mode: str,
    from_logits: bool = True,
    smooth: float = 0.0,
    eps: float = 1e-7,
    ignore_index: int | None = None,
    log_loss: bool = False,
    per_image: bool = False,
    global_batch: bool = False,
    reduction: str = "mean",
    inplace: bool = False,
) -> Tensor:
    r"""Soft Dice loss of binary or multilabel masks with the gradient written in a second sweep.

    The numbers of :func:`losskit.functional.dice_loss` (math in :mod:`losskit.fused.dice`) for
    ``mode="binary"`` or ``"multilabel"`` without ``class_weights``, ``ignore_index`` or ``global_batch``.
    ``inplace=True`` writes the gradient into ``input``'s memory (the logits are lost).

    Raises:
        LossOptionError: a call outside the fast path (:func:`supports_dice_loss`).

    Example:
        >>> import torch
        >>> from losskit.fused import fused_dice_loss
        >>> probs = torch.tensor([[[0.9, 0.2, 0.7, 0.1]]])
        >>> mask = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
        >>> print(round(float(fused_dice_loss(probs, mask, mode="binary", from_logits=False)), 4))
        0.3061
    """
    V.check_reduction(_NAME, reduction)
    reason = _why_not(input, target, class_weights, mode, from_logits, smooth, eps, ignore_index, log_loss,
                      per_image, global_batch, reduction, inplace)
    if reason is not None:
        raise C.unsupported(_NAME, reason, "losskit.functional.dice_loss")
    args = (bool(from_logits), float(smooth), float(eps), bool(log_loss), bool(per_image), reduction)
    if C.compiling():
        import losskit.functional as LF

        return LF.dice_loss(input, target, mode=mode, from_logits=from_logits, smooth=smooth, eps=eps,
                            log_loss=log_loss, per_image=per_image, reduction=reduction)
    if input.requires_grad and torch.is_grad_enabled():
        return _FusedDice.apply(input, target, *args, inplace)
    loss, _ = _sweep(input, target, *args, False, False)
    return loss
