r"""Global-batch helpers over :mod:`torch.distributed`: a differentiable gather, global sums, counts and means.

Every helper is a no-op (it returns its input, or the plain single-process result) when no process group
with more than one rank is initialised, so a loss written with them runs unchanged on one process.

**The convention.** On ``W`` ranks, every helper returns on *every* rank the value of the single-process
computation over the global batch: :func:`all_gather` the whole batch, :func:`all_reduce_sum` the global
sum, :func:`global_mean` the global mean. Backward **sums the incoming gradients over ranks**: the gradient
that reaches rank ``s``'s own slice is :math:`\sum_r \partial L_r / \partial x_s` (a reduce-scatter for the
gather, an all-reduce for the sum). When every rank computes the same global loss :math:`L`, that is ``W``
times the single-process gradient of the slice; DDP then averages parameter gradients over ranks (divides by
``W``), so after ``loss.backward()`` every rank holds exactly the single-process, full-batch parameter
gradient. In short: compute the *global* loss on every rank (a mean over the global batch, not over the
local one), call ``backward`` on every rank, and let DDP average.

**Uneven batches.** Local batch sizes may differ, and a rank may hold an empty batch (0 rows): it then
contributes nothing to the sums and counts, still takes part in every collective, and gets a zero gradient.
A mean over nothing (a global count of 0) is 0 with a zero gradient, as in :mod:`losskit._reduction`.

**Micro-batches.** :class:`GlobalMean` divides each micro-batch's loss sum by the count of the whole
optimizer step (all ranks, all micro-batches), so that ``N`` ranks x ``M`` micro-batches give exactly the
gradient of one big batch; see ``docs/distributed.md`` for the training-loop recipe.

Rules that keep the ranks in step:

* every rank calls the same helpers in the same order (they are collectives), and calls ``backward``
  through every result that needs a gradient, even with an empty local batch;
* the guard mode (:func:`losskit.set_guard`, ``LOSSKIT_GUARD``) is the same on every rank;
* only the default process group is used; the tensors live on a device its backend supports (CPU for gloo,
  CUDA for NCCL; Python numbers and CPU counts are moved to the current CUDA device under NCCL).

Shape and dtype mismatches between ranks raise on *every* rank (the metadata is exchanged first), so a
mistake does not leave the other ranks waiting. :func:`all_gather` always checks (it needs the sizes
anyway); :func:`all_reduce_sum` and the count/mean helpers check their first call of the process in the
default ``"first"`` guard mode, every call in ``"always"``/``"strict"``, never in ``"off"``. The check costs one
small extra collective and a host sync.

Example (one process: every helper is the plain computation):
    >>> import torch
    >>> from losskit import distributed as lkd
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> bool(lkd.all_gather(x).equal(x)), lkd.world_size(), lkd.rank()
    (True, 1, 0)
    >>> print(round(float(lkd.global_mean(x.sum(), 4)), 4))
    2.5
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from . import _validation as V
from ._reduction import reduce_loss, safe_divide

__all__ = [
    "GlobalMean",
    "all_gather",
    "all_gather_with_offset",
    "all_reduce_sum",
    "global_count",
    "global_mean",
    "global_reduce_loss",
    "is_distributed",
    "rank",
    "world_size",
]


def is_distributed() -> bool:
    """Whether a default process group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """The number of ranks of the default process group (1 without one)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank in the default process group (0 without one)."""
    return dist.get_rank() if is_distributed() else 0


# --------------------------------------------------------------------------------------------
# metadata exchange: every rank learns every rank's shape and dtype, and all raise together
# --------------------------------------------------------------------------------------------
_LISTED_DIMS = 8  # trailing dims listed one by one; beyond them the per-row element count still has to match
_DTYPE_CODES = {
    dtype: code
    for code, dtype in enumerate(
        (
            torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex64, torch.complex128,
            torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool,
        )
    )
}
_CODE_NAMES = {code: str(dtype).replace("torch.", "") for dtype, code in _DTYPE_CODES.items()}
_first_check_done = False


