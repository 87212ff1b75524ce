"""``losskit plot-shapes``: each loss and its gradient against the error, in one figure.

Regression losses are drawn against the error ``prediction - target``; classification losses against the logit
margin of the true class (two logits ``[z, 0]`` with target class 0 for the softmax losses, one logit ``z`` with
target 1 for the sigmoid ones). Options come from :data:`losskit.advisor.LOSS_MENU` for targets of unit robust
scale (so ``huber`` has ``delta = 1.345``).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence

import numpy as np
import torch

from .. import advisor
from ._extras import LabError, figure, output_file, save_figure

__all__ = ["DEFAULT_NAME", "loss_curve", "plot_shapes", "register"]

DEFAULT_NAME = "loss-shapes.png"
"""The file written when ``out`` is an existing folder (and the CLI's default ``--out``)."""

_UNIT_REGRESSION = advisor.TargetStats(num_samples=4, shape=(4,), dtype="float32", mean=0.0, std=1.0, median=0.0,
                                       mad_sigma=1.0, outlier_share=0.0, skewness=0.0, minimum=-1.0, maximum=1.0)
_BALANCED = advisor.TargetStats(num_samples=4, shape=(4,), dtype="int64", num_classes=2, class_counts=(2, 2),
                                imbalance_ratio=1.0)


_REGRESSION_HEADS = ("value", "quantiles")


def loss_curve(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-element loss of menu loss ``name`` and its derivative at the errors (or margins) ``x``."""
    entry = advisor.LOSS_MENU[name]
    z = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    if entry.head == "value":
        options = entry.configure(_UNIT_REGRESSION, np.array([-1.0, 0.0, 0.0, 1.0]))
        fn = advisor._loss_class(entry.loss)(**options, reduction="none")
        values = fn(z, torch.zeros_like(z))
    elif entry.head == "quantiles":  # every quantile's prediction off by the same error: their mean loss
        options = entry.configure(_UNIT_REGRESSION, np.array([-1.0, 0.0, 0.0, 1.0]))
        fn = advisor._loss_class(entry.loss)(**options, reduction="none")
        k = len(options["quantiles"])
        values = fn(z[:, None].expand(len(x), k), torch.zeros_like(z)).mean(1)
    elif entry.head == "sigmoid":
        options = entry.configure(_BALANCED, np.array([0, 1, 0, 1]))
        fn = advisor._loss_class(entry.loss)(**options, reduction="none")
        values = fn(z[:, None], torch.ones(len(x), 1, dtype=torch.float64))[:, 0]
    else:
        options = entry.configure(_BALANCED, np.array([0, 1, 0, 1]))
        options = {k: v.double() if isinstance(v, torch.Tensor) else v for k, v in options.items()}
        fn = advisor._loss_class(entry.loss)(**options, reduction="none")
        logits = torch.stack([z, torch.zeros_like(z)], 1)
        values = fn(logits, torch.zeros(len(x), dtype=torch.long))
    (grad,) = torch.autograd.grad(values.sum(), z)
    return values.detach().numpy(), grad.numpy()


def plot_shapes(names: str | Sequence[str], out: str | os.PathLike, *, span: float = 3.0, points: int = 401) -> str:
    """Draw each loss and its gradient (one figure, PNG at ``out``); returns the path.

    ``out`` may be an existing folder: the PNG is then ``out/loss-shapes.png`` (:data:`DEFAULT_NAME`). The file is
    written atomically (nothing half-written on failure).

    Raises:
        LossOptionError: an unknown loss name (with the close matches) or one this build lacks.
        LabError: ``span`` not a positive finite number, ``points`` below 2, or ``out`` in a missing or read-only
            folder.
        MissingExtraError: matplotlib missing.
    """
    if isinstance(span, bool) or not isinstance(span, (int, float)) or not (math.isfinite(span) and span > 0):
        raise LabError(f"plot-shapes: span must be a positive finite number, but got {span!r}; pass e.g. --span 3")
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise LabError(f"plot-shapes: points must be an integer >= 2, but got {points!r}; pass e.g. points=401")
    path = output_file(out, DEFAULT_NAME, "plot-shapes", "out")
    wanted = [n.strip().lower() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    resolved: list[str] = []
    for n in wanted:
        task = next(iter(sorted(advisor.LOSS_MENU[n].tasks))) if n in advisor.LOSS_MENU else "regression"
        resolved += [m for m in advisor.resolve_loss_names([n], task, where="plot-shapes") if m not in resolved]
    if not resolved:
        raise LabError("plot_shapes: names must list at least one loss, but got none; pass e.g. 'mse,l1,huber'")
    x = np.linspace(-span, span, points)
    groups = {
        "regression": [n for n in resolved if advisor.LOSS_MENU[n].head in _REGRESSION_HEADS],
        "classification": [n for n in resolved if advisor.LOSS_MENU[n].head not in _REGRESSION_HEADS],
    }
    groups = {k: v for k, v in groups.items() if v}
    fig = figure(figsize=(10, 3.6 * len(groups)))
    for row, (kind, members) in enumerate(groups.items()):
        ax_l = fig.add_subplot(len(groups), 2, 2 * row + 1)
        ax_g = fig.add_subplot(len(groups), 2, 2 * row + 2)
        for n in members:
            values, grad = loss_curve(n, x)
            ax_l.plot(x, values, label=n)
            ax_g.plot(x, grad, label=n)
        xlabel = "error = prediction - target" if kind == "regression" else "logit margin z of the true class"
        for ax, what in ((ax_l, "loss"), (ax_g, "gradient d loss / d " + ("error" if kind == "regression" else "z"))):
            ax.set_xlabel(xlabel)
            ax.set_title(f"{kind}: {what}", fontsize=10)
            ax.axhline(0, color="gray", lw=0.5)
            ax.axvline(0, color="gray", lw=0.5)
            ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, "plot-shapes", "out", dpi=90)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``losskit plot-shapes``."""
    from ..cli import examples

    p = subparsers.add_parser(
        "plot-shapes",
        help="plot each loss and its gradient against the error (one PNG)",
        description="Draw each loss and its gradient against the error (regression losses) or the logit margin of "
        "the true class (classification losses), in one figure.",
        epilog=examples(
            ("losskit plot-shapes", "the regression losses mse, l1, huber, smooth-l1 and logcosh"),
            ("losskit plot-shapes --losses ce,focal,poly --out classification.png",
             "classification losses against the true class's logit margin"),
            ("losskit plot-shapes --losses mse,huber,quantile --span 6", "a wider range of errors"),
        ),
    )
    p.add_argument("--losses", default="mse,l1,huber,smooth-l1,logcosh", metavar="a,b,c",
                   help=f"loss names (default mse,l1,huber,smooth-l1,logcosh) among: {', '.join(advisor.LOSS_MENU)}")
    p.add_argument("--out", default=DEFAULT_NAME, metavar="FILE.png", help="the PNG to write (default "
                   f"{DEFAULT_NAME}); an existing folder gets {DEFAULT_NAME} inside it")
    p.add_argument("--span", type=float, default=3.0, help="draw errors/margins in [-span, span] (default 3)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    path = plot_shapes(args.losses, args.out, span=args.span)
    print(f"wrote {path}")
    return 0
