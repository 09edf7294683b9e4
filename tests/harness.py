"""Test harness: start the real ``pysrsd`` command on free ports and talk tcp_table to it.

``require(tool)`` skips a test when a system tool is missing, except when
PYSRSD_REQUIRE_SYSTEM=1 (set by .ci/run): then a missing tool fails the test.

``host_free_environment()`` is the one place that keeps the host's pysrsd configuration out of
the tests: no ``PYSRSD_*`` setting of the caller, and ``PYSRSD_CONFIG=/dev/null`` so that no
command started by a test reads /etc/pysrsd/pysrsd.toml. conftest.py makes it the test
process's own environment, so every child inherits it; helpers that build a child's
environment start from it. ``pysrsctl`` also reads Postfix's configuration (``check`` its
layout, ``health`` the maps main.cf names): ``ctl()`` points it at an empty one
(``$MAIL_CONFIG``, which postconf honours) unless the test gives its own, so that a host whose
main.cf names pysrsd's maps does not answer for the daemon under test.
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from pysrsd.wire.tcp_table import unquote

DOMAIN = "fwd.example"
SECRET = "test-secret-for-pysrsd"
_LISTENING = re.compile(r"event='listening' table='(\w+)' address='(.+?)'")


# PYSRSD_* variables that are not settings and that the tests themselves read.
_TEST_VARIABLES = ("PYSRSD_REQUIRE_SYSTEM", "PYSRSD_BENCH_")


def host_free_environment(**extra: str) -> dict[str, str]:
    """The caller's environment without its ``PYSRSD_*`` settings and with
    ``PYSRSD_CONFIG=/dev/null`` (an empty config file, whatever /etc/pysrsd holds), plus
    ``extra``. A test that needs the default config path runs in the scratch root."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("PYSRSD_") or name.upper().startswith(_TEST_VARIABLES)
    }
    return {**env, "PYSRSD_CONFIG": os.devnull, **extra}


@functools.cache
def empty_postfix_config() -> str:
    """A Postfix configuration directory with an empty main.cf and master.cf, for
    ``$MAIL_CONFIG``: what pysrsctl sees of Postfix instead of the host's /etc/postfix."""
    directory = Path(tempfile.mkdtemp(prefix="pysrsd-test-postfix-"))
    atexit.register(shutil.rmtree, directory, True)
    for name in ("main.cf", "master.cf"):
        (directory / name).write_text("")
    return str(directory)


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None and not Path(tool).exists()]
    if not missing:
        return
    message = f"missing system tool(s): {', '.join(missing)}"
    if os.environ.get("PYSRSD_REQUIRE_SYSTEM") == "1":
        pytest.fail(message + " (PYSRSD_REQUIRE_SYSTEM=1)")
    pytest.skip(message)


def require_root(why: str) -> None:
    """Skip a test that needs root (ownership changes, a real privilege drop), except when
    PYSRSD_REQUIRE_SYSTEM=1 (CI runs as root): then not being root fails the test."""
    if os.geteuid() == 0:
        return
    message = f"needs root: {why}"
    if os.environ.get("PYSRSD_REQUIRE_SYSTEM") == "1":
        pytest.fail(message + " (PYSRSD_REQUIRE_SYSTEM=1)")
    pytest.skip(message)


