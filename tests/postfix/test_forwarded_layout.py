"""``pysrsctl setup --forwarded-only`` and ``pysrsctl check`` against Debian's own main.cf and
master.cf (copies, read and edited by the real postconf through $MAIL_CONFIG): what setup
would change, that applying it twice changes nothing the second time, that it refuses to
reroute mail, and that check names each half-configured piece with the very command that
fixes it (run, those commands make the layout whole again). Mail through the layout is
tests/e2e/test_forwarded_only.py's."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, ctl, require, settled, write_secrets

from pysrsd.ctl import forwarded, layout, postconf
from pysrsd.ctl.postconf import Postfix

STOCK = Path("/usr/share/postfix")  # Debian's main.cf and master.cf as installed
LISTENER = "127.0.0.1:10004/inet"


def stock(directory: Path) -> Path:
    require("postconf", str(STOCK / "master.cf.dist"))
    directory.mkdir()
    shutil.copy(STOCK / "main.cf.debian", directory / "main.cf")
    with (directory / "main.cf").open("a") as main_cf:  # as Debian's installer adds it
        main_cf.write("myhostname = mx.fwd.example\n")  # (else postconf asks the resolver)
    shutil.copy(STOCK / "master.cf.dist", directory / "master.cf")
    settled(directory)
    return directory


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return stock(tmp_path / "postfix")


@pytest.fixture(scope="module")
def layout_applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's configuration with the layout applied, to copy (applying takes ~50 postconf)."""
    directory = stock(tmp_path_factory.mktemp("applied") / "postfix")
    apply(directory)
    return directory


