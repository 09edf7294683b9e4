"""``pysrsctl rewrites`` on the log a real daemon wrote: every rewrite, one address's, since a
time, from a file or standard input; the health probe is not among them. The JSON format and
the prefixes of the journal and of multilog, on lines the log module itself writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import SECRET, Client, ctl, running_daemon, write_secrets


def test_rewrites_from_the_daemons_log(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        with Client(daemon.forward_port) as forward, Client(daemon.reverse_port) as reverse:
            alice = forward.get(b"alice@example.com").split()[1]
            assert forward.get(b"bob@example.net").startswith(b"200 ")
            assert reverse.get(alice).strip() == b"200 alice@example.com"
            assert reverse.get(b"carol@example.org").startswith(b"500 ")
        daemon.stop()
        log = daemon.log
    every = ctl("rewrites", "--log", str(log))
    assert every.returncode == 0, every.stderr
    lines = every.stdout.splitlines()
    assert [line.split()[1:] for line in lines] == [
        ["forward", "alice@example.com", "->", alice.decode()],
        ["forward", "bob@example.net", "->", lines[1].split()[-1]],
        ["reverse", alice.decode(), "->", "alice@example.com"],
    ]
    one = ctl("rewrites", "--log", str(log), "ALICE@example.com")
    assert one.stdout.splitlines() == [lines[0], lines[2]]
    back = ctl("rewrites", "--log", str(log), alice.decode())
    assert back.stdout.splitlines() == [lines[0], lines[2]]
    later = ctl("rewrites", "--log", str(log), "--since", "2999-01-01")
    assert (later.returncode, later.stdout) == (1, "")
    piped = subprocess.run(
        [sys.executable, "-m", "pysrsd.ctl", "rewrites", "--log", "-", "bob@example.net"],
        input=log.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYSRSD_CONFIG": "/dev/null"},
    )
    assert piped.stdout.splitlines() == [lines[1]]
    missing = ctl("rewrites", "--log", str(tmp_path / "absent"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_the_journal_when_there_is_no_multilog_file(tmp_path: Path) -> None:
    """Without /var/log/pysrsd/current, ``journalctl -u pysrsd -o cat`` is read (here a
    stand-in on PATH that prints the log a real daemon wrote, as -o cat shows it)."""
    if Path("/var/log/pysrsd/current").exists():
        pytest.skip("this machine has a daemontools log of pysrsd")
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        with Client(daemon.forward_port) as forward:
            assert forward.get(b"dave@example.com").startswith(b"200 ")
        daemon.stop()
        log = daemon.log
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "journalctl"
    fake.write_text(f'#!/bin/sh\n[ "$*" = "-u pysrsd -o cat --no-pager" ] || exit 1\ncat {log}\n')
    fake.chmod(0o755)
    found = ctl("rewrites", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert found.returncode == 0, found.stderr
    assert found.stdout.split()[1:3] == ["forward", "dave@example.com"]


def test_json_journal_and_multilog_lines() -> None:
    program = """
import io
from pysrsd.observe import logs
out = io.StringIO()
logs.configure("info", "json", stream=out)
logs.rewrite("forward", "a@example.com", "SRS0=x=y=example.com=a@fwd.example")
logs.configure("info", "kv", journal=True, stream=out)
logs.rewrite("forward", "b@example.com", "SRS0=x=y=example.com=b@fwd.example")
logs.configure("info", "kv", stream=out)
logs.rewrite("reverse", "SRS0=x=y=example.com=c@fwd.example", "c@example.com")
lines = out.getvalue().splitlines()
lines[2] = "@400000006a2f3b2c1d2e3f40 " + lines[2]  # multilog t
print("\\n".join(lines))
"""
    log = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    ).stdout
    found = subprocess.run(
        [sys.executable, "-m", "pysrsd.ctl", "rewrites", "--log", "-"],
        input=log,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [line.split(" ", 1)[1] for line in found.stdout.splitlines()] == [
        "forward a@example.com -> SRS0=x=y=example.com=a@fwd.example",
        "forward b@example.com -> SRS0=x=y=example.com=b@fwd.example",
        "reverse SRS0=x=y=example.com=c@fwd.example -> c@example.com",
    ]
