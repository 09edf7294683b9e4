"""Privilege drop, the root refusal and the pid file.

The order of the id switches is checked against a fake ``os``; the real switch runs in a child
process, as root only (skipped otherwise unless PYSRSD_REQUIRE_SYSTEM=1).
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from harness import require_root

from pysrsd.errors import ConfigError
from pysrsd.service import privileges

SRC = Path(__file__).resolve().parents[3] / "src"
NOBODY = pwd.getpwnam("nobody")


def unused_uid() -> int:
    taken = {entry.pw_uid for entry in pwd.getpwall()}
    return next(uid for uid in range(54321, 65000) if uid not in taken)


class FakeIds:
    """Stands in for the id calls of ``os``: records switches, answers like the kernel would."""

    def __init__(self, euid: int, *, root_comes_back: bool = False) -> None:
        self.uid = self.euid = euid
        self.gid = 0 if euid == 0 else euid
        self.root_comes_back = root_comes_back
        self.calls: list[tuple[str, object]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid"):
            monkeypatch.setattr(privileges.os, name, getattr(self, name))
        for name in ("setgroups", "setgid", "setuid"):
            monkeypatch.setattr(privileges.os, name, getattr(self, name))
        for name in ("drop_bounding_set", "forbid_new_privileges"):  # never in the test process
            monkeypatch.setattr(privileges, name, lambda name=name: self.calls.append((name, 0)))

    def getuid(self) -> int:
        return self.uid

    def geteuid(self) -> int:
        return self.euid

    def getgid(self) -> int:
        return self.gid

    def getegid(self) -> int:
        return self.gid

    def getresuid(self) -> tuple[int, int, int]:
        return (self.uid, self.euid, self.euid)

    def getresgid(self) -> tuple[int, int, int]:
        return (self.gid, self.gid, self.gid)

    def setgroups(self, groups: list[int]) -> None:
        self.calls.append(("setgroups", list(groups)))

    def setgid(self, gid: int) -> None:
        self.calls.append(("setgid", gid))
        self.gid = gid

    def setuid(self, uid: int) -> None:
        if self.euid != 0 and not (uid == 0 and self.root_comes_back):
            raise PermissionError(1, "Operation not permitted")
        self.calls.append(("setuid", uid))
        self.uid = self.euid = uid


# --- drop_privileges: resolution and order ----------------------------------------------


@pytest.mark.parametrize(
    ("user", "group", "uid", "gid"),
    [
        pytest.param("nobody", None, NOBODY.pw_uid, NOBODY.pw_gid, id="name-primary-group"),
        pytest.param(str(NOBODY.pw_uid), None, NOBODY.pw_uid, NOBODY.pw_gid, id="numeric-uid"),
        pytest.param("nobody", "root", NOBODY.pw_uid, 0, id="explicit-group-name"),
        pytest.param("nobody", "4242", NOBODY.pw_uid, 4242, id="numeric-gid"),
        pytest.param("4243", "4244", 4243, 4244, id="ids-without-entries"),
    ],
)
def test_drop_switches_groups_then_gid_then_uid(
    monkeypatch: pytest.MonkeyPatch, user: str, group: str | None, uid: int, gid: int
) -> None:
    ids = FakeIds(euid=0)
    ids.install(monkeypatch)
    privileges.drop_privileges(user, group)
    assert ids.calls == [
        ("setgroups", [gid]),
        ("setgid", gid),
        ("drop_bounding_set", 0),  # needs CAP_SETPCAP: while still root
        ("setuid", uid),
        ("forbid_new_privileges", 0),
    ]


def test_group_only_keeps_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = FakeIds(euid=0)
    ids.install(monkeypatch)
    privileges.drop_privileges(None, "4242")
    assert ids.calls == [("setgroups", [4242]), ("setgid", 4242), ("setuid", 0)]


def test_nothing_asked_nothing_done(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = FakeIds(euid=0)
    ids.install(monkeypatch)
    privileges.drop_privileges(None, None)
    assert ids.calls == []


def test_already_that_user_needs_no_root(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = FakeIds(euid=NOBODY.pw_uid)
    ids.gid = NOBODY.pw_gid
    ids.install(monkeypatch)
    privileges.drop_privileges("nobody", None)
    assert ids.calls == []


def test_root_that_comes_back_is_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeIds(euid=0, root_comes_back=True).install(monkeypatch)
    with pytest.raises(ConfigError, match="regain root"):
        privileges.drop_privileges("nobody", None)


@pytest.mark.parametrize(
    ("user", "group", "message"),
    [
        pytest.param("no-such-user-x", None, r"^--user: no such user 'no-such-user-x'$", id="user"),
        pytest.param("nobody", "no-such-grp", r"^--group: no such group 'no-such-grp'$", id="grp"),
        pytest.param(str(unused_uid()), None, r"^--user: uid \d+ has no passwd .*--group", id="id"),
    ],
)
def test_bad_names_are_config_errors_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, user: str, group: str | None, message: str
) -> None:
    ids = FakeIds(euid=0)
    ids.install(monkeypatch)
    with pytest.raises(ConfigError, match=message):
        privileges.drop_privileges(user, group)
    assert ids.calls == []


def test_switching_without_root_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = FakeIds(euid=NOBODY.pw_uid)
    ids.install(monkeypatch)
    with pytest.raises(ConfigError, match=r"^--user/--group: .* needs root"):
        privileges.drop_privileges("root", None)
    assert ids.calls == []


# --- drop_privileges for real -------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, sys
    from pysrsd.service.privileges import drop_privileges
    drop_privileges(sys.argv[1], sys.argv[2] or None)
    try:
        os.setuid(0)
    except PermissionError:
        regained = "no"
    else:
        regained = "yes"
    print(os.getresuid(), os.getresgid(), os.getgroups(), regained)
    """
)