def _comm_device(device: torch.device) -> torch.device:
    """The device a collective of the default group runs on for a tensor on ``device``."""
    if device.type == "cpu" and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _meta(x: Tensor) -> Tensor:
    """``[ndim, dtype code, rows, elements per row, trailing dims... (-1 padded)]`` as int64."""
    dims = list(x.shape)
    rows = dims[0] if dims else 1
    trailing = dims[1:]
    per_row = 1
    for d in trailing:
        per_row *= d
    listed = trailing[:_LISTED_DIMS] + [-1] * (_LISTED_DIMS - min(len(trailing), _LISTED_DIMS))
    code = _DTYPE_CODES.get(x.dtype, len(_DTYPE_CODES))
    return torch.tensor([x.dim(), code, rows, per_row, *listed], dtype=torch.int64)


def _exchange_meta(x: Tensor) -> list[list[int]]:
    """Every rank's :func:`_meta` (one small all-gather and a host sync)."""
    mine = _meta(x).to(_comm_device(x.device))
    rows = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(rows, mine)
    return [r.tolist() for r in rows]


def _describe(meta: list[int]) -> str:
    ndim, code, rows, _, *listed = meta
    dims = ([rows] if ndim else []) + [d for d in listed if d >= 0]
    shape = "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + (", ...)" if ndim > 9 else ")")
    return f"{shape} {_CODE_NAMES.get(code, 'of another dtype')}"


def _raise_on_mismatch(name: str, metas: list[list[int]], *, rows_may_differ: bool, fix: str) -> None:
    """Raise the same error on every rank when the ranks' tensors do not fit together."""
    if rows_may_differ and any(m[0] == 0 for m in metas):
        bad = next(r for r, m in enumerate(metas) if m[0] == 0)
        raise V.LossShapeError(
            f"{name}: x must have at least 1 dimension (the batch, gathered along dim 0), but got a 0-dim "
            f"tensor on rank {bad}; use x.unsqueeze(0) (or all_reduce_sum for a sum over ranks)"
        )
    key = (lambda m: [m[0], m[1], *m[3:]]) if rows_may_differ else (lambda m: m)
    ref = key(metas[0])
    for r, m in enumerate(metas[1:], start=1):
        if key(m) == ref:
            continue
        cls = V.LossTypeError if key(m)[:1] + key(m)[2:] == ref[:1] + ref[2:] else V.LossShapeError
        what = "the same shape after dim 0 and the same dtype" if rows_may_differ else "the same shape and dtype"
        raise cls(
            f"{name}: x must have {what} on every rank, but got {_describe(metas[0])} on rank 0 and "
            f"{_describe(m)} on rank {r}; {fix}"
        )


def _check_due() -> bool:
    """Whether a sum over ranks checks its metadata now (same answer on every rank: see the module doc)."""
    global _first_check_done
    mode = V.get_guard()
    if mode == "off":
        return False
    if mode in ("always", "strict"):
        return True
    due, _first_check_done = not _first_check_done, True
    return due


# --------------------------------------------------------------------------------------------
# the collectives (raw, then their autograd Functions)
# --------------------------------------------------------------------------------------------
def _all_reduce_raw(x: Tensor) -> Tensor:
    """A new tensor holding the sum of ``x`` over ranks (no autograd)."""
    device = _comm_device(x.device)
    out = x.detach().to(device, copy=True, memory_format=torch.contiguous_format)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(x.device)


def _gather_raw(x: Tensor, sizes: list[int]) -> Tensor:
    """Every rank's rows concatenated in rank order, padding to the largest local size for the collective."""
    rest = tuple(x.shape[1:])
    longest = max(sizes)
    if longest == 0:
        return x.detach().new_empty((0, *rest))
    device = _comm_device(x.device)
    padded = torch.zeros((longest, *rest), dtype=x.dtype, device=device)
    padded[: x.shape[0]] = x.detach()
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)]).to(x.device)


class _AllGather(torch.autograd.Function):
    """Forward: concatenation of every rank's rows. Backward: the sum over ranks of the gradient of this
    rank's rows (an all-reduce of the whole gradient, then this rank's slice: gloo and NCCL both have it)."""

    @staticmethod
    def forward(ctx, x: Tensor, sizes: list[int], me: int) -> Tensor:
        ctx.sizes, ctx.me = sizes, me
        return _gather_raw(x, sizes)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        sizes, me = ctx.sizes, ctx.me
        start = sum(sizes[:me])
        if sum(sizes) == 0:
            return grad.new_zeros((0, *grad.shape[1:])), None, None
        total = _all_reduce_raw(grad)
        return total[start : start + sizes[me]], None, None


