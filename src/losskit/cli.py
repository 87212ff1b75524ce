"""The ``losskit`` command line: ``losskit SUBCOMMAND`` and ``python -m losskit SUBCOMMAND``.

Each subcommand lives in its own module, which defines ``register(subparsers)``: it adds its parser
(with ``help=`` and a help text for every option) and sets ``func`` to a callable taking the parsed
namespace and returning the exit code.

Failures print one line on stderr, never a traceback: a bad option or input (``losskit CMD: error: ...``, exit
code 2, nothing written), Ctrl-C (``losskit CMD: interrupted``, exit code 130), a lost peer under torchrun (exit
code 1). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

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


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that a text with line breaks (the ``examples`` epilog) keeps its lines; a
    description of one paragraph is still wrapped to the terminal."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line if line else "" for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def examples(*commands: tuple[str, str]) -> str:
    """The ``epilog`` of a subcommand: ``(command, what it does)`` pairs, one command per line under its comment.

    ``tests/test_cli.py`` parses every command, and the documentation's CLI page shows them with the help.
    """
    lines = ["examples:"]
    for command, what in commands:
        lines += [f"  # {what}", f"  {command}"]
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``losskit compare: error: argument --dropout: expected ...``, exit code 2
    (the usage is one ``--help`` away). The subcommands' parsers are of this class too, so all share the
    formatter that keeps the examples' lines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="losskit",
        description="losskit: the loss-function layer for PyTorch. Run 'losskit SUBCOMMAND --help' for details.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"losskit {__version__}")
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
    except KeyboardInterrupt:
        print(f"losskit {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, RuntimeError) as err:
        from ._validation import LosskitError

        if isinstance(err, (LosskitError, OSError)) or getattr(err, "user_facing", False):
            text = " ".join(str(err).split())  # one line
            if isinstance(err, OSError) and err.filename is not None:
                text = f"{err.strerror or err}: {err.filename!r}"
            print(f"losskit {args.command}: error: {text}", file=sys.stderr)
            return int(getattr(err, "exit_code", 2))
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
