"""Running as a mail daemon should: unprivileged, and findable through a pid file.

Contract:

* ``drop_privileges(user, group)`` switches the whole process to ``user`` (a name or a numeric
  uid) and ``group`` (a name or a gid; by default the user's primary group), in the only safe
  order: supplementary groups to ``[gid]``, then the gid, then the uid. Called after the
  listeners are bound and the root-only files are read. Switching away from root also empties
  the capability bounding set (before the uid switch: it needs CAP_SETPCAP) and sets
  no-new-privileges (after it), as systemd's ``CapabilityBoundingSet=`` and
  ``NoNewPrivileges=`` do: no program the process could ever run regains a privilege through
  a set-user-ID bit or file capabilities. Afterwards it checks that root cannot be regained.
  ``(None, None)`` does nothing; switching to the identity already held is allowed without
  root.
* ``refuse_root(allow_root)`` stops a daemon that would keep serving as root, unless the
  administrator said so explicitly.
* ``write_pidfile(path)`` writes ``<pid>\\n`` atomically (temporary file in the same directory,
  then rename) with mode 0644; ``remove_pidfile(path)`` removes it at exit only while it still
  names this process, and never raises (exit must not fail over a pid file).

* ``check_account_files(user, group, readable, secrets)``: the account the daemon will serve
  as (after ``--user``/``--group``; the current one otherwise) must be able to read each file of
  ``readable`` (setting name → path), else ``ConfigError`` at start rather than a failed reload
  later; it returns what that account could rewrite or replace of ``secrets`` (the file or a
  directory on its path), for the caller to warn about: a daemon that can change its own secret
  lets anything running as its account mint valid addresses.

Every failure is a ``ConfigError`` whose one line names the setting (``--user``, ``--group``,
``--pidfile``).
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import os
import pwd
import tempfile
from pathlib import Path

from pysrsd.config.files import Account, can_read, group_name, user_name, writers
from pysrsd.errors import ConfigError

__all__ = [
    "check_account_files",
    "drop_bounding_set",
    "drop_privileges",
    "forbid_new_privileges",
    "refuse_root",
    "remove_pidfile",
    "resolve_ids",
    "write_pidfile",
]

PIDFILE_MODE = 0o644
# prctl(2) options, from <linux/prctl.h>
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
CAP_LAST_CAP = Path("/proc/sys/kernel/cap_last_cap")


def drop_privileges(user: str | None, group: str | None) -> None:
    """Become ``user``:``group`` for good; see the module docstring."""
    if user is None and group is None:
        return
    uid, gid = resolve_ids(user, group)
    if (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) == (uid, uid, gid, gid):
        return  # already there: e.g. started by setuidgid with the same --user
    if os.geteuid() != 0:
        raise ConfigError(
            f"--user/--group: switching to {user_name(uid)} and {group_name(gid)} needs root "
            f"(running as {user_name(os.geteuid())})"
        )
    try:
        os.setgroups([gid])
        os.setgid(gid)  # as root this sets the real, effective and saved gid
        if uid != 0:
            drop_bounding_set()
        os.setuid(uid)  # ... and this the real, effective and saved uid: no way back
        if uid != 0:
            forbid_new_privileges()
    except OSError as exc:
        raise ConfigError(
            f"--user/--group: cannot switch to {user_name(uid)} and {group_name(gid)}: {exc}"
        ) from exc
    _verify_dropped(uid, gid)


def _prctl(option: int, argument: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result = int(libc.prctl(option, argument, 0, 0, 0))
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, f"prctl({option}, {argument}): {os.strerror(number)}")
    return result


def _last_capability() -> int:
    try:
        return int(CAP_LAST_CAP.read_text())
    except (OSError, ValueError):  # /proc/sys hidden: ask the kernel cap by cap
        cap = 0
        with contextlib.suppress(OSError):  # EINVAL past the last one
            while True:
                _prctl(PR_CAPBSET_READ, cap + 1)
                cap += 1
        return cap


def drop_bounding_set() -> None:
    """Empty the capability bounding set (needs CAP_SETPCAP: call it while still root)."""
    for cap in range(_last_capability() + 1):
        _prctl(PR_CAPBSET_DROP, cap)


def forbid_new_privileges() -> None:
    """Set no-new-privileges: execve never grants a privilege again, for good."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def resolve_ids(user: str | None, group: str | None) -> tuple[int, int]:
    """(uid, gid) that ``--user``/``--group`` name: the current ids where not given, the
    user's primary group when only the user is given."""
    uid = _resolve_user(user) if user is not None else os.getuid()
    gid = _resolve_group(group) if group is not None else _primary_group(user, uid)
    return uid, gid


def _resolve_user(user: str) -> int:
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ConfigError(f"--user: no such user {user!r}") from None


def _resolve_group(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError(f"--group: no such group {group!r}") from None


def _primary_group(user: str | None, uid: int) -> int:
    if user is None:
        return os.getgid()
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        raise ConfigError(
            f"--user: uid {uid} has no passwd entry, so no primary group: set --group"
        ) from None


def _verify_dropped(uid: int, gid: int) -> None:
    """Fail closed if the switch did not stick or root is still reachable."""
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise ConfigError(f"--user/--group: uid/gid did not change to {uid}/{gid}")
    if uid == 0:
        return  # --user root: nothing was dropped on purpose; refuse_root decides
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise ConfigError(f"--user: still able to regain root after switching to uid {uid}")


def refuse_root(allow_root: bool) -> None:
    """Raise unless the process is unprivileged or ``allow_root`` was given."""
    if os.geteuid() == 0 and not allow_root:
        raise ConfigError(
            "--user: refusing to serve as root; set --user (PYSRSD_USER) to drop privileges "
            "after binding, or pass --allow-root to run as root on purpose"
        )


def write_pidfile(path: Path) -> None:
    """Atomically write this process's pid to ``path`` (mode 0644)."""
    directory = path.parent
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"--pidfile: cannot write in {str(directory)!r}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            os.fchmod(stream.fileno(), PIDFILE_MODE)  # mkstemp creates 0600
            stream.write(f"{os.getpid()}\n")
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise ConfigError(f"--pidfile: cannot write {str(path)!r}: {exc.strerror}") from exc


def remove_pidfile(path: Path) -> None:
    """Remove ``path`` if it still holds this process's pid; errors are ignored."""
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text(encoding="ascii").strip()) == os.getpid():
            path.unlink()


def _bare_group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def account_after_drop(user: str | None, group: str | None) -> Account:
    """The identity ``drop_privileges(user, group)`` leaves: groups are only ``[gid]``."""
    if user is None and group is None:
        return Account.current()
    uid, gid = resolve_ids(user, group)
    return Account(uid, gid, frozenset([gid]))


def check_account_files(
    user: str | None, group: str | None, readable: dict[str, Path | None], secrets: Path
) -> list[str]:
    """See the module docstring."""
    account = account_after_drop(user, group)
    for setting, path in readable.items():
        if path is not None and path.exists() and not can_read(account, path):
            raise ConfigError(
                f"{setting}: {path} is not readable by {user_name(account.uid)} and "
                f"{group_name(account.gid)}, the account the daemon serves as (e.g. chgrp "
                f"{_bare_group(account.gid)} and chmod g+r it, and let that account search its "
                "directories)"
            )
    return [] if account.uid == 0 else writers(account, secrets)
