"""Run the benchmark suite: every case, every implementation, both allocators, each in a fresh process.

:func:`run_suite` is what ``losskit bench`` calls. It measures the STREAM bandwidth, then for each case runs
``runs`` rounds; a round measures every implementation under the default allocator and under the allocator
that keeps freed memory (implementation order reversed every other round, so that slow drifts of a shared
machine hit baselines and candidates alike). It returns the results as one JSON-ready dict, with the machine,
the versions and the exact settings; :mod:`losskit.bench.report` turns it into the table and the plot.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from .cases import CASES, Case, quick_impls
from .worker import MARKER

__all__ = ["ALLOCATORS", "SETTINGS", "run_suite", "summarise"]

KEPT_BYTES = 1 << 36
ALLOCATORS: dict[str, dict[str, str]] = {
    "default": {},
    # glibc keeps blocks up to 64 GiB on its heap instead of mmap-ing them, and never trims the heap
    "kept": {"MALLOC_MMAP_THRESHOLD_": str(KEPT_BYTES), "MALLOC_TRIM_THRESHOLD_": str(KEPT_BYTES)},
}

SETTINGS = {
    "quick": {"runs": 1, "warmup": 1, "repeats": 3, "timeout": 900},
    "full": {"runs": 3, "warmup": 2, "repeats": 5, "timeout": 3600},
}


def machine_info() -> dict:
    """Versions, CPU, memory and thread settings of this machine."""
    import numpy
    import torch

    import losskit

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    libc = platform.libc_ver()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "losskit": getattr(losskit, "__version__", "?"),
        "platform": platform.platform(),
        "libc": " ".join(x for x in libc if x),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_bytes": mem,
        "torch_parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _env(threads: int, alloc: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(ALLOCATORS[alloc])
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    return env


def _spawn(spec: dict, env: dict[str, str], timeout: float) -> dict:
    """Run one worker process; its result, or a record of why there is none."""
    cmd = [sys.executable, "-m", "losskit.bench.worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**_ids(spec), "status": "error", "error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    why = "killed (out of memory?)" if proc.returncode in (-9, 137) else f"exit code {proc.returncode}"
    return {**_ids(spec), "status": "error", "error": f"{why}: {' | '.join(tail)}"}


def _ids(spec: dict) -> dict:
    return {k: spec.get(k) for k in ("case", "impl", "alloc", "kind") if spec.get(k) is not None}


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarise(records: list[dict]) -> dict:
    """Pool the runs of one (case, impl, allocator): median and spread of the step times, median extra memory."""
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        first = records[0] if records else {}
        return {"status": first.get("status", "error"), "error": first.get("error", "no run")}
    times = [t for r in ok for t in r["times"]]
    extras = [r["extra"] for r in ok if r.get("extra") is not None]
    steps = [r["step_extra"] for r in ok if r.get("step_extra") is not None]
    retained = [r["retained"] for r in ok if r.get("retained") is not None]
    per_run = [statistics.median(r["times"]) for r in ok]
    return {
        "status": "ok",
        "runs": len(ok),
        "steps": len(times),
        "median_s": statistics.median(times),
        "p25_s": _quantile(times, 0.25),
        "p75_s": _quantile(times, 0.75),
        "min_s": min(times),
        "max_s": max(times),
        "run_medians_s": per_run,
        "extra_bytes": statistics.median(extras) if extras else None,
        "step_extra_bytes": statistics.median(steps) if steps else None,
        "retained_bytes": statistics.median(retained) if retained else None,
        "faults_per_step": statistics.median([f for r in ok for f in r["faults"]]),
        "loss": ok[-1].get("loss"),
        "compile_s": ok[0].get("compile_s"),
        "peak_source": ok[0].get("peak_source"),
    }


def run_suite(
    *,
    mode: str = "quick",
    only: Sequence[str] | None = None,
    threads: int = 2,
    runs: int | None = None,
    repeats: int | None = None,
    warmup: int | None = None,
    allocators: Sequence[str] = ("default", "kept"),
    seed: int = 0,
    log: Callable[[str], None] = print,
    cases: Sequence[Case] | None = None,
    sizes: dict[str, dict] | None = None,
    stream_n: int | None = None,
) -> dict:
    """Measure the suite and return the raw and summarised results (see the module docstring).

    ``sizes`` overrides the size of named cases and ``stream_n`` the STREAM array length (the suite's own tests
    use tiny ones); the results then say so (``"full_size": False``).
    """
    sizes = sizes or {}
    settings = dict(SETTINGS[mode])
    for key, value in (("runs", runs), ("repeats", repeats), ("warmup", warmup)):
        if value is not None:
            settings[key] = value
    selected = [c for c in (cases or CASES) if c.size(mode) is not None]
    if only:
        wanted = set(only)
        unknown = wanted - {c.name for c in CASES} - {c.loss for c in CASES}
        if unknown:
            raise ValueError(
                f"losskit bench: --only must name cases or losses, but got {sorted(unknown)}; "
                f"choose from {', '.join(c.name for c in CASES)}"
            )
        selected = [c for c in selected if c.name in wanted or c.loss in wanted]
    started = time.perf_counter()
    result: dict = {
        "schema": 1,
        "mode": mode,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": None,
        "threads": threads,
        "settings": {**settings, "allocators": {a: ALLOCATORS[a] for a in allocators}, "seed": seed},
        "machine": machine_info(),
    }
    log(f"STREAM bandwidth ({threads} threads) ...")
    stream = _spawn(
        {"kind": "stream", "threads": threads, "n": stream_n}, _env(threads, "default"), settings["timeout"]
    )
    result["stream"] = stream
    if stream.get("status") == "ok":
        log("  " + ", ".join(f"{k} {v:.1f} GB/s" for k, v in stream["gb_per_s"].items()))
    result["cases"] = []
    for case in selected:
        impls = [i.name for i in case.impls] if mode == "full" else quick_impls(case)
        raw: dict[tuple[str, str], list[dict]] = {}
        for r in range(settings["runs"]):
            order = impls if r % 2 == 0 else impls[::-1]
            for alloc in allocators:
                for impl in order:
                    spec = {
                        "case": case.name, "impl": impl, "mode": mode, "seed": seed, "threads": threads,
                        "alloc": alloc, "warmup": settings["warmup"], "repeats": settings["repeats"],
                        "settle": alloc != "default", "size": sizes.get(case.name),
                    }
                    rec = _spawn(spec, _env(threads, alloc), settings["timeout"])
                    raw.setdefault((impl, alloc), []).append(rec)
                    log(_progress(case.title(mode) if case.name not in sizes else case.name, impl, alloc, r,
                                  settings["runs"], rec))
        size = sizes.get(case.name) or case.size(mode)
        if size is None:
            raise ValueError(f"bench: case {case.name!r} has no size for mode {mode!r}; give it one in its sizes")
        title = case.title(mode) if case.name not in sizes else f"{case.loss} {_size_label(size)}"
        result["cases"].append(
            {
                "name": case.name,
                "loss": case.loss,
                "title": title,
                "size": {k: v for k, v in size.items() if k != "kwargs"},
                "full_size": case.size("full") == size,
                "baselines": [b for b in case.baselines if b in impls],
                "candidates": [c for c in case.candidates if c in impls],
                "traffic_bytes": case.traffic(size) if case.traffic else None,
                "elementwise": case.elementwise,
                "targets": [t.__dict__ for t in case.targets],
                "notes": case.notes,
                "notes_impl": {i.name: i.note for i in case.impls if i.note},
                "results": {
                    alloc: {impl: summarise(raw.get((impl, alloc), [])) for impl in impls} for alloc in allocators
                },
                "raw": [rec for recs in raw.values() for rec in recs],
            }
        )
    result["elapsed_s"] = time.perf_counter() - started
    return result


def _size_label(size: dict) -> str:
    return size.get("label") or "(" + ", ".join(f"{k}={v}" for k, v in size.items() if k != "kwargs") + ")"


def _progress(title: str, impl: str, alloc: str, r: int, runs: int, rec: dict) -> str:
    head = f"{title:<44} {impl:<20} {alloc:<8} run {r + 1}/{runs}"
    if rec.get("status") != "ok":
        return f"{head}  {rec.get('status')}: {rec.get('error', '')[:120]}"
    med = statistics.median(rec["times"])
    extra = rec.get("extra")
    mem = f"{extra / 2**20:8.0f} MB" if extra is not None else "      ? MB"
    return f"{head}  {med * 1e3:9.1f} ms  {mem}"
