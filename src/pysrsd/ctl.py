"""``pysrsctl``: the administrator's tool beside the daemon.

  pysrsctl forward ADDRESS        rewrite offline, with the daemon's configuration and policy
  pysrsctl reverse ADDRESS        reverse offline (hash and day stamp checked)
  pysrsctl genkey [--rotate] [--owner USER] FILE
                                  new random secret (file mode 0600); --rotate puts it on top
                                  and keeps the old ones, which still verify
  pysrsctl check                  validate the configuration and the files it names
  pysrsctl query [--reverse] ADDRESS   ask a running daemon over tcp_table

Exit status: 0 found/ok, 1 not found, 2 bad configuration or usage, 3 temporary failure or
daemon unreachable.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pysrsd import cli, logs, privileges, tables
from pysrsd.errors import ConfigError
from pysrsd.lookup import Status, Table
from pysrsd.settings import Settings
from pysrsd.state import Runtime
from pysrsd.tcp_table import quote, unquote

SECRET_BYTES = 32  # 256 bits, written as 43 base64url characters
EXIT_NOT_FOUND, EXIT_TEMP = 1, 3


def _parser() -> argparse.ArgumentParser:
    parser = cli._Parser(prog="pysrsctl", description="pysrsd administration tool")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("forward", "reverse"):
        sub = commands.add_parser(name, help=f"{name} one address offline")
        sub.add_argument("address")
        cli.add_setting_options(sub)
    sub = commands.add_parser("genkey", help="write a new random secret")
    sub.add_argument("--rotate", action="store_true", help="prepend; keep the old secrets")
    sub.add_argument("--owner", help="USER[:GROUP] to own the file (the daemon's account)")
    sub.add_argument("file", type=Path)
    cli.add_setting_options(commands.add_parser("check", help="validate the configuration"))
    sub = commands.add_parser("query", help="ask a running daemon (tcp_table)")
    sub.add_argument("--reverse", action="store_true", help="ask the reverse table")
    sub.add_argument("--host", help="daemon address (default: first --listen, 127.0.0.1)")
    sub.add_argument("--port", type=int, help="port (default: the configured table port)")
    sub.add_argument("--timeout", type=float, default=5.0)
    sub.add_argument("address")
    return parser


def _settings(args: dict[str, Any]) -> Settings:
    skip = {"command", "address", "file", "rotate", "owner", "reverse", "host", "port", "timeout"}
    return cli.settings_from_args({k: v for k, v in args.items() if k not in skip})


def offline(args: dict[str, Any]) -> int:
    logs.configure("warning")
    state = Runtime(_settings(args)).state
    table = Table.FORWARD if args["command"] == "forward" else Table.REVERSE
    answer = tables.lookup(state, table, os.fsencode(args["address"]))
    if answer.status is Status.FOUND:
        sys.stdout.buffer.write(answer.text + b"\n")
        return 0
    print(f"not rewritten: {answer.text.decode()}", file=sys.stderr)
    return EXIT_NOT_FOUND


def genkey(path: Path, rotate: bool, owner: str | None = None) -> int:
    """Write a new secret atomically. A rotated file keeps its owner and its mode (minus any
    group/other bits), so a daemon running as that owner can still read it; ``owner``
    (``USER[:GROUP]``, as root) hands a file to the daemon's account."""
    old, uid, gid, mode = b"", -1, -1, 0o600
    if path.exists():
        if not rotate:
            raise ConfigError(f"genkey: {path} exists; use --rotate to add a new signing secret")
        old = path.read_bytes()
        info = path.stat()
        uid, gid, mode = info.st_uid, info.st_gid, (info.st_mode & 0o700) or 0o600
    elif rotate:
        raise ConfigError(f"genkey --rotate: {path} does not exist")
    if owner is not None:
        user, _, group = owner.partition(":")
        uid, gid = privileges.resolve_ids(user, group or None)
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    new = secrets.token_urlsafe(SECRET_BYTES).encode()
    data = new + b"\n" + (old if old.endswith(b"\n") or not old else old + b"\n")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if (uid, gid) != (-1, -1):
            os.fchown(fd, uid, gid)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # the daemon sees the whole new file or the old one
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"genkey: cannot write {path}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    kept = len([line for line in old.splitlines() if line.strip()])
    print(f"{path}: new signing secret written" + (f", {kept} older kept" if rotate else ""))
    return 0


def check(args: dict[str, Any]) -> int:
    logs.configure("error")
    settings = _settings(args)
    state = Runtime(settings).state
    print(f"domain:      {settings.domain}")
    print(f"secrets:     {len(state.keyring)} in {settings.secrets_file}")
    print(f"signing key: fingerprint {state.keyring.fingerprint}")
    print(f"exclusions:  {len(state.exclusions)} entries")
    print(f"tcp_table:   forward {settings.forward_port}, reverse {settings.reverse_port}")
    if state.keyring.too_open:
        print(f"warning: {settings.secrets_file} is readable by group or others", file=sys.stderr)
    return 0


def query(args: dict[str, Any]) -> int:
    try:
        settings: Settings | None = _settings({})
    except ConfigError:
        settings = None  # a client needs no secrets: fall back to the defaults
    host = args["host"] or (settings.listen[0] if settings else "127.0.0.1")
    default_port = (
        (settings.reverse_port if args["reverse"] else settings.forward_port)
        if settings
        else (10002 if args["reverse"] else 10001)
    )
    port = args["port"] or default_port
    request = b"get " + quote(os.fsencode(args["address"])) + b"\n"
    try:
        with socket.create_connection((host, port), timeout=args["timeout"]) as sock:
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


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    try:
        if args["command"] in ("forward", "reverse"):
            return offline(args)
        if args["command"] == "genkey":
            return genkey(args["file"], args["rotate"], args["owner"])
        if args["command"] == "check":
            return check(args)
        return query(args)
    except ConfigError as exc:
        print(f"pysrsctl: {exc}", file=sys.stderr)
        return cli.EXIT_CONFIG
