"""The gradient buffers of the fused paths: large ones mapped with huge pages and recycled between steps.

A fused loss writes its gradient into one buffer of the input's size, which autograd hands to the caller as
``.grad``. With glibc's default allocator every buffer above 32 MiB is a fresh ``mmap`` that the kernel faults in
4 KiB page by page and zeroes on first touch, and on a virtual machine the host may have to back those pages
again too. That first touch, not the arithmetic, was most of a large loss's time (measured on the 2-core
machine, a 64 MiB buffer written once: 17 ms from ``torch.empty``, 2.6 ms for memory already touched).

So a buffer of at least :data:`MIN_BYTES` comes from here instead:

* it is a mapping of losskit's own, 2 MiB aligned and advised ``MADV_HUGEPAGE`` (512 times fewer faults);
* when the last tensor using it is freed (the ``.grad`` set to ``None`` by ``optimizer.zero_grad()``, or
  consumed by autograd's accumulation), the mapping is not unmapped but kept, marked ``MADV_FREE`` (the kernel
  may reclaim it under memory pressure, and does not count it against anything else otherwise), and the next
  buffer of the same size reuses it: a training loop's steady state touches no fresh memory, as with torch's
  CUDA caching allocator.

The cache keeps at most :data:`CACHE_BYTES` of idle mappings (least recently freed dropped first; default a
quarter of the machine's memory, ``LOSSKIT_GRAD_CACHE_MB`` sets it, ``0`` turns recycling off);
:func:`empty_cache` releases them all. ``LOSSKIT_HUGEPAGES=0`` turns this module off: every buffer then comes
from :func:`torch.empty`, as it does below :data:`MIN_BYTES`, off Linux, and when the process's allocator
already keeps freed memory (glibc's ``MALLOC_MMAP_THRESHOLD_`` set, jemalloc or tcmalloc preloaded).

The tensor keeps its mapping alive: :func:`torch.frombuffer` holds a reference to the small object that
describes the memory, and that object's finaliser returns the mapping to the cache once the storage is freed,
whatever views or ``.grad`` slots shared it.
"""

from __future__ import annotations

import collections
import ctypes
import functools
import mmap
import os
import sys
import threading
import warnings

import torch
from torch import Tensor

from .._validation import LosskitWarning

__all__ = ["CACHE_BYTES", "MIN_BYTES", "cache_info", "empty", "empty_cache", "empty_like"]

MIN_BYTES = 4 << 20
"""Buffers from this size up (two huge pages) come from this module. Above 32 MiB glibc maps every buffer fresh and
the cache wins outright; between 4 and 32 MiB glibc's heap often reuses touched memory too, and the cache measured
the same (a 16 MiB Dice gradient: 4.3 ms per step either way), but it keeps the cost independent of glibc's
adaptive thresholds."""

_PAGE = 2 << 20


def _off(name: str, default: str = "1") -> bool:
    return os.environ.get(name, default).strip().lower() in ("0", "false", "off", "no")


def _wanted() -> bool:
    if _off("LOSSKIT_HUGEPAGES") or not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_HUGEPAGE"):
        return False
    preload = os.environ.get("LD_PRELOAD", "")
    return "MALLOC_MMAP_THRESHOLD_" not in os.environ and "jemalloc" not in preload and "tcmalloc" not in preload


def _default_cache_bytes() -> int:
    value = os.environ.get("LOSSKIT_GRAD_CACHE_MB")
    if value is not None and value.strip():
        try:
            megabytes = float(value)
            if not megabytes >= 0 or megabytes == float("inf"):
                raise ValueError(value)
            return int(megabytes * (1 << 20))
        except ValueError:
            warnings.warn(
                f"losskit.fused: LOSSKIT_GRAD_CACHE_MB must be a number of MiB >= 0 (0 turns the gradient-buffer "
                f"cache off), but got {value!r}; the default (a quarter of the machine's memory) is used. Set it to "
                "e.g. LOSSKIT_GRAD_CACHE_MB=2048, or unset it",
                LosskitWarning,
                stacklevel=2,
            )
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):
        return 1 << 30


