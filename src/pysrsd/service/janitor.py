"""Files the daemon creates as root (pid file, unix sockets) are removed at exit, even after
the privilege drop, when its account may no longer unlink them from a root-owned directory.

Design: just before the drop, ``start(pidfile, sockets)`` forks a janitor that stays root,
closes every descriptor but the read end of a pipe (so it holds no listener and no file), and
ignores SIGTERM, SIGINT and SIGHUP (systemd signals the whole control group; a terminal's ^C
the whole process group): it only waits for end-of-file on that pipe, which comes when the
daemon is gone, however it exits (even SIGKILL). It then removes only what is still ours:
the pid file if it still names the daemon's pid, a socket if the name still holds a socket with
the inode the daemon bound (a new instance that already took over keeps its files). It never
follows a symlink and does nothing else as root; the daemon keeps the write end.

``remove_ours(pid, pidfile, sockets)`` is the same removal, used in process at exit too (when
nothing was dropped it is all that is needed; after a drop it may fail quietly).
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
from pathlib import Path

__all__ = ["remove_ours", "start"]

Sockets = tuple[tuple[Path, int], ...]  # (path, inode of the socket file we bound)


def start(pidfile: Path | None, sockets: Sockets) -> int | None:
    """Fork the janitor; return the write end the daemon keeps open (None: nothing to do)."""
    if pidfile is None and not sockets:
        return None
    pid = os.getpid()
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # the janitor: never returns
        try:
            _serve(read_end, pid, pidfile, sockets)
        finally:
            os._exit(0)
    os.close(read_end)
    return write_end


def _serve(read_end: int, pid: int, pidfile: Path | None, sockets: Sockets) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    os.closerange(3, read_end)
    os.closerange(read_end + 1, os.sysconf("SC_OPEN_MAX"))
    with contextlib.suppress(OSError):
        while os.read(read_end, 512):
            pass  # nobody writes: end-of-file is the daemon's exit
    remove_ours(pid, pidfile, sockets)


def remove_ours(pid: int, pidfile: Path | None, sockets: Sockets) -> None:
    """Remove the pid file naming ``pid`` and the sockets with their bound inode; never
    raises (exit must not fail over a leftover file)."""
    if pidfile is not None and _names(pidfile, pid):
        with contextlib.suppress(OSError):
            pidfile.unlink()
    for path, inode in sockets:
        with contextlib.suppress(OSError):
            info = path.lstat()
            if stat.S_ISSOCK(info.st_mode) and info.st_ino == inode:
                path.unlink()


def _names(pidfile: Path, pid: int) -> bool:
    try:
        fd = os.open(pidfile, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return os.read(fd, 32).strip() == str(pid).encode()
    except OSError:
        return False
    finally:
        os.close(fd)
