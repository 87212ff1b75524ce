"""The ``losskit`` command line: ``losskit SUBCOMMAND`` and ``python -m losskit SUBCOMMAND``.

Each subcommand lives in its own module, which defines ``register(subparsers)``: it adds its parser
(with ``help=`` and a help text for every option) and sets ``func`` to a callable taking the parsed
namespace and returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# one line per subcommand module, in the order of `losskit --help`
SUBCOMMAND_MODULES = [
    "losskit.lab.compare_cli",
    "losskit.advisor",
    "losskit.doctor",
    "losskit.lab.shapes",
    "losskit.catalog_cli",
    "losskit.demo",
    "losskit.bench.guard",
    "losskit.bench.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="losskit",
        description="losskit: the loss-function layer for PyTorch. Run 'losskit SUBCOMMAND --help' for details.",
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``losskit`` script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        from ._validation import LosskitError

        if isinstance(err, (LosskitError, FileNotFoundError)) or getattr(err, "user_facing", False):
            print(f"losskit {args.command}: error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