def in_a_child(program: str, *args: str) -> str:
    """What ``program`` prints, run by a fresh Python as root (skipped when not root)."""
    require_root("a real privilege drop")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-c", program, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout.strip()


@pytest.mark.parametrize(
    ("user", "group", "gid"),
    [
        pytest.param("nobody", "", NOBODY.pw_gid, id="user-only"),
        pytest.param("nobody", "4242", 4242, id="user-and-group"),
    ],
)
def test_real_drop_in_a_child(user: str, group: str, gid: int) -> None:
    out = in_a_child(CHILD, user, group)
    uid = NOBODY.pw_uid
    assert out == f"{(uid, uid, uid)} {(gid, gid, gid)} [{gid}] no"


LOCKED = textwrap.dedent(
    """
    import sys
    from pysrsd.service.privileges import drop_privileges
    drop_privileges("nobody", None)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    print(status["NoNewPrivs"].strip(), int(status["CapBnd"], 16))
    """
)


def test_real_drop_sets_no_new_privileges_and_empties_the_bounding_set() -> None:
    """After the drop, NoNewPrivs was 0 and the bounding set full: a set-user-ID program or
    one with file capabilities run by the daemon's account would still gain privileges."""
    assert in_a_child(LOCKED).split() == ["1", "0"]


def test_the_last_capability_is_found_without_proc_sys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under systemd's ProcSubset=pid /proc/sys is hidden: the kernel is asked cap by cap."""
    listed = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    monkeypatch.setattr(privileges, "CAP_LAST_CAP", tmp_path / "hidden")
    assert privileges._last_capability() == listed


# --- refuse_root --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("euid", "allow_root", "refused"),
    [
        pytest.param(0, False, True, id="root-refused"),
        pytest.param(0, True, False, id="root-allowed-explicitly"),
        pytest.param(65534, False, False, id="unprivileged"),
        pytest.param(65534, True, False, id="unprivileged-flag-harmless"),
    ],
)
def test_refuse_root(
    monkeypatch: pytest.MonkeyPatch, euid: int, allow_root: bool, refused: bool
) -> None:
    monkeypatch.setattr(privileges.os, "geteuid", lambda: euid)
    if refused:
        with pytest.raises(ConfigError) as caught:
            privileges.refuse_root(allow_root)
        message = str(caught.value)
        assert "--user" in message
        assert "--allow-root" in message
        assert "\n" not in message
    else:
        privileges.refuse_root(allow_root)


# --- pid file -----------------------------------------------------------------------------


def test_pidfile_is_written_whole_with_mode_0644(tmp_path: Path) -> None:
    path = tmp_path / "pysrsd.pid"
    old_umask = os.umask(0o077)
    try:
        privileges.write_pidfile(path)
    finally:
        os.umask(old_umask)
    assert path.read_text() == f"{os.getpid()}\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pysrsd.pid"]


def test_pidfile_replaces_a_stale_one_by_rename(tmp_path: Path) -> None:
    path = tmp_path / "pysrsd.pid"
    path.write_text("1\n")
    stale_inode = path.stat().st_ino
    privileges.write_pidfile(path)
    assert path.read_text() == f"{os.getpid()}\n"
    assert path.stat().st_ino != stale_inode


def test_pidfile_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--pidfile: "):
        privileges.write_pidfile(tmp_path / "missing" / "pysrsd.pid")


@pytest.mark.parametrize(
    ("content", "removed"),
    [
        pytest.param("OWN", True, id="ours"),
        pytest.param("1\n", False, id="another-process"),
        pytest.param("garbage\n", False, id="garbage"),
        pytest.param(None, False, id="missing"),
    ],
)
def test_remove_pidfile_only_removes_our_own(
    tmp_path: Path, content: str | None, removed: bool
) -> None:
    path = tmp_path / "pysrsd.pid"
    if content == "OWN":
        privileges.write_pidfile(path)
    elif content is not None:
        path.write_text(content)
    privileges.remove_pidfile(path)
    assert path.exists() is (content is not None and not removed)
