"""The ``lufmodel`` command line. The only place (with ``lufmodel.commands``) that prints or exits.

Exit codes: 0 every checked property holds (exhaustively or within the stated bound);
1 a property is violated; 2 bad input or usage; 3 inconclusive.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from lufmodel import __version__
from lufmodel.commands import COMMAND_MODULES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lufmodel", description="A bounded model checker for Linux's Lazy Unmap Flush (LUF).")
    parser.add_argument("--version", action="version", version=f"lufmodel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.run(args)
    except BrokenPipeError:
        # The reader (``| head``) went away: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("lufmodel: interrupted", file=sys.stderr)
        return 3
    return code


if __name__ == "__main__":
    sys.exit(main())
