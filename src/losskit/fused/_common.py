"""Shared machinery of the fused losses: chunk sizes, accumulation dtypes, the backward scaling step.

Every fused loss here follows one pattern (the one of Liger-Kernel's cross-entropy, written for CPU with
plain torch ops): the forward pass sweeps the data once, a chunk of rows (or elements) at a time, and
writes the gradient of the loss into one preallocated buffer while the chunk is still in cache; the
backward pass only multiplies that saved gradient by ``grad_output``. No full-size temporary is allocated
besides the gradient itself, which autograd hands to the caller as ``.grad``.

**Threads.** A chunk's ops are small, so letting each of them fork and join torch's intra-op threads would
put a barrier every few dozen microseconds; on a machine shared with other processes a descheduled thread
then stalls every barrier (measured: 5-8 s instead of 0.1 s for a (4096, 32000) cross-entropy at a load of
10 on 2 cores). Instead, :func:`run_split` gives each of torch's ``get_num_threads()`` threads a contiguous
share of the chunks and runs its ops single-threaded: one fork and one join per call. This needs the OpenMP
backend of torch (where the thread count is per thread); elsewhere the chunks run in order with torch's own
intra-op parallelism.

The backward step (:func:`scale_saved`) avoids the last copy where it can:

* ``grad_output`` is the scalar 1 (the usual ``loss.backward()``): the saved buffer is returned as is;
* the graph is being freed (no ``retain_graph``): the buffer is scaled in place and returned, so autograd
  can hand it over as ``.grad`` without a copy;
* ``retain_graph=True`` (or an unknown engine state): a scaled copy is returned and the saved buffer stays
  intact for the next backward.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from .. import _validation as V
from ._buffers import empty, empty_like

__all__ = [
    "CHUNK_BYTES",
    "MIN_NUMEL",
    "MIN_NUMEL_FOCAL",
    "SHIFT_ABOVE",
    "acc_dtype",
    "compiling",
    "dispatch_allowed",
    "empty",
    "empty_like",
    "enabled",
    "keep_graph",
    "mark_overwritten",
    "refuse_double_backward",
    "rows_per_chunk",
    "run_split",
    "scale_saved",
    "set_enabled",
    "unsupported",
    "use_fused",
]

CHUNK_BYTES = 4 << 20
"""Target size of one chunk of input (in the accumulation dtype): big enough that the per-op overhead of torch
is small, small enough that a chunk and its gradient stay in the L2/L3 caches of a CPU."""

MIN_NUMEL = 1 << 21
"""Below this many input elements the public losses keep torch's kernels: measured on the 2-core CPU machine
(forward+backward, median of paired runs), torch's own kernels win or tie below
about 2^21 elements (cross_entropy (2048, 1000), mse_loss 2^21) because the chunk loop's fixed cost is not yet paid
back by the allocations it saves. Call the ``fused_*`` functions directly to use a fast path below it."""

MIN_NUMEL_FOCAL = 1 << 18
"""The focal losses replace several full-size temporaries of the plain formula, so they win from about 2^18."""

SHIFT_ABOVE = 1024.0
"""Logits beyond this magnitude make the cross-entropy sweeps sum the label-smoothing term over shifted logits
(one more pass over that chunk): below it, :math:`\\sum_c w_c x_c - W x_y` cancels away at most about
``1024 * 2**-24`` per class in float32; above it (logits up to :math:`\\pm 3 \\cdot 10^{38}`) it would be noise."""

_HALF = (torch.float16, torch.bfloat16)


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the math runs in: float32 for float16/bfloat16 inputs, the input's own dtype otherwise."""
    return torch.float32 if dtype in _HALF else dtype


_enabled = os.environ.get("LOSSKIT_FUSED", "1").strip().lower() not in ("0", "false", "off", "no")


def enabled() -> bool:
    """Whether losskit's public losses may dispatch to the fused paths (default ``True``; the environment
    variable ``LOSSKIT_FUSED=0`` sets the initial value to ``False``)."""
    return _enabled


def set_enabled(flag: bool) -> None:
    """Allow (``True``) or forbid (``False``) the dispatch of the public losses to the fused paths.

    The fused Functions are differentiable once: a second backward through them (``create_graph=True``, a
    Hessian-vector product, a gradient penalty on the logits) raises torch's ``once_differentiable`` error.
    Code that needs higher derivatives turns them off with ``set_enabled(False)`` or :func:`use_fused`.
    """
    global _enabled
    _enabled = bool(flag)


class use_fused:  # lower case: called like a function, as torch.set_grad_enabled
    """Allow or forbid the fused dispatch, as a plain call or as a context manager.

    ``losskit.fused.use_fused(False)`` as a statement acts at once, like :func:`set_enabled`, and stays in force;
    ``with losskit.fused.use_fused(False): ...`` acts the same way and restores the previous setting when the
    block exits (also on an exception), like :func:`torch.set_grad_enabled`.

    Example:
        >>> import losskit.fused as fused
        >>> with fused.use_fused(False):
        ...     print(fused.enabled())
        False
        >>> fused.enabled()
        True
    """

    def __init__(self, flag: bool) -> None:
        self._previous = _enabled
        set_enabled(flag)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        set_enabled(self._previous)

    def __repr__(self) -> str:
        return f"use_fused(enabled={_enabled})"


def dispatch_allowed() -> bool:
    """The conditions every ``supports_*`` predicate shares: dispatch enabled, not tracing under
    :func:`torch.compile`, no :mod:`torch.func` transform active (the fused Functions support neither)."""
    if not _enabled or compiling():
        return False
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return not (active is not None and active())


