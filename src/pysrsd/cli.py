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
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import structlog

from pysrsd import __version__, build
from pysrsd.config.config_errors import variable
from pysrsd.config.settings import DEFAULT_CONFIG, Settings, load, unknown_variables
from pysrsd.errors import ConfigError
from pysrsd.observe import logs
from pysrsd.service import privileges, systemd

EXIT_CONFIG = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see --help)\n")


def _default(name: str) -> object:
    """A setting's default, for help texts (one source of truth: the Settings model)."""
    value = Settings.model_fields[name].default
    return oct(value).replace("0o", "0") if name == "socketmap_mode" else value


def add_setting_options(parser: argparse.ArgumentParser) -> None:
    """The options every pysrsd setting can be given with (shared with pysrsctl)."""
    add = parser.add_argument
    add("--domain", help="SRS domain: rewritten senders end in @DOMAIN (required)")
    add(
        "--secrets-file",
        metavar="FILE",
        help="file of secrets, one per line; the first one signs, all verify (required)",
    )
    add(
        "--exclude-file",
        metavar="FILE",
        help="exclusion map (Postfix map source format; default none)",
    )
    add(
        "--config", metavar="FILE", help=f"TOML config file (default {DEFAULT_CONFIG} if it exists)"
    )
    add(
        "--separator",
        "-s",
        choices=["=", "+", "-"],
        help=f"separator after SRS0/SRS1 (default {_default('separator')})",
    )
    add(
        "--hash-length",
        type=int,
        help=f"hash characters written (default {_default('hash_length')})",
    )
    add(
        "--hash-min",
        type=int,
        help=f"fewest hash characters accepted (default {_default('hash_min')})",
    )
    add(
        "--max-age",
        type=int,
        help=f"days an SRS address stays valid (default {_default('max_age')})",
    )
    add(
        "--always-rewrite",
        action=argparse.BooleanOptionalAction,
        help="also rewrite senders already in the SRS domain (default: no)",
    )
    add(
        "--reverse-any-domain",
        action=argparse.BooleanOptionalAction,
        help="reverse SRS addresses of any domain, not only the SRS domain (default: no)",
    )
    _add_scheme_options(parser.add_argument)


def _add_scheme_options(add: Callable[..., object]) -> None:
    add(
        "--hash-input",
        choices=["separated", "concatenated"],
        help="HMAC input: 'separated' (default) binds the field boundaries; 'concatenated' is "
        "classic SRS (libsrs2, postsrsd, Mail::SRS): byte-compatible but forgeable",
    )
    add(
        "--accept-concatenated-before",
        metavar="YYYY-MM-DD",
        help="also accept classic (concatenated) hashes on addresses stamped before this day "
        "(default: never)",
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
        help=f"sqlite:PATH or redis://HOST:PORT[/DB] (default {_default('envelope_database')})",
    )
    add(
        "--envelope-database-password-file",
        metavar="FILE",
        help="file whose first line is the Redis password (root:pysrsd 0640; default none)",
    )
    add(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help=f"least important events logged (default {_default('log_level')})",
    )
    add(
        "--log-format",
        choices=["kv", "json"],
        help=f"log lines as key=value pairs or JSON objects (default {_default('log_format')})",
    )


def epilog() -> str:
    """The end of ``--help``: the other two sources of every setting, and their precedence."""
    names = ", ".join(variable(name) for name in Settings.model_fields)
    return (
        "Every option above is also a PYSRSD_* environment variable (PYSRSD_SECRETS_FILE for "
        f"--secrets-file; lists separated by commas) and a key of the TOML config file "
        f'(secrets-file = "/etc/pysrsd/secrets"), {DEFAULT_CONFIG} unless --config or '
        "PYSRSD_CONFIG names another. Precedence: command line > environment > config file > "
        f"defaults. Variables: {names}."
    )


def _daemon_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pysrsd",
        description="Sender Rewriting Scheme daemon for Postfix (tcp_table, socketmap).",
        epilog=epilog(),
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("positional_domain", nargs="?", metavar="DOMAIN", help="as --domain")
    parser.add_argument(
        "positional_secrets", nargs="?", metavar="SECRETS", help="as --secrets-file"
    )
    add_setting_options(parser)
    _add_listener_options(parser.add_argument)
    _add_process_options(parser.add_argument)
    return parser