def free_ports(count: int = 1) -> list[int]:
    """``count`` distinct loopback ports free right now (held open together while chosen)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def eventually(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Whether ``predicate()`` becomes true within ``timeout`` seconds (a hang guard)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def write_secrets(path: Path, *secrets: str) -> Path:
    path.write_text("".join(s + "\n" for s in secrets))
    path.chmod(0o600)
    return path


def secrets_for_nobody(directory: Path, mode: int = 0o640) -> Path:
    """The layout the project recommends, for a daemon serving as nobody: root-owned, the
    group of the daemon, 0640."""
    secrets = write_secrets(directory / "secrets", SECRET)
    os.chown(secrets, 0, pwd.getpwnam("nobody").pw_gid)
    secrets.chmod(mode)
    return secrets


def settled(config_dir: Path) -> None:
    """main.cf and master.cf dated 2 s back: Postfix waits before it reads a configuration
    file changed within the last second (an editor may still be writing it)."""
    when = time.time() - 2
    for name in ("main.cf", "master.cf"):
        os.utime(config_dir / name, (when, when))


class Daemon:
    """A running ``python -m pysrsd``; ``ports[table]`` are the bound ports."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log
        self.ports: dict[str, int] = {}

    @property
    def forward_port(self) -> int:
        return self.ports["forward"]

    @property
    def reverse_port(self) -> int:
        return self.ports["reverse"]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if "event='ready'" in text:
                for table, address in _LISTENING.findall(text):
                    if not address.startswith("unix:"):
                        self.ports.setdefault(table, int(address.rpartition(":")[2]))
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"pysrsd exited {self.proc.returncode}:\n{text}")
            time.sleep(0.02)
        raise RuntimeError(f"pysrsd not ready after {timeout}s:\n{self.log_text()}")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def daemon_command(secrets: Path, *extra: str, domain: str = DOMAIN) -> list[str]:
    command = [sys.executable, "-m", "pysrsd", "--forward-port", "0", "--reverse-port", "0"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return [*command, *extra, domain, str(secrets)]


@contextmanager
def running(tmp: Path, argv: Sequence[str], env: dict[str, str]) -> Iterator[Daemon]:
    """The daemon command ``argv``, with exactly ``env``, logging to a file in ``tmp``:
    yielded once it says it is ready, stopped at the end."""
    log = tmp / f"pysrsd-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(list(argv), stdout=sink, stderr=subprocess.STDOUT, env=env)
    daemon = Daemon(proc, log)
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()


@contextmanager
def running_daemon(
    tmp: Path, secrets: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[Daemon]:
    with running(
        tmp, daemon_command(secrets, *extra), host_free_environment(**(env or {}))
    ) as daemon:
        yield daemon


def ctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``pysrsctl ARGS`` as the administrator runs it, without the caller's PYSRSD_* or
    config file; ``env`` adds to the environment."""
    return subprocess.run(
        [sys.executable, "-c", "from pysrsd.ctl import main; raise SystemExit(main())", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=host_free_environment(**{"MAIL_CONFIG": empty_postfix_config(), **(env or {})}),
    )


class Client:
    """One persistent tcp_table connection, as a Postfix process keeps one."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        return self.reader.readline(8192)

    def get(self, key: bytes) -> bytes:
        from pysrsd.wire.tcp_table import quote

        self.send(b"get " + quote(key) + b"\n")
        return self.reply()

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def postmap(query: str | Sequence[str], table: str, *, stdin: bytes | None = None) -> str:
    """Postfix's own client: ``postmap -q KEY TABLE`` or ``postmap -q - TABLE`` with stdin."""
    require("postmap")
    key = "-" if stdin is not None else str(query)
    result = subprocess.run(
        ["postmap", "-q", key, table], input=stdin, capture_output=True, timeout=60, check=False
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"postmap failed {result.returncode}: {result.stderr!r}")
    return result.stdout.decode("utf-8", "surrogateescape")


def libfaketime() -> str:
    """Debian's libfaketime preload library (package faketime), or skip/fail as ``require``."""
    require("faketime")
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")) + sorted(
        glob.glob("/usr/lib/faketime/libfaketime.so.1")
    )
    if not found:
        require("libfaketime.so.1")
    return found[0]


def clock_environment(when: float | None, **extra: str) -> dict[str, str]:
    """``host_free_environment()`` in UTC, its clock starting at ``when``
    (libfaketime; the real clock if None), plus ``extra``."""
    env = host_free_environment(TZ="UTC")
    if when is not None:
        env["LD_PRELOAD"] = libfaketime()
        env["FAKETIME"] = "@" + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when))
    return {**env, **extra}


def found_values(port: int, keys: Sequence[bytes]) -> list[bytes | None]:
    """tcp_table answers on one connection: the decoded value of each 200, None otherwise."""
    answers: list[bytes | None] = []
    with Client(port) as client:
        for key in keys:
            status, _, value = client.get(key).rstrip(b"\n").partition(b" ")
            answers.append(unquote(value) if status == b"200" else None)
    return answers