def compiling() -> bool:
    """Whether :func:`torch.compile` is tracing (the fused functions then trace their plain formula)."""
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and compiler.is_compiling())


def rows_per_chunk(row_elems: int, dtype: torch.dtype, chunk_bytes: int | None = None) -> int:
    """How many rows of ``row_elems`` elements make one chunk of about ``chunk_bytes`` bytes (default
    :data:`CHUNK_BYTES`), at least 1."""
    size = torch.empty((), dtype=acc_dtype(dtype)).element_size()
    return max(1, (CHUNK_BYTES if chunk_bytes is None else chunk_bytes) // max(1, row_elems * size))


@functools.cache
def _openmp() -> bool:
    """torch's intra-op parallelism is OpenMP, whose thread count is a per-thread setting."""
    try:
        return "OpenMP" in torch.__config__.parallel_info().split("ATen parallel backend:")[-1]
    except (RuntimeError, AttributeError):
        return False


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = 0
_pool_lock = threading.Lock()


def _get_pool(workers: int) -> ThreadPoolExecutor:
    """The helper threads, created on first use; again in a forked child (whose copy of the pool has no threads
    and would never run a task)."""
    global _pool, _pool_size, _pool_pid
    with _pool_lock:
        forked = _pool is not None and _pool_pid != os.getpid()
        if _pool is None or forked or _pool_size < workers:
            if _pool is not None and not forked:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="losskit-fused")
            _pool_size, _pool_pid = workers, os.getpid()
        return _pool


def _single_threaded(task: Callable[[int, int], None], lo: int, hi: int, restore: int) -> None:
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            task(lo, hi)
    finally:
        torch.set_num_threads(restore)


def run_split(items: int, task: Callable[[int, int], None]) -> None:
    """Run ``task(lo, hi)`` over ``range(items)`` split into contiguous shares, one per torch thread.

    Each share runs with single-threaded torch ops on its own thread (the caller's thread takes the first),
    always without autograd (grad mode is per thread); exceptions propagate. With one thread, a non-OpenMP
    torch, or fewer than 2 items: ``task(0, items)`` with torch's usual intra-op parallelism.
    """
    threads = torch.get_num_threads()
    if items < 2 or threads < 2 or not _openmp() or compiling():
        with torch.no_grad():
            task(0, items)
        return
    parts = min(threads, items)
    bounds = [items * i // parts for i in range(parts + 1)]
    pool = _get_pool(parts - 1)
    futures = [
        pool.submit(_single_threaded, task, bounds[i], bounds[i + 1], threads) for i in range(1, parts)
    ]
    try:
        _single_threaded(task, bounds[0], bounds[1], threads)
    finally:
        errors = [f.exception() for f in futures]
    for err in errors:
        if err is not None:
            raise err


def mark_overwritten(t: Tensor) -> None:
    """Tell autograd that ``t``'s memory was written outside torch (the native kernels' ``inplace=True``), so that
    a backward that saved ``t`` raises torch's "modified by an inplace operation" instead of reading the gradient."""
    bump = getattr(torch.autograd.graph, "increment_version", None)
    if bump is not None:
        bump(t)
    else:  # torch < 2.1: an in-place op that changes nothing also bumps the version
        with torch.no_grad():
            t.mul_(1)


def keep_graph() -> bool:
    """Whether the backward pass now running keeps the graph (``retain_graph=True``).

    Reads the autograd engine's flag; if this torch does not expose it, answers ``True`` (the safe answer:
    the saved gradient is then never modified).
    """
    getter = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    if getter is None:
        return True
    try:
        return bool(getter())
    except RuntimeError:
        return True


def _is_one(grad_output: Tensor) -> bool:
    """``grad_output`` is the scalar 1 (checked only on CPU, where reading it costs no device sync)."""
    return grad_output.numel() == 1 and grad_output.device.type == "cpu" and bool(grad_output.item() == 1.0)


def scale_saved(saved: Tensor, grad_output: Tensor, view_shape: tuple[int, ...] | None = None) -> Tensor:
    """``saved * grad_output``, reusing ``saved`` whenever that is safe (see the module docstring).

    Args:
        saved: the gradient computed in the forward pass, for ``grad_output == 1``.
        grad_output: the incoming gradient: a scalar, or one value per row for ``reduction="none"``.
        view_shape: the shape that makes ``grad_output`` broadcast against ``saved`` (per-row scaling).
    """
    if view_shape is not None:
        grad_output = grad_output.reshape(view_shape)
    if grad_output.dtype != saved.dtype:
        grad_output = grad_output.to(saved.dtype)
    if compiling():
        return saved * grad_output
    if view_shape is None and _is_one(grad_output):
        return saved
    if keep_graph():
        return saved * grad_output
    return saved.mul_(grad_output)


def refuse_double_backward(name: str) -> None:
    """Raise if the running backward pass builds a graph (``create_graph=True``): the saved gradient is a
    constant, so a second derivative through it would silently be zero."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"{name}: the fused path is differentiable once, but got a backward pass with create_graph=True "
            "(a second derivative through the loss); turn the fused paths off for this computation with "
            "losskit.fused.set_enabled(False) or `with losskit.fused.use_fused(False):`"
        )


def unsupported(name: str, reason: str, fallback: str) -> V.LossOptionError:
    """The error a fused function raises for a call its fast path does not cover."""
    return V.LossOptionError(f"{name}: {reason}; call {fallback} for this case (it takes every option)")
