"""The argument parser of ``pysrsctl``: every command, every option with its help text.

Each sub-command stores its handler as ``run`` (parsed arguments → exit status).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pysrsd import __version__, build, cli
from pysrsd.ctl import (
    check,
    forwarded,
    genkey,
    health,
    migrate,
    offline,
    query,
    rewrites,
    setup,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser behind ``pysrsctl --help`` and its man page."""
    parser = cli._Parser(prog="pysrsctl", description="pysrsd administration tool")
    parser.add_argument(
        "--version", action="version", version=f"pysrsctl {__version__} ({build()})"
    )
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
    _add_health(commands.add_parser("health", help="probe the running daemon (0/1/2/3)"))
    _add_setup(commands.add_parser("setup", help="set up the account, files, service, Postfix"))
    sub = commands.add_parser("rewrites", help="list the rewrites in the daemon's log")
    sub.add_argument(
        "--log",
        metavar="FILE",
        help="the log to read (-: stdin; default: "
        "/var/log/pysrsd/current, else journalctl -u pysrsd)",
    )
    sub.add_argument("--since", metavar="TIME", help="UTC, e.g. 2026-12-02 or 2026-12-02T18:30")
    sub.add_argument("address", nargs="?", help="only this address, as sender or result")
    sub.set_defaults(run=rewrites.run)
    migrate.add_arguments(commands.add_parser("migrate-from", help="take over postsrsd's settings"))
    return parser


def _add_setup(sub: argparse.ArgumentParser) -> None:
    add = sub.add_argument
    add("domain", metavar="DOMAIN", help="the SRS domain: rewritten senders end in @DOMAIN")
    service = sub.add_mutually_exclusive_group()
    service.add_argument(
        "--systemd", action="store_true", help="install and enable the systemd units"
    )
    service.add_argument(
        "--daemontools",
        metavar="DIR",
        help="install the service directory /etc/pysrsd/service and link it into svscan's "
        "directory DIR (Debian: /etc/service)",
    )
    add(
        "--socketmap",
        action="store_true",
        help="serve socketmap inside Postfix's queue directory (for chrooted smtpd and "
        "cleanup) and print socketmap main.cf lines instead of tcp_table ones",
    )
    add(
        "--forwarded-only",
        action="store_true",
        help="the forwarded-only layout: rewrite the sender only on copies that leave the "
        "host, after alias expansion (master.cf services and main.cf settings; see "
        "docs/forwarded-only.md) instead of every sender (the plain layout)",
    )
    add(
        "--hop-port",
        type=int,
        default=forwarded.PORT,
        metavar="PORT",
        help=f"with --forwarded-only: the loopback port of the SRS hop's smtpd "
        f"(default {forwarded.PORT})",
    )
    add(
        "--postfix",
        action="store_true",
        help="apply the Postfix commands (main.cf and master.cf are backed up first; then "
        "postfix check)",
    )
    add("--dry-run", action="store_true", help="print every step; change nothing")
    sub.set_defaults(run=setup.run)


def _add_health(sub: argparse.ArgumentParser) -> None:
    cli.add_setting_options(sub)
    add = sub.add_argument
    add("--listen", action="append", help="tcp_table address the daemon listens on (as pysrsd)")
    add("--forward-port", "-e", type=int, help="forward table port (as pysrsd; default 10001)")
    add("--reverse-port", "-d", type=int, help="reverse table port (as pysrsd; default 10002)")
    add(
        "--socketmap",
        action="append",
        help="socketmap endpoint (as pysrsd), inet:HOST:PORT or unix:PATH",
    )
    add(
        "--warning",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="an endpoint slower than this is a WARNING (default 1)",
    )
    add(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="wait this long for each answer; no answer is a failure (default 5)",
    )
    add(
        "--probe",
        default=health.PROBE,
        metavar="ADDRESS",
        help=f"the address forwarded then reversed (default {health.PROBE}, whose lookups "
        "the daemon logs at debug; any other is logged as a rewrite)",
    )
    sub.set_defaults(run=health.run)
