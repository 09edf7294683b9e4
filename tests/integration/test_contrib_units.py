"""The shipped systemd files, checked by systemd's own tools.

* ``systemd-analyze verify`` on the units (in a temporary copy whose ``ExecStart=`` points at
  a stub, because verify insists the binary exists) must print nothing at all: verify exits 0
  even on unknown keys, so silence is the real check; a mutated copy proves it can fail.
* ``systemd-sysusers --root`` creates the account from the shipped sysusers.d file.
* ``systemd-socket-activate`` hands sockets to ``pysrsd.service.systemd.listen_fds`` by name, and to
  the real daemon, which answers on them and sends ``READY=1`` to a socket the test owns.

A missing tool skips, unless PYSRSD_REQUIRE_SYSTEM=1 makes it a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import free_ports, write_secrets

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "contrib" / "systemd"
SRC = ROOT / "src"
UNIT_NAMES = (
    "pysrsd.service",
    "pysrsd-forward.socket",
    "pysrsd-reverse.socket",
    "pysrsd-socketmap.socket",
)
REQUIRE_SYSTEM = os.environ.get("PYSRSD_REQUIRE_SYSTEM") == "1"
TIMEOUT = 30  # a hang guard, not a measurement


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if REQUIRE_SYSTEM:
            pytest.fail(f"PYSRSD_REQUIRE_SYSTEM=1 but {name} is not installed")
        pytest.skip(f"{name} is not installed")
    return path


def unit_settings(name: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file (all sections), values in file order."""
    settings: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


# --- systemd-analyze verify --------------------------------------------------------------


