r"""Fused elementwise losses: ``mse_loss``, ``l1_loss``, ``huber_loss``, ``smooth_l1_loss`` and
``binary_cross_entropy_with_logits`` in one sweep that writes the gradient as it goes.

For each chunk of about a million elements the difference (or the logit terms) is formed once, the chunk's loss
is summed (or written out, for ``reduction="none"``) and the derivative is written into the gradient buffer of
``input`` (and of ``target`` when it needs one); torch's kernels instead allocate a full-size temporary in the
forward pass and read both inputs again in the backward pass. Derivatives, with :math:`d = x - y`:

========================= ============================================== =====================================
loss                      :math:`\ell`                                   :math:`\partial \ell / \partial x`
========================= ============================================== =====================================
mse                       :math:`d^2`                                    :math:`2d`
l1                        :math:`|d|`                                    :math:`\operatorname{sign}(d)`
huber (:math:`\delta`)    :math:`c\,(d - c/2)`, :math:`c = \operatorname{clamp}(d, -\delta, \delta)`  :math:`c`
smooth L1 (:math:`\beta`) huber(:math:`\beta`) / :math:`\beta` (l1 for :math:`\beta = 0`)   :math:`c / \beta`
BCE with logits           :math:`(1 - t)\,x - (1 + (p - 1)\,t) \log\sigma(x)` :math:`(1 + (p - 1) t)\,\sigma(x) - p\,t`
========================= ============================================== =====================================

(:math:`\partial \ell / \partial y = -\partial \ell / \partial x` for the four regression losses; for BCE,
:math:`t = y (1 - \varepsilon) + \varepsilon / 2` and :math:`\partial \ell / \partial y = (1 - \varepsilon)
(-x - (p - 1) \log\sigma(x))`.) The numbers are those of :mod:`losskit.functional`: per-element ``weight`` of
the input's shape, weighted mean :math:`\sum w \ell / \sum w`, a mean over nothing is 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from .._reduction import reduce_loss, safe_divide
from . import _common as C
from ._native import library as _native_library

__all__ = [
    "fused_binary_cross_entropy_with_logits",
    "fused_huber_loss",
    "fused_l1_loss",
    "fused_mse_loss",
    "fused_smooth_l1_loss",
    "supports_binary_cross_entropy_with_logits",
    "supports_huber_loss",
    "supports_l1_loss",
    "supports_mse_loss",
    "supports_smooth_l1_loss",
]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# --------------------------------------------------------------------------------------------
# per-chunk kernels. Arguments: x, y, w (acc-dtype chunks; w may be None), gx, gy, out (acc-dtype chunks to
# write d loss / d x * scale, d loss / d y * scale and the loss terms into, or None), scale (0-dim tensor),
# tmp (tmp(j): the j-th scratch chunk of this thread, allocated on first use), p (options). They return the
# chunk's sum of (weighted) terms, or None when ``out`` is given. Everything is written with out=, using the
# gradient chunk itself as the first scratch where possible: no chunk-size temporary is allocated per chunk.
# --------------------------------------------------------------------------------------------
def _mse(x, y, w, gx, gy, out, scale, tmp, p):
    d = torch.sub(x, y, out=gx if gx is not None else tmp(0))
    dw = d if w is None else torch.mul(d, w, out=tmp(1))
    total = None
    if out is not None:
        torch.mul(dw, d, out=out)
    elif w is None:
        total = torch.linalg.vector_norm(d, 2).square()
    else:
        total = torch.dot(dw, d)
    if gy is not None:
        torch.mul(dw, -2.0 * scale, out=gy)
    if gx is not None:
        torch.mul(dw, 2.0 * scale, out=gx)
    return total


def _l1(x, y, w, gx, gy, out, scale, tmp, p):
    d = torch.sub(x, y, out=gx if gx is not None else tmp(0))
    total = None
    if out is not None:
        torch.abs(d, out=out)
        if w is not None:
            out.mul_(w)
    elif w is None:
        total = torch.linalg.vector_norm(d, 1)
    else:
        total = torch.dot(torch.abs(d, out=tmp(1)), w)
    if gx is not None or gy is not None:
        sign = torch.sign(d, out=d)
        f = scale if w is None else torch.mul(w, scale, out=tmp(1))
        if gy is not None:
            torch.mul(sign, f, out=gy).neg_()
        if gx is not None:
            sign.mul_(f)
    return total


def _huber_like(delta: float, divide: float):
    """Huber (``divide=1``) or smooth L1 (``divide=beta``): terms ``c (d - c/2) / divide``, gradient ``c / divide``."""

    def kernel(x, y, w, gx, gy, out, scale, tmp, p):
        d = torch.sub(x, y, out=tmp(0))
        c = torch.clamp(d, -delta, delta, out=gx if gx is not None else tmp(1))
        cw = c if w is None else torch.mul(c, w, out=tmp(2))
        total = None
        if out is not None:
            torch.mul(cw, d, out=out)
            out.addcmul_(cw, c, value=-0.5)
            if divide != 1.0:
                out.div_(divide)
        else:
            total = torch.dot(cw, d) - 0.5 * torch.dot(cw, c)
            if divide != 1.0:
                total = total / divide
        f = scale / divide
        if gy is not None:
            torch.mul(cw, -f, out=gy)
        if gx is not None:
            torch.mul(cw, f, out=gx)
        return total

    return kernel


def _bce(x, y, w, gx, gy, out, scale, tmp, p):
    eps, pos = p["label_smoothing"], p.get("pos_weight")
    t = y if eps == 0.0 else torch.add(torch.mul(y, 1.0 - eps, out=tmp(0)), 0.5 * eps, out=tmp(0))
    log_sig = torch._C._nn.log_sigmoid(x, out=tmp(1))
    f = scale if w is None else torch.mul(w, scale, out=tmp(2))
    total = None
    if pos is None:
        # terms = x - t x - log sigmoid(x); d/dx = sigmoid(x) - t
        if out is not None:
            torch.addcmul(x, t, x, value=-1.0, out=out).sub_(log_sig)
            if w is not None:
                out.mul_(w)
        else:
            # the terms first, then one sum: x.sum() - t.x - log_sig.sum() is inf - inf = NaN at |x| ~ 3e38
            terms = torch.addcmul(x, t, x, value=-1.0, out=tmp(3)).sub_(log_sig)
            total = terms.sum() if w is None else torch.dot(w, terms)
        if gx is not None:
            torch.sigmoid(x, out=gx).sub_(t).mul_(f)
    else:
        # lw = 1 + (pos - 1) t; terms = (1 - t) x - lw log sigmoid(x); d/dx = lw sigmoid(x) - pos t
        lw = torch.addcmul(torch.ones((), dtype=x.dtype), pos - 1.0, t, out=tmp(3))
        terms = torch.addcmul(x, t, x, value=-1.0, out=out if out is not None else tmp(4))
        terms.addcmul_(lw, log_sig, value=-1.0)
        if w is not None:
            terms.mul_(w)
        if out is None:
            total = terms.sum()
        if gx is not None:
            torch.sigmoid(x, out=gx).mul_(lw).addcmul_(pos, t, value=-1.0).mul_(f)
    if gy is not None:
        # d terms / d t = -x - (pos - 1) log sigmoid(x), and d t / d y = 1 - eps
        g = torch.mul(x, -(1.0 - eps), out=gy)
        if pos is not None:
            g.addcmul_(pos - 1.0, log_sig, value=-(1.0 - eps))
        g.mul_(f)
    return total


def _native(name: str, fallback, extra=lambda p: ()):
    """A chunk kernel that runs the native C loop ``name`` (:mod:`losskit.fused._native`) on float32 chunks
    without weights, target gradient, per-element output or ``pos_weight``, and ``fallback`` otherwise or where
    the native kernels are unavailable."""

    def kernel(x, y, w, gx, gy, out, scale, tmp, p):
        lib = _native_library()
        if (
            lib is None
            or x.dtype != torch.float32
            or w is not None
            or gy is not None
            or out is not None
            or p.get("pos_weight") is not None
        ):
            return fallback(x, y, w, gx, gy, out, scale, tmp, p)
        g = None if gx is None else gx.data_ptr()
        return getattr(lib, name)(x.data_ptr(), y.data_ptr(), g, x.numel(), float(scale), *extra(p))

    return kernel


class _Scratch:
    """Per-thread scratch chunks, allocated on first use and viewed at the current chunk's length and shape."""

    def __init__(self, size: int, dtype: torch.dtype) -> None:
        self.size, self.dtype = size, dtype
        self.bufs: dict[int, Tensor] = {}
        self.k = size
        self.shape: tuple[int, ...] = (size,)

    def __call__(self, j: int) -> Tensor:
        buf = self.bufs.get(j)
        if buf is None:
            buf = self.bufs[j] = torch.empty(self.size, dtype=self.dtype)
        return buf[: self.k].view(self.shape)


