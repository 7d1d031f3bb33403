"""``bpfls`` entry point: dispatches to the subcommands.

Exit codes: 0 success, 1 findings (``check``, ``btf diff`` with differences), 2 usage or input
error (one clear line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys

from bpfls import __version__
from bpfls.cli import btf_cmd, check_cmd, serve_cmd


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, like argparse, no usage spam
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bpfls", description="BPF C language server and CO-RE checker")
    parser.add_argument("--version", action="version", version=f"bpfls {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    check_cmd.register(sub)
    btf_cmd.register(sub)
    serve_cmd.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `bpfls btf dump ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    """The ``bpfls`` executable and ``python -m bpfls``: run, flush, and leave without tearing
    down the interpreter (freeing every imported module costs a CI run ~25 ms for nothing)."""
    status = main()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass
    try:
        sys.stderr.flush()
    except (ValueError, OSError):
        pass
    os._exit(status)