@pytest.fixture
def applied(layout_applied: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "postfix"
    shutil.copytree(layout_applied, directory)
    settled(directory)
    return directory


def edit(config: Path, *args: str) -> None:
    subprocess.run(["postconf", "-c", str(config), *args], check=True)
    settled(config)


def apply(config: Path) -> None:
    """What setup --forwarded-only --postfix does with the default (tcp_table) maps."""
    postfix = Postfix(config)
    edits = forwarded.plan(postfix, *layout.maps(False))
    for step in postconf.steps(postfix, edits):
        if step.action is not None and not step.text.startswith("postfix "):
            step.action()  # not "postfix check": it would check the system's queue
            settled(config)


def check(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    args = ("check", "--domain", DOMAIN, "--secrets-file", str(secrets))
    return ctl(*args, env={"MAIL_CONFIG": str(config)})


def digest(config: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(config.iterdir()))).hexdigest()


def test_dry_run_prints_every_postconf_change_and_changes_nothing(config: Path) -> None:
    before = digest(config)
    result = ctl(
        "setup", DOMAIN, "--forwarded-only", "--postfix", "--dry-run",
        env={"MAIL_CONFIG": str(config)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    changes = [line[8:] for line in result.stdout.splitlines() if line.startswith("would   post")]
    assert f"postconf -M '{LISTENER} = 127.0.0.1:10004 inet n - y - - smtpd'" in changes
    assert "postconf -P pysrsd-cleanup/unix/sender_canonical_maps=tcp:127.0.0.1:10001" in changes
    assert "postconf -e 'default_transport = pysrsd-hop:[127.0.0.1]:10004'" in changes
    assert changes[-1] == "postfix check"
    assert digest(config) == before


def test_applied_the_layout_is_complete_and_a_second_plan_changes_nothing(
    applied: Path, tmp_path: Path
) -> None:
    config = applied
    master = (config / "master.cf").read_text()
    assert "pysrsd-cleanup unix n    -       y       -       0       cleanup" in master
    edits = forwarded.plan(Postfix(config), *layout.maps(False))
    assert [e.problem for e in edits if e.commands] == []
    result = check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "postfix:     forwarded-only layout, complete (SRS hop on 127.0.0.1:10004)" in (
        result.stdout
    )


def test_from_the_plain_layout_the_global_sender_map_goes(config: Path) -> None:
    edit(config, "-e", *layout.main_cf(False))
    edits = forwarded.plan(Postfix(config), *layout.maps(False))
    commands = [shlex.join(c) for e in edits for c in e.commands]
    assert f"postconf -c {config} -X sender_canonical_maps" in commands
    reverse = forwarded.filtered("tcp:127.0.0.1:10002")
    assert f"postconf -c {config} -e 'recipient_canonical_maps = {reverse}'" in commands


@pytest.mark.parametrize(
    ("breakage", "fix"),
    [
        pytest.param(
            ["-MX", LISTENER],
            f"postconf -M '{LISTENER} = 127.0.0.1:10004 inet n - y - - smtpd'",
            id="listener-missing",
        ),
        pytest.param(
            ["-e", "sender_canonical_maps = tcp:127.0.0.1:10001"],
            "postconf -X sender_canonical_maps",
            id="sender-map-still-global",
        ),
        pytest.param(
            ["-e", "default_transport = smtp"],
            "postconf -e 'default_transport = pysrsd-hop:[127.0.0.1]:10004'",
            id="transport-not-the-hop",
        ),
        pytest.param(
            ["-PX", "pysrsd-cleanup/unix/sender_canonical_maps"],
            "postconf -P pysrsd-cleanup/unix/sender_canonical_maps=tcp:127.0.0.1:10001",
            id="hop-without-forward-map",
        ),
        pytest.param(
            ["-e", "recipient_canonical_maps = tcp:127.0.0.1:10002"],
            "postconf -e 'recipient_canonical_maps = "
            + forwarded.filtered("tcp:127.0.0.1:10002")
            + "'",
            id="reverse-asked-for-everyone",
        ),
    ],
)
def test_check_names_a_half_configured_layout_with_the_command_that_fixes_it(
    applied: Path, tmp_path: Path, breakage: list[str], fix: str
) -> None:
    config = applied
    edit(config, *breakage)
    broken = check(config, tmp_path)
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert "forwarded-only layout, half-configured" in broken.stdout
    fixes = [line.strip() for line in broken.stdout.splitlines() if line.startswith("    ")]
    assert fix in fixes, broken.stdout
    for command in fixes:  # as the administrator would paste them
        subprocess.run(
            shlex.split(command), check=True, env={**os.environ, "MAIL_CONFIG": str(config)}
        )
        settled(config)
    mended = check(config, tmp_path)
    assert mended.returncode == 0, mended.stdout
    assert "forwarded-only layout, complete" in mended.stdout


def test_a_relay_transport_of_the_administrators_own_is_kept(applied: Path, tmp_path: Path) -> None:
    """A backup MX keeps the senders of its relay_domains: the layout stays complete."""
    edit(applied, "-e", "relay_transport = relay")
    result = check(applied, tmp_path)
    assert result.returncode == 0, result.stdout
    assert "forwarded-only layout, complete" in result.stdout
    args = ("setup", DOMAIN, "--forwarded-only", "--postfix", "--dry-run")
    again = ctl(*args, env={"MAIL_CONFIG": str(applied)})
    assert "ok      main.cf: relay_transport = relay kept: relay_domains keep senders" in (
        again.stdout
    )
    assert [x for x in again.stdout.splitlines() if x.startswith("would   post")] == []


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        pytest.param("default_transport = smtp:[smarthost.example]:587", "relayhost", id="t"),
        pytest.param("sender_dependent_relayhost_maps = inline:{a@b=[c]}", "whoever", id="s"),
        pytest.param("default_filter_nexthop = $myhostname", "recipient domain", id="f"),
    ],
)
def test_setup_refuses_to_reroute_mail_that_leaves_by_other_routes(
    config: Path, setting: str, said: str
) -> None:
    edit(config, "-e", setting)
    before = digest(config)
    args = ("setup", DOMAIN, "--forwarded-only", "--postfix", "--dry-run")
    result = ctl(*args, env={"MAIL_CONFIG": str(config)})
    assert result.returncode == 2
    assert said in result.stderr and "forwarded-only layout" in result.stderr
    assert digest(config) == before


def test_check_describes_the_plain_layout_without_complaint(config: Path, tmp_path: Path) -> None:
    edit(config, "-e", *layout.main_cf(False))
    result = check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "postfix:     plain layout: every sender rewritten by tcp:127.0.0.1:10001" in (
        result.stdout
    )
