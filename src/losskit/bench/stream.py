"""A STREAM-style bandwidth figure: the machine's limit for loops that stream through memory.

The four kernels of McCalpin's STREAM benchmark (copy, scale, add, triad), written with torch ops on float32
arrays far larger than the last-level cache, run with the thread count of the benchmarks. Each rate is the best
of ``repeats`` (STREAM's convention), counting the bytes a kernel reads and writes once (no write-allocate
traffic), so an elementwise loss that reads two arrays and writes one can at most reach the triad rate.

Reference: McCalpin, J. D. "Memory Bandwidth and Machine Balance in Current High Performance Computers", 1995.
"""

from __future__ import annotations

import time

__all__ = ["measure_stream"]


def measure_stream(n: int = 1 << 25, repeats: int = 10, threads: int | None = None) -> dict:
    """GB/s (1e9 bytes per second) of copy, scale, add and triad on three float32 arrays of ``n`` elements."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a = torch.full((n,), 1.0)
    b = torch.full((n,), 2.0)
    c = torch.zeros(n)
    s = 3.0
    kernels = {
        "copy": (lambda: c.copy_(a), 2),
        "scale": (lambda: torch.mul(c, s, out=b), 2),
        "add": (lambda: torch.add(a, b, out=c), 3),
        "triad": (lambda: torch.add(b, c, alpha=s, out=a), 3),
    }
    best = dict.fromkeys(kernels, float("inf"))
    for _ in range(repeats):
        for name, (fn, _) in kernels.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    rates = {name: arrays * 4 * n / best[name] / 1e9 for name, (_, arrays) in kernels.items()}
    return {"n": n, "bytes_per_array": 4 * n, "repeats": repeats, "gb_per_s": rates, "best_s": best}
