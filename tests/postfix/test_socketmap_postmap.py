"""Postfix's socketmap client (``postmap -q KEY socketmap:...:NAME``) against the daemon,
over TCP and over a unix socket, with postsrsd 2.x's and pfix-srsd's map names."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from harness import (
    DOMAIN,
    SECRET,
    free_ports,
    postmap,
    require,
    require_root,
    running_daemon,
    write_secrets,
)
from oracles import CLASSIC_ARGS, mail_srs_forward, require_oracles


@pytest.fixture
def endpoints(tmp_path: Path):  # type: ignore[no-untyped-def]
    require("postmap")
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    port = free_ports()[0]
    path = tmp_path / "run" / "pysrsd.sock"
    path.parent.mkdir()
    extra = ["--socketmap", f"inet:127.0.0.1:{port}", "--socketmap", f"unix:{path}", *CLASSIC_ARGS]
    with running_daemon(tmp_path, secrets, *extra) as daemon:
        yield daemon, {"inet": f"socketmap:inet:127.0.0.1:{port}", "unix": f"socketmap:unix:{path}"}


@pytest.mark.parametrize("transport", ["inet", "unix"])
@pytest.mark.parametrize(
    ("forward", "reverse"),
    [
        pytest.param("forward", "reverse", id="postsrsd"),
        pytest.param("srsencoder", "srsdecoder", id="pfix-srsd"),
    ],
)
def test_socketmap_round_trip(endpoints, transport: str, forward: str, reverse: str) -> None:  # type: ignore[no-untyped-def]
    require_oracles()
    _daemon, tables = endpoints
    (expected,) = mail_srs_forward(SECRET.encode(), DOMAIN.encode(), [b"alice@example.com"])
    assert expected is not None
    base = tables[transport]
    assert postmap("alice@example.com", f"{base}:{forward}") == expected.decode() + "\n"
    assert postmap(expected.decode(), f"{base}:{reverse}") == "alice@example.com\n"
    # An address problem is NOTFOUND (postmap prints nothing), never PERM or TEMP.
    assert postmap("alice@example.com", f"{base}:{reverse}") == ""
    assert postmap("SRS0=AAAA=AA=example.com=x@" + DOMAIN, f"{base}:{reverse}") == ""
    assert postmap(f"someone@{DOMAIN}", f"{base}:{forward}") == ""


def test_stale_unix_socket_is_replaced_and_mode_applied(tmp_path: Path) -> None:
    require("postmap")
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a killed daemon leaves
    extra = ["--socketmap", f"unix:{path}", "--socketmap-mode", "660"]
    with running_daemon(tmp_path, secrets, *extra):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        assert postmap("a@example.com", f"socketmap:unix:{path}:forward").startswith("SRS0=")


def test_refuses_a_socket_path_in_use(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    path = tmp_path / "busy.sock"
    with socket.socket(socket.AF_UNIX) as busy:
        busy.bind(str(path))
        busy.listen()
        with pytest.raises(RuntimeError, match="in use"):
            with running_daemon(tmp_path, secrets, "--socketmap", f"unix:{path}"):
                pass


def test_socketmap_socket_activation_by_name(tmp_path: Path) -> None:
    """systemd hands over a socket named ``socketmap``: pysrsd serves socketmap on it."""
    require("postmap", "systemd-socket-activate")
    import subprocess
    import sys
    import time

    secrets = write_secrets(tmp_path / "secrets", SECRET)
    port = free_ports()[0]
    command = [
        "systemd-socket-activate",
        "-E",
        f"PYTHONPATH={Path(__file__).resolve().parents[2] / 'src'}",
        f"--listen=127.0.0.1:{port}",
        "--fdname=socketmap",
        sys.executable,
        "-m",
        "pysrsd",
        "--allow-root",
        DOMAIN,
        str(secrets),
    ]
    with subprocess.Popen(command, stderr=subprocess.PIPE) as proc:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # wait until the activator listens
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
                    break
                except OSError:
                    time.sleep(0.05)
            table = f"socketmap:inet:127.0.0.1:{port}"
            value = postmap("carol@example.com", f"{table}:srsencoder").strip()
            assert value.startswith("SRS0=") and value.endswith("@" + DOMAIN)
            assert postmap(value, f"{table}:reverse") == "carol@example.com\n"
        finally:
            proc.terminate()
            proc.communicate(timeout=20)


def test_unix_socket_belongs_to_the_daemon_user(open_tmp: Path) -> None:
    """Created while still root, then handed to --user (and its primary group)."""
    require_root("changing owners")
    import pwd

    nobody = pwd.getpwnam("nobody")
    run_dir = open_tmp / "run"
    run_dir.mkdir()
    run_dir.chmod(0o755)
    secrets = write_secrets(run_dir / "secrets", SECRET)
    os.chown(secrets, 0, nobody.pw_gid)  # readable by the account after the drop
    secrets.chmod(0o640)
    path = run_dir / "pysrsd.sock"
    with running_daemon(open_tmp, secrets, "--user", "nobody", "--socketmap", f"unix:{path}"):
        info = os.stat(path)
        assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid)
        assert postmap("a@example.com", f"socketmap:unix:{path}:forward").startswith("SRS0=")


def test_an_activated_unix_socket_is_logged_by_its_path(open_tmp: Path) -> None:
    """The ``listening`` line names the path systemd bound, not ``unix:socket``."""
    require("postmap", "systemd-socket-activate")
    import subprocess
    import sys
    import time

    secrets = write_secrets(open_tmp / "secrets", SECRET)
    path = open_tmp / "socketmap"
    command = [
        "systemd-socket-activate",
        "-E",
        f"PYTHONPATH={Path(__file__).resolve().parents[2] / 'src'}",
        f"--listen={path}",
        "--fdname=socketmap",
        sys.executable,
        "-m",
        "pysrsd",
        "--allow-root",
        DOMAIN,
        str(secrets),
    ]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not path.exists():
                time.sleep(0.05)
            value = postmap("carol@example.com", f"socketmap:unix:{path}:forward").strip()
            assert value.startswith("SRS0=") and value.endswith("@" + DOMAIN)
        finally:
            proc.terminate()
            _, log = proc.communicate(timeout=20)
    assert f"event='listening' table='socketmap' address='unix:{path}'" in log, log
