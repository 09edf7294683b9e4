"""Black-box tests: the real ``pysrsd`` command over real loopback sockets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, Client, eventually, free_ports, running_daemon, write_secrets

from pysrsd.srs.engine import Engine, Rewritten


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    return write_secrets(tmp_path / "secrets", SECRET)


def test_forward_then_reverse_round_trip(tmp_path: Path, secrets: Path) -> None:
    with running_daemon(tmp_path, secrets) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            reply = fwd.get(b"alice@example.com")
            assert reply.startswith(b"200 SRS0=") and reply.endswith(b"@fwd.example\n")
            assert rev.get(reply[4:-1]) == b"200 alice@example.com\n"
            assert rev.get(b"alice@example.com") == b"500 not%20an%20SRS%20address\n"


def test_forward_matches_engine_with_same_secret(tmp_path: Path, secrets: Path) -> None:
    engine = Engine([SECRET.encode()], DOMAIN.encode())
    with running_daemon(tmp_path, secrets) as daemon, Client(daemon.forward_port) as fwd:
        for address in [b"bob@example.org", "Ünï@exämple.com".encode(), b"SRS0=a=b=c=d@x.org"]:
            expected = engine.forward(address)
            assert isinstance(expected, Rewritten)
            from pysrsd.wire.tcp_table import quote

            assert fwd.get(address) == b"200 " + quote(expected.address) + b"\n"


def test_pipelined_and_fragmented_requests_answered_in_order(tmp_path: Path, secrets: Path) -> None:
    keys = [f"user{i}@example.com".encode() for i in range(200)]
    with running_daemon(tmp_path, secrets) as daemon:
        with Client(daemon.forward_port) as one, Client(daemon.forward_port) as two:
            one.send(b"".join(b"get " + k + b"\n" for k in keys))
            whole = [one.reply() for _ in keys]
            for k in keys:  # the same requests, one byte per write
                for byte in b"get " + k + b"\n":
                    two.send(bytes([byte]))
            pieces = [two.reply() for _ in keys]
    assert whole == pieces
    assert all(f"=user{i}@fwd.example".encode() in r for i, r in enumerate(whole))


@pytest.mark.parametrize(
    ("request_line", "reply"),
    [
        pytest.param(b"put a b\n", b"500 put%20is%20not%20supported\n", id="put"),
        pytest.param(b"bogus x\n", b"500 unknown%20command\n", id="unknown-command"),
        pytest.param(b"get \n", b"500 missing%20key\n", id="missing-key"),
        pytest.param(b"get a%zzb\n", b"500 invalid%20%25%20escape%20in%20key\n", id="bad-escape"),
        pytest.param(b"get a%00b@x\n", b"500 NUL%20byte%20in%20key\n", id="nul"),
        pytest.param(b"get " + b"a" * 20000 + b"\n", b"500 request%20too%20long\n", id="too-long"),
        pytest.param(b"get no-at-sign\n", b"500 not%20a%20valid%20address\n", id="no-at"),
        pytest.param(b"get @example.com\n", b"500 not%20a%20valid%20address\n", id="empty-local"),
        pytest.param(b"get a@FWD.Example\n", b"500 already%20at%20the%20SRS%20domain\n", id="own"),
    ],
)
def test_bad_requests_get_500_and_the_connection_goes_on(
    tmp_path: Path, secrets: Path, request_line: bytes, reply: bytes
) -> None:
    with running_daemon(tmp_path, secrets) as daemon, Client(daemon.forward_port) as fwd:
        fwd.send(request_line)
        assert fwd.reply() == reply
        assert fwd.get(b"carol@example.net").startswith(b"200 SRS0=")


def test_reverse_refuses_forged_and_foreign(tmp_path: Path, secrets: Path) -> None:
    other = Engine([b"another secret"], DOMAIN.encode()).forward(b"alice@example.com")
    assert isinstance(other, Rewritten)
    with running_daemon(tmp_path, secrets) as daemon, Client(daemon.reverse_port) as rev:
        assert rev.get(other.address) == b"500 bad%20hash\n"
        foreign = other.address.replace(b"@fwd.example", b"@elsewhere.example")
        assert rev.get(foreign).startswith(b"500 ")


def test_reload_on_sighup_rotates_secrets(tmp_path: Path, secrets: Path) -> None:
    with running_daemon(tmp_path, secrets) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            before = fwd.get(b"dave@example.com")[4:-1]
            write_secrets(secrets, "brand new secret", SECRET)
            daemon.signal(signal.SIGHUP)
            assert eventually(lambda: fwd.get(b"dave@example.com")[4:-1] != before)
            assert rev.get(before) == b"200 dave@example.com\n"  # old secret still verifies
            pid = daemon.proc.pid
            write_secrets(secrets, "brand new secret")
            daemon.signal(signal.SIGHUP)
            assert eventually(lambda: rev.get(before) == b"500 bad%20hash\n")
            assert daemon.proc.pid == pid and daemon.proc.poll() is None


@pytest.mark.parametrize("how", ["in-place", "rename-over"])
def test_file_change_reloads_without_signal(tmp_path: Path, secrets: Path, how: str) -> None:
    """A rotation (a new secret on top, the old one kept) is taken without a signal."""
    with running_daemon(tmp_path, secrets) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            before = fwd.get(b"erin@example.com")
            if how == "in-place":
                with secrets.open("r+") as handle:
                    handle.write(f"edited secret value\n{SECRET}\n")
                    handle.truncate()
            else:
                write_secrets(tmp_path / "new", "renamed secret value", SECRET)
                os.replace(tmp_path / "new", secrets)
            assert eventually(lambda: fwd.get(b"erin@example.com") != before)
            assert rev.get(before[4:-1]) == b"200 erin@example.com\n"


def test_broken_secrets_file_keeps_last_good(tmp_path: Path, secrets: Path) -> None:
    with running_daemon(tmp_path, secrets) as daemon, Client(daemon.forward_port) as fwd:
        before = fwd.get(b"frank@example.com")
        secrets.write_text("")
        daemon.signal(signal.SIGHUP)
        assert eventually(lambda: "reload_failed" in daemon.log_text())
        assert fwd.get(b"frank@example.com") == before
        secrets.unlink()
        daemon.signal(signal.SIGHUP)
        assert fwd.get(b"frank@example.com") == before
        assert SECRET not in daemon.log_text()


def test_exclusion_map_and_its_reload(tmp_path: Path, secrets: Path) -> None:
    excl = tmp_path / "exclude"
    excl.write_text("# excluded senders\nexample.com  OK\n.example.org\n")
    with running_daemon(tmp_path, secrets, "--exclude-file", str(excl)) as daemon:
        with Client(daemon.forward_port) as fwd:
            assert fwd.get(b"a@example.com") == b"500 domain%20excluded\n"
            assert fwd.get(b"a@sub.example.org") == b"500 domain%20excluded\n"
            assert fwd.get(b"a@example.org").startswith(b"200 SRS0=")
            excl.write_text("gina@example.net\n")
            daemon.signal(signal.SIGHUP)
            assert eventually(lambda: fwd.get(b"a@example.com").startswith(b"200 "))
            assert fwd.get(b"gina@example.net") == b"500 address%20excluded\n"


def test_sigterm_answers_what_was_read_and_exits_zero(tmp_path: Path, secrets: Path) -> None:
    with running_daemon(tmp_path, secrets) as daemon, Client(daemon.forward_port) as fwd:
        fwd.send(b"".join(b"get u%d@example.com\n" % i for i in range(500)))
        assert fwd.reply().startswith(b"200 ")  # the daemon has read the batch
        daemon.signal(signal.SIGTERM)
        rest = [fwd.reply() for _ in range(499)]
        assert all(r.startswith(b"200 SRS0=") for r in rest)
        assert daemon.proc.wait(10) == 0


def test_idle_connections_are_closed(tmp_path: Path, secrets: Path) -> None:
    with running_daemon(tmp_path, secrets, "--idle-timeout", "1") as daemon:
        with Client(daemon.forward_port) as idle:
            idle.sock.settimeout(15)
            assert idle.reader.read() == b""  # EOF from the daemon, no reply owed


def test_connection_limit_evicts_the_longest_idle(tmp_path: Path, secrets: Path) -> None:
    with running_daemon(tmp_path, secrets, "--max-connections", "3") as daemon:
        oldest = Client(daemon.forward_port)
        assert oldest.get(b"a@example.com").startswith(b"200")
        others = [Client(daemon.forward_port) for _ in range(2)]
        for c in others:
            assert c.get(b"b@example.com").startswith(b"200")
        with Client(daemon.forward_port) as newcomer:
            assert newcomer.get(b"c@example.com").startswith(b"200")
        oldest.sock.settimeout(10)
        assert oldest.reader.read() == b""
        for c in [oldest, *others]:
            c.close()


def test_client_that_never_reads_does_not_grow_the_daemon(tmp_path: Path, secrets: Path) -> None:
    with running_daemon(tmp_path, secrets) as daemon:
        hog = socket.create_connection(("127.0.0.1", daemon.forward_port))
        hog.setblocking(False)
        sent = 0
        chunk = b"get someone@example.com\n" * 4096
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sent < 200 * len(chunk):
            try:
                sent += hog.send(chunk)
            except BlockingIOError:
                break  # the daemon stopped reading from us: flow control works
        assert sent < 200 * len(chunk)
        with Client(daemon.forward_port) as polite:
            assert polite.get(b"h@example.com").startswith(b"200 SRS0=")
        rss_kib = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{daemon.proc.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:")
            )
        )
        assert rss_kib < 200 * 1024
        hog.close()


def test_ipv6_listen(tmp_path: Path, secrets: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no ::1 here")
    with running_daemon(tmp_path, secrets, "--listen", "::1") as daemon:
        with Client(daemon.forward_port, host="::1") as fwd:
            assert fwd.get(b"i@example.com").startswith(b"200 SRS0=")


def test_pfix_srsd_command_line(tmp_path: Path, secrets: Path) -> None:
    ports = free_ports(2)
    command = [sys.executable, "-m", "pysrsd", "-f", "-e", str(ports[0]), "-d", str(ports[1])]
    command += ["-s", "+", "-I", *(["-u"] if os.geteuid() == 0 else []), DOMAIN, str(secrets)]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with Client(ports[0]) as fwd:
                    assert fwd.get(b"j@example.com").startswith(b"200 SRS0+")
                    break
            except ConnectionRefusedError:
                time.sleep(0.05)
        else:
            pytest.fail("pysrsd did not listen on the -e port")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        pytest.param(["--bogus"], "--bogus", id="unknown-flag"),
        pytest.param(["$myhostname", "SECRETS"], "--domain", id="bad-domain"),
        pytest.param([DOMAIN, "/nonexistent/secrets"], "secrets-file", id="missing-secrets"),
        pytest.param([DOMAIN, "EMPTY"], "secrets-file", id="empty-secrets"),
        pytest.param(["--hash-min", "9", DOMAIN, "SECRETS"], "hash-min", id="hash-min"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    tmp_path: Path, secrets: Path, args: list[str], mentions: str
) -> None:
    (tmp_path / "empty").write_text("\n")
    args = [{"SECRETS": str(secrets), "EMPTY": str(tmp_path / "empty")}.get(a, a) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "pysrsd", "-e", "0", "-d", "0", *args],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and mentions in lines[0]


def test_each_reload_logs_one_event_that_says_what_was_kept(tmp_path: Path, secrets: Path) -> None:
    """A failed secrets reload used to be followed by a 'reloaded' line that read as a
    success. Now: one event per reload, 'reload_failed' naming what was kept and why."""
    with running_daemon(tmp_path, secrets) as daemon:
        secrets.write_text("")
        daemon.signal(signal.SIGHUP)
        assert eventually(lambda: "event='reload_failed'" in daemon.log_text())
        time.sleep(1.5)  # the file watcher may reload too: it must not say "reloaded" either
        failed_only = daemon.log_text()
        write_secrets(secrets, SECRET)
        daemon.signal(signal.SIGHUP)  # the watcher may reload the secrets alone before it
        done = "reloaded='configuration, secrets, exclusions'"
        assert eventually(lambda: done in daemon.log_text())
        reloaded = [line for line in daemon.log_text().splitlines() if "event='reloaded'" in line]
    assert "event='reloaded'" not in failed_only
    failed = [line for line in failed_only.splitlines() if "event='reload_failed'" in line]
    for line in failed:
        assert "level='error'" in line
        assert "kept='previous secrets'" in line
        assert re.search(r"reloaded='(configuration, )?exclusions'", line)  # SIGHUP, watcher
        assert "secrets-file" in line
    assert all("level='info'" in line for line in reloaded)
    assert done in reloaded[-1]
