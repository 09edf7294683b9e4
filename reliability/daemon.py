"""A pysrsd daemon under test: started as a child process on loopback port 0, observed from
outside (/proc for memory and descriptors, its log for ports), signalled, stopped. Its
directory (secrets, exclusion map, log) is removed after a clean exit unless RELIABILITY_KEEP
is set.

Nothing here imports pysrsd: the suite drives the real command, as Postfix would.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DOMAIN = "fwd.example"
SECRET = b"reliability-secret-1"
_LISTENING = re.compile(r"event='?listening'? table='?(\w+)'? address='?127\.0\.0\.1:(\d+)")


class Daemon:
    """``python -m pysrsd`` with a secrets file and an exclusion map in a private directory."""

    def __init__(
        self,
        extra: Sequence[str] = (),
        nofile: int | None = None,
        log_level: str = "info",
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pysrsd-rel-"))
        self.secrets = self.dir / "secrets"
        self.secrets.write_bytes(SECRET + b"\n")
        self.secrets.chmod(0o600)
        self.exclude = self.dir / "exclude"
        self.exclude.write_bytes(b"excluded.example\n")
        self.log_path = self.dir / "daemon.log"
        self.extra = list(extra)
        self.nofile = nofile
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.samples: list[tuple[float, int, int]] = []  # (time, rss kB, fds)

    # -- life ---------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> Daemon:
        argv = [
            sys.executable, "-m", "pysrsd", "--allow-root",
            "--forward-port", "0", "--reverse-port", "0",
            "--exclude-file", str(self.exclude), "--log-level", self.log_level,
            "--hash-input", "concatenated", "--hash-alphabet", "base64",  # as oracle.py computes
            *self.extra, DOMAIN, str(self.secrets),
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=self._limits(),
            # not the settings of a pysrsd installed here: the command line says everything
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYSRSD_CONFIG": os.devnull},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if "event='ready'" in text or '"event": "ready"' in text:
                self.ports = {t: int(p) for t, p in _LISTENING.findall(text)}
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        raise RuntimeError("daemon not ready in time:\n" + self.log_text())

    def _limits(self) -> Callable[[], None] | None:
        nofile = self.nofile
        if nofile is None:
            return None

        def apply() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        return apply

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit; the exit status (None if killed)."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            self.signal(signal.SIGTERM)
            code = self.wait(15)
            if code is None:
                self.proc.kill()
                self.proc.wait()
        if code == 0 and not os.environ.get("RELIABILITY_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)  # the log of a soak is ~100 MB
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_count(self, needle: str) -> int:
        count = 0
        with self.log_path.open("rb") as handle:
            for line in handle:
                if needle.encode() in line:
                    count += 1
        return count

    # -- observation --------------------------------------------------------------------
    def sample(self) -> tuple[int, int]:
        """(VmRSS kB, open descriptors) now; also kept for the peak and growth figures."""
        rss = _status_kb(self.pid, "VmRSS")
        try:
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            fds = -1
        self.samples.append((time.monotonic(), rss, fds))
        return rss, fds

    def peak_rss_kb(self) -> int:
        """VmHWM: the high-water mark of resident memory since the daemon started."""
        return _status_kb(self.pid, "VmHWM")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def raise_client_nofile(want: int = 20000) -> int:
    """Raise this process's descriptor limit (clients hold thousands of sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
