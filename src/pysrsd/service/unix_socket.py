"""The socketmap unix socket: created so that nobody can turn its set-up against root.

Attack this module closes: a process of the daemon's account that can write the socket's
directory swaps the socket file, between ``bind`` and ``chmod``/``chown`` by path, for a
symlink (or hard link) to a root-owned file, and root hands that file over. So:

* the directory, and every directory above it, must be owned by root or by the daemon's account
  and not writable by group or others (a sticky world-writable directory is accepted above an
  entry owned by root or that account); otherwise start fails naming ``socketmap``;
* the socket is bound inside a fresh root-owned 0700 staging directory next to its final name
  (nobody else can touch what is in it), with its mode set by the umask during ``bind`` (no
  chmod at all); its owner is changed there through the staging directory's descriptor without
  following symlinks (``fchown`` on an AF_UNIX socket changes the socket, not the file), and
  it is then renamed over its final name (rename never follows a symlink at the target);
* in a set-group-ID directory the socket takes the directory's group, as any file created
  there does (the staging directory inherits it), and keeps it when its owner is changed:
  ``pysrsctl setup`` makes Postfix's ``pysrsd/`` pysrsd:postfix 2750, so the socket is group
  postfix whichever account binds it;
* a stale socket left by a dead daemon is removed, a symlink is replaced by the rename; any
  other file at that name is refused, and so is a socket another process listens on.

``bind_unix(path, mode, owner)`` returns the listening socket and the inode of its file, which
the janitor uses to remove only that file at exit.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
from pathlib import Path

from pysrsd.config.files import untrusted_problem
from pysrsd.errors import ConfigError

__all__ = ["bind_unix", "clear_stale_socket"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NAME = "socket"


def bind_unix(
    path: Path, mode: int, owner: tuple[int, int] | None, backlog: int
) -> tuple[socket.socket, int]:
    """A listening AF_UNIX socket at ``path`` (mode ``mode``, owned by ``owner`` if given)."""
    directory = path.parent.resolve()
    trusted = {0, os.geteuid()} | ({owner[0]} if owner else set())
    problem = untrusted_problem(directory, frozenset(trusted))
    if problem:
        raise ConfigError(f"socketmap: refusing unix:{path}: {problem}")
    clear_stale_socket(path)
    parent_fd = os.open(directory, _DIR_FLAGS)
    try:
        staging = tempfile.mkdtemp(prefix=f".{path.name}.", dir=directory)  # root, 0700
        staging_fd = os.open(staging, _DIR_FLAGS)
        try:
            info = os.fstat(staging_fd)
            if (info.st_uid, stat.S_IMODE(info.st_mode) & 0o777) != (os.geteuid(), 0o700):
                raise ConfigError(f"socketmap: {staging} was replaced while binding")
            if owner is not None and info.st_mode & stat.S_ISGID:  # the directory's group
                owner = (owner[0], -1)
            sock = _bind_in(staging_fd, mode, owner, backlog)
            inode = os.stat(_NAME, dir_fd=staging_fd, follow_symlinks=False).st_ino
            os.rename(_NAME, path.name, src_dir_fd=staging_fd, dst_dir_fd=parent_fd)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(_NAME, dir_fd=staging_fd)  # only if the rename did not happen
            os.close(staging_fd)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.basename(staging), dir_fd=parent_fd)
    except OSError as exc:
        raise ConfigError(f"socketmap: cannot create unix:{path}: {exc.strerror}") from None
    finally:
        os.close(parent_fd)
    return sock, inode


def _bind_in(
    staging_fd: int, mode: int, owner: tuple[int, int] | None, backlog: int
) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cwd = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
    old_umask = os.umask(0o777 & ~mode)  # the mode is set by bind itself: no chmod by path
    try:
        os.fchdir(staging_fd)  # bind() takes no directory descriptor: bind relative to it
        sock.bind(_NAME)
        if owner is not None:
            os.chown(_NAME, *owner, dir_fd=staging_fd, follow_symlinks=False)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
        os.fchdir(cwd)
        os.close(cwd)
    return sock


def clear_stale_socket(path: Path) -> None:
    """Remove a socket file left by a dead daemon; leave a symlink to the rename (which
    replaces the link itself, never what it points to); refuse anything else."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"socketmap: {path} exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # nobody listens: stale
            return
    raise ConfigError(f"socketmap: {path} is in use by another process")
