"""Measure one implementation of one benchmark case in this (fresh) process; print one JSON line.

Run by :mod:`losskit.bench.runner` as ``python -m losskit.bench.worker '<json spec>'`` with the allocator
environment of the run already set (glibc reads ``MALLOC_*`` when the process starts). The contract it
implements is in ``benchmarks/README.md``; in short:

1. build the inputs from the seed, build the step (a compiled baseline is compiled in its first warm-up step);
2. ``rss_base``: the resident set size now (inputs and step built, nothing measured yet);
3. warm-up steps (``--settle``: more of them, until a step no longer faults in fresh pages, for the allocator
   that keeps freed memory);
4. reset the peak counter (``/proc/self/clear_refs``), then the timed steps, each preceded by its untimed reset;
5. ``peak``: the process's high-water RSS (``VmHWM``) over the timed steps; ``extra = peak - rss_base`` (the
   footprint: it includes what the warm-up left behind, ``retained``: one-time initialisation, and memory an
   allocator keeps), and ``step_extra = peak - RSS at the start of the timed steps`` (what a step adds).

``VmHWM`` is read instead of ``getrusage().ru_maxrss`` because, on Linux, a child's ``ru_maxrss`` starts at the
high-water mark of the process that spawned it (a child that touched 9 MB reported the 2 GB of its parent);
``ru_maxrss`` is the fallback where ``/proc`` is missing, and is reported alongside.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time

MARKER = "LOSSKIT-BENCH-RESULT "


def _page() -> int:
    return os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """Resident set size now, from /proc/self/statm (None without /proc)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _page()
    except OSError:
        return None


def hwm_bytes() -> int | None:
    """High-water resident set size of this process (VmHWM), None without /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def ru_maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(spec: dict) -> dict:
    import torch

    from .cases import MissingImpl, get_case

    threads = int(spec.get("threads") or torch.get_num_threads())
    torch.set_num_threads(threads)
    torch.manual_seed(int(spec["seed"]))
    case = get_case(spec["case"])
    impl = case.impl(spec["impl"])
    out: dict = {"case": case.name, "impl": impl.name, "alloc": spec.get("alloc", "default"), "threads": threads}
    if spec.get("size"):  # an explicit size (the suite's own tests use tiny ones)
        inputs = case.make(dict(spec["size"]), torch.Generator().manual_seed(int(spec["seed"])))
    else:
        inputs = case.inputs(spec["mode"], int(spec["seed"]))
    try:
        step = impl.build(inputs)
    except MissingImpl as err:
        out.update(status="missing", error=str(err))
        return out
    gc.collect()
    rss_base = rss_bytes()

    warm_times, warm_faults = [], []
    settle = bool(spec.get("settle"))
    max_warm = int(spec["warmup"]) + (6 if settle else 0)
    loss = None
    for i in range(max_warm):
        step.reset()
        f0 = _faults()
        t0 = time.perf_counter()
        loss = step.run()
        warm_times.append(time.perf_counter() - t0)
        warm_faults.append(_faults() - f0)
        if i + 1 >= int(spec["warmup"]) and (not settle or warm_faults[-1] * 50 <= max(warm_faults[0], 1)):
            break
    step.reset()
    gc.collect()
    rss_timed = rss_bytes()
    hwm_reset = reset_hwm()

    times, faults = [], []
    for _ in range(int(spec["repeats"])):
        step.reset()
        f0 = _faults()
        t0 = time.perf_counter()
        loss = step.run()
        times.append(time.perf_counter() - t0)
        faults.append(_faults() - f0)
    peak = hwm_bytes()
    ru_peak = ru_maxrss_bytes()
    out.update(
        status="ok",
        times=times,
        warmup_times=warm_times,
        faults=faults,
        warmup_faults=warm_faults,
        rss_base=rss_base,
        peak=peak if peak is not None else ru_peak,
        peak_source="VmHWM" if peak is not None else "ru_maxrss",
        peak_window="timed steps" if hwm_reset else "whole process",
        ru_maxrss=ru_peak,
        extra=None if rss_base is None else max(0, (peak if peak is not None else ru_peak) - rss_base),
        retained=None if rss_base is None or rss_timed is None else rss_timed - rss_base,
        step_extra=None if rss_timed is None or peak is None or not hwm_reset else max(0, peak - rss_timed),
        loss=None if loss is None else float(loss),
        compile_s=warm_times[0] if impl.compiled else None,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    try:
        if spec.get("kind") == "stream":
            from .stream import measure_stream

            n = int(spec.get("n") or 1 << 25)
            result = {"kind": "stream", "status": "ok", **measure_stream(n=n, threads=spec.get("threads"))}
        else:
            result = measure(spec)
    except Exception as err:  # reported, not raised: one failing case must not stop the suite
        result = {"case": spec.get("case"), "impl": spec.get("impl"), "alloc": spec.get("alloc"),
                  "status": "error", "error": f"{type(err).__name__}: {err}"}
    print(MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
