"""``losskit losses``: print the loss catalog."""

from __future__ import annotations

import argparse
import difflib

from . import _validation as V
from .catalog import list_losses

__all__ = ["register"]


def _main(args: argparse.Namespace) -> int:
    if args.family is not None:
        families = sorted({r.family for r in list_losses()})
        if args.family not in families:
            close = difflib.get_close_matches(args.family, families, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "run 'losskit losses' for the whole catalog"
            raise V.LossOptionError(f"losses: --family must be one of {', '.join(families)}, but got "
                                    f"{args.family!r}; {hint}")
    rows = list_losses(args.family)
    if args.markdown:
        print("| family | Module | functional | what it is |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r.family} | `{r.name}` | `{r.functional}` | {r.summary} |")
        return 0
    width = max((len(r.name) for r in rows), default=10)
    family = None
    for r in rows:
        if r.family != family:
            family = r.family
            print(f"\n{family}")
        print(f"  {r.name:<{width}}  {r.summary}")
    return 0


def register(subparsers) -> None:
    from .cli import examples

    p = subparsers.add_parser(
        "losses",
        help="list every loss with its family and a one-line description",
        description=(
            "List every loss losskit exports (the same rows as losskit.list_losses()): its family, its Module in "
            "losskit and its function in losskit.functional, with the first line of its documentation."
        ),
        epilog=examples(
            ("losskit losses", "every loss, grouped by family"),
            ("losskit losses --family segmentation", "one family"),
            ("losskit losses --markdown", "a Markdown table"),
        ),
    )
    p.add_argument("--family", help="only this family (e.g. classification, regression, segmentation)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=_main)
