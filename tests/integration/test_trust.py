"""Black-box tests of what the daemon trusts: its files, its account, its sockets.

Each test is an attack or a mistake seen in the field, played against the real command.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import (
    DOMAIN,
    SECRET,
    Client,
    eventually,
    require_root,
    running_daemon,
    secrets_for_nobody,
    write_secrets,
)


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the daemon that is expected to refuse to start."""
    command = [sys.executable, "-m", "pysrsd", "-e", "0", "-d", "0"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **(env or {})},
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a start refused for bad configuration (exit 2)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("pysrsd: ")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    return lines[0]


def test_fifo_as_secrets_file_exits_2_at_start(tmp_path: Path) -> None:
    fifo = tmp_path / "secrets"
    os.mkfifo(fifo)  # nobody writes: a blocking open would hang the start for ever
    line = one_line(start(DOMAIN, str(fifo)))
    assert line.startswith("pysrsd: secrets-file: ") and "is a FIFO" in line


def test_fifo_swapped_in_keeps_the_last_secrets_and_sigterm_works(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon, Client(daemon.forward_port) as fwd:
        before = fwd.get(b"alice@example.com")
        os.mkfifo(tmp_path / "fifo")
        os.replace(tmp_path / "fifo", secrets)  # seen by the change watcher, then SIGHUP
        daemon.signal(signal.SIGHUP)
        assert eventually(lambda: "is a FIFO" in daemon.log_text())
        assert fwd.get(b"alice@example.com") == before
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        pytest.param(0o666, "file", id="world-writable-file"),
        pytest.param(0o620, "file", id="group-writable-file"),
    ],
)
def test_config_file_writable_by_others_is_refused(tmp_path: Path, mode: int, what: str) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    config = tmp_path / "pysrsd.toml"
    config.write_text(f'domain = "{DOMAIN}"\nsecrets-file = "{secrets}"\n')
    config.chmod(mode)
    line = one_line(start("--config", str(config)))
    assert line.startswith("pysrsd: config: refusing ") and f"{what} {config}" in line


def test_socketmap_only_mode_opens_no_tcp_table_port(tmp_path: Path) -> None:
    from pysrsd.wire import socketmap

    secrets = write_secrets(tmp_path / "secrets", SECRET)
    path = tmp_path / "socketmap.sock"
    args = ("--listen", "none", "--socketmap", f"unix:{path}")
    with running_daemon(tmp_path, secrets, *args) as daemon:
        assert daemon.ports == {}  # no forward/reverse listener was logged
        assert "table='forward'" not in daemon.log_text()
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            sock.sendall(socketmap.encode_request(b"forward", b"alice@example.com"))
            assert sock.recv(4096).split(b":", 1)[1].startswith(b"OK SRS0=")


def test_the_listening_line_names_the_unix_socket(tmp_path: Path) -> None:
    """It said unix:socket, the name the socket is bound by inside its staging directory."""
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    path = tmp_path / "socketmap.sock"
    with running_daemon(tmp_path, secrets, "--socketmap", f"unix:{path}") as daemon:
        lines = [line for line in daemon.log_text().splitlines() if "table='socketmap'" in line]
    assert len(lines) == 1
    assert f"event='listening' table='socketmap' address='unix:{path}'" in lines[0]


def test_empty_listen_address_is_refused() -> None:
    line = one_line(start("--listen", "", DOMAIN, "/nonexistent"))
    assert line.startswith("pysrsd: --listen") and "empty address" in line


# --- the account the daemon serves as ---------------------------------------------------------

NOBODY = pwd.getpwnam("nobody")


def needs_root() -> None:
    require_root("dropping privileges")


def serving_uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[2])


@pytest.mark.parametrize("setting", ["secrets-file", "exclude-file"])
def test_a_file_the_account_cannot_read_stops_the_start(open_tmp: Path, setting: str) -> None:
    needs_root()
    secrets = secrets_for_nobody(open_tmp)
    private = open_tmp / "private"
    private.write_text("example.org\n")
    private.chmod(0o600)  # root only: read fine now, as root, but never again after the drop
    if setting == "secrets-file":
        secrets.chmod(0o600)
        args = ["--user", "nobody", DOMAIN, str(secrets)]
    else:
        args = ["--user", "nobody", "--exclude-file", str(private), DOMAIN, str(secrets)]
    line = one_line(start(*args))
    named = f"not readable by nobody (uid {NOBODY.pw_uid}) and group nogroup (gid "
    assert line.startswith(f"pysrsd: {setting}: ") and named in line, line
    assert "e.g. chgrp nogroup and chmod g+r it" in line