_NATIVE_MSE = _native("lk_mse", _mse)
_NATIVE_L1 = _native("lk_l1", _l1)
_NATIVE_BCE = _native("lk_bce", _bce, lambda p: (p["label_smoothing"],))


def _native_huber(delta: float, divide: float):
    return _native("lk_huber", _huber_like(delta, divide), lambda p: (delta, divide))


# --------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------
CHUNK_BYTES = 2 << 20
"""Chunk size of the elementwise sweeps: the chunk of each input, its scratch and its gradient stay in a core's
L2/L3 caches while the chunk's ops run; measured on the 2-core machine (mse_loss 2^24, forward+backward), 128 KiB
chunks took 39 ms, 512 KiB 18 ms, 2-4 MiB 13 ms, 8 MiB 13 ms: smaller chunks pay torch's per-op cost more often."""


def _sweep(kind, input, target, weight, params, reduction, want_dx, want_dy, inplace):
    """Loss (reduced) and the gradients w.r.t. input and target for ``grad_output = 1`` (``"none"``: per element)."""
    dtype = input.dtype
    acc = C.acc_dtype(dtype)
    half = acc != dtype
    n = input.numel()
    row = params.get("row", 1)
    x, y = input.reshape(-1), target.reshape(-1)
    w = None if weight is None else weight.reshape(-1)
    pos = params.get("pos_weight")
    if pos is not None:
        params = {**params, "pos_weight": pos.to(acc).reshape(1, -1)}
    if reduction == "mean":
        denominator = n if w is None else w.sum(dtype=acc)
        scale = safe_divide(torch.ones((), dtype=acc), denominator)
    else:
        denominator, scale = None, torch.ones((), dtype=acc)
    dx_buf = (input if inplace else C.empty_like(input)).reshape(-1) if want_dx else None
    dy_buf = C.empty_like(target).reshape(-1) if want_dy else None
    out_buf = C.empty_like(input).reshape(-1) if reduction == "none" else None
    step = max(row, C.rows_per_chunk(row, dtype, CHUNK_BYTES) * row)
    bounds = list(range(0, n, step))
    partials = torch.zeros(len(bounds), dtype=torch.float64)

    def sweep(lo: int, hi: int) -> None:
        tmp = _Scratch(min(step, n), acc)
        half_out = _Scratch(min(step, n), acc) if half else None
        for i in range(lo, hi):
            s, e = bounds[i], min(bounds[i] + step, n)
            k = e - s
            shape = (k // row, row) if pos is not None else (k,)
            tmp.k = k
            tmp.shape = shape
            xc, yc = x[s:e].to(acc).view(shape), y[s:e].to(acc).view(shape)
            wc = None if w is None else w[s:e].to(acc).view(shape)
            targets: list[Tensor | None] = []
            for j, buf in enumerate((dx_buf, dy_buf, out_buf)):
                if buf is None:
                    targets.append(None)
                elif half_out is not None:
                    half_out.k, half_out.shape = k, shape
                    targets.append(half_out(j))
                else:
                    targets.append(buf[s:e].view(shape))
            total = kind(xc, yc, wc, *targets, scale, tmp, params)
            if total is not None:
                partials[i] = total
            if half:
                for buf, src in zip((dx_buf, dy_buf, out_buf), targets):
                    if buf is not None and src is not None:  # both or neither
                        buf[s:e].copy_(src.reshape(-1))

    C.run_split(len(bounds), sweep)
    if inplace and want_dx:
        C.mark_overwritten(input)
    if out_buf is not None:
        loss = out_buf.view(input.shape)
    elif reduction == "sum":
        loss = partials.sum().to(dtype)
    else:
        loss = safe_divide(partials.sum().to(acc), denominator).to(dtype)
    dx_buf = None if dx_buf is None else dx_buf.view(input.shape)
    dy_buf = None if dy_buf is None else dy_buf.view(target.shape)
    return loss, dx_buf, dy_buf


class _FusedPointwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, target, weight, kind, params, reduction, inplace, want_dx, want_dy):
        loss, dx, dy = _sweep(kind, input, target, weight, params, reduction, want_dx, want_dy, inplace)
        ctx.save_for_backward(dx, dy)
        ctx.name = params.get("name", "fused loss")
        ctx.per_element = reduction == "none"
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        C.refuse_double_backward(ctx.name)
        dx, dy = ctx.saved_tensors
        if ctx.per_element:
            gx = None if dx is None else _scale_elementwise(dx, grad_output)
            gy = None if dy is None else _scale_elementwise(dy, grad_output)
        else:
            gx = None if dx is None else C.scale_saved(dx, grad_output)
            gy = None if dy is None else C.scale_saved(dy, grad_output)
        return gx, gy, None, None, None, None, None, None, None


