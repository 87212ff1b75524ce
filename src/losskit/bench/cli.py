"""``losskit bench``: the benchmark suite (contract in benchmarks/README.md)."""

from __future__ import annotations

import argparse
import sys

from .. import _validation as V

__all__ = ["register"]


def _threads(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {value!r}")
    return n


def register(subparsers) -> None:
    from ..cli import examples

    parser = subparsers.add_parser(
        "bench",
        help="measure losskit's fast paths against torch and the textbook baselines",
        description=(
            "Forward+backward time (median and spread after warm-up) and extra peak memory of every loss family, "
            "for losskit and its baselines in the same run, each in a fresh process, under the default allocator "
            "and with freed memory kept; plus a STREAM-style bandwidth figure. Writes JSON, Markdown and a PNG "
            "plot, and prints the table."
        ),
        epilog=examples(
            ("losskit bench --list", "the cases, their sizes and baselines"),
            ("losskit bench --quick --only cross_entropy mse_loss --out /tmp/bench",
             "a short run of two cases, written outside the repository"),
            ("losskit bench --only dropin", "every torch.nn loss at its defaults against torch"),
        ),
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="a short run (one round, 3 timed steps, smaller sizes for the largest cases): a few minutes",
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", default=None,
        help="run only these cases or losses (e.g. cross_entropy mse_loss); default: all. 'dropin' runs the "
        "drop-in set instead (every torch.nn loss at its defaults against torch, in one process; "
        "'--only dropin mse_loss' runs its mse_loss cases)",
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR",
        help="directory for <mode>.json/.md/.png (default: benchmarks/results/<losskit version>)",
    )
    parser.add_argument(
        "--threads", type=_threads, default=2, help="intra-op threads of every measurement (default 2)"
    )
    parser.add_argument(
        "--runs", type=_threads, default=None, help="rounds of fresh processes (default: 1 quick, 3 full)"
    )
    parser.add_argument(
        "--repeats", type=_threads, default=None,
        help="timed steps per process (default: 3 quick, 5 full); dropin: paired blocks per case (30 quick, 100)",
    )
    parser.add_argument(
        "--no-kept", action="store_true", help="skip the second pass with the allocator that keeps freed memory"
    )
    parser.add_argument(
        "--note", default=None, help="a line for the report's header (e.g. how quiet the machine was)"
    )
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu",
        help="dropin only: time calls by the process's CPU time (default; robust on a shared machine) or wall time",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from . import report
    from .cases import CASES
    from .runner import run_suite

    if args.list:
        for case in CASES:
            sizes = "; ".join(f"{mode}: {case.title(mode)}" for mode in case.sizes)
            print(f"{case.name:<28} {sizes}  [{', '.join(i.name for i in case.impls)}]")
        return 0
    if args.only and "dropin" in args.only:
        from . import dropin

        try:
            return dropin.main(args.only, repeats=args.repeats, threads=args.threads, out=args.out,
                               note=args.note, quick=args.quick, clock=args.clock)
        except ValueError as err:
            raise V.LossOptionError(str(err)) from err
    mode = "quick" if args.quick else "full"
    try:
        result = run_suite(
            mode=mode,
            only=args.only,
            threads=args.threads,
            runs=args.runs,
            repeats=args.repeats,
            allocators=("default",) if args.no_kept else ("default", "kept"),
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except ValueError as err:
        raise V.LossOptionError(str(err)) from err
    result["command"] = "losskit bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 1 else "losskit bench"
    result["note"] = args.note
    report.add_ratios(result)
    out = args.out
    if out is None:
        out = f"benchmarks/results/{result['machine']['losskit']}"
    paths = report.write(result, out)
    print(report.markdown(result))
    print("written: " + ", ".join(paths.values()), file=sys.stderr)
    return 0
