"""The benchmark suite's machinery: case registry, worker (fresh process, memory accounting), ratios, report,
plot and CLI. These tests never assert a speed; they run tiny sizes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from losskit.bench import report, runner, worker
from losskit.bench.cases import CASES, MissingImpl, Target, _resolve, get_case, quick_impls
from losskit.cli import main as cli_main


def test_every_case_has_a_baseline_a_candidate_and_targets_on_its_implementations():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        assert case.baselines and case.candidates, case.name
        impls = {i.name for i in case.impls}
        for t in case.targets:
            assert isinstance(t, Target) and t.impl in impls and t.against in impls, (case.name, t)
        assert "quick" in case.sizes and "full" in case.sizes, case.name
        assert set(quick_impls(case)) <= impls and case.baselines[0] in quick_impls(case)


def test_the_issue_targets_are_all_registered():
    """One Target per line of issue 4's table (the guard-layer line is losskit bench-guard's)."""
    lines = {(c.loss, t.impl, t.against, t.speedup, t.memory) for c in CASES for t in c.targets}
    for loss in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits"):
        assert (loss, "fused", "torch", 1.5, 1.0) in lines
    assert ("cross_entropy", "fused", "torch", 2.5, 0.35) in lines
    assert ("cross_entropy", "fused-inplace", "torch", 6.0, 0.05) in lines
    assert ("focal_loss", "fused-inplace", "tutorial", 4.0, 0.05) in lines
    assert ("sigmoid_focal_loss", "fused", "torchvision", 5.0, 0.15) in lines
    assert ("dice_loss", "fused", "soft-dice", 1.5, 1.0) in lines
    assert ("linear_cross_entropy", "fused", "torch-chunked", 1.15, 0.75) in lines
    assert get_case("cross_entropy_large").size("full") == {"N": 8192, "C": 128256}


def test_every_implementation_builds_and_runs_on_tiny_inputs():
    """Each step runs once and returns a finite loss; all implementations of a case agree on its value."""
    tiny = {
        "cross_entropy": {"N": 8, "C": 16}, "cross_entropy_large": {"N": 4, "C": 32},
        "focal_loss": {"N": 8, "C": 16}, "dice_loss": {"shape": (2, 1, 8, 8)},
        "linear_cross_entropy": {"N": 8, "H": 4, "V": 16}, "linear_cross_entropy_large": {"N": 4, "H": 4, "V": 32},
    }
    for case in CASES:
        size = tiny.get(case.name, {"n": 64, **{k: v for k, v in case.size("quick").items() if k != "n"}})
        values = {}
        for impl in case.impls:
            if impl.compiled:
                continue  # compiling every baseline would take minutes; the worker test covers one
            inputs = case.make(size, torch.Generator().manual_seed(0))
            try:
                step = impl.build(inputs)
            except MissingImpl:
                continue
            step.reset()
            values[impl.name] = float(step.run())
        assert len(values) >= 2, case.name
        first = next(iter(values.values()))
        for name, v in values.items():
            assert v == pytest.approx(first, rel=1e-4, abs=1e-5), (case.name, name, values)


def test_resolve_reports_missing_implementations():
    with pytest.raises(MissingImpl, match="no_such_loss"):
        _resolve("losskit.fused:no_such_loss")


def _worker(spec: dict, env_extra: dict | None = None) -> dict:
    env = {**dict(__import__("os").environ), "OMP_NUM_THREADS": "1", **(env_extra or {})}
    out = subprocess.run(
        [sys.executable, "-m", "losskit.bench.worker", json.dumps(spec)], capture_output=True, text=True, env=env,
        timeout=300,
    )
    line = [x for x in out.stdout.splitlines() if x.startswith(worker.MARKER)]
    assert line, out.stderr[-2000:]
    return json.loads(line[0][len(worker.MARKER):])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_worker_measures_the_gradient_as_extra_memory():
    """mse on 2^21 float32 elements: each step allocates at least the 8 MiB gradient, which the peak must show,
    from VmHWM (not ru_maxrss, which a child inherits from the process that spawned it)."""
    n = 1 << 21
    spec = {"case": "mse_loss", "impl": "torch", "mode": "quick", "seed": 0, "threads": 1, "warmup": 1,
            "repeats": 2, "size": {"n": n}}
    res = _worker(spec)
    assert res["status"] == "ok" and len(res["times"]) == 2 and len(res["warmup_times"]) == 1
    assert res["peak_source"] == "VmHWM"
    assert res["extra"] >= 4 * n, res
    assert res["extra"] < 64 * n, res
    assert res["faults"][0] > 0, "the default allocator hands the gradient back to the OS: it faults in again"
    kept = _worker({**spec, "settle": True}, {"MALLOC_MMAP_THRESHOLD_": str(1 << 36),
                                               "MALLOC_TRIM_THRESHOLD_": str(1 << 36)})
    assert kept["status"] == "ok" and kept["loss"] == res["loss"]


def test_worker_reports_missing_and_failing_implementations():
    missing = _worker({"case": "mse_loss", "impl": "losskit", "mode": "quick", "seed": 0, "threads": 1,
                       "warmup": 1, "repeats": 1, "size": {"n": 64}})
    assert missing["status"] in ("ok", "missing")
    bad = _worker({"case": "mse_loss", "impl": "no-such-impl", "mode": "quick", "seed": 0, "warmup": 1,
                   "repeats": 1})
    assert bad["status"] == "error" and "no-such-impl" in bad["error"]


def _fake_result() -> dict:
    def summary(t, mem):
        return {"status": "ok", "median_s": t, "p25_s": t * 0.9, "p75_s": t * 1.1, "extra_bytes": mem,
                "compile_s": None}

    case = {
        "name": "cross_entropy", "loss": "cross_entropy", "title": "cross_entropy (N=2, C=3)", "size": {},
        "full_size": True, "baselines": ["torch", "torch.compile"], "candidates": ["fused", "fused-inplace"],
        "traffic_bytes": 10**9, "elementwise": False, "notes": "", "notes_impl": {},
        "targets": [Target("fused", "torch", 2.5, 0.35).__dict__, Target("fused-inplace", "torch", 6.0, 0.05).__dict__],
        "results": {
            "default": {"torch": summary(1.0, 3e9), "torch.compile": summary(0.2, 2e9), "fused": summary(0.25, 1e9),
                        "fused-inplace": {"status": "error", "error": "boom"}},
            "kept": {"torch": summary(0.5, 4e9), "torch.compile": summary(0.2, 2e9), "fused": summary(0.2, 1e9),
                     "fused-inplace": {"status": "error", "error": "boom"}},
        },
    }
    return {
        "mode": "quick", "date": "2026-01-01T00:00:00+00:00", "threads": 2, "elapsed_s": 60.0,
        "command": "losskit bench",
        "settings": {"runs": 1, "warmup": 1, "repeats": 3, "seed": 0,
                     "allocators": {"default": {}, "kept": {"X": "1"}}},
        "machine": {"cpu": "test cpu", "logical_cpus": 2, "memory_bytes": 2**30, "platform": "p", "libc": "glibc",
                    "losskit": "0", "git_commit": None, "torch": "t", "numpy": "n", "python": "3",
                    "torch_parallel": "OpenMP"},
        "stream": {"status": "ok", "repeats": 10,
                   "gb_per_s": {"copy": 10.0, "scale": 10.0, "add": 10.0, "triad": 10.0}},
        "cases": [case],
    }


def test_ratios_targets_and_markdown_publish_losses_beside_wins(tmp_path):
    result = report.add_ratios({**_fake_result(), "note": "noisy machine"})
    case = result["cases"][0]
    r = case["ratios"]["default"]["fused"]["torch"]
    assert r["speedup"] == pytest.approx(4.0) and r["memory"] == pytest.approx(1 / 3)
    assert case["ratios"]["kept"]["fused"]["torch"]["speedup"] == pytest.approx(2.5)
    assert case["results"]["default"]["fused"]["stream_fraction"] == pytest.approx(0.4)  # 1e9 B / 0.25 s / 10 GB/s
    status = {c["impl"]: c["status"] for c in case["target_checks"]}
    assert status == {"fused": "met", "fused-inplace": "not measured"}
    md = report.markdown(result)
    assert "**fused loses to torch.compile**: 1.25x slower" in md
    assert "| fused | torch | >= 2.5x faster, <= 0.35x memory | 4.00x faster, 0.33x memory | met |" in md
    assert "error: boom" in md
    assert "- note: noisy machine" in md
    paths = report.write(result, tmp_path, stem="t")
    assert json.loads(open(paths["json"]).read())["cases"][0]["name"] == "cross_entropy"
    assert open(paths["md"]).read() == md
    assert "png" in paths and (tmp_path / "t.png").stat().st_size > 1000


def _raw(impl: str, times: list[list[float]], extras: list[float]) -> list[dict]:
    """Synthetic raw records of one implementation under the default allocator, one per round."""
    return [{"case": "cross_entropy", "impl": impl, "alloc": "default", "status": "ok", "times": t, "extra": e,
             "step_extra": e} for t, e in zip(times, extras)]


def _with_raw(fused_times: list[list[float]], fused_extras: list[float]) -> dict:
    """The fake result, its default-allocator torch baseline at 1 s a step and 3 GB a round, with raw records."""
    result = _fake_result()
    case = result["cases"][0]
    rounds = len(fused_times)
    case["raw"] = _raw("torch", [[1.0] * len(t) for t in fused_times], [3e9] * rounds) + _raw(
        "fused", fused_times, fused_extras)
    return report.add_ratios(result)


def test_spread_is_the_quartiles_or_the_min_max_of_few_samples():
    assert report.spread([]) is None
    assert report.spread([3.0, 1.0, 2.0]) == {"lo": 1.0, "hi": 3.0, "kind": "min-max", "n": 3}
    assert report.spread([1.0, 2.0, 3.0, 4.0, 5.0]) == {"lo": 2.0, "hi": 4.0, "kind": "p25-p75", "n": 5}


def test_a_target_is_met_only_when_the_lower_quartile_meets_it(tmp_path):
    """Fused against torch (target >= 2.5x, <= 0.35x memory): the same median speed-up (4x) is met when the
    paired steps' lower quartile is 2.6x and missed when it is 2.0x; the memory ratio's upper end decides too."""
    # 2 rounds x 4 steps of fused against torch's 1 s steps, paired by position
    spread_ok = [[1 / 2.6, 1 / 2.6, 0.25, 0.25], [0.25, 0.25, 0.2, 0.2]]
    spread_low = [[0.5, 0.5, 0.5, 0.25], [0.25, 0.25, 0.2, 0.2]]
    met = _with_raw(spread_ok, [0.9e9, 0.9e9])["cases"][0]
    r = met["ratios"]["default"]["fused"]["torch"]
    assert r["speedup_spread"]["kind"] == "p25-p75" and r["speedup_spread"]["n"] == 8
    assert r["speedup_spread"]["lo"] == pytest.approx(2.6 + 0.75 * (4.0 - 2.6))
    assert r["memory_spread"] == {"lo": pytest.approx(0.3), "hi": pytest.approx(0.3), "kind": "min-max", "n": 2}
    (check,) = [c for c in met["target_checks"] if c["impl"] == "fused"]
    assert check["status"] == "met" and check["decided_by"] == "spread"

    missed = _with_raw(spread_low, [0.9e9, 0.9e9])
    case = missed["cases"][0]
    r = case["ratios"]["default"]["fused"]["torch"]
    assert r["speedup"] == pytest.approx(4.0)  # the medians alone would meet the 2.5x target
    assert r["speedup_spread"]["lo"] == pytest.approx(2.0) and r["speedup_spread"]["lo"] < 2.5
    (check,) = [c for c in case["target_checks"] if c["impl"] == "fused"]
    assert check["status"] == "missed" and check["median_meets"]
    assert check["decided_speedup"] == pytest.approx(2.0)

    # the memory ratio's upper end: a median of 0.3x, one round at 0.4x (> 0.35x) misses
    mem = _with_raw(spread_ok, [0.9e9, 1.2e9])["cases"][0]
    (check,) = [c for c in mem["target_checks"] if c["impl"] == "fused"]
    assert check["status"] == "missed" and check["decided_memory"] == pytest.approx(0.4)

    # the JSON and the Markdown carry the spread
    paths = report.write(missed, tmp_path, stem="s")
    saved = json.loads(open(paths["json"]).read())["cases"][0]
    assert saved["ratios"]["default"]["fused"]["torch"]["speedup_spread"]["lo"] == pytest.approx(2.0)
    md = open(paths["md"]).read()
    assert "| **fused** | 250 [225–275] | 954 | 4.00x [2.00–4.25] | 0.33x [0.30–0.30] |" in md
    assert ("| fused | torch | >= 2.5x faster, <= 0.35x memory | 4.00x [2.00–4.25] faster, 0.33x [0.30–0.30] memory"
            " | missed (the median meets it) |") in md
    assert "25th–75th percentile of its samples, or their min–max" in md


def test_summarise_pools_the_runs():
    recs = [
        {"status": "ok", "times": [1.0, 2.0, 3.0], "extra": 10, "faults": [1, 1, 1]},
        {"status": "ok", "times": [4.0, 5.0, 6.0], "extra": 30, "faults": [3, 3, 3]},
        {"status": "error", "error": "x"},
    ]
    s = runner.summarise(recs)
    assert s["runs"] == 2 and s["steps"] == 6
    assert s["median_s"] == 3.5 and s["min_s"] == 1.0 and s["max_s"] == 6.0
    assert s["extra_bytes"] == 20 and s["run_medians_s"] == [2.0, 5.0]
    assert runner.summarise([{"status": "missing", "error": "m"}])["status"] == "missing"


def test_run_suite_end_to_end_on_a_tiny_case(tmp_path):
    result = runner.run_suite(
        mode="quick", only=["mse_loss"], threads=1, repeats=1, allocators=("default",),
        sizes={"mse_loss": {"n": 1 << 12, "label": "2^12"}}, stream_n=1 << 16, log=lambda _: None,
    )
    assert result["stream"]["status"] == "ok" and result["stream"]["gb_per_s"]["triad"] > 0
    assert result["machine"]["torch"] == torch.__version__
    (case,) = result["cases"]
    assert case["title"] == "mse_loss 2^12" and not case["full_size"]
    assert case["results"]["default"]["torch"]["status"] == "ok"
    report.add_ratios(result)
    assert "missed" in case["target_checks"][0]["status"] or "met" in case["target_checks"][0]["status"]
    assert "quick size" in case["target_checks"][0]["status"]
    with pytest.raises(ValueError, match=r"--only must name cases or losses, but got \['nope'\]"):
        runner.run_suite(mode="quick", only=["nope"], log=lambda _: None)


def test_cli_lists_the_cases_and_rejects_unknown_names(capsys):
    assert cli_main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert "cross_entropy_large" in out and "fused-inplace" in out
    assert cli_main(["bench", "--quick", "--only", "nope"]) == 2
    assert "--only must name cases or losses" in capsys.readouterr().err


def test_dropin_covers_every_torch_loss_of_the_issue_below_the_fast_paths():
    from losskit.bench.dropin import CASES as DROPIN
    from losskit.fused._common import MIN_NUMEL

    names = {c.name for c in DROPIN}
    assert len(names) == len(DROPIN)
    for wanted in ("cross_entropy (64, 10)", "cross_entropy (256, 1000)", "cross_entropy (1024, 1000)",
                   "mse_loss 2^10", "l1_loss 2^16", "binary_cross_entropy_with_logits 2^20", "ctc_loss"):
        assert any(n.startswith(wanted) for n in names), wanted
    losses = {c.loss for c in DROPIN}
    assert {"nll_loss", "kl_div", "huber_loss", "smooth_l1_loss", "margin_ranking_loss", "hinge_embedding_loss",
            "soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss", "cosine_embedding_loss",
            "triplet_margin_loss", "binary_cross_entropy", "poisson_nll_loss", "gaussian_nll_loss",
            "multilabel_soft_margin_loss"} <= losses
    for case in DROPIN:
        inputs = case.make(case.size, torch.Generator().manual_seed(0))
        assert inputs[0].numel() < MIN_NUMEL, case.name  # below the fused paths: torch's kernels on both sides


def test_dropin_runs_every_case_at_tiny_sizes_and_reports_ratios(tmp_path):
    """The machinery only (tiny sizes, 2 paired blocks): structure and equal losses, never a timing."""
    from losskit.bench import dropin

    lines = []
    result = dropin.run_dropin(tiny=True, repeats=2, threads=1, block_s=1e-4, log=lines.append)
    assert result["mode"] == "dropin" and result["settings"]["tiny"] and result["settings"]["guard"] == "first"
    assert len(result["cases"]) == len(dropin.CASES) == len(lines)
    for row in result["cases"]:
        assert not row["full_size"] and row["repeats"] == 2 and row["block"] >= 1
        assert row["torch_us"] > 0 and row["losskit_us"] > 0
        assert row["ratio_p25"] <= row["ratio"] <= row["ratio_p75"]
        assert row["same_value"], (row["case"], row["loss_losskit"], row["loss_torch"])
        assert row["within_target"] == (row["ratio"] <= dropin.TARGET)
    paths = dropin.write(result, str(tmp_path))
    assert json.loads(open(paths["json"]).read())["cases"][0]["case"] == "cross_entropy (64, 10)"
    md = open(paths["md"]).read()
    assert "| `cross_entropy` | (64, 10) |" in md and "TINY sizes" in md
    one = dropin.run_dropin(only=["nll_loss"], tiny=True, repeats=1, threads=1, block_s=1e-4, clock="wall",
                            log=lambda _: None)
    assert [r["loss"] for r in one["cases"]] == ["nll_loss", "nll_loss"] and one["settings"]["clock"] == "wall"
    with pytest.raises(ValueError, match="no dropin case matches"):
        dropin.run_dropin(only=["nope"], tiny=True, log=lambda _: None)


def test_paired_blocks_alternate_and_pair_their_samples():
    from losskit.bench.guard import paired_blocks

    calls = []
    a, b = paired_blocks(lambda: calls.append("a"), lambda: calls.append("b"), repeats=4, warmup=2, block=2,
                         setup_a=lambda: calls.append("A"), setup_b=lambda: calls.append("B"))
    assert len(a) == len(b) == 4
    timed = "".join(calls)[len("AaaBbb"):]  # after one warm-up block each
    assert timed == "AaaBbb" "BbbAaa" "AaaBbb" "BbbAaa"
