"""sd_notify and socket activation against sockets and descriptors the test owns."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysrsd.errors import ConfigError
from pysrsd.service import systemd

ACTIVATION_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a path short enough for AF_UNIX (pytest's tmp_path can exceed 108)."""
    with tempfile.TemporaryDirectory(prefix="sd") as name:
        yield Path(name)


@pytest.fixture
def receiver(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket bound at a path, announced as $NOTIFY_SOCKET."""
    path = short_dir / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def fields(datagram: bytes) -> list[str]:
    return datagram.decode().split("\n")


# --- notify -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "states",
    [
        pytest.param(("READY=1",), id="ready"),
        pytest.param(("STOPPING=1",), id="stopping"),
        pytest.param(("READY=1", "STATUS=serving 2 listeners"), id="ready-with-status"),
        pytest.param(("STATUS=reload failed: secrets file empty",), id="status-only"),
    ],
)
def test_notify_sends_states_as_one_datagram(
    receiver: socket.socket, states: tuple[str, ...]
) -> None:
    assert systemd.notify(*states) is True
    assert fields(receiver.recv(4096)) == list(states)


def test_reloading_carries_monotonic_usec(receiver: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert systemd.notify("RELOADING=1") is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    sent = fields(receiver.recv(4096))
    assert sent[0] == "RELOADING=1"
    [stamp] = [f for f in sent if f.startswith("MONOTONIC_USEC=")]
    assert before <= int(stamp.removeprefix("MONOTONIC_USEC=")) <= after


def test_reloading_keeps_a_given_monotonic_usec(receiver: socket.socket) -> None:
    assert systemd.notify("RELOADING=1", "MONOTONIC_USEC=42") is True
    assert fields(receiver.recv(4096)) == ["RELOADING=1", "MONOTONIC_USEC=42"]


def test_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"pysrsd-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("READY=1") is True
        assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(None, id="unset"),
        pytest.param("", id="empty"),
        pytest.param("relative/notify", id="relative-path"),
        pytest.param("/nonexistent-dir/notify", id="nobody-listening"),
        pytest.param("@pysrsd-test-nobody-binds-this", id="abstract-nobody-listening"),
    ],
)
def test_notify_without_a_listener_is_a_quiet_false(
    monkeypatch: pytest.MonkeyPatch, address: str | None
) -> None:
    if address is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert systemd.notify("READY=1") is False


def test_notify_to_a_stream_socket_is_a_quiet_false(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = short_dir / "stream"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        sock.listen()
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert systemd.notify("READY=1") is False


def test_notify_with_nothing_to_say_sends_nothing(receiver: socket.socket) -> None:
    assert systemd.notify() is False
    receiver.setblocking(False)
    with pytest.raises(BlockingIOError):
        receiver.recv(4096)


# --- listen_fds ---------------------------------------------------------------------------


@pytest.fixture
def clean_activation_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ACTIVATION_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def passed_fds(monkeypatch: pytest.MonkeyPatch, clean_activation_env: None) -> Iterator[int]:
    """Make ``listen_fds`` look at a free block of descriptors instead of fd 3 (pytest's)."""
    base = 900
    monkeypatch.setattr(systemd, "LISTEN_FDS_START", base)
    yield base
    for fd in range(base, base + 8):
        with contextlib.suppress(OSError):
            os.close(fd)


def listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def pass_sockets(base: int, count: int) -> list[int]:
    """Place ``count`` listening sockets at base, base+1, …; return their ports."""
    ports = []
    for index in range(count):
        with listener() as sock:
            os.dup2(sock.fileno(), base + index, inheritable=True)
            ports.append(sock.getsockname()[1])
    return ports


def activate(monkeypatch: pytest.MonkeyPatch, count: int, names: str | None) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", str(count))
    if names is not None:
        monkeypatch.setenv("LISTEN_FDNAMES", names)


@pytest.mark.parametrize(
    ("count", "names", "expected"),
    [
        pytest.param(2, "forward:reverse", {"forward": [0], "reverse": [1]}, id="both-named"),
        pytest.param(1, "reverse", {"reverse": [0]}, id="one-named"),
        pytest.param(2, None, {"unknown": [0, 1]}, id="no-names"),
        pytest.param(2, "forward", {"forward": [0], "unknown": [1]}, id="fewer-names-than-fds"),
        pytest.param(2, "forward::x", {"forward": [0], "unknown": [1]}, id="empty-name"),
        pytest.param(3, "forward:forward:reverse", {"forward": [0, 1], "reverse": [2]}, id="dup"),
    ],
)
def test_listen_fds_groups_sockets_by_name(
    monkeypatch: pytest.MonkeyPatch,
    passed_fds: int,
    count: int,
    names: str | None,
    expected: dict[str, list[int]],
) -> None:
    ports = pass_sockets(passed_fds, count)
    activate(monkeypatch, count, names)
    result = systemd.listen_fds()
    got = {
        name: [ports.index(sock.getsockname()[1]) for sock in socks]
        for name, socks in result.items()
    }
    assert got == expected
    for socks in result.values():
        for sock in socks:
            assert sock.get_inheritable() is False
            assert sock.type == socket.SOCK_STREAM
            sock.detach()  # the fixture closes the descriptors
    assert not any(name in os.environ for name in ACTIVATION_VARS)


@pytest.mark.parametrize(
    ("pid", "count"),
    [
        pytest.param(None, None, id="not-activated"),
        pytest.param("1", "2", id="meant-for-another-process"),
        pytest.param("", "2", id="empty-pid"),
        pytest.param("self", "two", id="garbage-count"),
        pytest.param("self", "0", id="zero-fds"),
    ],
)
def test_listen_fds_when_not_ours_is_empty_and_clears_env(
    monkeypatch: pytest.MonkeyPatch, passed_fds: int, pid: str | None, count: str | None
) -> None:
    pass_sockets(passed_fds, 2)
    if pid is not None and count is not None:
        monkeypatch.setenv("LISTEN_PID", str(os.getpid()) if pid == "self" else pid)
        monkeypatch.setenv("LISTEN_FDS", count)
        monkeypatch.setenv("LISTEN_FDNAMES", "forward:reverse")
    assert systemd.listen_fds() == {}
    assert not any(name in os.environ for name in ACTIVATION_VARS)
    # the descriptors were left alone
    assert os.get_inheritable(passed_fds) is True


def test_listen_fds_refuses_a_descriptor_that_is_not_a_socket(
    monkeypatch: pytest.MonkeyPatch, passed_fds: int
) -> None:
    read_end, write_end = os.pipe()
    os.dup2(read_end, passed_fds)
    os.close(read_end)
    os.close(write_end)
    activate(monkeypatch, 1, "forward")
    with pytest.raises(ConfigError, match=r"LISTEN_FDS: descriptor \d+ \(forward\)"):
        systemd.listen_fds()


# --- journal_stderr -----------------------------------------------------------------------


def stderr_identity() -> str:
    stat = os.fstat(2)
    return f"{stat.st_dev}:{stat.st_ino}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, False, id="unset"),
        pytest.param("", False, id="empty"),
        pytest.param("STDERR", True, id="matches-fd-2"),
        pytest.param("1:1", False, id="another-stream"),
        pytest.param("garbage", False, id="malformed"),
        pytest.param("12:", False, id="no-inode"),
    ],
)
def test_journal_stderr(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    else:
        monkeypatch.setenv("JOURNAL_STREAM", stderr_identity() if value == "STDERR" else value)
    assert systemd.journal_stderr() is expected