def _scale_elementwise(saved: Tensor, grad_output: Tensor) -> Tensor:
    if grad_output.dtype != saved.dtype:
        grad_output = grad_output.to(saved.dtype)
    if C.compiling() or C.keep_graph():
        return saved * grad_output
    return saved.mul_(grad_output)


# --------------------------------------------------------------------------------------------
# predicates and entry points
# --------------------------------------------------------------------------------------------
def _why_not(input, target, weight, reduction, inplace, pos_weight=None) -> str | None:
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        return f"input and target must be tensors, but got {type(input).__name__} and {type(target).__name__}"
    if input.dtype not in _FLOATS:
        return f"input must be float16, bfloat16, float32 or float64, but got dtype {input.dtype}"
    if target.dtype != input.dtype:
        return f"target must have the dtype of input ({input.dtype}), but got {target.dtype}"
    if target.shape != input.shape:
        return f"target must have the shape of input {V.shape_str(input)}, but got {V.shape_str(target)}"
    for name, t in (("input", input), ("target", target)):
        if not t.is_contiguous():
            return f"{name} must be contiguous, but got strides {tuple(t.stride())}"
        if t.device.type != "cpu":
            return f"{name} must be a CPU tensor, but got device {t.device}"
    if weight is not None:
        if not isinstance(weight, Tensor) or weight.shape != input.shape or not weight.is_contiguous():
            got = V.shape_str(weight) if isinstance(weight, Tensor) else type(weight).__name__
            shape = V.shape_str(input)
            return f"weight must be None or a contiguous tensor of the input's shape {shape}, but got {got}"
        if weight.dtype != input.dtype or weight.requires_grad or weight.device.type != "cpu":
            return (
                f"weight must be a CPU tensor of dtype {input.dtype} that needs no gradient, but got dtype "
                f"{weight.dtype}, requires_grad={weight.requires_grad}, device {weight.device}"
            )
    if pos_weight is not None:
        classes = input.shape[-1] if input.dim() else 1
        if not isinstance(pos_weight, Tensor) or pos_weight.dim() != 1 or pos_weight.shape[0] not in (1, classes):
            got = V.shape_str(pos_weight) if isinstance(pos_weight, Tensor) else type(pos_weight).__name__
            return f"pos_weight must be None or a 1-D tensor of 1 or {classes} elements, but got {got}"
        if pos_weight.requires_grad or pos_weight.device.type != "cpu":
            return "pos_weight must be a CPU tensor that needs no gradient, but got one that does or lives elsewhere"
    if reduction not in V.REDUCTIONS:
        return f"reduction must be one of 'none', 'mean', 'sum', but got {reduction!r}"
    if inplace and input.requires_grad and input.is_leaf:
        return (
            "inplace=True needs input computed by the graph, but got a leaf tensor, whose .grad would share its "
            "memory"
        )
    return None


