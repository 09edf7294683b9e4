"""Command line → ``Settings`` → daemon. The only module that reads ``sys.argv``.

``pysrsd [OPTIONS] [DOMAIN [SECRETS]]``: the positional form and the short flags are
pfix-srsd's (``-e`` forward port, ``-d`` reverse port, ``-s`` separator, ``-f`` foreground,
``-I`` reverse only our domain, ``-u`` unsafe: keep root, ``-U``/``-G`` user/group, ``-p``
pid file), so its daemontools run script works with only the program name changed.

Exit status: 0 after a clean stop, 2 for bad configuration (one line on stderr naming the
setting; nothing listens), 1 for anything else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pydantic import ValidationError

from pysrsd import __version__, logs, privileges, systemd
from pysrsd.errors import ConfigError
from pysrsd.settings import Settings

EXIT_CONFIG = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see --help)\n")


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """The options every pysrsd setting can be given with (shared with pysrsctl)."""
    add = parser.add_argument
    add("--domain", help="SRS domain: rewritten senders end in @DOMAIN")
    add("--secrets-file", help="file of secrets, one per line; the first one signs")
    add("--exclude-file", help="exclusion map (Postfix map source format)")
    add("--config", help="TOML config file (default /etc/pysrsd/pysrsd.toml if it exists)")
    add("--separator", "-s", choices=["=", "+", "-"], help="separator after SRS0/SRS1")
    add("--hash-length", type=int, help="hash characters written (default 4)")
    add("--hash-min", type=int, help="fewest hash characters accepted (default 4)")
    add("--max-age", type=int, help="days an SRS address stays valid (default 21)")
    add("--always-rewrite", action=argparse.BooleanOptionalAction, help="rewrite own domain")
    add("--reverse-any-domain", action=argparse.BooleanOptionalAction)
    add(
        "--hash-input",
        choices=["separated", "concatenated"],
        help="HMAC input: 'separated' (default) binds the field boundaries; 'concatenated' is "
        "classic SRS (libsrs2, postsrsd, Mail::SRS): byte-compatible but forgeable",
    )
    add(
        "--accept-concatenated-before",
        metavar="YYYY-MM-DD",
        help="also accept classic (concatenated) hashes on addresses stamped before this day",
    )
    add(
        "--hash-alphabet",
        choices=["base64url", "base64"],
        help="alphabet of new hashes (default base64url); both always verify",
    )
    add(
        "--original-envelope",
        choices=["embedded", "database", "auto"],
        help="where the original sender lives: in the address (default), in the envelope "
        "database, or in the database only when the address would be too long",
    )
    add(
        "--envelope-database",
        metavar="URL",
        help="sqlite:PATH or redis://HOST:PORT[/DB] "
        "(default sqlite:/var/lib/pysrsd/envelopes.sqlite)",
    )
    add("--log-level", choices=["debug", "info", "warning", "error"])
    add("--log-format", choices=["kv", "json"])


def _daemon_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pysrsd",
        description="Sender Rewriting Scheme daemon for Postfix (tcp_table, socketmap).",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("positional_domain", nargs="?", metavar="DOMAIN", help="as --domain")
    parser.add_argument(
        "positional_secrets", nargs="?", metavar="SECRETS", help="as --secrets-file"
    )
    add_setting_options(parser)
    add = parser.add_argument
    add("--listen", action="append", help="address to listen on (repeatable; default 127.0.0.1)")
    add("--forward-port", "-e", type=int, help="forward (sender) table port (default 10001)")
    add("--reverse-port", "-d", type=int, help="reverse (recipient) table port (default 10002)")
    add("--socketmap", action="append", help="socketmap endpoint inet:HOST:PORT or unix:PATH")
    add("--socketmap-mode", type=lambda v: int(v, 8), help="unix socket mode (octal)")
    add("--idle-timeout", type=float, help="close connections idle this many seconds")
    add("--max-connections", type=int, help="concurrent connections, all listeners")
    add("--max-line", type=int, help="longest request line in bytes")
    add("--user", "-U", help="drop privileges to this user after binding")
    add("--group", "-G", help="drop privileges to this group after binding")
    add("--allow-root", "-u", action="store_true", help="keep running as root (not advised)")
    add("--pidfile", "-p", help="write the process id to this file")
    add("--metrics", metavar="inet:HOST:PORT", help="serve Prometheus metrics at /metrics")
    add("-I", dest="reverse_any_domain", action="store_false", help="pfix-srsd: the default")
    add("-f", dest="foreground", action="store_true", help="accepted: always in foreground")
    add("-v", dest="verbose", action="count", help="more logging (-v: debug)")
    add("--version", action="version", version=f"pysrsd {__version__}")
    return parser


def settings_from_args(args: dict[str, Any]) -> Settings:
    """Build Settings from parsed options (only those given): CLI > env > TOML > defaults."""
    given = {k.replace("-", "_"): v for k, v in args.items() if v is not None}
    # ``pysrsd --domain D SECRETS``: the one positional given is the secrets file
    only_one = "positional_domain" in given and "positional_secrets" not in given
    if only_one and "domain" in given and "secrets_file" not in given:
        given["positional_secrets"] = given.pop("positional_domain")
    for name in ("domain", "secrets_file"):
        positional = given.pop(f"positional_{name.split('_')[0]}", None)
        if positional is not None:
            if name in given and given[name] != positional:
                raise ConfigError(f"--{name.replace('_', '-')}: given twice, differently")
            given[name] = positional
    given.pop("foreground", None)
    if given.pop("verbose", 0):
        given["log_level"] = "debug"
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "settings"
    flag, env = "--" + name.replace("_", "-"), "PYSRSD_" + name.upper()
    if first["type"] == "missing":
        return f"{flag}: missing (give it on the command line, as {env}, or in the config file)"
    message = first["msg"].removeprefix("Value error, ")
    return f"{flag} ({env}): {message}"


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_daemon_parser().parse_args(argv))
    try:
        settings = settings_from_args(args)
        logs.configure(settings.log_level, settings.log_format, journal=systemd.journal_stderr())
        from pysrsd import daemon
        from pysrsd.state import Runtime

        runtime = Runtime(settings)
        if settings.pidfile is not None:
            privileges.write_pidfile(settings.pidfile)
        try:
            return daemon.run(settings, runtime)
        finally:
            if settings.pidfile is not None:
                privileges.remove_pidfile(settings.pidfile)
    except ConfigError as exc:
        print(f"pysrsd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