def test_recommended_layout_serves_as_nobody_without_warning(open_tmp: Path) -> None:
    needs_root()
    secrets = secrets_for_nobody(open_tmp)
    with running_daemon(open_tmp, secrets, "--user", "nobody") as daemon:
        assert serving_uid(daemon.proc.pid) == NOBODY.pw_uid
        with Client(daemon.forward_port) as fwd:
            assert fwd.get(b"alice@example.com").startswith(b"200 SRS0=")
        assert "secrets_file_writable" not in daemon.log_text()


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_secret_the_account_could_replace_is_warned_about(open_tmp: Path, what: str) -> None:
    needs_root()
    directory = open_tmp / "etc"
    directory.mkdir()
    secrets = secrets_for_nobody(directory)
    os.chown(secrets if what == "file" else directory, NOBODY.pw_uid, -1)
    with running_daemon(open_tmp, secrets, "--user", "nobody") as daemon:
        text = daemon.log_text()
    assert "event='secrets_file_writable'" in text
    assert f"{what} {secrets if what == 'file' else directory}" in text
    assert SECRET not in text


# --- the socketmap socket ------------------------------------------------------------------

# Whenever a socket appears, swap it for a symlink to the root-owned target. Perl: the account
# cannot run this checkout's interpreter, which may live under /root.
ATTACKER = """
my ($path, $target) = @ARGV;
while (1) {
    if (lstat($path) && -S _) { symlink($target, "$path.swap"); rename("$path.swap", $path); }
}
"""


def test_socket_symlink_swap_never_hands_over_a_root_file(open_tmp: Path) -> None:
    """A process of the daemon's account, in a socket directory that account owns, swaps the
    new socket for a symlink to a root-owned file: the file must keep its owner, 10 of 10."""
    needs_root()
    secrets = secrets_for_nobody(open_tmp)
    run_dir = open_tmp / "run"
    run_dir.mkdir(mode=0o755)
    os.chown(run_dir, NOBODY.pw_uid, NOBODY.pw_gid)
    target = open_tmp / "root-owned"
    target.write_text("root's file\n")
    target.chmod(0o600)
    path = run_dir / "socketmap.sock"
    attacker = subprocess.Popen(
        ["perl", "-e", ATTACKER, str(path), str(target)],
        user=NOBODY.pw_uid,
        group=NOBODY.pw_gid,
        extra_groups=[],
    )
    try:
        started = 0
        for _ in range(10):
            with contextlib.suppress(RuntimeError):  # a start that fails must still be safe
                with running_daemon(
                    open_tmp, secrets, "--user", "nobody", "--socketmap", f"unix:{path}"
                ):
                    started += 1
            info = target.stat()
            assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o600)
    finally:
        attacker.kill()
        attacker.wait()
    assert target.read_text() == "root's file\n"
    assert started == 10  # the attack does not even stop the daemon from starting


def test_socket_directory_writable_by_others_is_refused(open_tmp: Path) -> None:
    secrets = write_secrets(open_tmp / "secrets", SECRET)
    run_dir = open_tmp / "run"
    run_dir.mkdir()
    run_dir.chmod(0o777)
    line = one_line(start("--socketmap", f"unix:{run_dir / 's'}", DOMAIN, str(secrets)))
    assert line.startswith("pysrsd: socketmap: refusing") and "writable by group or others" in line


def test_socket_mode_comes_from_bind(open_tmp: Path) -> None:
    secrets = write_secrets(open_tmp / "secrets", SECRET)
    path = open_tmp / "s"
    with running_daemon(
        open_tmp, secrets, "--socketmap", f"unix:{path}", "--socketmap-mode", "660"
    ):
        assert stat.S_IMODE(path.lstat().st_mode) == 0o660
        assert [p.name for p in open_tmp.iterdir() if p.name.startswith(".s.")] == []


# --- what root created is removed at exit, even after the drop --------------------------------


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_pid_file_and_socket_are_removed_after_the_drop(
    open_tmp: Path, how: signal.Signals
) -> None:
    needs_root()
    secrets = secrets_for_nobody(open_tmp)
    run_dir = open_tmp / "run"  # root's 0755: the daemon's account cannot unlink in it
    run_dir.mkdir(mode=0o755)
    pidfile, sock = run_dir / "pysrsd.pid", run_dir / "pysrsd.sock"
    args = ("--user", "nobody", "--pidfile", str(pidfile), "--socketmap", f"unix:{sock}")
    with running_daemon(open_tmp, secrets, *args) as daemon:
        assert pidfile.read_text() == f"{daemon.proc.pid}\n" and sock.is_socket()
        daemon.signal(how)
        daemon.proc.wait(10)
    assert eventually(lambda: not pidfile.exists() and not sock.exists())
    assert list(run_dir.iterdir()) == []


def test_files_of_a_newer_instance_are_kept(open_tmp: Path) -> None:
    """Only what is still ours goes: a pid file that names another process stays."""
    needs_root()
    secrets = secrets_for_nobody(open_tmp)
    run_dir = open_tmp / "run"
    run_dir.mkdir(mode=0o755)
    pidfile = run_dir / "pysrsd.pid"
    with running_daemon(open_tmp, secrets, "--user", "nobody", "--pidfile", str(pidfile)) as d:
        pidfile.write_text("1\n")  # as if a new instance had taken over
        d.signal(signal.SIGTERM)
        d.proc.wait(10)
    time.sleep(0.5)  # the janitor has had its turn (it runs as soon as the daemon is gone)
    assert pidfile.read_text() == "1\n"