def _add_listener_options(add: Callable[..., object]) -> None:
    add(
        "--listen",
        action="append",
        metavar="ADDRESS",
        help="address of the tcp_table listeners (repeatable; default 127.0.0.1)",
    )
    add(
        "--forward-port",
        "-e",
        type=int,
        help=f"forward (sender) table port (default {_default('forward_port')})",
    )
    add(
        "--reverse-port",
        "-d",
        type=int,
        help=f"reverse (recipient) table port (default {_default('reverse_port')})",
    )
    add(
        "--socketmap",
        action="append",
        metavar="ENDPOINT",
        help="socketmap endpoint inet:HOST:PORT or unix:PATH (repeatable; default none)",
    )
    add(
        "--socketmap-mode",
        type=lambda v: int(v, 8),
        metavar="MODE",
        help=f"mode of socketmap unix sockets, octal (default {_default('socketmap_mode')})",
    )
    add(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help=f"close connections idle this long (default {_default('idle_timeout')})",
    )
    add(
        "--max-connections",
        type=int,
        help=f"concurrent connections, all listeners (default {_default('max_connections')})",
    )
    add(
        "--max-line",
        type=int,
        metavar="BYTES",
        help=f"longest request line (default {_default('max_line')})",
    )


def _add_process_options(add: Callable[..., object]) -> None:
    add(
        "--user",
        "-U",
        help="drop privileges to this user after binding (default: keep the account)",
    )
    add(
        "--group",
        "-G",
        help="drop privileges to this group after binding (default: the user's group)",
    )
    add(
        "--allow-root",
        "-u",
        action="store_true",
        help="keep running as root (not advised; default: refuse)",
    )
    add("--pidfile", "-p", metavar="FILE", help="write the process id to this file (default none)")
    add(
        "--metrics",
        metavar="inet:HOST:PORT",
        help="serve Prometheus metrics at /metrics there (default: off)",
    )
    add(
        "--event-loop",
        choices=["auto", "asyncio", "uvloop"],
        help="event loop: uvloop when installed (auto, the default), or asyncio's own",
    )
    add(
        "-I",
        dest="reverse_any_domain",
        action="store_false",
        help="pfix-srsd's: reverse only the SRS domain (the default)",
    )
    add("-f", dest="foreground", action="store_true", help="accepted: always in foreground")
    add("-v", dest="verbose", action="count", help="log at debug level (as --log-level debug)")
    add("--version", action="version", version=f"pysrsd {__version__} ({build()})")


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
    return load(given)


def _warn_unknown_variables() -> None:
    """A misspelt ``PYSRSD_*`` variable is ignored: say so at start rather than stay silent."""
    for spelt, guess in unknown_variables():
        advice = f"did you mean {guess}?" if guess else "no such setting: it is ignored"
        structlog.get_logger("pysrsd.settings").warning(
            "unknown_variable", variable=spelt, advice=advice
        )


def _check_account(settings: Settings) -> None:
    """The files as the account after the drop sees them: unreadable is an error now (not at
    the next reload), a secret it could rewrite is a warning."""
    readable = {
        "secrets-file": settings.secrets_file,
        "exclude-file": settings.exclude_file,
        "envelope-database-password-file": settings.envelope_database_password_file,
    }
    writable = privileges.check_account_files(
        settings.user, settings.group, readable, settings.secrets_file
    )
    if writable:
        structlog.get_logger("pysrsd").warning(
            "secrets_file_writable",
            path=str(settings.secrets_file),
            writable=writable,
            advice="the daemon's account could replace its own secret: make the file "
            "root-owned, group of the daemon, mode 0640, in root-owned directories",
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_daemon_parser().parse_args(argv))
    try:
        settings = settings_from_args(args)
        logs.configure(settings.log_level, settings.log_format, journal=systemd.journal_stderr())
        _warn_unknown_variables()
        from pysrsd.policy.runtime import Runtime
        from pysrsd.service import daemon

        _check_account(settings)
        runtime = Runtime(settings, reread=lambda: settings_from_args(args))  # SIGHUP
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
