"""The socketmap unix socket: mode from bind, owner never through a symlink, trusted directory.

The attacker here always wins the race: the moment a socket file shows at its final name (right
after ``bind`` or the ``rename`` that publishes it), it is swapped for a symlink to a root file.
Changing ownership or mode by path at any later moment would hand that file over.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import stat
from pathlib import Path

import pytest
from harness import require_root

from pysrsd.errors import ConfigError
from pysrsd.service import unix_socket
from pysrsd.service.unix_socket import bind_unix

NOBODY = pwd.getpwnam("nobody")


def needs_root() -> None:
    require_root("changing owners")


def swap_when_seen(path: Path, target: Path) -> None:
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            (path.parent / "swap").symlink_to(target)
            os.replace(path.parent / "swap", path)
    except FileNotFoundError:
        pass


def test_owner_and_mode_never_reach_a_swapped_in_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    needs_root()
    target = tmp_path / "root-file"
    target.write_text("x")
    target.chmod(0o600)
    path = tmp_path / "run" / "pysrsd.sock"
    path.parent.mkdir()
    real_bind, real_rename = socket.socket.bind, os.rename

    def bind(self: socket.socket, address: object) -> None:
        real_bind(self, address)  # type: ignore[arg-type]
        swap_when_seen(path, target)

    def rename(*args: object, **kwargs: object) -> None:
        real_rename(*args, **kwargs)  # type: ignore[arg-type]
        swap_when_seen(path, target)

    monkeypatch.setattr(socket.socket, "bind", bind)
    monkeypatch.setattr(unix_socket.os, "rename", rename)
    sock, _ = bind_unix(path, 0o666, (NOBODY.pw_uid, NOBODY.pw_gid), 16)
    sock.close()
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o600)
    assert path.is_symlink()  # the attacker did swap it


@pytest.mark.parametrize("mode", [0o600, 0o660, 0o666])
def test_socket_is_created_with_its_mode_and_owner(open_tmp: Path, mode: int) -> None:
    owner = (NOBODY.pw_uid, NOBODY.pw_gid) if os.geteuid() == 0 else None
    path = open_tmp / "s"
    sock, inode = bind_unix(path, mode, owner, 16)
    with sock:
        info = path.lstat()
        assert stat.S_ISSOCK(info.st_mode) and info.st_ino == inode
        assert stat.S_IMODE(info.st_mode) == mode
        if owner:
            assert (info.st_uid, info.st_gid) == owner
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))
    assert sorted(p.name for p in open_tmp.iterdir()) == ["s"]  # no staging left behind


@pytest.mark.parametrize("owned", [True, False], ids=["owner-given", "as-the-binder"])
def test_a_set_group_id_directory_gives_the_socket_its_group(open_tmp: Path, owned: bool) -> None:
    """As setup makes Postfix's pysrsd/ (pysrsd:postfix 2750): the socket is group postfix,
    whether root binds it and hands it to the daemon's account, or that account binds it."""
    needs_root()
    group = grp.getgrnam("postfix").gr_gid if _has_group("postfix") else 1
    directory = open_tmp / "pysrsd"
    directory.mkdir()
    os.chown(directory, 0, group)
    directory.chmod(0o2750)
    path = directory / "socketmap"
    owner = (NOBODY.pw_uid, NOBODY.pw_gid) if owned else None
    sock, _ = bind_unix(path, 0o660, owner, 16)
    with sock:
        info = path.lstat()
    expected = (NOBODY.pw_uid if owned else 0, group, 0o660)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == expected
    assert sorted(p.name for p in directory.iterdir()) == ["socketmap"]


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize(
    ("make", "error"),
    [
        pytest.param(lambda p: p.write_text("data"), "exists and is not a socket", id="file"),
        pytest.param(lambda p: p.mkdir(), "exists and is not a socket", id="directory"),
    ],
)
def test_other_files_at_the_name_are_refused(open_tmp: Path, make, error: str) -> None:  # type: ignore[no-untyped-def]
    path = open_tmp / "s"
    make(path)
    with pytest.raises(ConfigError, match=error):
        bind_unix(path, 0o666, None, 16)


def test_a_live_socket_is_not_stolen(open_tmp: Path) -> None:
    path = open_tmp / "s"
    with socket.socket(socket.AF_UNIX) as other:
        other.bind(str(path))
        other.listen()
        with pytest.raises(ConfigError, match="in use by another process"):
            bind_unix(path, 0o666, None, 16)


def test_stale_socket_and_symlink_are_replaced(open_tmp: Path) -> None:
    path = open_tmp / "s"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # never listened, closed: what a killed daemon leaves
    bind_unix(path, 0o666, None, 16)[0].close()
    path.unlink()
    victim = open_tmp / "victim"
    victim.write_text("keep")
    path.symlink_to(victim)
    bind_unix(path, 0o666, None, 16)[0].close()
    assert victim.read_text() == "keep" and path.lstat().st_mode & stat.S_IFSOCK


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_directory_writable_by_others_is_refused(open_tmp: Path, mode: int) -> None:
    (open_tmp / "run").mkdir()
    (open_tmp / "run").chmod(mode)
    with pytest.raises(ConfigError, match=r"^socketmap: refusing .* writable by group or others"):
        bind_unix(open_tmp / "run" / "s", 0o666, None, 16)


def test_directory_of_another_account_is_refused(open_tmp: Path) -> None:
    needs_root()
    (open_tmp / "run").mkdir()
    os.chown(open_tmp / "run", NOBODY.pw_uid, NOBODY.pw_gid)
    with pytest.raises(ConfigError, match=rf"owned by nobody \(uid {NOBODY.pw_uid}\)"):
        bind_unix(open_tmp / "run" / "s", 0o666, None, 16)  # nobody is not the daemon here
    bind_unix(open_tmp / "run" / "s", 0o666, (NOBODY.pw_uid, NOBODY.pw_gid), 16)[0].close()
