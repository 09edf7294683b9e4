"""The servers ``compare.py`` measures: how to start each, and the keys each one can verify.

- pysrsd: ``python -m pysrsd`` (or any command), defaults, log level info to a file; one or
  more variants with extra arguments (``uvloop=--event-loop uvloop``); the mypyc build
  (``setup.py``, compiled here into a scratch tree and run from it).
- postsrsd 1.x (Debian's ``/usr/sbin/postsrsd``), pfix-srsd (pfixtools on libsrs2, built from
  source), both tcp_table, when their binaries exist.
- the ceiling (``ceiling.c``, compiled here with ``cc`` when no binary is given): answers every
  line ``500`` with no work at all, so it shows what the clients and the kernel allow.

Valid SRS addresses for the reverse workload are minted by each daemon's own forward table
(pipelined on one connection), so each verifies addresses in its own hash format.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DOMAIN = "bench.example"
SECRET = b"benchmark-secret-0123456789"
HERE = Path(__file__).resolve().parent


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    forward: int
    reverse: int
    finds: bool = True  # False for the ceiling: every reply is 500

    def port(self, workload: str) -> int:
        return self.forward if workload == "forward" else self.reverse

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(port: int, key: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"get " + key + b"\n")
        return s.recv(4096)


def _answers(server: Server, t0: float) -> float:
    """Wait until both tables answer; the time from ``t0``. Stops the server if they never do."""
    try:
        for port in {server.forward, server.reverse}:
            while True:
                try:
                    if ask(port, b"probe@example.com"):
                        break
                except OSError:
                    pass
                if server.proc.poll() is not None or time.monotonic() > t0 + 20:
                    raise RuntimeError(f"{server.name}: nothing answers on port {port}")
                time.sleep(0.002)
    except BaseException:
        server.stop()
        raise
    return time.monotonic() - t0


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(cmd, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, env=env)


def start_pysrsd(
    work: Path,
    name: str,
    command: list[str],
    env: dict[str, str] | None = None,
    finds: bool = True,
) -> tuple[Server, float]:
    fwd, rev = free_port(), free_port()
    cmd = [*command, "--forward-port", str(fwd), "--reverse-port", str(rev)]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    t0 = time.monotonic()
    # the command line says everything: not the settings of a pysrsd installed here
    env = {**(os.environ if env is None else env), "PYSRSD_CONFIG": os.devnull}
    proc = _spawn([*cmd, DOMAIN, str(work / "secret")], work / f"{name}.log", env)
    server = Server(name, proc, fwd, rev, finds)
    return server, _answers(server, t0)


def start_postsrsd(work: Path, binary: str) -> tuple[Server, float]:
    fwd, rev = free_port(), free_port()
    cmd = [binary, f"-s{work / 'secret'}", f"-d{DOMAIN}", f"-f{fwd}", f"-r{rev}", "-l127.0.0.1"]
    t0 = time.monotonic()
    server = Server("postsrsd", _spawn(cmd, work / "postsrsd.log"), fwd, rev)
    return server, _answers(server, t0)


def start_pfix_srsd(work: Path, binary: str) -> tuple[Server, float]:
    fwd, rev = free_port(), free_port()
    cmd = [binary, "-f", "-u", "-P", "tcp", "-e", str(fwd), "-d", str(rev)]
    t0 = time.monotonic()
    proc = _spawn([*cmd, DOMAIN, str(work / "secret")], work / "pfix-srsd.log")
    server = Server("pfix-srsd", proc, fwd, rev)
    return server, _answers(server, t0)


def start_ceiling(work: Path, binary: str) -> tuple[Server, float]:
    port = free_port()
    t0 = time.monotonic()
    server = Server("ceiling", _spawn([binary, str(port)], work / "ceiling.log"), port, port)
    server.finds = False
    return server, _answers(server, t0)


def build_ceiling(work: Path) -> str | None:
    """Compile ceiling.c into ``work``; None (and why) when there is no C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        print("ceiling: no C compiler (cc) found: not measured")
        return None
    binary = work / "ceiling"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(HERE / "ceiling.c")], check=True)
    return str(binary)


def mint(port: int, senders: list[bytes], batch: int = 500) -> list[bytes]:
    """Each sender's forward rewrite by the daemon on ``port`` (pipelined, in batches)."""
    out: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        replies = s.makefile("rb")
        for start in range(0, len(senders), batch):
            chunk = senders[start : start + batch]
            s.sendall(b"".join(b"get " + k + b"\n" for k in chunk))
            for key in chunk:
                reply = replies.readline()
                if not reply.startswith(b"200 "):
                    raise RuntimeError(f"forward of {key!r} on port {port}: {reply!r}")
                out.append(reply[4:-1])
    return out


def build_compiled(work: Path, checkout: Path = HERE.parent) -> Path | None:
    """The mypyc build of ``checkout`` (setup.py, PYSRSD_MYPYC=1) in ``work/compiled``: the
    directory to put on PYTHONPATH, or None (and why) when it cannot be built here."""
    tree = work / "compiled"
    shutil.copytree(checkout / "src", tree / "src", ignore=shutil.ignore_patterns("*.so"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(checkout / name, tree / name)
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tree,
        env={**os.environ, "PYSRSD_MYPYC": "1"},
        capture_output=True,
        check=False,
    )
    if build.returncode != 0:
        print(f"pysrsd-mypyc: build failed, not measured\n{build.stderr.decode()[-2000:]}")
        return None
    return tree / "src"


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime + cutime, stime + cstime) of one process, in clock ticks."""
    fields = [
        int(f) for f in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:15]
    ]
    return fields[0] + fields[2], fields[1] + fields[3]


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` figure in KiB (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def machine(extra: str = "") -> str:
    """CPUs, their model, kernel and Python (and ``extra``): the header of a run."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    python = platform.python_version()
    text = f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {python}"
    return f"{text}, {extra}" if extra else text


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())
