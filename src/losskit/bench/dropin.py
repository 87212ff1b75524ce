"""The drop-in cost of losskit: ``losskit bench --only dropin``.

Every torch.nn loss, called at its defaults through ``losskit.functional``, against torch's own
``torch.nn.functional`` loss on the same tensors, at sizes below losskit's fast paths (where both run torch's
kernels, so any difference is losskit's own Python, checks and reductions). One step is forward+backward with the
gradient landing in ``.grad``; both functions are timed in one process with :func:`losskit.bench.guard.paired_blocks`
(paired blocks of calls in alternating order), losskit with the guard in its default mode (``"first"``, in its
steady state: the first call, which runs the value checks, precedes the timing). The figure per case is the median
of the paired ratios ``losskit block time / torch block time``, with their 25th-75th percentile as the spread;
the issue's target is a ratio of at most 1.03 for every case. This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import datetime
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .guard import paired_blocks

__all__ = ["CASES", "DropinCase", "markdown", "measure_case", "run_dropin"]

TARGET = 1.03
"""The issue's budget: losskit at most 3% slower than torch."""

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
"""``cpu``: CPU time of the process (all its threads), which the time spent waiting for a core while other work
runs does not inflate: the cost of a call on a shared machine. ``wall``: elapsed time, the figure on a quiet one."""


@dataclass(frozen=True)
class DropinCase:
    """One loss at one size. ``make(size, gen)`` returns the positional tensors of both calls (leaves that need
    a gradient have ``requires_grad``); ``torch_fn`` is torch's function, ``loss`` the losskit functional's name."""

    loss: str
    size: tuple[int, ...]
    make: Callable[[tuple[int, ...], torch.Generator], tuple]
    torch_fn: Callable[..., torch.Tensor]
    label: str = ""

    @property
    def name(self) -> str:
        return f"{self.loss} {self.label or _shape(self.size)}"


def _shape(size: Sequence[int]) -> str:
    if len(size) == 1 and size[0] >= 1024 and size[0] & (size[0] - 1) == 0:
        return f"2^{size[0].bit_length() - 1}"
    return "(" + ", ".join(map(str, size)) + ")"


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().requires_grad_(True)


def _randn(size, gen) -> torch.Tensor:
    return torch.randn(size, generator=gen)


def _signs(size, gen) -> torch.Tensor:
    return torch.randint(0, 2, size, generator=gen).float() * 2 - 1


# one builder per input convention; each returns the positional arguments of both calls
def _scores_and_indices(size, gen):
    return _leaf(_randn(size, gen)), torch.randint(0, size[1], (size[0],), generator=gen)


def _logprobs_and_indices(size, gen):
    return _leaf(_randn(size, gen).log_softmax(1)), torch.randint(0, size[1], (size[0],), generator=gen)


def _regression(size, gen):
    return _leaf(_randn(size, gen)), _randn(size, gen)


def _logits_and_labels(size, gen):
    return _leaf(_randn(size, gen)), torch.randint(0, 2, size, generator=gen).float()


def _probabilities_and_labels(size, gen):
    return _leaf(torch.rand(size, generator=gen) * 0.98 + 0.01), torch.randint(0, 2, size, generator=gen).float()


def _kl(size, gen):
    return _leaf(_randn(size, gen).log_softmax(1)), _randn(size, gen).softmax(1)


def _scores_and_signs(size, gen):
    return _leaf(_randn(size, gen)), _signs(size, gen)


def _hinge(size, gen):
    return _leaf(torch.rand(size, generator=gen) * 2), _signs(size, gen)


def _ranking(size, gen):
    return _leaf(_randn(size, gen)), _leaf(_randn(size, gen)), _signs(size, gen)


def _cosine(size, gen):
    return _leaf(_randn(size, gen)), _leaf(_randn(size, gen)), _signs(size[:1], gen)


def _triplet(size, gen):
    return _leaf(_randn(size, gen)), _leaf(_randn(size, gen)), _leaf(_randn(size, gen))


