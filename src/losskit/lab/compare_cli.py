"""``losskit compare``: the command line of :func:`losskit.lab.compare`."""

from __future__ import annotations

import argparse
import sys

from ..advisor import LOSS_MENU
from .data import BUILTIN

__all__ = ["register"]


def _floats(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 128,64, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``losskit compare``."""
    p = subparsers.add_parser(
        "compare",
        help="train a small network with each candidate loss on a data set and compare them (the main job)",
        description="Recommend losses for a data set's target, train the same MLP with each (same stratified "
        "train/validation/test split, same seeds, AdamW, early stopping on the validation metric with the best "
        "checkpoint kept), and compare them on the clean test split over several seeds: a table, and in --out "
        "results.json, curves.csv, PNG plots and a self-contained report.html. A winner is named only when its lead "
        "exceeds the seed-to-seed spread.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="NAME", help=f"a data set bundled with scikit-learn: {', '.join(BUILTIN)}")
    src.add_argument("--csv", metavar="FILE", help="a CSV file with a header row (numeric columns as they are, "
                     "categorical ones one-hot encoded, missing values imputed)")
    p.add_argument("--target", metavar="COLUMN", help="the target column of --csv (default: the last column)")
    p.add_argument("--task", choices=("binary", "multiclass", "regression"), help="override the inferred task")
    p.add_argument("--losses", default="auto", metavar="auto|a,b,c",
                   help=f"'auto' (default: the advisor's candidates) or names among: {', '.join(LOSS_MENU)}")
    p.add_argument("--candidates", type=int, default=4, metavar="N",
                   help="how many advisor candidates 'auto' trains, the plain baseline included (default 4)")
    p.add_argument("--epochs", type=int, default=40, metavar="N", help="maximum epochs per run (default 40)")
    p.add_argument("--seeds", type=int, default=3, metavar="K",
                   help="seeds per loss; results are mean ± std over them (default 3)")
    p.add_argument("--patience", type=int, default=10, metavar="N",
                   help="early stopping: epochs without a better validation metric before stopping (default 10; "
                   "0 turns it off)")
    p.add_argument("--batch-size", type=int, default=128, metavar="N", help="mini-batch size (default 128)")
    p.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate (default 0.003)")
    p.add_argument("--weight-decay", type=float, default=1e-2, help="AdamW weight decay (default 0.01)")
    p.add_argument("--hidden", type=_floats, default=(128, 64), metavar="W1,W2",
                   help="hidden layer widths of the MLP (default 128,64)")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout after each hidden layer (default 0.1)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CPU for the forward pass (loss in float32)")
    p.add_argument("--accumulate", type=int, default=1, metavar="N",
                   help="gradient accumulation: one optimizer step every N mini-batches (default 1)")
    p.add_argument("--imbalance", type=float, metavar="R",
                   help="classification: subsample the classes so their counts fall to R times the largest "
                   "(train and validation only; the test split keeps its balance), e.g. 0.05")
    p.add_argument("--label-noise", type=float, default=0.0, metavar="P",
                   help="classification: give a share P of the train/validation labels a random other class")
    p.add_argument("--outliers", type=float, default=0.0, metavar="P",
                   help="regression: move a share P of the train/validation targets by 5-10 standard deviations "
                   "(the test split stays clean)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation/test split (default 0)")
    p.add_argument("--out", default="losskit-out", metavar="DIR",
                   help="output folder, replaced as a whole at the end (default ./losskit-out)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from .ddp import is_main, process_group
    from .runner import compare

    with process_group():  # under torchrun the processes train together and only rank 0 prints
        result = compare(
            args.dataset, csv=args.csv, target=args.target, task=args.task, losses=args.losses,
            candidates=args.candidates, epochs=args.epochs, seeds=args.seeds, patience=args.patience,
            batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, hidden=args.hidden,
            dropout=args.dropout, amp=args.amp, accumulate=args.accumulate, imbalance=args.imbalance,
            label_noise=args.label_noise, outliers=args.outliers, split_seed=args.split_seed, out=args.out,
            progress=not args.no_progress,
        )
        if not is_main():
            return 0
    print(f"{result.dataset}: {result.task}, {result.num_rows} rows; test metrics, mean ± std over "
          f"{result.config['seeds']} seed(s) (* = winner)")
    print(result.table())
    print(f"wrote {result.out_dir}/report.html (and results.json, curves.csv, *.png) in {result.seconds:.1f} s",
          file=sys.stdout)
    return 0