def _large_enough(input, min_numel: int) -> bool:
    """The cheap part of every predicate, tested first: most calls below the threshold stop here."""
    return isinstance(input, Tensor) and input.numel() >= min_numel and C.dispatch_allowed()


def _run(name, kind, plain, input, target, weight, params, reduction, inplace, pos_weight=None):
    V.check_reduction(name, reduction)
    reason = _why_not(input, target, weight, reduction, inplace, pos_weight)
    if reason is not None:
        raise C.unsupported(name, reason, f"losskit.functional.{name.removeprefix('fused_')}")
    if C.compiling():
        return reduce_loss(plain(), reduction, weight=weight)
    grad = torch.is_grad_enabled()
    want_dx = grad and input.requires_grad
    want_dy = grad and target.requires_grad
    if pos_weight is not None:
        params = {**params, "pos_weight": pos_weight, "row": input.shape[-1] if pos_weight.numel() > 1 else 1}
    params = {**params, "name": name}
    if want_dx or want_dy:
        # in place only when nothing reads the input after its gradient chunk is written (the target's
        # gradient does, for BCE): with a target that needs a gradient the gradient gets its own buffer
        return _FusedPointwise.apply(
            input, target, weight, kind, params, reduction, inplace and want_dx and not want_dy, want_dx, want_dy
        )
    loss, _, _ = _sweep(kind, input, target, weight, params, reduction, False, False, False)
    return loss