def _multilabel_indices(size, gen):
    n, c = size
    k = min(4, c)
    target = torch.full((n, c), -1, dtype=torch.long)
    target[:, :k] = torch.rand((n, c), generator=gen).argsort(1)[:, :k]  # k distinct labels per row, then -1
    return _leaf(_randn(size, gen)), target


def _poisson(size, gen):
    return _leaf(_randn(size, gen) * 0.5), torch.poisson(torch.full(size, 2.0), generator=gen)


def _gaussian(size, gen):
    return _leaf(_randn(size, gen)), _randn(size, gen), _leaf(torch.rand(size, generator=gen) + 0.5)


def _ctc(size, gen):
    t, n, c, s = size
    log_probs = _leaf(_randn((t, n, c), gen).log_softmax(2))
    targets = torch.randint(1, c, (n, s), generator=gen)
    input_lengths = torch.full((n,), t, dtype=torch.long)
    target_lengths = torch.randint(s // 2, s + 1, (n,), generator=gen)
    return log_probs, targets, input_lengths, target_lengths


def _cases() -> list[DropinCase]:
    c = DropinCase
    cases = [c("cross_entropy", s, _scores_and_indices, F.cross_entropy) for s in ((64, 10), (256, 1000), (1024, 1000))]
    cases += [c("nll_loss", s, _logprobs_and_indices, F.nll_loss) for s in ((64, 10), (1024, 1000))]
    for n in (1 << 10, 1 << 16, 1 << 20):
        cases += [
            c("mse_loss", (n,), _regression, F.mse_loss),
            c("l1_loss", (n,), _regression, F.l1_loss),
            c("binary_cross_entropy_with_logits", (n,), _logits_and_labels, F.binary_cross_entropy_with_logits),
        ]
    cases += [
        c("huber_loss", (1 << 16,), _regression, F.huber_loss),
        c("huber_loss", (1 << 20,), _regression, F.huber_loss),
        c("smooth_l1_loss", (1 << 16,), _regression, F.smooth_l1_loss),
        c("smooth_l1_loss", (1 << 20,), _regression, F.smooth_l1_loss),
        c("binary_cross_entropy", (1 << 16,), _probabilities_and_labels, F.binary_cross_entropy),
        c("kl_div", (256, 1000), _kl, F.kl_div),
        c("poisson_nll_loss", (1 << 16,), _poisson, F.poisson_nll_loss),
        c("gaussian_nll_loss", (1 << 16,), _gaussian, F.gaussian_nll_loss),
        c("margin_ranking_loss", (1 << 16,), _ranking, F.margin_ranking_loss),
        c("hinge_embedding_loss", (1 << 16,), _hinge, F.hinge_embedding_loss),
        c("soft_margin_loss", (1 << 16,), _scores_and_signs, F.soft_margin_loss),
        c("multi_margin_loss", (256, 100), _scores_and_indices, F.multi_margin_loss),
        c("multilabel_margin_loss", (256, 100), _multilabel_indices, F.multilabel_margin_loss),
        c("multilabel_soft_margin_loss", (256, 100), _logits_and_labels, F.multilabel_soft_margin_loss),
        c("cosine_embedding_loss", (1024, 128), _cosine, F.cosine_embedding_loss),
        c("triplet_margin_loss", (1024, 128), _triplet, F.triplet_margin_loss),
        c("ctc_loss", (50, 16, 20, 20), _ctc, F.ctc_loss, label="T=50, N=16, C=20, S=20"),
    ]
    return cases


CASES: list[DropinCase] = _cases()

TINY: dict[str, tuple[int, ...]] = {"ctc_loss": (6, 2, 5, 3)}
"""Sizes of the suite's own tests (``tiny=True``): small enough to run every case in a second."""


def _tiny_size(case: DropinCase) -> tuple[int, ...]:
    if case.loss in TINY:
        return TINY[case.loss]
    return tuple(min(d, 8) for d in case.size)


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _block_for(step: Callable[[], object], target_s: float) -> int:
    """Calls per block so that a block lasts about ``target_s`` (from a few untimed calls), 1 to 200."""
    step()
    t0 = time.perf_counter()
    for _ in range(3):
        step()
    per_call = max((time.perf_counter() - t0) / 3, 1e-7)
    return max(1, min(200, round(target_s / per_call)))


def measure_case(
    case: DropinCase,
    *,
    repeats: int = 100,
    block_s: float = 0.01,
    seed: int = 0,
    size: tuple[int, ...] | None = None,
    clock: str = "cpu",
) -> dict:
    """Time one case (module docstring) with the ``clock`` of :data:`CLOCKS`; the result row, JSON-ready."""
    import losskit.functional as LF

    from .. import _validation as V

    size = size or case.size
    lk_fn = getattr(LF, case.loss)
    args = case.make(size, torch.Generator().manual_seed(seed))
    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]

    def step(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            for t in leaves:
                t.grad = None
            fn(*args).backward()

        return run

    run_lk, run_torch = step(lk_fn), step(case.torch_fn)
    # warnings of either side (kl_div's default "mean") are emitted and ignored: their cost stays in the figures
    with V.guard("first"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss_lk = float(lk_fn(*args).detach())  # the first call: the value checks run here, untimed
        loss_torch = float(case.torch_fn(*args).detach())
        block = _block_for(run_torch, block_s)
        lk_times, torch_times = paired_blocks(
            run_lk, run_torch, repeats=repeats, warmup=max(2 * block, 10), block=block, timer=CLOCKS[clock]
        )
    ratios = [a / b for a, b in zip(lk_times, torch_times, strict=True)]
    return {
        "case": case.name,
        "loss": case.loss,
        "size": list(size),
        "full_size": tuple(size) == case.size,
        "block": block,
        "repeats": repeats,
        "torch_us": statistics.median(torch_times) * 1e6,
        "losskit_us": statistics.median(lk_times) * 1e6,
        "ratio": statistics.median(ratios),
        "ratio_p25": _quantile(ratios, 0.25),
        "ratio_p75": _quantile(ratios, 0.75),
        "loss_losskit": loss_lk,
        "loss_torch": loss_torch,
        "same_value": math.isclose(loss_lk, loss_torch, rel_tol=1e-5, abs_tol=1e-6),
        "within_target": statistics.median(ratios) <= TARGET,
    }


def run_dropin(
    *,
    only: Sequence[str] | None = None,
    repeats: int = 100,
    threads: int = 2,
    block_s: float = 0.01,
    tiny: bool = False,
    seed: int = 0,
    clock: str = "cpu",
    log: Callable[[str], None] = print,
) -> dict:
    """Measure the dropin cases (all, or those whose loss or case name is in ``only``) and return the results as
    one JSON-ready dict with the machine, the versions and the settings."""
    from .runner import machine_info

    selected = [c for c in CASES if not only or c.loss in only or c.name in only]
    if only and not selected:
        names = sorted({c.loss for c in CASES})
        raise ValueError(f"losskit bench: no dropin case matches {list(only)}; choose from {', '.join(names)}")
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    result: dict = {
        "schema": 1,
        "mode": "dropin",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": None,
        "threads": threads,
        "settings": {
            "repeats": repeats, "block_s": block_s, "seed": seed, "tiny": tiny, "guard": "first", "clock": clock,
        },
        "target": TARGET,
        "machine": machine_info(),
        "cases": [],
    }
    try:
        for case in selected:
            row = measure_case(case, repeats=repeats, block_s=block_s, seed=seed,
                               size=_tiny_size(case) if tiny else None, clock=clock)
            result["cases"].append(row)
            log(f"{row['case']:<44} torch {row['torch_us']:9.1f} us  losskit {row['losskit_us']:9.1f} us  "
                f"ratio {row['ratio']:.3f} [{row['ratio_p25']:.3f}, {row['ratio_p75']:.3f}]")
    finally:
        torch.set_num_threads(saved_threads)
    result["elapsed_s"] = time.perf_counter() - started
    return result


_CLOCK_NAMES = {"cpu": "CPU time of the process (time.process_time)", "wall": "wall time (time.perf_counter)"}


def markdown(result: dict) -> str:
    """The report: settings, then one line per case (ratio, spread, absolute times), misses named below."""
    m, s = result["machine"], result["settings"]
    lines = [
        "# losskit drop-in cost against torch (dropin)",
        "",
        f"- command: `{result.get('command') or 'losskit bench --only dropin'}`; date {result['date']}; "
        f"elapsed {result.get('elapsed_s', 0) / 60:.1f} min",
        f"- machine: {m['cpu']}, {m['logical_cpus']} logical CPUs; {m['platform']}",
        f"- versions: losskit {m['losskit']} ({m.get('git_commit') or 'no git'}), torch {m['torch']}, "
        f"Python {m['python']}; {m['torch_parallel']}",
        f"- settings: {result['threads']} threads; forward+backward at the defaults of each loss; guard "
        f"'{s['guard']}' (steady state); clock: {_CLOCK_NAMES[s['clock']]}; {s['repeats']} paired blocks of "
        f"about {s['block_s'] * 1e3:.0f} ms per implementation, alternating order, in one process; seed {s['seed']}"
        + ("; TINY sizes (a test of the machinery, not figures)" if s.get("tiny") else ""),
    ]
    if result.get("note"):
        lines.append(f"- note: {result['note']}")
    lines += [
        "",
        "Ratio: median over the pairs of losskit's block time / torch's block time (1.00 = as fast; the target is "
        f"<= {result['target']:.2f}), spread: 25th-75th percentile of the pair ratios; times: median per call.",
        "",
        "| loss | size | torch (us) | losskit (us) | ratio | spread | same value |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["cases"]:
        size = r["case"][len(r["loss"]) + 1:]
        lines.append(
            f"| `{r['loss']}` | {size} | {r['torch_us']:.1f} | {r['losskit_us']:.1f} | {r['ratio']:.3f} | "
            f"{r['ratio_p25']:.3f}-{r['ratio_p75']:.3f} | {'yes' if r['same_value'] else 'NO'} |"
        )
    misses = [r for r in result["cases"] if not r["within_target"]]
    lines.append("")
    if misses:
        lines.append(
            f"Above the {result['target']:.2f} target: "
            + "; ".join(f"`{r['case']}` {r['ratio']:.3f}" for r in misses)
            + "."
        )
    else:
        lines.append(f"Every case is within the {result['target']:.2f} target.")
    return "\n".join(lines) + "\n"


def write(result: dict, out: str) -> dict[str, str]:
    """Write ``dropin.json`` and ``dropin.md`` into ``out``; their paths."""
    import json
    import os

    os.makedirs(out, exist_ok=True)
    paths = {"json": os.path.join(out, "dropin.json"), "md": os.path.join(out, "dropin.md")}
    with open(paths["json"], "w") as fh:
        json.dump(result, fh, indent=1)
        fh.write("\n")
    with open(paths["md"], "w") as fh:
        fh.write(markdown(result))
    return paths


def main(only: Sequence[str], *, repeats: int | None, threads: int, out: str | None, note: str | None,
         quick: bool, clock: str = "cpu") -> int:
    """``losskit bench --only dropin [LOSS ...]``: run, print the table, write the files."""
    result = run_dropin(
        only=[o for o in only if o != "dropin"] or None,
        repeats=repeats or (30 if quick else 100),
        threads=threads,
        clock=clock,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    result["command"] = "losskit bench " + " ".join(sys.argv[2:])
    result["note"] = note
    paths = write(result, out or f"benchmarks/results/{result['machine']['losskit']}")
    print(markdown(result))
    print("written: " + ", ".join(paths.values()), file=sys.stderr)
    return 0