class _AllReduceSum(torch.autograd.Function):
    """Forward: the sum over ranks. Backward: the sum over ranks of the incoming gradients."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return _all_reduce_raw(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return _all_reduce_raw(grad)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def all_gather(x: Tensor) -> Tensor:
    r"""Every rank's ``x`` concatenated along dim 0 (in rank order); differentiable.

    Local sizes along dim 0 may differ between ranks (0 included); the other dims and the dtype must be the
    same on every rank. Rank ``s``'s rows are ``out[sum(n_0..n_{s-1}) : ... + n_s]``. Backward returns to each
    rank the gradient of its own rows summed over ranks (module docstring: with DDP's averaging and a global
    loss this gives the single-process gradient). Without a process group, returns ``x`` itself.

    In a loss with ``global_batch=True`` the local rows are the anchors and the gathered rows the candidates;
    the local rows appear in both, and both paths carry their gradient.

    Args:
        x: a tensor with at least one dimension, any dtype (``bool`` is gathered as ``uint8``).

    Shape:
        ``x``: :math:`(n_r, *)` on rank ``r``. Output: :math:`(\sum_r n_r, *)` on every rank.

    Raises:
        LossShapeError: a 0-dim ``x``, or trailing dims that differ between ranks (on every rank).
        LossTypeError: dtypes that differ between ranks, or ``x`` not a tensor.

    Example:
        >>> import torch
        >>> from losskit.distributed import all_gather
        >>> all_gather(torch.ones(2, 3)).shape  # one process: x itself
        torch.Size([2, 3])
    """
    return _gather("all_gather", x)[0]


def all_gather_with_offset(x: Tensor) -> tuple[Tensor, int]:
    """:func:`all_gather`, and the index of this rank's first row in the result.

    The offset locates the local rows among the gathered ones, ``out[offset : offset + len(x)]``, without an
    extra collective: what a loss needs to find each anchor's own row (its positive on the diagonal, or the
    self-pair to leave out). Without a process group, returns ``(x, 0)``.

    Example:
        >>> import torch
        >>> from losskit.distributed import all_gather_with_offset
        >>> out, offset = all_gather_with_offset(torch.ones(2, 3))  # one process
        >>> tuple(out.shape), offset
        ((2, 3), 0)
    """
    return _gather("all_gather_with_offset", x)


def _gather(name: str, x: Tensor) -> tuple[Tensor, int]:
    V.check_tensor(name, "x", x)
    if not is_distributed():
        return x, 0
    metas = _exchange_meta(x)
    _raise_on_mismatch(
        name, metas, rows_may_differ=True,
        fix="gather the same kind of rows on every rank (one embedding width, one dtype: check the model and "
        "autocast settings of each rank)",
    )
    sizes, me = [m[2] for m in metas], dist.get_rank()
    offset = sum(sizes[:me])
    if x.dtype == torch.bool:
        return _gather_raw(x.to(torch.uint8), sizes).bool(), offset
    if x.requires_grad:
        return _AllGather.apply(x, sizes, me), offset
    return _gather_raw(x, sizes), offset


def all_reduce_sum(x: Tensor) -> Tensor:
    """The sum of ``x`` over ranks, on every rank; differentiable.

    Backward sums the incoming gradients over ranks (module docstring). ``x`` must have the same shape and
    dtype on every rank (per-class sums of the same classes, a scalar loss sum ...); ``bool`` is summed as
    ``int64`` counts. Without a process group, returns ``x`` itself.

    Args:
        x: any tensor.

    Raises:
        LossShapeError, LossTypeError: shapes or dtypes that differ between ranks (checked as the module
            docstring says), or ``x`` not a tensor.

    Example:
        >>> import torch
        >>> from losskit.distributed import all_reduce_sum
        >>> all_reduce_sum(torch.tensor([1.0, 2.0]))  # one process: x itself
        tensor([1., 2.])
    """
    V.check_tensor("all_reduce_sum", "x", x)
    if not is_distributed():
        return x
    _check_same_everywhere("all_reduce_sum", x)
    if x.dtype == torch.bool:
        return _all_reduce_raw(x.to(torch.int64))
    if x.requires_grad:
        return _AllReduceSum.apply(x)
    return _all_reduce_raw(x)


def _check_same_everywhere(name: str, x: Tensor) -> None:
    if _check_due():
        _raise_on_mismatch(
            name, _exchange_meta(x), rows_may_differ=False,
            fix="a sum over ranks is elementwise: pass one shape and dtype on every rank (the same classes, "
            "the same reduction)",
        )


def _as_count(name: str, arg: str, count: Tensor | int | float, device: torch.device | None = None) -> Tensor:
    """A count (Python number or tensor) as a tensor; ``bool`` tensors count as ``int64``."""
    if isinstance(count, Tensor):
        return count.to(torch.int64) if count.dtype == torch.bool else count
    if isinstance(count, bool) or not isinstance(count, (int, float)):
        raise V.LossTypeError(
            f"{name}: {arg} must be a number or a tensor of counts, but got {type(count).__name__}; "
            f"pass e.g. int(mask.sum()) or mask.sum()"
        )
    return torch.tensor(count, dtype=torch.int64 if isinstance(count, int) else torch.float64, device=device)


def global_count(count: Tensor | int | float) -> Tensor:
    """The sum over ranks of a count (local tokens, samples, valid pairs), without gradient.

    Call it once per optimizer step with this rank's count over all of the step's micro-batches to get the
    denominator of a mean over the global batch (module docstring; :class:`GlobalMean` does it for you).

    Args:
        count: an ``int``, a ``float`` (a sum of weights) or a tensor (``bool`` counts as ``int64``).

    Returns:
        A detached tensor: ``int64`` for an ``int``, ``float64`` for a ``float``, else the tensor's dtype.

    Example:
        >>> from losskit.distributed import global_count
        >>> global_count(7)  # one process: the count itself
        tensor(7)
    """
    t = _as_count("global_count", "count", count).detach()
    if not is_distributed():
        return t
    _check_same_everywhere("global_count", t)
    return _all_reduce_raw(t)


def global_mean(local_sum: Tensor, local_count: Tensor | int | float) -> Tensor:
    r"""The mean over the global batch, ``sum over ranks of local_sum / sum over ranks of local_count``.

    .. math::
        \bar\ell = \frac{\sum_r s_r}{\sum_r c_r}

    One collective carries both sums (in float64). The value is the same on every rank and equals the
    single-process mean over the whole batch; a global count of 0 gives 0 with a zero gradient. Differentiable
    in ``local_sum`` (and in ``local_count`` if it is a floating tensor that requires grad, e.g. a sum of
    learnable weights). For micro-batches use :class:`GlobalMean`.

    Args:
        local_sum: this rank's sum of per-element losses (``reduction="sum"``), floating, any shape.
        local_count: this rank's number of elements (tokens, samples) or sum of weights: a number, a scalar
            tensor, or a tensor of ``local_sum``'s shape (one count per entry).

    Raises:
        LossTypeError: integer ``local_sum``, or a count that is not a number or tensor.
        LossShapeError: ``local_count`` of another shape than ``()`` or ``local_sum``'s.

    Example:
        >>> import torch
        >>> from losskit.distributed import global_mean
        >>> print(round(float(global_mean(torch.tensor(6.0), 4)), 4))  # one process: 6 / 4
        1.5
    """
    name = "global_mean"
    V.check_tensor(name, "local_sum", local_sum)
    V.check_floating(name, "local_sum", local_sum, role="loss sums")
    count = _as_count(name, "local_count", local_count).to(local_sum.device)
    if count.dim() and count.shape != local_sum.shape:
        raise V.LossShapeError(
            f"{name}: local_count must be a scalar or have local_sum's shape {V.shape_str(local_sum)}, but got "
            f"{V.shape_str(count)}; pass one count for the whole sum (e.g. mask.sum())"
        )
    if not is_distributed():
        return safe_divide(local_sum, count)
    n = local_sum.numel()
    packed = torch.cat([local_sum.reshape(-1).to(torch.float64), count.reshape(-1).to(torch.float64)])
    _check_same_everywhere(name, packed)
    total = _AllReduceSum.apply(packed) if packed.requires_grad else _all_reduce_raw(packed)
    mean = safe_divide(total[:n], total[n:])
    return mean.reshape(local_sum.shape).to(local_sum.dtype)


def global_reduce_loss(
    loss: Tensor,
    reduction: str,
    *,
    weight: Tensor | None = None,
    denominator: Tensor | float | int | None = None,
) -> Tensor:
    """:func:`losskit._reduction.reduce_loss` over the global batch: the same arguments and meanings, with
    ``"mean"`` and ``"sum"`` taken over every rank's terms.

    ``"none"`` returns this rank's (weighted) terms; ``"sum"`` the sum over ranks (:func:`all_reduce_sum`);
    ``"mean"`` the global sum over the global count (:func:`global_mean`; the count is ``loss.numel()``,
    ``weight.sum()`` or ``denominator``, each summed over ranks). This is what a loss with
    ``global_batch=True`` returns so that its value and gradients equal the single-process ones on every rank.
    Without a process group it is ``reduce_loss`` itself.

    Example:
        >>> import torch
        >>> from losskit.distributed import global_reduce_loss
        >>> print(round(float(global_reduce_loss(torch.tensor([1.0, 2.0, 6.0]), "mean")), 4))
        3.0
    """
    V.check_reduction("global_reduce_loss", reduction)
    if not is_distributed():
        return reduce_loss(loss, reduction, weight=weight, denominator=denominator)
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return all_reduce_sum(total)
    if denominator is None:
        denominator = torch.broadcast_to(weight, loss.shape).sum() if weight is not None else loss.numel()
    return global_mean(total, denominator)


class GlobalMean:
    """A mean over every rank and every micro-batch of one optimizer step: ``sum / global count``.

    Build one per optimizer step with this rank's count over *all* of the step's micro-batches (count the
    tokens from the targets before the forward passes); it sums the counts over ranks once. Then call it on
    each micro-batch's loss sum and ``backward`` the result: each call returns that micro-batch's share of the
    global mean, ``all_reduce_sum(local_sum) / count``, the same on every rank. The shares of the ``M``
    micro-batches add up to the mean over the ``N x M`` micro-batches, and the accumulated gradients (DDP
    averaging included) are those of one big batch. :attr:`value` is the mean so far, for logging.

    Every rank must call it the same number of times (it is a collective): give a rank without data an empty
    micro-batch (its loss sum is 0).

    Args:
        local_count: this rank's element count over the step's micro-batches (a number or a scalar tensor).

    Example:
        >>> import torch
        >>> from losskit.distributed import GlobalMean
        >>> mean = GlobalMean(3)  # 3 elements in two micro-batches (one process)
        >>> parts = [mean(torch.tensor(1.0 + 2.0)), mean(torch.tensor(6.0))]
        >>> print(round(float(mean.value), 4), round(float(sum(parts)), 4))
        3.0 3.0
    """

    def __init__(self, local_count: Tensor | int | float) -> None:
        count = _as_count("GlobalMean", "local_count", local_count)
        if count.dim():
            raise V.LossShapeError(
                f"GlobalMean: local_count must be a scalar (this rank's count over the step), but got shape "
                f"{V.shape_str(count)}; pass its sum, e.g. mask.sum()"
            )
        self.count: Tensor = global_count(count)
        """The global count (every rank, every micro-batch), detached."""
        self._value: Tensor | None = None

    def __call__(self, local_sum: Tensor) -> Tensor:
        """This micro-batch's share of the global mean: the sum over ranks of ``local_sum`` / :attr:`count`."""
        V.check_tensor("GlobalMean", "local_sum", local_sum)
        V.check_floating("GlobalMean", "local_sum", local_sum, role="loss sums")
        part = safe_divide(all_reduce_sum(local_sum), self.count.to(local_sum.device))
        self._value = part.detach() if self._value is None else self._value + part.detach()
        return part

    @property
    def value(self) -> Tensor:
        """The global mean accumulated so far (detached; the whole step's mean after the last micro-batch)."""
        return self._value if self._value is not None else torch.zeros((), dtype=torch.float64)

    def __repr__(self) -> str:
        return f"GlobalMean(count={self.count.item()})"