def verify_copy(tmp_path: Path, mutate: str | None = None) -> subprocess.CompletedProcess[str]:
    """Verify a copy of the units with ExecStart on a stub; ``mutate`` is appended to [Socket]."""
    analyze = tool("systemd-analyze")
    stub = tmp_path / "pysrsd"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for name in UNIT_NAMES:
        text = (UNITS / name).read_text()
        text = text.replace("ExecStart=/usr/local/sbin/pysrsd", f"ExecStart={stub}")
        if mutate is not None and name == "pysrsd-forward.socket":
            text = text.replace("[Socket]\n", f"[Socket]\n{mutate}\n")
        (tmp_path / name).write_text(text)
    return subprocess.run(
        # --man=no: the pages Documentation= names are installed by a package, not here
        # (tests/package checks them with the installed units)
        [analyze, "verify", "--man=no", *(f"./{name}" for name in UNIT_NAMES)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_shipped_units_verify_without_a_single_warning(tmp_path: Path) -> None:
    result = verify_copy(tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_service_hardening_keeps_exposure_low(tmp_path: Path) -> None:
    """systemd's own score (0 best, 10 worst); the shipped unit scores 1.4 with systemd 252."""
    analyze = tool("systemd-analyze")
    verify_copy(tmp_path)  # writes the stubbed copy
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", "./pysrsd.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


@pytest.mark.parametrize(
    "mutation",
    [
        pytest.param("BogusKey=1", id="unknown-key"),
        pytest.param("Backlog=many", id="bad-value"),
    ],
)
def test_verify_check_notices_a_broken_unit(tmp_path: Path, mutation: str) -> None:
    result = verify_copy(tmp_path, mutate=mutation)
    assert "pysrsd-forward.socket" in result.stdout + result.stderr


def test_shipped_units_state_the_contract() -> None:
    service = unit_settings("pysrsd.service")
    assert service["Type"] == ["notify"]
    assert service["ExecStart"][0].split()[0] == "/usr/local/sbin/pysrsd"
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["User"] == ["pysrsd"]
    assert service["Restart"] == ["on-failure"]
    assert "-/etc/default/pysrsd" in service["EnvironmentFile"]
    assert service["CapabilityBoundingSet"] == [""]
    assert service["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    for name, address, fdname in [
        ("pysrsd-forward.socket", "127.0.0.1:10001", "forward"),
        ("pysrsd-reverse.socket", "127.0.0.1:10002", "reverse"),
    ]:
        sock = unit_settings(name)
        assert sock["ListenStream"] == [address]
        assert sock["FileDescriptorName"] == [fdname]
        assert sock["Service"] == ["pysrsd.service"]
    # inside Postfix's queue directory (chrooted smtpd and cleanup), writable by Postfix only
    socketmap = unit_settings("pysrsd-socketmap.socket")
    assert socketmap["ListenStream"] == ["/var/spool/postfix/pysrsd/socketmap"]
    assert socketmap["FileDescriptorName"] == ["socketmap"]
    assert (socketmap["SocketGroup"], socketmap["SocketMode"]) == (["postfix"], ["0660"])
    assert service["StateDirectory"] == ["pysrsd"]


def test_sysusers_creates_the_service_account(tmp_path: Path) -> None:
    sysusers = tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    subprocess.run(
        [sysusers, f"--root={tmp_path}", str(UNITS / "sysusers.d" / "pysrsd.conf")],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    passwd = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
    }
    assert passwd["pysrsd"][6] == "/usr/sbin/nologin"
    groups = [line.split(":")[0] for line in (tmp_path / "etc" / "group").read_text().splitlines()]
    assert "pysrsd" in groups


# --- socket activation --------------------------------------------------------------------


def child_env() -> list[str]:
    """systemd-socket-activate passes only the -E variables to its child."""
    return ["-E", f"PYTHONPATH={SRC}", "-E", "PYTHONDONTWRITEBYTECODE=1"]


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


LISTEN_FDS_PROBE = textwrap.dedent(
    """
    import os
    from pysrsd.service.systemd import listen_fds
    socks = listen_fds()
    left = sorted(k for k in os.environ if k.startswith("LISTEN_"))
    for name in sorted(socks):
        for sock in socks[name]:
            print(name, sock.getsockname()[1], sock.get_inheritable(), flush=True)
    print("left", left, flush=True)
    for name, group in socks.items():  # descriptor order, as the test connects
        for sock in group:
            conn, _ = sock.accept()
            conn.sendall(name.encode() + b"\\n")
            conn.close()
    """
)


@pytest.mark.parametrize(
    ("fdnames", "expected"),
    [
        pytest.param("forward:reverse", ["forward", "reverse"], id="both-named"),
        pytest.param("reverse:forward", ["reverse", "forward"], id="names-follow-order"),
        pytest.param(None, ["unknown", "unknown"], id="unnamed"),
    ],
)
def test_listen_fds_under_systemd_socket_activate(fdnames: str | None, expected: list[str]) -> None:
    activate = tool("systemd-socket-activate")
    ports = free_ports(2)
    command = [activate, *child_env()]
    command += [f"--listen=127.0.0.1:{port}" for port in ports]
    if fdnames is not None:
        command.append(f"--fdname={fdnames}")
    command += [sys.executable, "-c", LISTEN_FDS_PROBE]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            # systemd-socket-activate execs the program on the first connection
            replies = []
            for port in _wait_listening(ports, proc):
                with connect(port) as conn:
                    replies.append(conn.makefile().readline().strip())
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[-1] == "left []"
    assert sorted(lines[:-1]) == sorted(
        f"{name} {port} False" for name, port in zip(expected, ports, strict=True)
    )
    assert replies == expected


def _wait_listening(ports: list[int], proc: subprocess.Popen[str]) -> list[int]:
    """Return ``ports`` once the first one accepts connections (the activator is up)."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # "Listening on 127.0.0.1:PORT as N." per socket
        seen.append(line)
        if f":{ports[-1]} as " in line:
            return ports
    pytest.fail(f"systemd-socket-activate never listened: {''.join(seen)!r}")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sd") as name:
        yield Path(name)


# --- the real daemon, socket-activated and notifying --------------------------------------


def daemon_available() -> None:
    probe = subprocess.run(
        [sys.executable, "-m", "pysrsd", "--help"],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    if probe.returncode != 0:
        pytest.fail(f"python -m pysrsd --help failed: {probe.stderr!r}")


def ask(conn: socket.socket, key: str) -> str:
    conn.sendall(f"get {key}\n".encode())
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = conn.recv(4096)
        assert chunk, f"connection closed after {reply!r}"
        reply += chunk
    return reply.decode().rstrip("\n")


def test_daemon_serves_activated_sockets_and_notifies(short_dir: Path) -> None:
    activate = tool("systemd-socket-activate")
    daemon_available()
    secrets = write_secrets(short_dir / "secrets", "a-test-secret-not-for-production")
    notify_path = short_dir / "notify"
    forward, reverse = free_ports(2)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify_sock:
        notify_sock.bind(str(notify_path))
        notify_sock.settimeout(TIMEOUT)
        command = [
            activate,
            *child_env(),
            "-E",
            f"NOTIFY_SOCKET={notify_path}",
            f"--listen=127.0.0.1:{forward}",
            f"--listen=127.0.0.1:{reverse}",
            "--fdname=forward:reverse",
            sys.executable,
            "-m",
            "pysrsd",
            "--domain",
            "forwarder.example",
            "--secrets-file",
            str(secrets),
            # ports nobody listens on: the activated sockets must be used instead
            "--forward-port",
            "1",
            "--reverse-port",
            "2",
            "--allow-root",
        ]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            try:
                _wait_listening([forward, reverse], proc)
                with connect(forward) as fwd:  # this connection starts the daemon
                    assert notify_sock.recv(4096).split(b"\n")[0] == b"READY=1"
                    assert ask(fwd, "alice@example.com").startswith("200 SRS0=")
                with connect(reverse) as rev:
                    assert ask(rev, "bob@example.com").startswith("500 ")
                proc.send_signal(signal.SIGHUP)
                reloading = notify_sock.recv(4096).decode().split("\n")
                assert reloading[0] == "RELOADING=1"
                assert reloading[1].startswith("MONOTONIC_USEC=")
                assert notify_sock.recv(4096).split(b"\n")[0] == b"READY=1"
                with connect(forward) as fwd:
                    assert ask(fwd, "alice@example.com").startswith("200 SRS0=")
                proc.terminate()
                assert notify_sock.recv(4096) == b"STOPPING=1"
                proc.communicate(timeout=TIMEOUT)
            finally:
                proc.kill()
        assert proc.returncode == 0


# --- examples/main.cf ---------------------------------------------------------------------

MAIN_CF = ROOT / "examples" / "main.cf"


def test_example_main_cf_is_what_postconf_reads(tmp_path: Path) -> None:
    postconf = tool("postconf")
    shutil.copy(MAIN_CF, tmp_path / "main.cf")
    (tmp_path / "master.cf").write_text("")
    result = subprocess.run(
        [postconf, "-c", str(tmp_path), "-n"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert result.stderr == ""
    settings = dict(line.split(" = ", 1) for line in result.stdout.splitlines())
    settings.pop("config_directory", None)
    assert settings == {
        "sender_canonical_maps": "tcp:127.0.0.1:10001",
        "sender_canonical_classes": "envelope_sender",
        "recipient_canonical_maps": "tcp:127.0.0.1:10002",
        "recipient_canonical_classes": "envelope_recipient, header_recipient",
    }


def test_example_main_cf_variants_use_known_map_types() -> None:
    postconf = tool("postconf")
    known = set(
        subprocess.run(
            [postconf, "-m"], capture_output=True, text=True, timeout=TIMEOUT, check=True
        ).stdout.split()
    )
    variants = [
        line.removeprefix("#").split(" = ", 1)
        for line in MAIN_CF.read_text().splitlines()
        if line.startswith(("#sender_canonical_maps = ", "#recipient_canonical_maps = "))
    ]
    assert len(variants) == 4  # hash: in front (both maps), socketmap (both maps)
    for _, value in variants:
        for table in value.split(", "):
            types = table.split(":")[:2] if table.startswith("proxy:") else table.split(":")[:1]
            assert set(types) <= known, table


# --- the real daemon binding its own listeners --------------------------------------------


@pytest.mark.parametrize(
    "journal",
    [
        pytest.param(False, id="plain-stderr"),
        pytest.param(True, id="stderr-is-the-journal"),
    ],
)
def test_ready_means_accepting_and_journal_gets_priorities(short_dir: Path, journal: bool) -> None:
    """READY=1 arrives only when a first, single connection attempt already succeeds."""
    daemon_available()
    secrets = write_secrets(short_dir / "secrets", "a-test-secret-not-for-production")
    notify_path = short_dir / "notify"
    forward, reverse = free_ports(2)
    read_end, write_end = os.pipe()
    stream = os.fstat(read_end)  # the pipe is one inode: this is what the child's fd 2 is
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "NOTIFY_SOCKET": str(notify_path),
    }
    env.pop("JOURNAL_STREAM", None)
    if journal:
        env["JOURNAL_STREAM"] = f"{stream.st_dev}:{stream.st_ino}"
    command = [
        sys.executable,
        "-m",
        "pysrsd",
        "forwarder.example",
        str(secrets),
        "--forward-port",
        str(forward),
        "--reverse-port",
        str(reverse),
        "--allow-root",
    ]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify_sock:
        notify_sock.bind(str(notify_path))
        notify_sock.settimeout(TIMEOUT)
        with subprocess.Popen(command, env=env, stderr=write_end) as proc:
            os.close(write_end)
            try:
                assert notify_sock.recv(4096).split(b"\n")[0] == b"READY=1"
                for port in (forward, reverse):  # no retry: READY promised a listener
                    with connect(port) as conn:
                        assert ask(conn, "alice@example.com")[:3] in ("200", "500")
                proc.terminate()
                proc.wait(timeout=TIMEOUT)
            finally:
                proc.kill()
            with os.fdopen(read_end, encoding="utf-8", errors="replace") as err:
                lines = err.read().splitlines()
    assert proc.returncode == 0
    assert lines
    prefixed = [line for line in lines if re.match(r"<[0-7]>", line)]
    assert prefixed == (lines if journal else [])
