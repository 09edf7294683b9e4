"""``pysrsctl``: the administrator's tool beside the daemon, one module per command.

  pysrsctl forward ADDRESS        rewrite offline, with the daemon's configuration and policy
  pysrsctl reverse ADDRESS        reverse offline (hash and day stamp checked)
  pysrsctl genkey [--rotate] [--owner USER[:GROUP]] FILE
                                  new random secret; --rotate puts it on top and keeps the
                                  old ones, which still verify
  pysrsctl check                  validate the configuration, the files it names and the
                                  Postfix layout
  pysrsctl query [--reverse] ADDRESS   ask a running daemon over tcp_table
  pysrsctl setup DOMAIN [--systemd | --daemontools DIR] [--socketmap] [--forwarded-only]
                 [--postfix] [--dry-run]
                                  the first hour: account, files, service, Postfix layout
  pysrsctl health                 probe the running daemon over every configured endpoint
                                  and every map Postfix asks (exit 0 OK, 1 WARNING,
                                  2 CRITICAL, 3 UNKNOWN)
  pysrsctl rewrites [--log FILE] [--since TIME] [ADDRESS]
                                  the rewrites in the daemon's log
  pysrsctl migrate-from postsrsd [--defaults FILE] [--replace] [--dry-run]
                                  postsrsd 1.x's settings and secret as pysrsd's files

Each command is a function from the parsed arguments to an exit status; ``build_parser()``
returns the one parser that serves ``--help`` (and the man page).

Exit status (health has its own, see ``health``): 0 found/ok, 1 not found, 2 bad
configuration or usage, 3 temporary failure or daemon unreachable.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pysrsd import cli
from pysrsd.ctl.parser import build_parser
from pysrsd.errors import ConfigError

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except ConfigError as exc:
        print(f"pysrsctl: {exc}", file=sys.stderr)
        return cli.EXIT_CONFIG
    return status
