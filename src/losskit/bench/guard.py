"""Steady-state cost of the guard layer: ``losskit bench-guard``.

For each case, forward+backward of the loss is timed with the guard in its default mode (``"first"``,
after the first call has run the value checks) and with the guard ``"off"``, in paired blocks of calls (in
alternating order) so that drifts of the machine and order effects hit both equally. The overhead is the
median of the paired differences divided by the median unguarded time. This is a benchmark, not a test: it
prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

import losskit as lk
import losskit.functional as LF

__all__ = ["GuardCase", "measure", "paired_blocks", "register", "run"]


@dataclass
class GuardCase:
    name: str
    size: str
    guarded_us: float
    unguarded_us: float
    overhead_us: float
    overhead_pct: float


def _cases() -> list[tuple[str, str, Callable[[], tuple[Callable, tuple]]]]:
    def mse(n, d):
        return lambda: (LF.mse_loss, (torch.randn(n, d, requires_grad=True), torch.randn(n, d)))

    def ce(n, c):
        return lambda: (LF.cross_entropy, (torch.randn(n, c, requires_grad=True), torch.randint(0, c, (n,))))

    def bce(n, c):
        return lambda: (
            LF.binary_cross_entropy_with_logits,
            (torch.randn(n, c, requires_grad=True), torch.randint(0, 2, (n, c)).float()),
        )

    cases = [
        ("mse_loss", "(4096, 64)", mse(4096, 64)),
        ("mse_loss", "(256, 1024)", mse(256, 1024)),
        ("cross_entropy", "(256, 1000)", ce(256, 1000)),
        ("cross_entropy", "(4096, 1000)", ce(4096, 1000)),
        ("binary_cross_entropy_with_logits", "(1024, 100)", bce(1024, 100)),
        ("mse_loss", "(64, 1) tiny", mse(64, 1)),
    ]
    return [c for c in cases if hasattr(LF, c[0])]


def paired_blocks(
    step_a: Callable[[], object],
    step_b: Callable[[], object],
    *,
    repeats: int = 200,
    warmup: int = 20,
    block: int = 20,
    setup_a: Callable[[], object] | None = None,
    setup_b: Callable[[], object] | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], list[float]]:
    """Time ``step_a`` and ``step_b`` (one call each) in paired blocks; per-call seconds of each block.

    Each of the ``repeats`` rounds times one block of ``block`` calls of each step, in alternating order (a, b
    then b, a), so that drifts of the machine and order effects hit both equally; a block's time divided by
    ``block`` is one sample, and sample ``i`` of ``a`` and of ``b`` form a pair. Blocks, rather than single calls
    interleaved one by one, keep each step's calls in their own steady state (allocator, caches).
    ``setup_a``/``setup_b`` run untimed before each block of their step (e.g. to set the guard mode); the
    ``warmup`` calls of each step (in blocks) precede the timed rounds. ``timer`` is the clock (seconds): wall
    time by default, or e.g. :func:`time.process_time` (CPU time of the process, which time spent waiting for a
    core on a shared machine does not inflate).
    """

    def run_block(step: Callable[[], object], setup: Callable[[], object] | None) -> float:
        if setup is not None:
            setup()
        t0 = timer()
        for _ in range(block):
            step()
        return (timer() - t0) / block

    for _ in range(max(warmup // block, 1)):
        run_block(step_a, setup_a)
        run_block(step_b, setup_b)
    a_times, b_times = [], []
    for i in range(repeats):
        if i % 2:
            b = run_block(step_b, setup_b)
            a = run_block(step_a, setup_a)
        else:
            a = run_block(step_a, setup_a)
            b = run_block(step_b, setup_b)
        a_times.append(a)
        b_times.append(b)
    return a_times, b_times


def measure(
    fn: Callable, args: tuple, *, repeats: int = 200, warmup: int = 20, block: int = 20
) -> tuple[float, float, float]:
    """Median guarded and unguarded forward+backward time per call and median paired difference, in seconds
    (:func:`paired_blocks` of the guard in ``"first"`` mode, after its first call, against ``"off"``)."""

    def step() -> None:
        for a in args:
            if isinstance(a, torch.Tensor):
                a.grad = None
        fn(*args).backward()

    state = lk._validation._state
    saved = state.mode

    # set the mode directly (set_guard() would forget the checked kinds)
    def first() -> None:
        state.mode = "first"

    def off() -> None:
        state.mode = "off"

    try:
        state.mode = "first"
        state.seen.clear()
        fn(*args)  # the first call runs the value checks; the steady state starts after it
        on, off_times = paired_blocks(
            step, step, repeats=repeats, warmup=warmup, block=block, setup_a=first, setup_b=off
        )
    finally:
        state.mode = saved
    diff = [a - b for a, b in zip(on, off_times, strict=True)]
    return statistics.median(on), statistics.median(off_times), statistics.median(diff)


def run(repeats: int = 60) -> list[GuardCase]:
    torch.manual_seed(0)
    rows = []
    for name, size, make in _cases():
        fn, args = make()
        on, off, diff = measure(fn, args, repeats=repeats)
        rows.append(GuardCase(name, size, on * 1e6, off * 1e6, diff * 1e6, 100.0 * diff / off))
    return rows


def _table(rows: list[GuardCase]) -> str:
    lines = [
        "| loss | size | guard off (us) | guard on, steady state (us) | overhead (us) | overhead |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r.name}` | {r.size} | {r.unguarded_us:.0f} | {r.guarded_us:.0f} | {r.overhead_us:.1f} | "
            f"{r.overhead_pct:+.1f}% |"
        )
    return "\n".join(lines)


def _main(args: argparse.Namespace) -> int:
    rows = run(repeats=args.repeats)
    print(
        f"guard-layer steady-state overhead, forward+backward, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}, median of {args.repeats} paired blocks of 20 calls"
    )
    print(_table(rows))
    if args.json:
        payload = {
            "torch": torch.__version__,
            "losskit": lk.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "rows": [asdict(r) for r in rows],
        }
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2)
    return 0


def register(subparsers) -> None:
    from ..cli import examples

    p = subparsers.add_parser(
        "bench-guard",
        help="measure the guard layer's steady-state overhead (forward+backward, guard 'first' vs 'off')",
        description=(
            "Time forward+backward of a few losses with the guard in its default mode ('first', after the first "
            "call has run the value checks) and with the guard 'off', in paired blocks of calls in alternating "
            "order, so that drifts of the machine hit both equally. The overhead is the median of the paired "
            "differences over the median unguarded time. A benchmark, not a test: it prints figures and asserts "
            "nothing."
        ),
        epilog=examples(
            ("losskit bench-guard", "60 paired blocks of 20 calls per case, printed as a table"),
            ("losskit bench-guard --repeats 200 --json guard.json",
             "more blocks for tighter figures, also written as JSON (as benchmarks/results/<version>/guard.json)"),
        ),
    )
    p.add_argument("--repeats", type=int, default=60, help="paired blocks of 20 calls per case (default 60)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    p.set_defaults(func=_main)
