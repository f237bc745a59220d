"""The ``ivrbox`` command. Each subcommand is a module in firmware_app.commands
with ``add_arguments(parser)`` and ``main(args) -> int``; modules import their
heavy dependencies inside ``main`` so ``ivrbox --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

import firmware_app

COMMANDS = ["run", "simulate", "lint", "dtmf", "devices", "cache", "outbox", "recordings", "console"]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ONLY when it names one: a command
    run imports its own module and no other (``ivrbox --help`` imports them all).

    >>> build_parser("lint").parse_args(["lint", "flows:/demo.xml"]).command
    'lint'
    """
    parser = argparse.ArgumentParser(prog="ivrbox", description=firmware_app.__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [only] if only in COMMANDS else COMMANDS:
        module = importlib.import_module(f"firmware_app.commands.{name}")
        summary = (module.__doc__ or name).strip().splitlines()[0]
        p = sub.add_parser(name, help=summary, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    # numpy's OpenBLAS starts a thread (with its buffers) per core at import, for
    # products far larger than the box's 20 ms frames: one thread saves ~10 MB.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
