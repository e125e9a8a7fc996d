"""`python -m tools.fuzz codec|replay ...`: the fuzz commands without the full CLI."""

from __future__ import annotations

import argparse
import sys

from tools.fuzz.cli import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fuzz")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fuzz", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