def supports_mse_loss(input, target, weight=None, *, reduction="mean", inplace=False, min_numel=C.MIN_NUMEL):
    """Whether :func:`fused_mse_loss` takes this call: contiguous CPU float tensors of one shape and dtype,
    ``weight`` None or of that shape (needing no gradient), at least ``min_numel`` elements, not compiling."""
    return _large_enough(input, min_numel) and _why_not(input, target, weight, reduction, inplace) is None


def supports_l1_loss(input, target, weight=None, *, reduction="mean", inplace=False, min_numel=C.MIN_NUMEL):
    """As :func:`supports_mse_loss`."""
    return _large_enough(input, min_numel) and _why_not(input, target, weight, reduction, inplace) is None


def supports_huber_loss(
    input, target, weight=None, *, reduction="mean", delta=1.0, inplace=False, min_numel=C.MIN_NUMEL
):
    """As :func:`supports_mse_loss` (any valid ``delta``)."""
    return _large_enough(input, min_numel) and _why_not(input, target, weight, reduction, inplace) is None


def supports_smooth_l1_loss(
    input, target, weight=None, *, reduction="mean", beta=1.0, inplace=False, min_numel=C.MIN_NUMEL
):
    """As :func:`supports_mse_loss` (any valid ``beta``)."""
    return _large_enough(input, min_numel) and _why_not(input, target, weight, reduction, inplace) is None


def supports_binary_cross_entropy_with_logits(
    input, target, weight=None, *, pos_weight=None, reduction="mean", label_smoothing=0.0, inplace=False,
    min_numel=C.MIN_NUMEL,
):
    """As :func:`supports_mse_loss`, plus ``pos_weight`` None or 1-D of 1 or ``C = input.shape[-1]`` elements
    (a ``weight`` that broadcasts, e.g. ``(C,)``, goes to the reference path)."""
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
        return False
    if not 0.0 <= float(label_smoothing) <= 1.0:
        return False
    return _large_enough(input, min_numel) and _why_not(input, target, weight, reduction, inplace, pos_weight) is None


