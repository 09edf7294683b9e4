"""``pysrsctl health`` probes the maps Postfix is configured to ask (main.cf, and master.cf
``-o`` overrides), read by the real ``postconf`` from a private configuration ($MAIL_CONFIG):
a map Postfix names that does not answer is CRITICAL, named with what the probe got, even
while the daemon's own endpoints answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, require, running_daemon, settled, write_secrets

STOCK = Path("/usr/share/postfix")
FORWARD = "socketmap:unix:pysrsd/socketmap:forward"
REVERSE = "socketmap:unix:pysrsd/socketmap:reverse"


@pytest.fixture
def queue() -> Iterator[Path]:
    """A queue directory with a short path (unix socket paths are short) and pysrsd/ in it."""
    path = Path(f"/tmp/pysrsd-hq-{os.getpid()}")
    (path / "pysrsd").mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def postfix_config(directory: Path, queue: Path, *settings: str) -> Path:
    require("postconf")
    directory.mkdir()
    lines = ["myhostname = mx.fwd.example", f"queue_directory = {queue}", *settings]
    (directory / "main.cf").write_text("\n".join(lines) + "\n")
    shutil.copy(STOCK / "master.cf.dist", directory / "master.cf")
    settled(directory)
    return directory


def health(tmp: Path, config: Path, forward: int, reverse: int) -> subprocess.CompletedProcess[str]:
    """``pysrsctl health`` with a tcp_table-only daemon configuration and $MAIL_CONFIG."""
    toml = tmp / "pysrsd.toml"
    toml.write_text(
        f'domain = "{DOMAIN}"\nsecrets-file = "{tmp / "secrets"}"\n'
        f"forward-port = {forward}\nreverse-port = {reverse}\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYSRSD_")}
    return subprocess.run(
        [sys.executable, "-m", "pysrsd.ctl", "health"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, "PYSRSD_CONFIG": str(toml), "MAIL_CONFIG": str(config)},
    )


def test_main_cf_naming_a_socket_nobody_serves_is_critical(tmp_path: Path, queue: Path) -> None:
    """The reported case: tcp_table answers, but main.cf names the socketmap socket."""
    config = postfix_config(
        tmp_path / "postfix",
        queue,
        f"sender_canonical_maps = {FORWARD}",
        f"recipient_canonical_maps = {REVERSE}",
    )
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        result = health(tmp_path, config, daemon.forward_port, daemon.reverse_port)
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stdout.strip()
    assert line.startswith("PYSRSD CRITICAL: tcp_table 127.0.0.1 "), line
    missing = f"down (unix:{queue}/pysrsd/socketmap: No such file or directory)"
    assert f"postfix main.cf sender_canonical_maps {FORWARD} " in line
    assert f"postfix main.cf recipient_canonical_maps {REVERSE} " in line
    assert line.count(missing) == 2, line


def test_main_cf_socketmap_served_relative_to_the_queue_directory(
    tmp_path: Path, queue: Path
) -> None:
    config = postfix_config(
        tmp_path / "postfix",
        queue,
        f"sender_canonical_maps = {FORWARD}",
        f"recipient_canonical_maps = {REVERSE}",
    )
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    served = f"unix:{queue}/pysrsd/socketmap"
    with running_daemon(tmp_path, secrets, "--socketmap", served) as daemon:
        result = health(tmp_path, config, daemon.forward_port, daemon.reverse_port)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"postfix main.cf recipient_canonical_maps {REVERSE} " in result.stdout
    assert "'postfix main.cf sender_canonical_maps " in result.stdout  # its perfdata


def test_forwarded_only_override_and_wrapped_reverse_map(tmp_path: Path, queue: Path) -> None:
    """The forwarded-only layout: the forward map as a master.cf -o override of the second
    cleanup, the reverse map inside pipemap:{regexp:..., tcp:...}; a wrong port is CRITICAL."""
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        forward, reverse = daemon.forward_port, daemon.reverse_port
        wrapped = f"pipemap:{{regexp:{{{{/^(srs.*)/ $${{1}}}}}}, tcp:127.0.0.1:{reverse}}}"
        config = postfix_config(
            tmp_path / "postfix",
            queue,
            f"recipient_canonical_maps = {wrapped}",
        )
        subprocess.run(
            [
                "postconf",
                "-c",
                str(config),
                "-M",
                "pysrsd-cleanup/unix = pysrsd-cleanup unix n - y - 0 cleanup",
            ],
            check=True,
        )
        option = f"pysrsd-cleanup/unix/sender_canonical_maps=tcp:127.0.0.1:{forward}"
        subprocess.run(["postconf", "-c", str(config), "-P", option], check=True)
        settled(config)
        good = health(tmp_path, config, forward, reverse)
        subprocess.run(
            ["postconf", "-c", str(config), "-P", f"{option[:-5]}{reverse + 1000}"], check=True
        )
        settled(config)
        bad = health(tmp_path, config, forward, reverse)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "postfix master.cf pysrsd-cleanup/unix sender_canonical_maps " in good.stdout
    assert f"postfix main.cf recipient_canonical_maps tcp:127.0.0.1:{reverse} " in good.stdout
    assert bad.returncode == 2, bad.stdout
    assert f"sender_canonical_maps tcp:127.0.0.1:{reverse + 1000} " in bad.stdout
    assert "down (127.0.0.1: Connection refused)" in bad.stdout


def test_no_pysrsd_map_in_postfix_keeps_the_daemons_own_probe(tmp_path: Path, queue: Path) -> None:
    config = postfix_config(tmp_path / "postfix", queue)
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        result = health(tmp_path, config, daemon.forward_port, daemon.reverse_port)
    assert result.returncode == 0, result.stdout
    assert "(Postfix's canonical maps name no tcp: or socketmap: table: only the daemon's " in (
        result.stdout
    )
