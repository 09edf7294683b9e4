"""``pysrsctl genkey [--rotate] [--owner USER[:GROUP]] FILE``: a new random signing secret.

The file is replaced atomically (the daemon sees the whole old file or the whole new one).
A new file belongs to the invoker with mode 0640 and the daemon's group: ``pysrsd``, or the
group of ``--owner USER[:GROUP]`` (GROUP, else USER's primary group), so the daemon reads it
and cannot write it; a non-root invoker without ``--owner`` gets a private 0600 file.
``--rotate`` keeps the owner, group and mode (minus group-write and any bit for others);
``--owner`` with ``--rotate`` moves the file to that group, mode 0640.
Without ``--rotate`` an existing file is never overwritten; ``--rotate`` puts the new secret
on top and keeps the old ones, which still verify. The secret is never printed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from pathlib import Path

from pysrsd.errors import ConfigError
from pysrsd.service import privileges

SECRET_BYTES = 32  # 256 bits, written as 43 base64url characters
DAEMON_ACCOUNT = "pysrsd"
KEEP_BITS = 0o740  # a rotated file keeps its mode, never group-writable nor seen by others


def run(args: argparse.Namespace) -> int:
    return genkey(args.file, args.rotate, args.owner)


def genkey(path: Path, rotate: bool, owner: str | None = None) -> int:
    """Write a new secret atomically, never overwriting a file without ``rotate``."""
    old = b""
    if path.exists():
        if not rotate:
            raise ConfigError(f"genkey: {path} exists; use --rotate to add a new signing secret")
        old = path.read_bytes()
        info = path.stat()
        uid, gid, mode = info.st_uid, info.st_gid, info.st_mode & KEEP_BITS
    elif rotate:
        raise ConfigError(f"genkey --rotate: {path} does not exist")
    else:
        uid, gid, mode = _new_file_ids(owner)
    if owner is not None:
        gid = _daemon_group(owner)
        mode = 0o640
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    new = secrets.token_urlsafe(SECRET_BYTES).encode()
    data = new + b"\n" + (old if old.endswith(b"\n") or not old else old + b"\n")
    _write(path, data, mode, uid, gid)
    kept = len([line for line in old.splitlines() if line.strip()])
    print(f"{path}: new signing secret written" + (f", {kept} older kept" if rotate else ""))
    return 0


def _new_file_ids(owner: str | None) -> tuple[int, int, int]:
    """(uid, gid, mode) of a new secrets file: the invoker owns it; as root, the daemon's
    group reads it (``pysrsd`` unless ``--owner`` names the account); otherwise 0600."""
    if owner is not None or os.geteuid() == 0:
        return os.geteuid(), _daemon_group(owner or DAEMON_ACCOUNT), 0o640
    return os.geteuid(), os.getegid(), 0o600


def _daemon_group(owner: str) -> int:
    """The group of ``USER[:GROUP]``: GROUP, else USER's primary group."""
    user, _, group = owner.partition(":")
    try:
        return privileges.resolve_ids(user, group or None)[1]
    except ConfigError as exc:
        hint = "; run 'pysrsctl setup' first" if owner == DAEMON_ACCOUNT else ""
        raise ConfigError(f"genkey --owner {owner}: {exc}{hint}") from None


def _write(path: Path, data: bytes, mode: int, uid: int, gid: int) -> None:
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
