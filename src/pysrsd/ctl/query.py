"""``pysrsctl query [--reverse] ADDRESS``: ask a running daemon over tcp_table.

Exit 0 with the value (found), 1 (500: not found), 3 (400, or the daemon cannot be reached).
A client needs no secrets: without a usable configuration the default ports are asked.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from pysrsd import cli
from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.wire.tcp_table import quote, unquote

EXIT_NOT_FOUND, EXIT_TEMP = 1, 3


def run(args: argparse.Namespace) -> int:
    try:
        settings: Settings | None = cli.settings_from_args({})
    except ConfigError:
        settings = None  # a client needs no secrets: fall back to the defaults
    host = args.host or (settings.listen[0] if settings else "127.0.0.1")
    default_port = (
        (settings.reverse_port if args.reverse else settings.forward_port)
        if settings
        else (10002 if args.reverse else 10001)
    )
    port = args.port or default_port
    request = b"get " + quote(os.fsencode(args.address)) + b"\n"
    try:
        with socket.create_connection((host, port), timeout=args.timeout) as sock:
            sock.sendall(request)
            reply = sock.makefile("rb").readline(8192)
    except OSError as exc:
        print(f"pysrsctl: cannot ask {host} port {port}: {exc}", file=sys.stderr)
        return EXIT_TEMP
    code, _, text = reply.rstrip(b"\n").partition(b" ")
    value = unquote(text)
    if code == b"200":
        sys.stdout.buffer.write(value + b"\n")
        return 0
    print(f"{code.decode(errors='replace')} {value.decode(errors='replace')}", file=sys.stderr)
    return EXIT_NOT_FOUND if code == b"500" else EXIT_TEMP
