"""``losskit compare``: the command line of :func:`losskit.lab.compare`."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Callable
from typing import Any

from ..advisor import LOSS_MENU
from ._extras import LabError
from .data import BUILTIN, IMAGE_DEMOS
from .task_segmentation import MENU as SEGMENTATION_MENU
from .train_torch import OPTIMIZERS

__all__ = ["register"]


def _floats(text: str) -> tuple[int, ...]:
    """``--hidden``: comma-separated layer widths >= 1 (an empty string: no hidden layer, a linear model)."""
    try:
        widths = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 128,64, got {text!r}") from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"expected layer widths >= 1 such as 128,64, got {text!r}")
    return widths


def _integer(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


def _number(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = True
            ) -> Callable[[str], float]:
    """An argparse type: a finite number in the interval from ``low`` to ``high`` (open or closed ends)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text!r}") from None
        inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text}")
        return value

    return parse


def load_function(spec: str, option: str) -> Callable[..., Any]:
    """``MODULE:FUNC`` -> the function: MODULE an importable module or a path to a ``.py`` file.

    Raises:
        LabError: a malformed spec, a module that is not found or fails to import, or a missing or non-callable
            FUNC (one line naming which).
    """
    where = "compare"
    module_name, sep, func = str(spec).rpartition(":")
    if not sep or not module_name or not func:
        raise LabError(f"{where}: {option} must be MODULE:FUNC (a module or a .py file, and a function in it), but "
                       f"got {spec!r}; pass e.g. {option} my_data.py:make_{'data' if 'data' in option else 'model'}")
    try:
        if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
            path = os.path.abspath(module_name)
            if not os.path.isfile(path):
                raise LabError(f"{where}: {option} names the file {module_name!r}, but got no such file; check "
                               "the path")
            name = "losskit_user_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
            loader_spec = importlib.util.spec_from_file_location(name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise LabError(f"{where}: {option} must name a Python file, but got {module_name!r}; pass a .py file")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except LabError:
        raise
    except ModuleNotFoundError as err:
        raise LabError(f"{where}: {option} names the module {module_name!r}, but got {err}; pass an importable "
                       "module or a path to a .py file") from None
    except Exception as err:  # the user's module failed while importing: say where, in one line
        raise LabError(f"{where}: {option} module {module_name!r} must import, but got {type(err).__name__}: "
                       f"{err}; fix the module") from None
    fn = getattr(module, func, None)
    if fn is None:
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise LabError(f"{where}: {option} names the function {func!r}, but got a module {module_name!r} without "
                       f"it; functions there: {', '.join(public[:8]) or 'none'}")
    if not callable(fn):
        raise LabError(f"{where}: {option} must name a function, but got {func!r} of type {type(fn).__name__} in "
                       f"{module_name!r}; name a function")
    return fn


def _user_data(spec: str) -> Any:
    """Call ``--data``'s function: it must return ``(train, val, test)``."""
    fn = load_function(spec, "--data")
    try:
        got = fn()
    except Exception as err:
        raise LabError(f"compare: --data function {spec!r} must run, but got {type(err).__name__}: {err}; fix the "
                       "function") from None
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        what = type(got).__name__ + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        raise LabError(f"compare: --data function {spec!r} must return (train, val, test), but got a {what}; "
                       "return three datasets")
    return got


def _user_model(spec: str) -> Callable[[], Any]:
    """``--model``'s function, checked once: it must return a torch ``nn.Module``."""
    from torch import nn

    fn = load_function(spec, "--model")

    def make() -> nn.Module:
        try:
            model = fn()
        except Exception as err:
            raise LabError(f"compare: --model function {spec!r} must run, but got {type(err).__name__}: {err}; fix "
                           "the function") from None
        if not isinstance(model, nn.Module):
            raise LabError(f"compare: --model function {spec!r} must return a torch.nn.Module, but got "
                           f"{type(model).__name__}; return a fresh model")
        return model

    make.__qualname__ = spec
    return make


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``losskit compare``."""
    from ..cli import examples

    p = subparsers.add_parser(
        "compare",
        help="train a small network with each candidate loss on a data set and compare them (the main job)",
        description="Recommend losses for a data set's target, train the same MLP with each (AdamW, early stopping "
        "with the best checkpoint kept) in paired runs (run r: stratified split r and seed r for every loss), and "
        "compare them on the clean test split: a table, and in --out results.json, curves.csv, PNG plots and a "
        "self-contained report.html. A winner is named only when it beats every other loss (and, for two classes, "
        "the baseline with a tuned threshold) on the paired per-run differences, by Nadeau and Bengio's corrected "
        "resampled t-test with Holm's correction, and by at least --margin.",
        epilog=examples(
            ("losskit compare --dataset breast_cancer",
             "the advisor's candidates on a bundled data set, 10 paired runs"),
            ("losskit compare --dataset iris --runs 3 --out iris-report",
             "a quick look (the documentation's sample report)"),
            ("losskit compare --csv sales.csv --target amount --target-transform log --losses mse,huber,logcosh",
             "your CSV: a long-tailed regression target, three chosen losses"),
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="NAME", help=f"a data set bundled with scikit-learn: {', '.join(BUILTIN)}; "
                     f"or {', '.join(IMAGE_DEMOS)} (the 8x8 digits as 1x8x8 images and a small CNN; shapes: "
                     "synthetic circles, squares and triangles to segment, a small fully-convolutional net)")
    src.add_argument("--csv", metavar="FILE", help="a CSV file with a header row (numeric columns as they are, "
                     "categorical ones one-hot encoded, missing values imputed)")
    src.add_argument("--data", metavar="MODULE:FUNC",
                     help="your own data: FUNC() in MODULE (importable, or a path to a .py file) returns (train, val, "
                     "test), torch Datasets or DataLoaders of (input, target) pairs; needs --model")
    p.add_argument("--model", metavar="MODULE:FUNC",
                   help="with --data: FUNC() returns a fresh torch.nn.Module (called once per run after the run's "
                   "seed is set, so every loss starts from the same weights)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw",
                   help="with --data or digits-images: the optimizer (default adamw; sgd uses momentum 0.9)")
    p.add_argument("--target", metavar="COLUMN", help="the target column of --csv (default: the last column); "
                   "several 0/1 columns a,b,c make a multi-label target")
    p.add_argument("--task", choices=("binary", "multiclass", "regression", "multilabel", "segmentation", "retrieval"),
                   help="override the inferred task (multilabel: with --data, (L,) 0/1 target vectors; retrieval: "
                   "the model outputs embeddings, trained with metric-learning losses on the class labels and "
                   "evaluated by nearest neighbours on the test split)")
    p.add_argument("--losses", default="auto", metavar="auto|a,b,c",
                   help=f"'auto' (default: the advisor's candidates) or names among: {', '.join(LOSS_MENU)}; "
                   f"segmentation: {', '.join(SEGMENTATION_MENU)}")
    p.add_argument("--candidates", type=_integer(1), default=4, metavar="N",
                   help="how many advisor candidates 'auto' trains, the plain baseline included (default 4)")
    p.add_argument("--epochs", type=_integer(1), default=None, metavar="N",
                   help="maximum epochs per run (default: enough for 400 optimizer steps, 40 to 300)")
    p.add_argument("--runs", "--seeds", dest="runs", type=_integer(1), default=None, metavar="K",
                   help="paired runs per loss: run r uses split r and seed r for every loss (default 10)")
    p.add_argument("--patience", type=_integer(0), default=None, metavar="N",
                   help="early stopping: epochs without a better validation criterion before stopping (default: a "
                   "fifth of the automatic epochs, at least 10; 0 turns it off)")
    p.add_argument("--margin", type=_number(0.0), default=None, metavar="M",
                   help="the smallest gain on the primary metric that counts for a winner (default 0.01 of balanced "
                   "accuracy; 1%% of the baseline's MAE)")
    p.add_argument("--alpha", type=_number(0.0, 1.0, low_open=True), default=0.05, metavar="A",
                   help="family-wise error rate of the paired tests (default 0.05)")
    p.add_argument("--batch-size", type=_integer(1), default=128, metavar="N", help="mini-batch size (default 128)")
    p.add_argument("--lr", type=_number(0.0, low_open=True), default=3e-3, help="AdamW learning rate (default 0.003)")
    p.add_argument("--weight-decay", type=_number(0.0), default=1e-2, help="AdamW weight decay (default 0.01)")
    p.add_argument("--hidden", type=_floats, default=(128, 64), metavar="W1,W2",
                   help="hidden layer widths of the MLP (default 128,64)")
    p.add_argument("--dropout", type=_number(0.0, 1.0), default=0.1,
                   help="dropout after each hidden layer, in [0, 1) (default 0.1)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CPU for the forward pass (loss in float32)")
    p.add_argument("--accumulate", type=_integer(1), default=1, metavar="N",
                   help="gradient accumulation: one optimizer step every N mini-batches (default 1)")
    p.add_argument("--imbalance", type=_number(0.0, 1.0, low_open=True, high_open=False), metavar="R",
                   help="classification: subsample the classes so their counts fall to R times the largest "
                   "(train and validation only; the test split keeps its balance), e.g. 0.05")
    p.add_argument("--label-noise", type=_number(0.0, 1.0), default=0.0, metavar="P",
                   help="classification: give a share P of the train/validation labels a random other class")
    p.add_argument("--outliers", type=_number(0.0, 1.0), default=0.0, metavar="P",
                   help="regression: move a share P of the train/validation targets by 5-10 standard deviations "
                   "(the test split stays clean)")
    p.add_argument("--split-seed", type=_integer(0), default=0,
                   help="run r uses the train/validation/test split of seed split-seed + r (default 0)")
    p.add_argument("--target-transform", choices=("log",), default=None,
                   help="regression: train on log1p(target) (targets >= 0, e.g. long-tailed amounts); predictions "
                   "are mapped back with expm1, so every metric is in the target's units")
    p.add_argument("--ordinal", action="store_true",
                   help="the classes are ordered (numeric labels by value, text labels alphabetically): 'auto' "
                   "trains the ordinal loss (CORAL, one logit per threshold) against plain cross-entropy")
    p.add_argument("--timeout", type=_number(0.0, low_open=True), default=None, metavar="SECONDS",
                   help="under torchrun: how long a process waits for the others before the run ends with a one-line "
                   "error (default 300)")
    p.add_argument("--out", default="losskit-out", metavar="DIR",
                   help="output folder, replaced as a whole at the end (default ./losskit-out)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from .ddp import PeerLostError, is_main, process_group
    from .runner import compare

    # under torchrun the processes train together and only rank 0 prints; a process that stops or dies ends the
    # others' runs within --timeout (PeerLostError: one line on every rank, exit code 1)
    data = model_fn = None
    if args.model is not None and args.data is None:
        raise LabError("compare: --model goes with --data, but got --model without it; pass --data MODULE:FUNC too")
    if args.data is not None:
        if args.model is None:
            raise LabError("compare: --data needs --model MODULE:FUNC returning a fresh torch.nn.Module, but got none; "
                           "pass --model")
        data, model_fn = _user_data(args.data), _user_model(args.model)
    with process_group(timeout=args.timeout), PeerLostError.translate(args.timeout):
        result = compare(
            args.dataset, data=data, model_fn=model_fn, optimizer=args.optimizer, csv=args.csv, target=args.target,
            task=args.task, losses=args.losses,
            candidates=args.candidates, epochs=args.epochs, runs=args.runs, patience=args.patience,
            batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, hidden=args.hidden,
            dropout=args.dropout, amp=args.amp, accumulate=args.accumulate, imbalance=args.imbalance,
            label_noise=args.label_noise, outliers=args.outliers, split_seed=args.split_seed, margin=args.margin,
            alpha=args.alpha, out=args.out,
            progress=not args.no_progress, target_transform=args.target_transform,
            ordinal=args.ordinal,
        )
        if not is_main():
            return 0
    print(f"{result.dataset}: {result.task}, {result.num_rows} rows; test metrics, mean ± std over "
          f"{result.config['runs']} paired run(s) (* = winner)")
    print(result.table())
    print(f"wrote {result.out_dir}/report.html (and results.json, curves.csv, *.png) in {result.seconds:.1f} s",
          file=sys.stdout)
    return 0
