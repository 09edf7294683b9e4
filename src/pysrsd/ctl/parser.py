"""The argument parser of ``pysrsctl``: every command, every option with its help text.

Each sub-command stores its handler as ``run`` (parsed arguments → exit status).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pysrsd import __version__, cli
from pysrsd.ctl import check, genkey, offline, query


def build_parser() -> argparse.ArgumentParser:
    """The parser behind ``pysrsctl --help`` and its man page."""
    parser = cli._Parser(prog="pysrsctl", description="pysrsd administration tool")
    parser.add_argument("--version", action="version", version=f"pysrsctl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in ("forward", "reverse"):
        sub = commands.add_parser(name, help=f"{name} one address offline")
        sub.add_argument("address", help="the address to rewrite")
        cli.add_setting_options(sub)
        sub.set_defaults(run=offline.run)
    sub = commands.add_parser("genkey", help="write a new random secret")
    sub.add_argument("--rotate", action="store_true", help="prepend; keep the old secrets")
    sub.add_argument(
        "--owner",
        metavar="USER[:GROUP]",
        help="the daemon's account: the file gets its group (GROUP, else USER's primary group) "
        "and mode 0640, so the daemon reads it and cannot write it (default as root: pysrsd)",
    )
    sub.add_argument("file", type=Path, help="the secrets file to create or rotate")
    sub.set_defaults(run=genkey.run)
    sub = commands.add_parser("check", help="validate the configuration")
    cli.add_setting_options(sub)
    sub.set_defaults(run=check.run)
    sub = commands.add_parser("query", help="ask a running daemon (tcp_table)")
    sub.add_argument("--reverse", action="store_true", help="ask the reverse table")
    sub.add_argument("--host", help="daemon address (default: first --listen, 127.0.0.1)")
    sub.add_argument("--port", type=int, help="port (default: the configured table port)")
    sub.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)"
    )
    sub.add_argument("address", help="the address to look up")
    sub.set_defaults(run=query.run)
    return parser
