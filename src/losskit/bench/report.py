"""Turn the results of :func:`losskit.bench.runner.run_suite` into ratios, a Markdown table, a plot and files.

Ratios compare implementations measured in the same run: ``speed-up = baseline median time / median time``
(above 1: faster than the baseline) and ``memory = extra peak memory / baseline's extra peak memory`` (below 1:
less memory), under each allocator; ``memory_step`` is the same ratio for what one step adds on top of the
memory the warm-up left (one-time initialisation excluded). Targets are the issue's, checked under the default
allocator; a target missed, or a losskit path slower than ``torch.compile`` of its baseline, is printed as such.

Spread and the target rule: every ratio also gets the spread of its samples, read from the raw measurement
records of the run (``case["raw"]``, one per round of each implementation and allocator, in round order). The
speed-up's samples are the timed steps paired by round and position (``baseline step k / step k`` of the same
round), pooled over the rounds; the memory ratio's are the rounds (``extra / baseline's extra`` of the same
round). A spread is the 25th-75th percentile when there are at least 4 samples and the min-max otherwise
(its ``kind`` says which). A target is met only from the conservative end: the speed-up's low end (lower
quartile, or minimum) at least the target and the memory ratio's high end (upper quartile, or maximum) at most
it; without raw records the median decides and the check says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .runner import _quantile

__all__ = ["add_ratios", "markdown", "plot", "spread", "write"]

MIN_QUARTILE_SAMPLES = 4
"""Below this many samples a spread is the min-max instead of the 25th-75th percentile."""


def _ok(res: dict | None) -> bool:
    return res is not None and res.get("status") == "ok"


def spread(samples: list[float]) -> dict | None:
    """``{"lo", "hi", "kind", "n"}``: the 25th-75th percentile of ``samples``, or their min-max when there are
    fewer than :data:`MIN_QUARTILE_SAMPLES`; ``None`` without samples."""
    if not samples:
        return None
    if len(samples) >= MIN_QUARTILE_SAMPLES:
        return {"lo": _quantile(samples, 0.25), "hi": _quantile(samples, 0.75), "kind": "p25-p75", "n": len(samples)}
    return {"lo": min(samples), "hi": max(samples), "kind": "min-max", "n": len(samples)}


def _rounds(case: dict) -> dict[tuple[str, str], list[dict]]:
    """The raw records of each (implementation, allocator), in round order (a failed round keeps its place)."""
    out: dict[tuple[str, str], list[dict]] = {}
    for rec in case.get("raw") or []:
        out.setdefault((rec.get("impl"), rec.get("alloc")), []).append(rec)
    return out


def _paired(cand: list[dict], base: list[dict]) -> tuple[list[float], list[float], list[float]]:
    """Per-sample ratios of a candidate against a baseline over the rounds both completed: speed-ups of the timed
    steps paired by position, extra-memory ratios and per-step extra-memory ratios of the rounds."""
    speed: list[float] = []
    mem: list[float] = []
    step: list[float] = []
    for c, b in zip(cand, base):
        if c.get("status") != "ok" or b.get("status") != "ok":
            continue
        speed += [tb / tc for tb, tc in zip(b.get("times") or [], c.get("times") or []) if tc > 0]
        for key, out in (("extra", mem), ("step_extra", step)):
            if c.get(key) is not None and b.get(key):
                out.append(c[key] / b[key])
    return speed, mem, step


def add_ratios(result: dict) -> dict:
    """Add ``ratios`` (every candidate against every baseline, per allocator) and ``target_checks`` to each case."""
    triad = None
    if result.get("stream", {}).get("status") == "ok":
        triad = result["stream"]["gb_per_s"]["triad"] * 1e9
    for case in result["cases"]:
        ratios: dict = {}
        rounds = _rounds(case)
        for alloc, impls in case["results"].items():
            ratios[alloc] = {}
            for cand, res in impls.items():
                if not _ok(res):
                    continue
                row = {}
                for base in case["baselines"]:
                    b = impls.get(base)
                    if base == cand or not _ok(b):
                        continue
                    mem = step = None
                    if res.get("extra_bytes") is not None and b.get("extra_bytes"):
                        mem = res["extra_bytes"] / b["extra_bytes"]
                    if res.get("step_extra_bytes") is not None and b.get("step_extra_bytes"):
                        step = res["step_extra_bytes"] / b["step_extra_bytes"]
                    row[base] = {"speedup": b["median_s"] / res["median_s"], "memory": mem, "memory_step": step}
                    s_speed, s_mem, s_step = _paired(rounds.get((cand, alloc), []), rounds.get((base, alloc), []))
                    row[base].update(speedup_spread=spread(s_speed), memory_spread=spread(s_mem),
                                     memory_step_spread=spread(s_step))
                if case.get("traffic_bytes") and triad:
                    res["stream_fraction"] = case["traffic_bytes"] / res["median_s"] / triad
                ratios[alloc][cand] = row
        case["ratios"] = ratios
        checks = []
        for t in case["targets"]:
            got = ratios.get("default", {}).get(t["impl"], {}).get(t["against"])
            check = dict(t)
            if got is None:
                check.update(status="not measured")
            else:
                check.update(measured_speedup=got["speedup"], measured_memory=got["memory"],
                             measured_memory_step=got.get("memory_step"))
                # the conservative end of each ratio decides; the median only when there is no spread
                sp, mp, tp = (got.get(k) for k in ("speedup_spread", "memory_spread", "memory_step_spread"))
                speed = sp["lo"] if sp else got["speedup"]
                mem = mp["hi"] if mp else got["memory"]
                step = tp["hi"] if tp else got.get("memory_step")
                check.update(decided_by="spread" if sp else "median (no raw records)",
                             decided_speedup=speed, decided_memory=mem)
                speed_ok = speed >= t["speedup"]
                mem_ok = t["memory"] is None or (mem is not None and mem <= t["memory"])
                step_ok = t["memory"] is not None and step is not None and step <= t["memory"]
                if speed_ok and mem_ok:
                    check["status"] = "met"
                elif speed_ok and step_ok:
                    check["status"] = (
                        f"met per step ({step:.2f}x); missed with the one-time memory of the first call"
                    )
                else:
                    check["status"] = "missed"
                    check["median_meets"] = got["speedup"] >= t["speedup"] and (
                        t["memory"] is None or (got["memory"] is not None and got["memory"] <= t["memory"])
                    )
                if not case.get("full_size", True):
                    check["status"] += " (quick size: the target is for the full size)"
            checks.append(check)
        case["target_checks"] = checks
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f}" if seconds >= 0.1 else f"{seconds * 1e3:,.1f}"


def _mb(nbytes: float | None) -> str:
    return "?" if nbytes is None else f"{nbytes / 2**20:,.0f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _xs(value: float | None, spr: dict | None) -> str:
    """A ratio and its spread: ``4.00x [3.60–4.40]`` (no brackets for a single sample, which has none)."""
    if value is None or not spr or spr["n"] < 2:
        return _x(value)
    return f"{value:.2f}x [{spr['lo']:.2f}–{spr['hi']:.2f}]"


def markdown(result: dict) -> str:
    """The report: settings, STREAM, one table per case, the targets."""
    m = result["machine"]
    s = result["settings"]
    lines = [
        f"# losskit benchmarks ({result['mode']})",
        "",
        f"- command: `{result.get('command') or 'losskit bench'}`; date {result['date']}; "
        f"elapsed {result.get('elapsed_s', 0) / 60:.1f} min",
        f"- machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, "
        f"{(m['memory_bytes'] or 0) / 2**30:.0f} GiB; {m['platform']}; {m['libc']}",
        f"- versions: losskit {m['losskit']} ({m.get('git_commit') or 'no git'}), torch {m['torch']}, "
        f"numpy {m['numpy']}, Python {m['python']}; {m['torch_parallel']}",
        f"- settings: {result['threads']} threads; {s['runs']} run(s) x {s['repeats']} timed steps after "
        f"{s['warmup']} warm-up step(s), each (case, implementation, allocator) in a fresh process; seed {s['seed']}",
        "- kept allocator: " + (" ".join(f"{k}={v}" for k, v in s["allocators"].get("kept", {}).items()) or "–"),
    ]
    if result.get("note"):
        lines.append(f"- note: {result['note']}")
    st = result.get("stream", {})
    if st.get("status") == "ok":
        rates = ", ".join(f"{k} {v:.1f}" for k, v in st["gb_per_s"].items())
        lines.append(f"- STREAM-style bandwidth (GB/s, best of {st['repeats']}): {rates}")
    lines += [
        "",
        "Time: median of the forward+backward steps [25th–75th percentile], ms. Extra: peak resident memory above "
        "the inputs, MiB, and in parentheses the part the warm-up left behind (one-time initialisation, memory "
        "the allocator keeps). Speed-up and memory are against the first baseline of the case, measured in the "
        "same run; 'kept' reruns everything with glibc keeping freed memory (no page faults on reuse).",
        "",
        "Spread of a ratio, in brackets: the 25th–75th percentile of its samples, or their min–max when there are "
        "fewer than 4 (speed-up: baseline step / step, paired by round and position, pooled over the rounds; "
        "memory: one sample per round). A target is met only when the speed-up's low end and the memory ratio's "
        "high end meet it.",
    ]
    for case in result["cases"]:
        lines += ["", f"## {case['title']}", ""]
        base = case["baselines"][0] if case["baselines"] else None
        others = case["baselines"][1:]
        header = (
            "| implementation | time ms | extra MiB (one-time) | speed-up | memory | kept: time ms | kept: speed-up | "
            "kept: memory |" + "".join(f" vs {o} |" for o in others) + " % STREAM |"
        )
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        default = case["results"].get("default", {})
        kept = case["results"].get("kept", {})
        for impl in case["baselines"] + case["candidates"]:
            res, kres = default.get(impl), kept.get(impl)
            name = f"{impl} (baseline)" if impl in case["baselines"] else f"**{impl}**"
            if not _ok(res):
                err = (res or {}).get("error", "not run")
                status = (res or {}).get("status", "–")
                lines.append(f"| {name} | {status}: {err[:90]} |" + " |" * (header.count("|") - 3))
                continue
            r = case["ratios"]["default"].get(impl, {}).get(base, {})
            kr = case["ratios"].get("kept", {}).get(impl, {}).get(base, {})
            cells = [
                name,
                f"{_ms(res['median_s'])} [{_ms(res['p25_s'])}–{_ms(res['p75_s'])}]",
                _mb(res.get("extra_bytes"))
                + (f" ({_mb(res['retained_bytes'])})" if res.get("retained_bytes") is not None else ""),
                _xs(r.get("speedup"), r.get("speedup_spread")),
                _xs(r.get("memory"), r.get("memory_spread")),
                _ms(kres["median_s"]) if _ok(kres) else "–",
                _xs(kr.get("speedup"), kr.get("speedup_spread")),
                _xs(kr.get("memory"), kr.get("memory_spread")),
            ]
            for o in others:
                cells.append(_x(case["ratios"]["default"].get(impl, {}).get(o, {}).get("speedup")))
            frac = res.get("stream_fraction")
            cells.append("–" if frac is None else f"{100 * frac:.0f}%")
            lines.append("| " + " | ".join(cells) + " |")
        compiled = [b for b in case["baselines"] if b.endswith("compile") and _ok(default.get(b))]
        for b in compiled:
            if default[b].get("compile_s"):
                lines.append(f"\n{b}: first call (compilation) {default[b]['compile_s']:.1f} s.")
            for cand in case["candidates"]:
                got = case["ratios"]["default"].get(cand, {}).get(b)
                if got and got["speedup"] < 1:
                    lines.append(f"\n**{cand} loses to {b}**: {1 / got['speedup']:.2f}x slower.")
        if case.get("notes"):
            lines.append(f"\n{case['notes']}.")
    lines += ["", "## Targets (issue 4, default allocator)", "", "Measured: median [spread]; the status is decided "
              "by the spread's conservative end (speed-up's low end, memory's high end).", "",
              "| case | implementation | against | target | measured | status |", "|---|---|---|---|---|---|"]
    for case in result["cases"]:
        for c in case["target_checks"]:
            want = f">= {c['speedup']}x faster" + (f", <= {c['memory']}x memory" if c["memory"] is not None else "")
            got = "–"
            if "measured_speedup" in c:
                r = case["ratios"].get("default", {}).get(c["impl"], {}).get(c["against"], {})
                got = _xs(c["measured_speedup"], r.get("speedup_spread")) + " faster" + (
                    ", " + _xs(c["measured_memory"], r.get("memory_spread")) + " memory"
                    if c.get("measured_memory") is not None else ""
                )
            status = c["status"] + (" (the median meets it)" if c.get("median_meets") else "")
            lines.append(f"| {case['title']} | {c['impl']} | {c['against']} | {want} | {got} | {status} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str | os.PathLike) -> bool:
    """Bar chart of the speed-up and memory ratio of every candidate against its case's first baseline."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels, speed, kspeed, mem, kmem = [], [], [], [], []
    for case in result["cases"]:
        if not case["baselines"]:
            continue
        base = case["baselines"][0]
        for cand in case["candidates"]:
            r = case["ratios"].get("default", {}).get(cand, {}).get(base)
            if not r:
                continue
            kr = case["ratios"].get("kept", {}).get(cand, {}).get(base) or {}
            labels.append(f"{case['title']}\n{cand} vs {base}")
            speed.append(r["speedup"])
            kspeed.append(kr.get("speedup") or 0)
            mem.append(r["memory"] or 0)
            kmem.append(kr.get("memory") or 0)
    if not labels:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.55 * len(labels) + 1.5), sharey=True)
    ys = range(len(labels))
    for ax, a, b, title in (
        (axes[0], speed, kspeed, "speed-up (baseline time / time)"),
        (axes[1], mem, kmem, "extra peak memory / baseline's"),
    ):
        ax.barh([y - 0.2 for y in ys], a, height=0.4, label="default allocator")
        ax.barh([y + 0.2 for y in ys], b, height=0.4, label="freed memory kept")
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(list(ys))
    axes[0].set_yticklabels(labels, fontsize=7)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"losskit bench ({result['mode']}, {result['threads']} threads, {result['machine']['cpu']})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def write(result: dict, out_dir: str | os.PathLike, stem: str | None = None) -> dict[str, str]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or result["mode"]
    paths = {"json": str(out / f"{stem}.json"), "md": str(out / f"{stem}.md")}
    with open(paths["json"], "w") as f:
        json.dump(result, f, indent=1)
    with open(paths["md"], "w") as f:
        f.write(markdown(result))
    if plot(result, out / f"{stem}.png"):
        paths["png"] = str(out / f"{stem}.png")
    return paths