ENABLED = _wanted()
CACHE_BYTES = _default_cache_bytes()
"""Most bytes of idle mappings kept for reuse."""

# idle mappings, oldest first: (size, mmap). Appended to by finalisers, which may run on any thread at any
# point (a garbage collection inside this module included): they only append, under no lock.
_idle: collections.deque[tuple[int, mmap.mmap]] = collections.deque()
_lock = threading.Lock()
_stats = {"mapped": 0, "reused": 0}


@functools.cache
def _lease_type(nbytes: int) -> type[ctypes.Array]:
    """A ctypes array type of ``nbytes`` bytes whose instances return their mapping to the cache when freed."""

    def finalise(self) -> None:
        block = getattr(self, "_block", None)
        if block is not None:
            self._block = None
            try:
                _release(block)
            except Exception:  # interpreter shutdown: the mapping goes with the process
                pass

    return type(f"_Lease{nbytes}", (ctypes.Array,), {"_type_": ctypes.c_char, "_length_": nbytes,
                                                       "__del__": finalise})


def _release(block: mmap.mmap) -> None:
    if CACHE_BYTES <= 0 or len(block) > CACHE_BYTES:
        return  # dropped: unmapped with the object
    if hasattr(mmap, "MADV_FREE"):
        try:
            block.madvise(mmap.MADV_FREE)
        except (OSError, ValueError):
            pass
    _idle.append((len(block), block))


def _take(size: int) -> mmap.mmap | None:
    """An idle mapping of ``size`` bytes (the most recently freed), and trims the cache to its limit."""
    with _lock:
        found = None
        for i in range(len(_idle) - 1, -1, -1):
            if _idle[i][0] == size:
                found = _idle[i][1]
                del _idle[i]
                break
        total = sum(s for s, _ in _idle)
        while _idle and total > CACHE_BYTES:
            total -= _idle.popleft()[0]
        return found


def _new_block(size: int) -> mmap.mmap:
    block = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        block.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, ValueError):  # huge pages compiled out of the kernel: plain pages, still recycled
        pass
    _stats["mapped"] += 1
    return block


def empty(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype) -> Tensor:
    """An uninitialised contiguous CPU tensor (as :func:`torch.empty`), from a recycled huge-page mapping when
    it has at least :data:`MIN_BYTES` (see the module docstring)."""
    size = torch.Size(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    nbytes = size.numel() * itemsize
    if not ENABLED or nbytes < MIN_BYTES:
        return torch.empty(size, dtype=dtype)
    block_size = -(-nbytes // _PAGE) * _PAGE + _PAGE  # room to align the start to a huge page
    block = _take(block_size)
    if block is None:
        block = _new_block(block_size)
    else:
        _stats["reused"] += 1
    base = ctypes.addressof(ctypes.c_char.from_buffer(block))
    lease = _lease_type(nbytes).from_address(base + (-base) % _PAGE)
    lease._block = block  # type: ignore[attr-defined]
    return torch.frombuffer(lease, dtype=dtype, count=size.numel()).view(size)


def empty_like(t: Tensor) -> Tensor:
    """:func:`empty` of ``t``'s shape and dtype."""
    return empty(t.shape, t.dtype)


def empty_cache() -> None:
    """Release every idle gradient buffer the fused paths keep for reuse (buffers in use stay)."""
    with _lock:
        _idle.clear()


def cache_info() -> dict[str, int | bool]:
    """The buffer cache's state: ``enabled``, ``idle_bytes`` and ``idle_buffers`` kept now, ``limit_bytes``,
    and the counts of buffers ``mapped`` fresh and ``reused`` since the process started."""
    idle = list(_idle)
    return {
        "enabled": ENABLED,
        "idle_buffers": len(idle),
        "idle_bytes": sum(s for s, _ in idle),
        "limit_bytes": CACHE_BYTES,
        **_stats,
    }
