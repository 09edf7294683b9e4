"""``pysrsctl genkey [--rotate] [--owner USER[:GROUP]] FILE``: a new random signing secret.

The file is replaced atomically (the daemon sees the whole old file or the whole new one).
Without ``--rotate`` an existing file is never overwritten; ``--rotate`` puts the new secret
on top and keeps the old ones, which still verify. The secret is never printed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from pathlib import Path

from pysrsd import privileges
from pysrsd.errors import ConfigError

SECRET_BYTES = 32  # 256 bits, written as 43 base64url characters


def run(args: argparse.Namespace) -> int:
    return genkey(args.file, args.rotate, args.owner)


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
    _write(path, data, mode, uid, gid)
    kept = len([line for line in old.splitlines() if line.strip()])
    print(f"{path}: new signing secret written" + (f", {kept} older kept" if rotate else ""))
    return 0


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
