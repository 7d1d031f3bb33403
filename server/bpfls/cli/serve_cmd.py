"""``bpfls serve``: the language server, over stdio (default) or TCP.

The protocol runs on stdin/stdout; everything else the server says goes to the client as
window/logMessage, or to stderr.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the language server (stdio, or --tcp HOST:PORT)",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("--stdio", action="store_true",
                   help="talk over stdin/stdout (the default; accepted for editors that pass it)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP port instead")
    p.add_argument("--log-level", choices=("error", "warning", "info", "debug"),
                   default="warning", help="what goes to stderr (default: warning)")
    p.set_defaults(func=run)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not (0 < int(port) < 65536):
        raise ValueError(f"--tcp {value!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def run(args: argparse.Namespace) -> int:
    if args.tcp:
        try:
            host, port = _host_port(args.tcp)
        except ValueError as e:
            print(f"bpfls: error: {e}", file=sys.stderr)
            return 2
    level = getattr(logging, args.log_level.upper())
    logging.basicConfig(stream=sys.stderr, level=level,
                        format="bpfls %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # the `trace` setting raises what goes to the client only
    # Analyses allocate many short-lived objects: collect the young generation less often
    # (the kernels are frozen out of the collector once loaded, see bpfls.lsp.configuration).
    gc.set_threshold(20000, 20, 20)
    # Background threads (a compile's judging, kernel loading) hold the interpreter for at
    # most this long before a waiting request gets it (5 ms by default).
    sys.setswitchinterval(0.001)
    # imported here: the other commands must not pay for the protocol library
    from bpfls.lsp.server import create_server

    server = create_server()
    if args.tcp:
        server.start_tcp(host, port)
        return 0
    # The protocol gets its own copy of stdout; file descriptor 1 and sys.stdout then point
    # at stderr, so nothing else (a stray print, a library writing to fd 1) can corrupt it.
    sys.stdout.flush()
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, stdout)
    return 0
