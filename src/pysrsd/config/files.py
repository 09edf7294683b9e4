"""Files the daemon trusts: how they are read, and who could have written them.

Contract:

* ``read_trusted(path, limit, setting)`` opens ``path`` without blocking (``O_NONBLOCK``, so a
  FIFO or a device cannot hang the daemon in ``open``), close-on-exec, never as a controlling
  terminal; accepts only a regular file (checked with ``fstat`` on the open descriptor, so
  nothing can be swapped in between) and reads at most ``limit`` bytes. It returns the bytes and
  the descriptor's ``stat``. Every refusal is a ``ConfigError`` naming ``setting``.
* ``read_config(path, setting)`` is ``read_trusted`` plus sshd's StrictModes: the file, and
  every directory on its resolved path, must be owned by root or by the invoking user and not
  writable by group or others. The last component is opened with ``O_NOFOLLOW`` once its
  resolved path has been checked. A world-writable directory with the sticky bit (``/tmp``) is
  accepted when the entry below it is owned by root or the invoking user: nobody else may rename
  or delete that entry. ``/dev/null`` reads as an empty file (``--config /dev/null``: none).
* ``Account`` is the identity the daemon serves as after the privilege drop (uid, gid,
  groups); ``can_read(account, path)`` and ``writers(account, path)`` decide from the mode
  bits, the owners and the account's ids (as the kernel does without ACLs, root passing every
  check) whether it can read ``path``, and what on the way to ``path`` it could replace or
  rewrite (the file, or a directory on its resolved path).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from pysrsd.errors import ConfigError

__all__ = [
    "Account",
    "can_read",
    "read_config",
    "read_trusted",
    "too_open",
    "untrusted_problem",
    "writers",
]

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH
_KIND = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def _describe(mode: int) -> str:
    return _KIND.get(stat.S_IFMT(mode), "not a regular file")


def read_trusted(
    path: Path, limit: int, setting: str, *, nofollow: bool = False
) -> tuple[bytes, os.stat_result]:
    """At most ``limit`` bytes of the regular file ``path``; see the module docstring."""
    flags = _OPEN_FLAGS | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{setting}: {path} is {_describe(info.st_mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError(f"{setting}: {path} is larger than {limit} bytes")
    return b"".join(chunks), info


def too_open(info: os.stat_result) -> bool:
    """For a file only root writes and only the daemon's group reads (root:pysrsd 0640, the
    secrets): whether its group can write it or others can do anything with it."""
    return bool(info.st_mode & (stat.S_IWGRP | stat.S_IRWXO))


def user_name(uid: int) -> str:
    """An account as an administrator knows it: ``pysrsd (uid 999)``, or ``uid 999``."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def group_name(gid: int) -> str:
    """A group as an administrator knows it: ``group pysrsd (gid 995)``, or ``gid 995``."""
    try:
        return f"group {grp.getgrgid(gid).gr_name} (gid {gid})"
    except KeyError:
        return f"gid {gid}"


def _strict_problem(
    kind: str, where: Path, info: os.stat_result, entry: int | None, trusted: frozenset[int]
) -> str:
    """Why ``where`` may not be trusted under StrictModes ('' if it may)."""
    if info.st_uid not in trusted:
        owners = " or ".join(user_name(uid) if uid else "root" for uid in sorted(trusted))
        return f"{kind} {where} is owned by {user_name(info.st_uid)}, not by {owners}"
    if info.st_mode & _GROUP_OTHER_WRITE:
        sticky = kind == "directory" and info.st_mode & stat.S_ISVTX
        if not (sticky and entry is not None and entry in trusted):
            return f"{kind} {where} is writable by group or others"
    return ""


def untrusted_problem(
    resolved: Path, trusted: frozenset[int], info: os.stat_result | None = None
) -> str:
    """Why ``resolved`` (a file whose ``info`` is given, or a directory) or a directory above
    it could be changed by someone whose uid is not in ``trusted`` ('' if nobody can)."""
    kind = "directory" if info is None else "file"
    try:
        info = info or os.stat(resolved)
    except OSError as exc:
        return f"cannot check {resolved}: {exc.strerror}"
    problem = _strict_problem(kind, resolved, info, None, trusted)
    child_owner = info.st_uid
    for directory in resolved.parents:
        if problem:
            break
        try:
            dir_info = os.stat(directory)
        except OSError as exc:
            return f"cannot check {directory}: {exc.strerror}"
        problem = _strict_problem("directory", directory, dir_info, child_owner, trusted)
        child_owner = dir_info.st_uid
    return problem


def read_config(path: Path, limit: int, setting: str) -> bytes:
    """A config file that nobody but root and the invoking user can have written."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"{setting}: cannot read {path}: {reason}") from None
    if resolved == Path(os.devnull):
        return b""
    data, info = read_trusted(resolved, limit, setting, nofollow=True)
    problem = untrusted_problem(resolved, frozenset([0, os.getuid()]), info)
    if problem:
        raise ConfigError(f"{setting}: refusing {path}: {problem} (chown root, chmod go-w)")
    return data


@dataclass(frozen=True, slots=True)
class Account:
    """Who the daemon will be after the privilege drop."""

    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def current(cls) -> Account:
        return cls(os.geteuid(), os.getegid(), frozenset([os.getegid(), *os.getgroups()]))

    def may(self, info: os.stat_result, bits: int) -> bool:
        """POSIX permission check: bits are R_OK/W_OK/X_OK; owner class, else group, else
        other, decides alone (an owner without a bit is refused even if others have it)."""
        if self.uid == 0:
            return True  # CAP_DAC_OVERRIDE (directories and reads/writes, which is all we ask)
        if info.st_uid == self.uid:
            granted = (info.st_mode >> 6) & 7
        elif info.st_gid in self.groups:
            granted = (info.st_mode >> 3) & 7
        else:
            granted = info.st_mode & 7
        return granted & bits == bits


def can_read(account: Account, path: Path) -> bool:
    """Whether ``account`` can open ``path`` for reading (every directory searchable)."""
    try:
        resolved = path.resolve(strict=True)
        directories = [os.stat(d) for d in reversed(resolved.parents)]
        info = os.stat(resolved)
    except (OSError, RuntimeError):
        return False
    searchable = all(account.may(d, os.X_OK) for d in directories)
    return searchable and account.may(info, os.R_OK)


def writers(account: Account, path: Path) -> list[str]:
    """What ``account`` could rewrite or replace on the way to ``path``: the file itself
    (writable, or owned: it may chmod) and each directory of its resolved path in which it
    could rename the next entry (writable and not protected by the sticky bit)."""
    try:
        resolved = path.resolve(strict=True)
        info = os.stat(resolved)
    except (OSError, RuntimeError):
        return []
    found = []
    if info.st_uid == account.uid or account.may(info, os.W_OK):
        found.append(f"file {resolved}")
    child_owner = info.st_uid
    for directory in resolved.parents:
        try:
            dir_info = os.stat(directory)
        except OSError:
            break
        owns = dir_info.st_uid == account.uid
        sticky_guard = dir_info.st_mode & stat.S_ISVTX and child_owner != account.uid
        if owns or (account.may(dir_info, os.W_OK | os.X_OK) and not sticky_guard):
            found.append(f"directory {directory}")
        child_owner = dir_info.st_uid
    return found