def fused_mse_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean", inplace: bool = False
) -> Tensor:
    r"""Mean squared error with the gradient written in the forward sweep (math in :mod:`losskit.fused.pointwise`).

    The numbers of :func:`losskit.functional.mse_loss`. ``inplace=True`` writes the gradient w.r.t. ``input``
    into ``input``'s memory (the predictions are lost; ``input`` must come from the graph, not be a leaf).

    Args:
        input, target: predictions and targets, one shape and floating dtype, contiguous, on the CPU.
        weight: optional per-element weights of that shape (default ``None``).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        inplace: reuse ``input``'s memory for its gradient (default ``False``).

    Raises:
        LossOptionError: a call outside the fast path (:func:`supports_mse_loss`).

    Example:
        >>> import torch
        >>> from losskit.fused import fused_mse_loss
        >>> print(round(float(fused_mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        2.5
    """
    return _run(
        "fused_mse_loss", _NATIVE_MSE, lambda: F.mse_loss(input, target, reduction="none"),
        input, target, weight, {}, reduction, inplace,
    )


def fused_l1_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean", inplace: bool = False
) -> Tensor:
    r"""Mean absolute error, fused (see :func:`fused_mse_loss`); the numbers of :func:`losskit.functional.l1_loss`.

    Example:
        >>> import torch
        >>> from losskit.fused import fused_l1_loss
        >>> print(round(float(fused_l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.5
    """
    return _run(
        "fused_l1_loss", _NATIVE_L1, lambda: F.l1_loss(input, target, reduction="none"),
        input, target, weight, {}, reduction, inplace,
    )


def fused_huber_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
    delta: float = 1.0,
    inplace: bool = False,
) -> Tensor:
    r"""Huber loss, fused (see :func:`fused_mse_loss`); the numbers of :func:`losskit.functional.huber_loss`.

    Example:
        >>> import torch
        >>> from losskit.fused import fused_huber_loss
        >>> print(round(float(fused_huber_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.0
    """
    delta = V.check_positive("fused_huber_loss", "delta", delta)
    return _run(
        "fused_huber_loss", _native_huber(delta, 1.0),
        lambda: F.huber_loss(input, target, reduction="none", delta=delta),
        input, target, weight, {}, reduction, inplace,
    )


def fused_smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
    beta: float = 1.0,
    inplace: bool = False,
) -> Tensor:
    r"""Smooth L1 loss, fused (see :func:`fused_mse_loss`); the numbers of :func:`losskit.functional.smooth_l1_loss`.

    Example:
        >>> import torch
        >>> from losskit.fused import fused_smooth_l1_loss
        >>> print(round(float(fused_smooth_l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))), 4))
        1.0
    """
    beta = V.check_positive("fused_smooth_l1_loss", "beta", beta, allow_zero=True)
    kind = _NATIVE_L1 if beta == 0.0 else _native_huber(beta, beta)
    return _run(
        "fused_smooth_l1_loss", kind, lambda: F.smooth_l1_loss(input, target, reduction="none", beta=beta),
        input, target, weight, {}, reduction, inplace,
    )


def fused_binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    pos_weight: Tensor | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    inplace: bool = False,
) -> Tensor:
    r"""Binary cross-entropy on logits, fused (see :func:`fused_mse_loss`); the numbers of
    :func:`losskit.functional.binary_cross_entropy_with_logits` (smoothing :math:`t = y(1 - \varepsilon) +
    \varepsilon / 2`, weighted mean :math:`\sum w \ell / \sum w`).

    Example:
        >>> import torch
        >>> from losskit.fused import fused_binary_cross_entropy_with_logits as bce
        >>> x, y = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])
        >>> print(round(float(bce(x, y)), 4), round(float(bce(x, y, label_smoothing=0.2)), 4))
        0.2201 0.3701
    """
    name = "fused_binary_cross_entropy_with_logits"
    eps = V.check_unit_interval(name, "label_smoothing", label_smoothing)

    def plain() -> Tensor:
        t = target if eps == 0.0 else target * (1.0 - eps) + 0.5 * eps
        return F.binary_cross_entropy_with_logits(input, t, pos_weight=pos_weight, reduction="none")

    return _run(
        name, _NATIVE_BCE, plain, input, target, weight, {"label_smoothing": eps}, reduction, inplace, pos_weight
    )
